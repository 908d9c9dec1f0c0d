"""BM25 search over one collection's index, with Qdrant filters applied to the candidates.

Filters stay filters: Tantivy ranks the documents holding any query term (among those matching
the part of the filter pushed down to it, `lexical_pushdown`), and the whole filter is evaluated
over each candidate's stored payload. When too few pass, the candidate set widens (4x, 16x, ...
`limit`) until `limit` hits pass or every matching document has been looked at, so a filter the
pushdown cannot narrow costs more time, never a wrong or short answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import tantivy

from rgw.fallbacks.lexical_collection import CollectionIndex, point_id, stored
from rgw.qdrant.evaluate import Predicate
from rgw.qdrant.fields import Payload, PointId

WIDEN = 4


@dataclass(frozen=True)
class Hit:
    id: PointId
    score: float  # BM25
    payload: Payload | None


def ranked(index: CollectionIndex, terms: list[str], limit: int, matches: Predicate | None,
           with_payload: bool, narrowing: tantivy.Query | None = None) -> list[Hit]:
    """The `limit` best documents holding any of `terms` that `matches` selects (all when None).

    `narrowing` (a query every document `matches` selects matches too) only makes that faster.
    """
    searcher = index.searcher()  # one snapshot for every round
    wanted = limit if matches is None else limit * WIDEN
    seen: set[tuple[int, int]] = set()  # rounds overlap: each candidate is looked at once
    hits: list[Hit] = []
    while True:
        candidates = index.matching(searcher, terms, wanted, narrowing)
        for score, address in candidates:
            where = (address.segment_ord, address.doc)
            if where in seen:
                continue
            seen.add(where)
            key, raw = stored(searcher, address)
            pid = point_id(key)
            payload = orjson.loads(raw) if matches is not None or with_payload else None
            if matches is not None and not matches(pid, payload):
                continue
            hits.append(Hit(pid, score, payload if with_payload else None))
            if len(hits) == limit:
                return hits
        if len(candidates) < wanted:
            return hits  # every matching document was looked at
        wanted *= WIDEN
