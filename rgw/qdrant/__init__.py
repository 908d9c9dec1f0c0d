"""Qdrant's REST grammar: parse and validate request bodies into plain typed data; evaluate filters.

Shared by the region store (which turns the typed data into engine objects) and the gateway
(which validates writes before journaling them and evaluates filters in Python), so both accept
exactly the same requests and word their refusals the same way. Nothing here imports the engine.

    errors      the client-facing errors, with Qdrant's wording and HTTP status
    fields      readers for JSON values, each failure naming the field
    paths       payload keys (Qdrant's JSON paths) and the values they reach
    datetimes   datetime strings as Qdrant reads them
    geo         geo shapes and point-in-shape tests
    filters     filters parsed into a typed tree
    evaluate    which points a filter selects, over (point id, payload)
    collection  a collection's spec, from a create body or a collection info; vector names added/removed
    vectors     vectors checked against a spec
    writes      every write body validated into typed data: `validate_write`, `parse_write`
    selectors   `with_payload`, `with_vector`, search `params`, `order_by`
    query       the Query API: stages (root and prefetches), every query kind, groups, matrix
    formula     score-boosting formulas as expression trees
    legacy      the pre-Query-API search / recommend / discover bodies, read as Query API requests
    aliases     alias actions, and how an alias table changes under them
"""
