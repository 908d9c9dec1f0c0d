"""What a route asks of its caller, and what a credential grants: the vocabulary the route table, the
credential checks and the listings share (Qdrant's access model: global "r"/"m", or per collection "r"/"rw")."""

from __future__ import annotations

from enum import Enum


class Access(Enum):
    OPEN = "open"  # the root and the probes: anyone who reaches the port
    STATUS = "status"  # the gateway's status, policies and metrics: a global read credential or the metrics token
    READ = "read"  # a collection's points and info, listings, search
    WRITE = "write"  # points (and payload indexes) of an existing collection
    MANAGE = "manage"  # collections themselves: create, update, delete, vectors, aliases (global "m" only)
    ADMIN = "admin"  # the operator API: the admin token, or a global "m" credential


class GlobalMode(Enum):
    """A credential's access to every collection."""

    READ = "r"
    MANAGE = "m"


class CollectionMode(Enum):
    """A collection-scoped credential's access to one collection."""

    READ = "r"
    READ_WRITE = "rw"
