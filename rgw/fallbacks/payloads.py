"""Qdrant's payload edits (set, delete keys) in Python, as the region store's engine applies them.

The lexical index keeps every point's payload to evaluate filters and return hits, so it must
edit payloads exactly as a region does. Checked against a real region store in
`tests/fallbacks/test_payloads.py`; where Qdrant releases differ (an index past the end, a
trailing `[i]` in a delete), this follows the engine the region store runs (qdrant-edge 0.9).
"""

from __future__ import annotations

import copy
from typing import Any

from rgw.qdrant.fields import Payload
from rgw.qdrant.paths import PayloadKey, Step


def with_set(payload: Payload, values: Payload, key: PayloadKey | None) -> Payload:
    """`POST points/payload`: merge `values` into the payload, or into the object(s) at `key`.

    A null in `values` removes that key; whatever stands where `key` needs an object or an array
    is replaced by an empty one; `[i]` past the end of an array changes nothing.
    """
    edited = copy.deepcopy(payload)
    if key is None:
        _merge(edited, values)
        return edited
    return _set_in(edited, key.steps, values)


def without(payload: Payload, keys: tuple[PayloadKey, ...]) -> Payload:
    """`POST points/payload/delete`: the payload with every value the keys reach removed."""
    edited = copy.deepcopy(payload)
    for key in keys:
        _remove(edited, key.steps)
    return edited


def _merge(target: dict[str, Any], values: Payload) -> None:
    for name, value in values.items():
        if value is None:
            target.pop(name, None)
        else:
            target[name] = copy.deepcopy(value)  # the same values may go into several points


def _set_in(node: Any, steps: tuple[Step, ...], values: Payload) -> Any:
    """`node` with `values` merged in at `steps`; returns the (possibly replaced) node."""
    if not steps:
        target = node if isinstance(node, dict) else {}
        _merge(target, values)
        return target
    step, rest = steps[0], steps[1:]
    if isinstance(step, str):
        target = node if isinstance(node, dict) else {}
        target[step] = _set_in(target.get(step), rest, values)
        return target
    items = node if isinstance(node, list) else []
    if step is None:
        for i, item in enumerate(items):
            items[i] = _set_in(item, rest, values)
    elif step < len(items):
        items[step] = _set_in(items[step], rest, values)
    return items


def _remove(node: Any, steps: tuple[Step, ...]) -> None:
    step, rest = steps[0], steps[1:]
    if not rest:
        if isinstance(step, str) and isinstance(node, dict):
            node.pop(step, None)
        elif step is None and isinstance(node, list):
            node.clear()
        return  # a trailing `[i]` removes nothing in this engine
    if isinstance(step, str):
        if isinstance(node, dict) and step in node:
            _remove(node[step], rest)
    elif isinstance(node, list):
        for item in node if step is None else node[step:step + 1]:
            _remove(item, rest)
