"""What a route asks of its caller: the vocabulary the route table and the credential checks share."""

from __future__ import annotations

from enum import Enum


class Access(Enum):
    OPEN = "open"  # the root and the probes: anyone who reaches the port
    READ = "read"  # a collection's points and info, listings, search
    WRITE = "write"  # points of an existing collection
    MANAGE = "manage"  # collections themselves: create, delete, indexes, aliases, vectors
    ADMIN = "admin"  # the operator API
