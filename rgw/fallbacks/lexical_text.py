"""What the lexical index searches: the text of a point's payload, and the terms of a query.

Documents and queries go through one analyzer (Unicode word split, lowercase, ASCII folding,
English stemming), so "Refunds" finds "refund" and "café" finds "cafe". Queries are turned into
terms here rather than parsed by Tantivy's query language, so no query text can be a syntax
error.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import tantivy

from rgw.qdrant.fields import Payload
from rgw.qdrant.paths import PayloadKey, payload_key

ANALYZER = "rgw_english"  # registered on every index this package opens
MAX_TOKEN_BYTES = 40  # longer "words" are hashes, base64 and the like: not worth indexing

# A word the analyzer surely keeps: 1-10 alphanumerics (at most 40 bytes), between non-alphanumerics.
_SHORT_WORD = re.compile(r"(?<![^\W_])[^\W_]{1,10}(?![^\W_])")

_local = threading.local()


def build_analyzer() -> tantivy.TextAnalyzer:
    """A new analyzer; indexes register their own under ANALYZER."""
    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.remove_long(MAX_TOKEN_BYTES))
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.ascii_fold())
            .filter(tantivy.Filter.stemmer("english"))
            .build())


def analyzer() -> tantivy.TextAnalyzer:
    """This thread's analyzer: a Tantivy analyzer is mutable while it tokenizes, so threads don't share one."""
    built = getattr(_local, "analyzer", None)
    if built is None:
        built = _local.analyzer = build_analyzer()
    return built


def query_terms(text: str) -> list[str]:
    """The distinct terms of a query, in the order they first appear."""
    return list(dict.fromkeys(analyzer().analyze(text)))


def findable(text: str | None) -> bool:
    """Whether a document with this text holds a term at all, so some query can find it.

    Most texts have a short word early: a regular expression says so at once; the rest (only long
    runs, punctuation) are analyzed.
    """
    if not text:
        return False
    return _SHORT_WORD.search(text) is not None or bool(analyzer().analyze(text))


@dataclass(frozen=True)
class TextField:
    """The payload key holding a collection's text (policy `text_field`); a JSON path such as `doc.body`."""

    key: PayloadKey

    @classmethod
    def parse(cls, name: str) -> TextField:
        return cls(payload_key(name, "text_field"))

    @property
    def name(self) -> str:
        return self.key.text

    def text(self, payload: Payload | None) -> str | None:
        """The strings the key reaches (an array of strings counts), joined; None when there are none."""
        if not payload:
            return None
        parts: list[str] = []
        for value in self.key.values(payload):
            if isinstance(value, str):
                parts.append(value)
            elif isinstance(value, list):
                parts.extend(item for item in value if isinstance(item, str))
        return "\n".join(parts) if parts else None
