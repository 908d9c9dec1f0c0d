"""Collection names as Qdrant accepts them, and the one way a path naming a collection is built.

A name enters from a client's URL already percent-decoded; it leaves in a request to a region.
Checking it where it enters and percent-encoding every segment where a path is built means no
name can add a request line, a header or a path segment on the way to a region.
"""

from __future__ import annotations

from urllib.parse import quote

from rgw.qdrant.errors import BadRequest

MAX_NAME_CHARS = 255  # Qdrant's `length(min = 1, max = 255)` on collection and alias names
# Qdrant refuses these in a collection name; control characters are refused here too, since a
# name travels in URLs, headers and logs (Qdrant itself only refuses NUL and 0x1F of them).
_QDRANT_FORBIDDEN = '<>:"/\\|?*'


def check_collection_name(name: str) -> str:
    """`name` when Qdrant would accept it as a collection (or alias) name; BadRequest naming the problem."""
    if not name:
        raise BadRequest("Bad request: collection name must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise BadRequest(f"Bad request: collection name is longer than {MAX_NAME_CHARS} characters")
    for char in name:
        if char in _QDRANT_FORBIDDEN or ord(char) < 32 or ord(char) == 127:
            shown = repr(char) if char.isprintable() else f"U+{ord(char):04X}"
            raise BadRequest(f"Bad request: collection name cannot contain {shown}")
    if name in (".", ".."):
        raise BadRequest(f"Bad request: {name!r} is not a collection name")
    return name


def segment(text: str) -> str:
    """One path segment, percent-encoded whole: `/`, `?`, `#`, spaces and non-ASCII travel as data."""
    return quote(text, safe="")


def collection_path(collection: str, *segments: str, query: str = "") -> str:
    """`/collections/{collection}/{segments...}[?query]`, each argument one segment, percent-encoded:
    `collection_path("docs", "points", "scroll")`."""
    path = "/collections/" + segment(collection)
    for part in segments:
        path += "/" + segment(part)
    return f"{path}?{query}" if query else path
