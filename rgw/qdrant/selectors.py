"""What a read returns and how it searches: `with_payload`, `with_vector`, search `params` and
`order_by`, parsed into plain data shared by every read body (query, search, scroll, retrieve...)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from rgw.qdrant.collection import CollectionSpec
from rgw.qdrant.datetimes import timestamp
from rgw.qdrant.errors import Unsupported
from rgw.qdrant.fields import Obj, boolean, fail, integer, list_of, number, one_of, positive, string
from rgw.qdrant.paths import PayloadKey, payload_key
from rgw.qdrant.vectors import check_vector_name


@dataclass(frozen=True)
class PayloadSelection:
    """Only these keys (`include`), or everything but them."""

    keys: tuple[PayloadKey, ...]
    include: bool


WithPayload = bool | PayloadSelection
WithVector = bool | tuple[str, ...]  # all vectors, none, or these names


def with_payload(body: Obj, default: bool) -> WithPayload:
    """Qdrant's WithPayloadInterface: a boolean, a list of keys, `{"include"}` or `{"exclude"}`."""
    value = body.data.get("with_payload")
    path = body.where("with_payload")
    return default if value is None else payload_selector(value, path)


def payload_selector(value: Any, path: str) -> WithPayload:
    if isinstance(value, bool):
        return value
    if isinstance(value, list):
        return PayloadSelection(tuple(list_of(payload_key)(value, path)), include=True)
    selector = Obj.of(value, path)
    for key, include in (("include", True), ("exclude", False)):
        if selector.has(key):
            return PayloadSelection(tuple(selector.req(key, list_of(payload_key))), include=include)
    raise fail(path, "a boolean, a list of keys, `{\"include\": [...]}` or `{\"exclude\": [...]}`", value)


def with_vector(body: Obj, default: bool, spec: CollectionSpec) -> WithVector:
    # Qdrant also accepts the plural spelling here.
    key = "with_vector" if "with_vector" in body.data else "with_vectors"
    value = body.data.get(key)
    return default if value is None else vector_selector(value, body.where(key), spec)


def vector_selector(value: Any, path: str, spec: CollectionSpec | None) -> WithVector:
    """`spec` checks the names; None leaves that to whoever knows the collection."""
    if isinstance(value, bool):
        return value
    names = list_of(string)(value, path)
    if spec is not None:
        for name in names:
            check_vector_name(spec, name)
    return tuple(names)


# -- search params ---------------------------------------------------------------------------

@dataclass(frozen=True)
class QuantizationParams:
    ignore: bool = False
    rescore: bool | None = None
    oversampling: float | None = None


@dataclass(frozen=True)
class AcornParams:
    enable: bool = False
    max_selectivity: float | None = None


@dataclass(frozen=True)
class SearchParams:
    hnsw_ef: int | None = None
    exact: bool = False
    quantization: QuantizationParams | None = None
    indexed_only: bool = False
    acorn: AcornParams | None = None


def search_params(value: Any, path: str) -> SearchParams:
    body = Obj.of(value, path)
    if body.has("idf"):
        raise Unsupported(body.where("idf"))
    quantization, acorn = body.sub("quantization"), body.sub("acorn")
    return SearchParams(
        hnsw_ef=body.opt("hnsw_ef", positive),
        exact=bool(body.opt("exact", boolean, False)),
        quantization=None if quantization is None else QuantizationParams(
            ignore=bool(quantization.opt("ignore", boolean, False)),
            rescore=quantization.opt("rescore", boolean),
            oversampling=quantization.opt("oversampling", number),
        ),
        indexed_only=bool(body.opt("indexed_only", boolean, False)),
        acorn=None if acorn is None else AcornParams(
            enable=bool(acorn.opt("enable", boolean, False)),
            max_selectivity=acorn.opt("max_selectivity", number),
        ),
    )


# -- order by --------------------------------------------------------------------------------

class Direction(Enum):
    ASC = "asc"
    DESC = "desc"


@dataclass(frozen=True)
class OrderBy:
    key: PayloadKey
    direction: Direction | None = None  # None: ascending
    start_from: int | float | str | None = None  # a number or a datetime string


def order_by(value: Any, path: str) -> OrderBy:
    """Qdrant's OrderByInterface: a key, or `{key, direction, start_from}`."""
    if isinstance(value, str):
        return OrderBy(payload_key(value, path))
    body = Obj.of(value, path)
    direction = body.opt("direction", one_of(*(d.value for d in Direction)))
    return OrderBy(
        key=body.req("key", payload_key),
        direction=None if direction is None else Direction(direction),
        start_from=body.opt("start_from", _start_from),
    )


def _start_from(value: Any, path: str) -> int | float | str:
    if isinstance(value, str):
        if timestamp(value) is None:
            raise fail(path, "a number or a datetime", value)
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return integer(value, path)
    return number(value, path)
