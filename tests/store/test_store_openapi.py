"""Every answer of the Query API, aliases, vector names and batch updates has the shape Qdrant's
1.19 OpenAPI specification gives it (strictly: no field it does not name), and the real client
reads it. The legacy endpoints, which the 1.19 specification dropped, answer with its
`ScoredPoint` and `GroupsResult` shapes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as m

from tests.store import openapi

if TYPE_CHECKING:
    from tests.store.conftest import RunningStore

C = "shapes"
PATH = "/collections/{collection_name}"
SPARSE = {"indices": [1, 4], "values": [0.5, 1.0]}
DENSE = {"prefetch": {"query": [1, 0, 0], "using": "d"}}


@pytest.fixture(scope="module")
def shapes(store: RunningStore) -> Iterator[str]:
    body = {"vectors": {"d": {"size": 3, "distance": "Cosine"},
                        "m": {"size": 2, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}}},
            "sparse_vectors": {"s": {}}}
    assert store.http("PUT", f"/collections/{C}", body)[0] == 200
    points = [{"id": i if i % 4 else f"00000000-0000-0000-0000-{i:012d}",
               "vector": {"d": [1, i, 0.5], "m": [[1, i], [0, 1]], "s": {"indices": [i % 4, 4], "values": [1, 0.2]}},
               "payload": {"n": i, "g": f"g{i % 3}", "tags": ["a", "b"]}} for i in range(1, 21)]
    assert store.http("PUT", f"/collections/{C}/points?wait=true", {"points": points})[0] == 200
    assert store.http("PUT", f"/collections/{C}/index", {"field_name": "n", "field_schema": "integer"})[0] == 200
    yield C


# (spec path, body) for POST requests whose answers are checked against the spec.
QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("/points/query", {"query": [1, 0, 0], "using": "d", "with_payload": True, "with_vector": True}),
    ("/points/query", {"query": {"order_by": {"key": "n", "direction": "desc"}}, "with_payload": ["n"]}),
    ("/points/query", {"prefetch": [{"query": [1, 0, 0], "using": "d"}, {"query": SPARSE, "using": "s"}],
                       "query": {"fusion": "dbsf"}}),
    ("/points/query", {"prefetch": [{"query": [1, 0, 0], "using": "d"}], "query": {"rrf": {"k": 3}}}),
    ("/points/query", {**DENSE, "query": {"formula": {"sum": ["$score", {"mult": [0.1, "n"]}]}}}),
    ("/points/query", {"query": {"nearest": [[1, 0]], "mmr": {"diversity": 0.3}}, "using": "m",
                       "with_vector": ["m"]}),
    ("/points/query", {"query": {"nearest": SPARSE, "mmr": {}}, "using": "s", "with_vector": True}),
    ("/points/query", {"query": {"recommend": {"positive": [2], "negative": [3], "strategy": "best_score"}},
                       "using": "d"}),
    ("/points/query", {"query": {"discover": {"target": 2, "context": {"positive": 3, "negative": 5}}},
                       "using": "d"}),
    ("/points/query", {"query": {"context": [{"positive": 3, "negative": 5}]}, "using": "s"}),
    ("/points/query", {"query": {"sample": "random"}, "limit": 3}),
    ("/points/query/batch", {"searches": [{"query": [1, 0, 0], "using": "d"}, {"query": {"sample": "random"}}]}),
    ("/points/query/groups", {"query": [1, 0, 0], "using": "d", "group_by": "g", "with_lookup": C}),
    ("/points/query/groups", {"query": [1, 0, 0], "using": "d", "group_by": "tags", "group_size": 1}),
    ("/points/search/matrix/pairs", {"using": "d", "sample": 6}),
    ("/points/search/matrix/offsets", {"using": "s", "sample": 6}),
    ("/points/batch", {"operations": [{"set_payload": {"payload": {"x": 1}, "points": [1]}},
                                      {"delete_payload": {"keys": ["x"], "points": [1]}}]}),
]


@pytest.mark.parametrize(("path", "body"), QUERIES)
def test_answers_match_the_specification(store: RunningStore, shapes: str, path: str, body: Any) -> None:
    status, answer = store.http("POST", f"/collections/{shapes}{path}", body)
    assert status == 200, answer
    assert set(answer) == {"result", "status", "time"}
    assert openapi.problems(openapi.result_schema(PATH + path), answer["result"]) == []


# Legacy endpoints -> the schema their answers take (as in Qdrant's last specifications that had them).
LEGACY: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("/points/search", {"vector": {"name": "d", "vector": [1, 0, 0]}, "limit": 3, "with_payload": True},
     {"type": "array", "items": openapi.component("ScoredPoint")}),
    ("/points/search/batch", {"searches": [{"vector": {"name": "s", "vector": SPARSE}, "limit": 2}]},
     {"type": "array", "items": {"type": "array", "items": openapi.component("ScoredPoint")}}),
    ("/points/search/groups", {"vector": {"name": "d", "vector": [1, 0, 0]}, "group_by": "g", "group_size": 2,
                               "limit": 2}, openapi.component("GroupsResult")),
    ("/points/recommend", {"positive": [2], "using": "d", "limit": 3},
     {"type": "array", "items": openapi.component("ScoredPoint")}),
    ("/points/recommend/batch", {"searches": [{"positive": [2], "using": "d", "limit": 3}]},
     {"type": "array", "items": {"type": "array", "items": openapi.component("ScoredPoint")}}),
    ("/points/recommend/groups", {"positive": [2], "using": "d", "group_by": "g", "group_size": 2, "limit": 2},
     openapi.component("GroupsResult")),
    ("/points/discover", {"target": 2, "context": [{"positive": 3, "negative": 5}], "using": "d", "limit": 3},
     {"type": "array", "items": openapi.component("ScoredPoint")}),
    ("/points/discover/batch", {"searches": [{"context": [{"positive": 3, "negative": 5}], "using": "d",
                                              "limit": 3}]},
     {"type": "array", "items": {"type": "array", "items": openapi.component("ScoredPoint")}}),
]


@pytest.mark.parametrize(("path", "body", "schema"), LEGACY)
def test_legacy_answers_take_the_specifications_shapes(store: RunningStore, shapes: str, path: str, body: Any,
                                                        schema: dict[str, Any]) -> None:
    status, answer = store.http("POST", f"/collections/{shapes}{path}", body)
    assert status == 200, answer
    assert openapi.problems(schema, answer["result"]) == []


def test_collection_level_answers_match_the_specification(client: QdrantClient, store: RunningStore,
                                                          shapes: str) -> None:
    def checked(method: str, url: str, spec_path: str, body: Any = None) -> Any:
        status, answer = store.http(method, url, body)
        assert status == 200, answer
        schema = openapi.result_schema(spec_path, method.lower())
        assert openapi.problems(schema, answer["result"]) == []
        return answer["result"]

    checked("POST", "/collections/aliases", "/collections/aliases",
            {"actions": [{"create_alias": {"alias_name": "shapes_alias", "collection_name": shapes}}]})
    checked("GET", "/aliases", "/aliases")
    assert checked("GET", f"/collections/{shapes}/aliases", PATH + "/aliases") == {
        "aliases": [{"alias_name": "shapes_alias", "collection_name": shapes}]}
    checked("PUT", f"/collections/{shapes}/vectors/extra", PATH + "/vectors/{vector_name}",
            {"sparse": {"modifier": "idf"}})
    checked("DELETE", f"/collections/{shapes}/vectors/extra", PATH + "/vectors/{vector_name}")
    info = checked("GET", f"/collections/{shapes}", PATH)
    assert info["config"]["params"]["sparse_vectors"] == {"s": {}}
    checked("POST", f"/collections/{shapes}/facet", PATH + "/facet", {"key": "n"})
    # The client reads them too.
    assert client.get_aliases().aliases
    assert client.get_collection("shapes_alias").points_count == 20
    assert client.query_points_groups(shapes, group_by="g", query=[1, 0, 0], using="d", with_lookup=shapes).groups
    assert client.search_matrix_offsets(shapes, using="d", sample=5).ids
    assert client.facet(shapes, "n").hits
    result = client.batch_update_points(shapes, [m.DeletePayloadOperation(delete_payload=m.DeletePayload(
        keys=["nothing"], points=[1]))])
    assert result[0].status == m.UpdateStatus.COMPLETED
