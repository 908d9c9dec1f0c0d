"""Client-facing errors about the request, worded as Qdrant words them, with the HTTP status
Qdrant answers each with."""

from __future__ import annotations

from typing import ClassVar


class QdrantError(Exception):
    """A failure whose message is fit to send to the client as is."""

    status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(QdrantError):
    """The request is wrong; repeating it will fail the same way."""

    status = 400


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


class NotFound(QdrantError):
    status = 404

    def __init__(self, detail: str) -> None:
        super().__init__(f"Not found: {detail}")


class Unsupported(QdrantError):
    """A Qdrant feature the region store does not implement; says which, so nobody mistakes it for
    a bug. The gateway refuses the same writes, since every region must be able to apply them."""

    status = 501

    def __init__(self, feature: str, by: str = "region store") -> None:
        super().__init__(f"Not implemented by {by}: {feature}")


def collection_missing(name: str) -> NotFound:
    # The gateway matches this exact text to tell "collection missing" from "point missing".
    return NotFound(f"Collection `{name}` doesn't exist!")


def point_missing(point_id: object) -> NotFound:
    return NotFound(f"No point with id {point_id} found")
