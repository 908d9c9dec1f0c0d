"""Payload keys: Qdrant's JSON paths (`a.b`, `a[0].b`, `a[].b`, `"dotted.key".c`), parsed with
Qdrant's grammar and resolved against a payload the way Qdrant resolves them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rgw.qdrant.fields import fail

# A step down a payload: a key, an array index, or None for every element of an array (`[]`).
Step = str | int | None

# Qdrant's `raw_str` is Rust's `char::is_alphanumeric` plus `_` and `-`; Python's `\w` is a subset
# of that, so a key accepted here is accepted by Qdrant too.
_RAW = r"[\w-]+"
_QUOTED = r'"([^"\\]*)"'
_FIRST = re.compile(rf"({_RAW})|{_QUOTED}")
_NEXT = re.compile(rf"\.({_RAW})|\.{_QUOTED}|\[([0-9]+)\]|(\[\])")
_MAX_INDEX = 2**64  # Qdrant reads indices as usize


@dataclass(frozen=True)
class PayloadKey:
    """A payload key as the client wrote it (what Qdrant is sent) and as parsed steps."""

    text: str
    steps: tuple[Step, ...]

    def values(self, payload: dict[str, Any]) -> list[Any]:
        """Every value the key reaches (a JSON null included); none when it reaches nothing.

        A key step into anything but an object, or an index or `[]` into anything but an array,
        reaches nothing: arrays are only entered where the key says `[]` or `[i]`.
        """
        if len(self.steps) == 1:  # the common case, a top-level key, without the walk
            key = self.steps[0]
            return [payload[key]] if key in payload else []
        found: list[Any] = []
        _collect(payload, self.steps, found)
        return found

    def elements(self) -> PayloadKey:
        """This key with `[]` appended (unless it ends so): what a nested condition iterates."""
        if self.steps[-1] is None:
            return self
        return PayloadKey(self.text + "[]", (*self.steps, None))


def payload_key(value: Any, path: str) -> PayloadKey:
    """Reader for a payload key; refuses what Qdrant's JSON path parser refuses."""
    if isinstance(value, str) and (steps := _parse(value)) is not None:
        return PayloadKey(value, steps)
    raise fail(path, "a payload key such as `a.b[0].c[]`", value)


def _parse(text: str) -> tuple[Step, ...] | None:
    first = _FIRST.match(text)
    if first is None:
        return None
    steps: list[Step] = [first.group(1) if first.group(1) is not None else first.group(2)]
    at = first.end()
    while at < len(text):
        step = _NEXT.match(text, at)
        if step is None:
            return None
        raw, quoted, index, every = step.groups()
        if index is not None:
            if int(index) >= _MAX_INDEX:
                return None
            steps.append(int(index))
        else:
            steps.append(None if every else raw if raw is not None else quoted)
        at = step.end()
    return tuple(steps)


def _collect(value: Any, steps: tuple[Step, ...], found: list[Any]) -> None:
    for depth, step in enumerate(steps):
        if isinstance(step, str):
            if not isinstance(value, dict) or step not in value:
                return
            value = value[step]
        elif step is None:
            if isinstance(value, list):
                for item in value:
                    _collect(item, steps[depth + 1:], found)
            return
        else:
            if not isinstance(value, list) or step >= len(value):
                return
            value = value[step]
    found.append(value)
