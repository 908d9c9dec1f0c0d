"""Degraded sources the gateway falls back to when no region can give a full answer.

`lexical`: a BM25 index per collection (Tantivy), fed from the journal by `lexical_feed`,
rebuildable from a region by `lexical_rebuild`.
"""
