"""The region store: a Qdrant-REST-compatible server on the Qdrant Edge engine.

One `EdgeShard` per collection under `DATA/collections/<name>/`; vector indexes are built by a
child process on a copy of the shard and swapped in, so indexing never stalls the server.
Collection snapshots (Qdrant's snapshot API) are tar files under `DATA/snapshots/` (see archive.py
and snapshots.py); aliases live in `DATA/aliases.json` (aliases.py).

Searches: query_api.py reads every form into a Query API request, queries.py plans it for the
engine, run.py runs it; what the engine lacks is done beside it: average.py (the average_vector
recommendation), groups.py, matrix.py (distance matrix), sparse_mmr.py. See docs/region-store.md.
"""
