"""The region store: a Qdrant-REST-compatible server on the Qdrant Edge engine.

One `EdgeShard` per collection under `DATA/collections/<name>/`; vector indexes are built by a
child process on a copy of the shard and swapped in, so indexing never stalls the server.
Collection snapshots (Qdrant's snapshot API) are tar files under `DATA/snapshots/` (see archive.py
and snapshots.py).
"""
