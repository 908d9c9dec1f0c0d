"""The store's failure types, worded as Qdrant words them, and the engine's errors turned into them.

The server maps each type to an HTTP status in one place (`server.STATUS`); everything below it
raises these and never builds responses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager


class StoreError(Exception):
    """A failure whose message is fit to send to the client as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(StoreError):
    """The request is wrong; repeating it will fail the same way."""


class FormatError(BadRequest):
    """A body that does not have the shape Qdrant's schema asks for, naming the offending field."""

    def __init__(self, path: str, detail: str) -> None:
        where = f"{path}: " if path else ""
        super().__init__(f"Format error in JSON body: {where}{detail}")
        self.path = path


class WrongInput(BadRequest):
    """Well-formed, but not valid for this collection (dimension, vector name, ...)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"Wrong input: {detail}")


class NotFound(StoreError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"Not found: {detail}")


class Unsupported(StoreError):
    """A Qdrant feature this store does not implement; says which, so nobody mistakes it for a bug."""

    def __init__(self, feature: str) -> None:
        super().__init__(f"Not implemented by region store: {feature}")


class Unavailable(StoreError):
    """The store cannot answer yet (still loading its collections)."""


class Internal(StoreError):
    """A fault of the store or its engine, not of the request."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"Service internal error: {detail}")


def collection_missing(name: str) -> NotFound:
    # The gateway matches this exact text to tell "collection missing" from "point missing".
    return NotFound(f"Collection `{name}` doesn't exist!")


def point_missing(point_id: object) -> NotFound:
    return NotFound(f"No point with id {point_id} found")


# Qdrant's OperationError variants that are faults of the service rather than of the input
# (everything else the engine raises is about the request: dimensions, names, types, indexes).
_INTERNAL_MARKERS = (
    "Service runtime error",
    "Service internal error",
    "Inconsistent storage",
    "Out of memory",
    "File IO error",
    "No space left",
    "Operation cancelled",
)
_MISSING_POINT = re.compile(r"^No point with id (\S+)")


def classify(exc: Exception) -> StoreError:
    """The StoreError Qdrant would answer for an exception raised by qdrant_edge."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, OSError | MemoryError):
        return Internal(message)
    if missing := _MISSING_POINT.match(message):
        return point_missing(missing.group(1))
    if any(marker in message for marker in _INTERNAL_MARKERS):
        return Internal(message)
    return WrongInput(message)


@contextmanager
def engine_errors() -> Iterator[None]:
    """Run engine calls inside this so that their failures reach the client as Qdrant's errors."""
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        raise classify(exc) from exc
    except BaseException as exc:
        # pyo3 raises a Rust panic as PanicException, a BaseException; cancellation and exits pass.
        if type(exc).__name__ == "PanicException":
            raise Internal(f"engine panic: {exc}") from exc
        raise
