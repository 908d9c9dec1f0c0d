"""What a lexical index keeps of each payload so that filters can be pushed into Tantivy (`lexical_pushdown`).

The payload goes into a JSON field, strings whole (the raw tokenizer) and numbers also as fast
columns, for range queries. Left out, so that the index stays small and every kept value means
what it says:

- the text field, when it is a top-level key: its words are indexed for BM25 already;
- strings longer than MAX_KEYWORD_BYTES, and strings starting like a date (Tantivy would index an
  RFC 3339 string as a date, where a string term cannot find it);
- integers beyond 64 bits, nulls, and anything nested deeper than MAX_DEPTH.

A condition that could need a left-out value is never pushed down (`keyword`, `pushable_steps`).
"""

from __future__ import annotations

import re
from typing import Any

from rgw.fallbacks.lexical_text import TextField
from rgw.qdrant.fields import Payload
from rgw.qdrant.paths import PayloadKey

MAX_KEYWORD_BYTES = 256
MAX_DEPTH = 16  # objects and arrays entered below the payload
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
_DATE_LIKE = re.compile(r"\d{4}-\d\d-\d\d")
_DROP = object()


def keyword(value: str) -> bool:
    """Whether a string is indexed (so a term query finds every point holding it)."""
    return len(value.encode()) <= MAX_KEYWORD_BYTES and _DATE_LIKE.match(value) is None


def integer(value: int) -> bool:
    return I64_MIN <= value <= I64_MAX


def skipped_key(text: TextField) -> str | None:
    """The top-level payload key left out because it holds the text, if the text field is one."""
    steps = text.key.steps
    return steps[0] if len(steps) == 1 and isinstance(steps[0], str) else None


def pushable_steps(key: PayloadKey, skipped: str | None) -> list[str] | None:
    """The JSON path Tantivy knows a key's values under, or None when it may not hold them all.

    Array steps (`[]`, `[i]`) drop out: Tantivy reaches through arrays, which finds more, never less.
    """
    names = [step for step in key.steps if step is not None and not isinstance(step, int)]
    if not names or names[0] == skipped or len(key.steps) + 2 > MAX_DEPTH:
        return None
    if any(not name or "." in name or "\\" in name or not name.isprintable() for name in names):
        return None
    return names


def filterable(payload: Payload, skipped: str | None) -> dict[str, Any]:
    """The part of a payload the JSON field holds."""
    return {key: kept for key, value in payload.items()
            if key != skipped and (kept := _kept(value, 1)) is not _DROP}


def _kept(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return value if keyword(value) else _DROP
    if isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return value if integer(value) else _DROP
    if depth >= MAX_DEPTH:
        return _DROP
    if isinstance(value, dict):
        return {key: kept for key, item in value.items() if (kept := _kept(item, depth + 1)) is not _DROP}
    if isinstance(value, list):
        return [kept for item in value if (kept := _kept(item, depth + 1)) is not _DROP]
    return _DROP  # null
