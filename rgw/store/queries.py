"""Typed Query API requests (rgw.qdrant.query) -> engine requests for one collection.

The engine runs the whole tree (prefetch, fusion, MMR, formulas, recommend, discover, ...) once
each vector is a vector. What it cannot do is done here first, as Qdrant does it in its
collection layer:

- point ids given as vectors are looked up, in this collection or in `lookup_from`'s, using the
  stage's `lookup_from.vector` or `using`;
- the points so referenced in this collection are left out of the results (a filter on the root);
- `average_vector` recommendations become a nearest query on the averaged vector;
- MMR's `diversity` becomes the engine's lambda (1 - diversity), its candidates default to the
  stage's limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import qdrant_edge as qe

from rgw.qdrant.errors import NotFound, Unsupported, point_missing
from rgw.qdrant.fields import PointId, canonical_id
from rgw.qdrant.formula import Formula
from rgw.qdrant.query import (
    Context,
    Discover,
    Fusion,
    FusionKind,
    Nearest,
    PointRef,
    Query,
    QueryRequest,
    Recommend,
    RecommendStrategy,
    RelevanceFeedback,
    Sample,
    Stage,
    VectorInput,
    query_inputs,
)
from rgw.qdrant.selectors import OrderBy, WithPayload, WithVector
from rgw.qdrant.vectors import SparseVector, Vector
from rgw.store.average import average_vector
from rgw.store.expressions import engine_formula
from rgw.store.filters import engine_filter
from rgw.store.translate import engine_order_by, engine_params, engine_payload, engine_vector_selector
from rgw.store.vectors import engine_vector

if TYPE_CHECKING:
    from rgw.store.collection import Collection

Lookup = Callable[[str], "Collection"]  # a collection (or alias) name -> the collection
DEFAULT_RRF_K = 2  # Qdrant's
DEFAULT_MMR_LAMBDA = 0.5


def typed_vector(value: Any) -> Vector:
    """A vector as the engine returns it -> rgw.qdrant.vectors' form."""
    if isinstance(value, qe.SparseVector):
        return SparseVector(list(value.indices), list(value.values))
    return value


