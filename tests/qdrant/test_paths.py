"""Payload keys: Qdrant's JSON path grammar, and the values a key reaches in a payload."""

from __future__ import annotations

from typing import Any

import pytest

from rgw.qdrant.errors import FormatError
from rgw.qdrant.paths import PayloadKey, payload_key

PAYLOAD = {
    "a": {"b": [{"c": 1}, {"c": [2, 3]}, {"d": 4}, 5], "n": None},
    "list": [1, [2], None],
    "dotted.key": {"x": "y"},
    "ünï-code_1": True,
}


@pytest.mark.parametrize(("key", "steps"), [
    ("a", ("a",)),
    ("a.b[].c", ("a", "b", None, "c")),
    ("a.b[1].c[]", ("a", "b", 1, "c", None)),
    ('"dotted.key".x', ("dotted.key", "x")),
    ('a."b c"[0]', ("a", "b c", 0)),
    ("ünï-code_1", ("ünï-code_1",)),
])
def test_keys_parse_into_steps(key: str, steps: tuple[Any, ...]) -> None:
    assert payload_key(key, "key") == PayloadKey(key, steps)


@pytest.mark.parametrize("key", ["", "a b", "a..b", "a.", ".a", "a[", "a[x]", "a[-1]", "[0]", 'a."b', "a]", 5, None])
def test_keys_qdrant_refuses_are_refused(key: Any) -> None:
    with pytest.raises(FormatError, match=r"filter\.key: expected a payload key"):
        payload_key(key, "filter.key")


@pytest.mark.parametrize(("key", "values"), [
    ("a.b", [[{"c": 1}, {"c": [2, 3]}, {"d": 4}, 5]]),
    ("a.b[].c", [1, [2, 3]]),
    ("a.b[].c[]", [2, 3]),  # `[]` on a scalar reaches nothing
    ("a.b[1].c", [[2, 3]]),
    ("a.b[9].c", []),
    ("a.b.c", []),  # arrays are entered only where the key says so
    ("a.n", [None]),  # a null is a value; a missing key is not
    ("a.missing", []),
    ("list[]", [1, [2], None]),
    ("list[][]", [2]),
    ('"dotted.key".x', ["y"]),
    ("dotted.key", []),
])
def test_keys_reach_values_as_qdrant_does(key: str, values: list[Any]) -> None:
    assert payload_key(key, "key").values(PAYLOAD) == values


def test_nested_conditions_iterate_the_elements() -> None:
    assert payload_key("a.b", "key").elements() == PayloadKey("a.b[]", ("a", "b", None))
    assert payload_key("a.b[]", "key").elements() == PayloadKey("a.b[]", ("a", "b", None))
