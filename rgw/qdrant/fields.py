"""Typed reads from a parsed JSON body; every failure names the field it came from.

Readers are plain functions `(value, path) -> T` so they compose (`list_of(string)`), and `Obj`
wraps one JSON object with its path, so callers write `body.opt("limit", positive_int, 10)`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from rgw.qdrant.errors import FormatError, Unsupported

T = TypeVar("T")
Reader = Callable[[Any, str], T]
PointId = int | str  # an unsigned integer, or a UUID in its canonical hyphenated form
Payload = dict[str, Any]  # a point's payload: a JSON object

_U64 = 2**64
_I64 = 2**63
MAX_PAYLOAD_DEPTH = 128


def at(path: str, key: str | int) -> str:
    """The path of `key` inside the value at `path`: `filter.must[0].match`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def shown(value: Any) -> str:
    """A short rendering of a JSON value for error messages."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def fail(path: str, expected: str, value: Any) -> FormatError:
    return FormatError(path, f"expected {expected}, got {shown(value)}")


def parse_body(raw: bytes) -> Any:
    """The request body as JSON; an empty body counts as `{}` (every field optional)."""
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FormatError("", str(exc)) from exc


def anything(value: Any, path: str) -> Any:
    """Any JSON value; the caller inspects it."""
    return value


def string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise fail(path, "a string", value)
    return value


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise fail(path, "a boolean", value)
    return value


def integer(value: Any, path: str) -> int:
    """A signed 64-bit integer (what Qdrant's payload values and ranges hold)."""
    if isinstance(value, bool) or not isinstance(value, int) or not -_I64 <= value < _I64:
        raise fail(path, "an integer", value)
    return value


def unsigned(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _U64:
        raise fail(path, "an unsigned integer", value)
    return value


def positive(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise fail(path, "an integer >= 1", value)
    return value


def number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(path, "a number", value)
    return float(value)


def json_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(path, "an object", value)
    return value


def payload_object(value: Any, path: str) -> dict[str, Any]:
    """A JSON object stored as payload. Nesting is capped as Qdrant's parser caps it (128), which
    also keeps every stored payload within what orjson can write back out."""
    if _nested_deeper(json_object(value, path), MAX_PAYLOAD_DEPTH - 1):
        raise FormatError(path, f"payload nested deeper than {MAX_PAYLOAD_DEPTH} levels")
    return value


def _nested_deeper(node: dict[str, Any] | list[Any], levels: int) -> bool:
    """Whether containers nest more than `levels` further levels below `node`."""
    for child in node.values() if isinstance(node, dict) else node:
        if isinstance(child, dict | list) and (levels == 0 or _nested_deeper(child, levels - 1)):
            return True
    return False


def array(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise fail(path, "an array", value)
    return value


def list_of(read: Reader[T]) -> Reader[list[T]]:
    def read_list(value: Any, path: str) -> list[T]:
        return [read(item, at(path, i)) for i, item in enumerate(array(value, path))]

    return read_list


def one_of(*choices: str) -> Reader[str]:
    def read_choice(value: Any, path: str) -> str:
        if value not in choices:
            raise fail(path, "one of " + ", ".join(f"`{c}`" for c in choices), value)
        return value

    return read_choice


@dataclass(frozen=True)
class Obj:
    """One JSON object and where it sits in the body."""

    data: dict[str, Any]
    path: str = ""

    @classmethod
    def of(cls, value: Any, path: str = "") -> Obj:
        return cls(json_object(value, path), path)

    def where(self, key: str) -> str:
        return at(self.path, key)

    def has(self, key: str) -> bool:
        """Present and not null (Qdrant treats an explicit null as absent)."""
        return self.data.get(key) is not None

    def opt(self, key: str, read: Reader[T], default: T | None = None) -> T | None:
        value = self.data.get(key)
        return default if value is None else read(value, self.where(key))

    def req(self, key: str, read: Reader[T]) -> T:
        value = self.data.get(key)
        if value is None:
            raise FormatError(self.path, f"missing field `{key}`")
        return read(value, self.where(key))

    def sub(self, key: str) -> Obj | None:
        value = self.data.get(key)
        return None if value is None else Obj.of(value, self.where(key))

    def only(self, *allowed: str) -> Obj:
        """Reject keys outside `allowed`, for the few Qdrant structs that deny unknown fields."""
        for key in self.data:
            if key not in allowed:
                expected = ", ".join(f"`{a}`" for a in allowed)
                raise FormatError(self.path, f"unknown field `{key}`, expected one of {expected}")
        return self


def point_id(value: Any, path: str) -> PointId:
    """An unsigned integer or a UUID string (normalised to its hyphenated form, as Qdrant echoes it)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _U64:
        return value
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise FormatError(path, f"value {shown(value)} is not a valid point ID, "
                            "valid values are either an unsigned integer or a UUID")


def canonical_id(point_id: PointId | uuid.UUID) -> PointId:
    """One spelling per point id, as Qdrant echoes it: integers as they are, UUIDs lowercase and
    hyphenated (a string that is no UUID comes back unchanged)."""
    if isinstance(point_id, uuid.UUID):
        return str(point_id)
    if isinstance(point_id, str):
        try:
            return str(uuid.UUID(point_id))
        except ValueError:
            return point_id
    return point_id


def no_shard_key(body: Obj) -> None:
    if body.has("shard_key"):
        raise Unsupported("shard keys (custom sharding)")