@dataclass
class Planner:
    """Plans queries against `collection`; `lookup` finds the collections `lookup_from` names."""

    collection: Collection
    lookup: Lookup
    # (collection name, vector name) -> point id -> its vector (None: the point has no such vector)
    _vectors: dict[tuple[str, str], dict[PointId, Vector | None]] = field(default_factory=dict)

    # -- the root ------------------------------------------------------------------------

    def request(self, request: QueryRequest) -> qe.QueryRequest:
        stage = request.stage
        offset = request.offset
        if isinstance(stage.query, Sample) and not stage.prefetch:
            offset = 0  # as Qdrant: random points have no stable order to page through
        return self.root(stage, limit=stage.limit, offset=offset, with_payload=request.with_payload,
                         with_vector=request.with_vector)

    def root(self, stage: Stage, *, limit: int, offset: int, with_payload: WithPayload, with_vector: WithVector,
             must: list[Any] | None = None, prefetch_factor: int = 1) -> qe.QueryRequest:
        """The engine request for a root stage; `must` adds conditions to its filter and
        `prefetch_factor` multiplies every prefetch's limit (grouping needs more candidates)."""
        return qe.QueryRequest(
            limit=limit,
            offset=offset,
            query=self.scoring(stage),
            prefetches=[self.prefetch(child, prefetch_factor) for child in stage.prefetch] or None,
            with_vector=engine_vector_selector(with_vector),
            with_payload=engine_payload(with_payload),
            filter=self.root_filter(stage, must or []),
            score_threshold=stage.score_threshold,
            params=engine_params(stage.params),
        )

    def root_filter(self, stage: Stage, must: list[Any]) -> qe.Filter | None:
        """The root's filter, leaving out the points the query names by id in this collection."""
        conditions = [] if stage.filter is None else [engine_filter(stage.filter)]
        conditions += must
        own = self.own_references(stage)
        must_not = [qe.HasIdCondition(own)] if own else None
        if not conditions and must_not is None:
            return None
        if len(conditions) == 1 and must_not is None and isinstance(conditions[0], qe.Filter):
            return conditions[0]
        return qe.Filter(must=conditions or None, must_not=must_not)

    def own_references(self, stage: Stage) -> set[PointId]:
        """Ids the stage and its prefetches take vectors from in this collection."""
        found: set[PointId] = set()
        if self.source(stage) is self.collection:
            found = {given.id for given in query_inputs(stage.query) if isinstance(given, PointRef)}
        for child in stage.prefetch:
            found |= self.own_references(child)
        return found

    # -- stages ---------------------------------------------------------------------------

    def prefetch(self, stage: Stage, factor: int = 1) -> qe.Prefetch:
        return qe.Prefetch(
            limit=stage.limit * factor,
            query=self.scoring(stage),
            prefetches=[self.prefetch(child, factor) for child in stage.prefetch] or None,
            params=engine_params(stage.params),
            filter=None if stage.filter is None else engine_filter(stage.filter),
            score_threshold=stage.score_threshold,
        )

    def scoring(self, stage: Stage) -> Any:
        """The engine's scoring query for a stage (None when it has none)."""
        query: Query | None = stage.query
        using = stage.using or None
        match query:
            case None:
                return None
            case Nearest(input=given, mmr=None):
                return qe.Query.Nearest(self.engine_input(stage, given), using=using)
            case Nearest(input=given, mmr=mmr):
                assert mmr is not None
                if stage.using in self.collection.spec.sparse:
                    # The engine has no MMR on sparse vectors; sparse_mmr.py runs it for a plain root query.
                    raise Unsupported("MMR on a sparse vector inside a prefetch, over prefetch results or in groups")
                lambda_ = DEFAULT_MMR_LAMBDA if mmr.diversity is None else 1.0 - mmr.diversity
                candidates = stage.limit if mmr.candidates_limit is None else mmr.candidates_limit
                return qe.Mmr(self.engine_input(stage, given), lambda_, candidates, using=using)
            case Recommend(strategy=RecommendStrategy.AVERAGE_VECTOR) as recommend:
                positive, negative = self.examples(stage, recommend)
                return qe.Query.Nearest(engine_vector(average_vector(positive, negative)), using=using)
            case Recommend(strategy=strategy) as recommend:
                positive, negative = self.examples(stage, recommend)
                examples = qe.RecommendQuery([engine_vector(v) for v in positive], [engine_vector(v) for v in negative])
                if strategy is RecommendStrategy.BEST_SCORE:
                    return qe.Query.RecommendBestScore(examples, using=using)
                return qe.Query.RecommendSumScores(examples, using=using)
            case Discover(target=target, pairs=pairs):
                return qe.Query.Discover(qe.DiscoverQuery(self.engine_input(stage, target), self.pairs(stage, pairs)),
                                         using=using)
            case Context(pairs=pairs):
                return qe.Query.Context(qe.ContextQuery(self.pairs(stage, pairs)), using=using)
            case RelevanceFeedback(target=target, feedback=feedback, a=a, b=b, c=c):
                items = [qe.FeedbackItem(self.engine_input(stage, item.example), item.score) for item in feedback]
                return qe.Query.FeedbackNaive(
                    qe.FeedbackNaiveQuery(self.engine_input(stage, target), items, qe.NaiveFeedbackStrategy(a, b, c)),
                    using=using)
            case Fusion(kind=FusionKind.RRF, k=k, weights=weights):
                return qe.Fusion.Rrf(k=DEFAULT_RRF_K if k is None else k,
                                     weights=None if weights is None else list(weights))
            case Fusion():
                return qe.Fusion.Dbsf()
            case OrderBy() as order:
                return engine_order_by(order)
            case Formula() as formula:
                return engine_formula(formula)
            case Sample():
                return qe.Sample.Random
        raise TypeError(f"not a query: {query!r}")

    def pairs(self, stage: Stage, pairs: tuple[Any, ...]) -> list[qe.ContextPair]:
        return [qe.ContextPair(self.engine_input(stage, pair.positive), self.engine_input(stage, pair.negative))
                for pair in pairs]

    def examples(self, stage: Stage, recommend: Recommend) -> tuple[list[Vector], list[Vector]]:
        """Recommend's examples as vectors; as Qdrant, an example point without the vector is skipped."""
        def resolve(inputs: tuple[VectorInput, ...]) -> list[Vector]:
            found = [self.resolve(stage, given, required=False) for given in inputs]
            return [vector for vector in found if vector is not None]

        return resolve(recommend.positive), resolve(recommend.negative)

    # -- point ids as vectors --------------------------------------------------------------

    def source(self, stage: Stage) -> Collection:
        """The collection point ids in this stage's query refer to."""
        if stage.lookup_from is None:
            return self.collection
        return self.lookup(stage.lookup_from.collection)

    def engine_input(self, stage: Stage, given: VectorInput) -> Any:
        vector = self.resolve(stage, given, required=True)
        assert vector is not None
        return engine_vector(vector)

    def resolve(self, stage: Stage, given: VectorInput, *, required: bool) -> Vector | None:
        if not isinstance(given, PointRef):
            return given
        source, name = self.source(stage), stage.lookup_vector
        known = self._vectors.setdefault((source.name, name), {})
        key = canonical_id(given.id)
        if key not in known:
            wanted = [ref.id for ref in query_inputs(stage.query) if isinstance(ref, PointRef)]
            known.update(fetch_vectors(source, wanted, name))
        if key not in known:
            raise point_missing(given.id)
        vector = known[key]
        if vector is None and required:
            raise NotFound(f"Vector with name `{name}` for point {given.id} not found")
        return vector


def fetch_vectors(collection: Collection, ids: list[PointId], name: str) -> dict[PointId, Vector | None]:
    """Vector `name` of each point that exists (None when the point lacks it)."""
    found: dict[PointId, Vector | None] = {}
    for record in collection.retrieve_raw(list(dict.fromkeys(ids)), False, [name]):
        vector = record.vector
        if isinstance(vector, dict):
            vector = vector.get(name)
        found[canonical_id(record.id)] = None if vector is None else typed_vector(vector)
    return found


def has_formula(stage: Stage) -> bool:
    return isinstance(stage.query, Formula) or any(has_formula(child) for child in stage.prefetch)
