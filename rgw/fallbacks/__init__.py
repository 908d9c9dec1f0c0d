"""Degraded sources the gateway falls back to when no region can give a full answer.

`cache`: recent full answers. Lexical BM25: `lexical` (the index: applies journal entries,
searches, rebuilds), fed by `lexical_feed` (a journal consumer), rebuilt from a region by
`lexical_rebuild`, served in the read chain by `lexical_source`. Beneath them:
`lexical_collection` (one collection's Tantivy index on disk), `lexical_writes` (Qdrant write
semantics over it), `lexical_search` (BM25 with filters), `lexical_text` (analysis) and
`payloads` (Qdrant's payload edits).
"""
