"""The store's own failure types, and the engine's errors turned into Qdrant's.

Errors about the request itself (BadRequest, NotFound, ...) are the shared ones in
`rgw.qdrant.errors`. Every QdrantError carries its HTTP status; the server's error middleware
turns it into a response, and everything below it raises and never builds responses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from rgw.qdrant.errors import QdrantError, WrongInput, point_missing


class Unavailable(QdrantError):
    """The store cannot answer yet (still loading its collections)."""

    status = 503


class Internal(QdrantError):
    """A fault of the store or its engine, not of the request."""

    status = 500

    def __init__(self, detail: str) -> None:
        super().__init__(f"Service internal error: {detail}")


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


def classify(exc: Exception) -> QdrantError:
    """The QdrantError Qdrant would answer for an exception raised by qdrant_edge."""
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
    except QdrantError:
        raise
    except Exception as exc:
        raise classify(exc) from exc
    except BaseException as exc:
        # pyo3 raises a Rust panic as PanicException, a BaseException; cancellation and exits pass.
        if type(exc).__name__ == "PanicException":
            raise Internal(f"engine panic: {exc}") from exc
        raise


@contextmanager
def formula_errors(formulas: bool) -> Iterator[None]:
    """The engine aborts a formula it cannot evaluate for some point (a variable with no value
    and no default, a division by zero without `by_zero_default`, a result that is not a finite
    number) with a bare "cancelled" error: with a formula in the query, that is the request's
    fault, so say so."""
    try:
        yield
    except Internal as exc:
        if formulas and "Operation cancelled" in exc.message:
            raise WrongInput("the formula could not be evaluated for some point: a variable missing from its "
                             "payload with no value in `defaults`, a division by zero without `by_zero_default`, "
                             "or a result that is not a finite number") from exc
        raise
