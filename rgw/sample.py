"""A sample corpus of help-centre articles and a deterministic text embedder for it.

The embedder is feature hashing over words and word pairs: no model download, same vector
for the same text everywhere, and texts sharing words land near each other, so vector and
lexical answers over this corpus are comparable.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import re
from collections.abc import Iterator

DIMENSIONS = 384

_TOPICS: dict[str, tuple[list[str], list[str]]] = {
    "billing": (["invoice", "refund", "credit card", "subscription", "VAT receipt", "annual plan", "failed payment"],
                ["update", "download", "dispute", "cancel", "split", "change the currency of"]),
    "shipping": (["parcel", "tracking number", "customs form", "express delivery", "pickup point", "freight quote"],
                 ["track", "reroute", "insure", "delay", "combine", "print a label for"]),
    "returns": (["damaged item", "exchange", "return label", "warranty claim", "store credit", "wrong size"],
                ["request", "approve", "print", "extend", "refuse", "inspect"]),
    "account": (["password", "two-factor login", "email address", "team members", "profile photo", "API token"],
                ["reset", "rotate", "verify", "remove", "invite", "recover"]),
    "security": (["phishing email", "suspicious login", "data export", "encryption key", "audit log", "SSO setup"],
                 ["report", "review", "revoke", "enable", "configure", "investigate"]),
    "search": (["vector index", "snapshot", "collection", "payload filter", "replica", "restore drill"],
               ["rebuild", "back up", "query", "restore", "shard", "monitor"]),
}
_OPENERS = ["How to {verb} your {noun}", "Why you cannot {verb} a {noun}", "Step by step: {verb} the {noun}",
            "Troubleshooting: {noun} problems", "What happens when you {verb} a {noun}"]
_BODIES = ["Open the {topic} settings, choose the {noun}, then select {verb}. Changes apply within minutes.",
           "If the {noun} does not appear, wait for the nightly sync or contact support with the reference number.",
           "Teams on the annual plan can {verb} a {noun} without approval; others need an administrator.",
           "The {noun} history keeps 90 days of changes, so you can {verb} it again after a mistake.",
           "Regional rules apply: in the EU the {noun} must include the company address before you {verb} it."]
_LANGS = ["en", "de", "fr", "es"]

_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def embed(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    """Unit-length feature-hashed vector of the text's words and adjacent word pairs."""
    words = tokens(text)
    features = words + [f"{a}_{b}" for a, b in itertools.pairwise(words)]
    vector = [0.0] * dimensions
    for feature in features:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dimensions
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def articles(count: int, seed: int = 7) -> Iterator[dict[str, object]]:
    """`count` help-centre articles as payloads: title, text, topic, lang, year, views."""
    rng = random.Random(seed)
    topics = list(_TOPICS)
    for i in range(count):
        topic = topics[i % len(topics)]
        nouns, verbs = _TOPICS[topic]
        noun, verb = rng.choice(nouns), rng.choice(verbs)
        title = rng.choice(_OPENERS).format(verb=verb, noun=noun)
        body = " ".join(rng.choice(_BODIES).format(topic=topic, noun=noun, verb=verb) for _ in range(2))
        yield {"title": title, "text": f"{title}. {body}", "topic": topic, "lang": rng.choice(_LANGS),
               "year": 2019 + rng.randrange(7), "views": rng.randrange(10, 50_000)}
