"""Every operation of Qdrant's REST API (1.19's specification, plus the legacy search, recommend and
discover endpoints clients still call), and how the gateway treats each.

tests/qdrant/test_operations.py checks this table against the specification itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    READ = "read"  # a collection's points or info: served along the collection's policy chain
    LISTING = "listing"  # what collections or aliases exist: any region answers
    WRITE = "write"  # journaled, then applied to every region in journal order
    SERVICE = "service"  # answered by the gateway itself (root, probes, metrics)
    NOT_ROUTED = "not_routed"  # a single node's business (snapshots, cluster, shards...): 404 through the gateway


@dataclass(frozen=True, slots=True)
class Operation:
    id: str  # Qdrant's operationId
    method: str
    template: str
    kind: Kind
    journal_op: str = ""  # a write's name in the journal (kept stable: journals on disk hold it)
    schema_change: bool = False  # a write to the collection itself: always waits for the regions, like wait=true

    @property
    def names_collection(self) -> bool:
        return "{collection_name}" in self.template


_C = "/collections/{collection_name}"


def _read(op_id: str, method: str, path: str) -> Operation:
    return Operation(op_id, method, path, Kind.READ)


def _write(op_id: str, method: str, path: str, journal_op: str, schema_change: bool = False) -> Operation:
    return Operation(op_id, method, path, Kind.WRITE, journal_op, schema_change)


def _not_routed(op_id: str, method: str, path: str) -> Operation:
    return Operation(op_id, method, path, Kind.NOT_ROUTED)


OPERATIONS: tuple[Operation, ...] = (
    # Service
    Operation("root", "GET", "/", Kind.SERVICE),
    Operation("healthz", "GET", "/healthz", Kind.SERVICE),
    Operation("livez", "GET", "/livez", Kind.SERVICE),
    Operation("readyz", "GET", "/readyz", Kind.SERVICE),
    _not_routed("metrics", "GET", "/metrics"),
    _not_routed("telemetry", "GET", "/telemetry"),
    _not_routed("get_issues", "GET", "/issues"),
    _not_routed("clear_issues", "DELETE", "/issues"),
    _not_routed("get_quotas", "GET", "/quotas"),
    _not_routed("update_quotas", "PUT", "/quotas"),
    # Collections
    Operation("get_collections", "GET", "/collections", Kind.LISTING),
    _read("get_collection", "GET", _C),
    _write("create_collection", "PUT", _C, "create_collection", schema_change=True),
    _write("update_collection", "PATCH", _C, "update_collection", schema_change=True),
    _write("delete_collection", "DELETE", _C, "delete_collection", schema_change=True),
    _read("collection_exists", "GET", f"{_C}/exists"),
    _read("get_optimizations", "GET", f"{_C}/optimizations"),
    _write("create_vector_name", "PUT", f"{_C}/vectors/{{vector_name}}", "create_vector_name", schema_change=True),
    _write("delete_vector_name", "DELETE", f"{_C}/vectors/{{vector_name}}", "delete_vector_name", schema_change=True),
    # Aliases
    _write("update_aliases", "POST", "/collections/aliases", "update_aliases", schema_change=True),
    _read("get_collection_aliases", "GET", f"{_C}/aliases"),
    Operation("get_collections_aliases", "GET", "/aliases", Kind.LISTING),
    # Indexes
    _write("create_field_index", "PUT", f"{_C}/index", "create_index", schema_change=True),
    _write("delete_field_index", "DELETE", f"{_C}/index/{{field_name}}", "delete_index", schema_change=True),
    # Points
    _read("get_point", "GET", f"{_C}/points/{{id}}"),
    _read("get_points", "POST", f"{_C}/points"),
    _write("upsert_points", "PUT", f"{_C}/points", "upsert"),
    _write("delete_points", "POST", f"{_C}/points/delete", "delete"),
    _write("update_vectors", "PUT", f"{_C}/points/vectors", "update_vectors"),
    _write("delete_vectors", "POST", f"{_C}/points/vectors/delete", "delete_vectors"),
    _write("set_payload", "POST", f"{_C}/points/payload", "set_payload"),
    _write("overwrite_payload", "PUT", f"{_C}/points/payload", "overwrite_payload"),
    _write("delete_payload", "POST", f"{_C}/points/payload/delete", "delete_payload"),
    _write("clear_payload", "POST", f"{_C}/points/payload/clear", "clear_payload"),
    _write("batch_update", "POST", f"{_C}/points/batch", "batch"),
    _read("scroll_points", "POST", f"{_C}/points/scroll"),
    _read("count_points", "POST", f"{_C}/points/count"),
    _read("facet", "POST", f"{_C}/facet"),
    # Search
    _read("query_points", "POST", f"{_C}/points/query"),
    _read("query_batch_points", "POST", f"{_C}/points/query/batch"),
    _read("query_points_groups", "POST", f"{_C}/points/query/groups"),
    _read("search_matrix_pairs", "POST", f"{_C}/points/search/matrix/pairs"),
    _read("search_matrix_offsets", "POST", f"{_C}/points/search/matrix/offsets"),
    # Legacy search endpoints: gone from the 1.19 specification, still served by Qdrant and called by clients.
    _read("search_points", "POST", f"{_C}/points/search"),
    _read("search_batch_points", "POST", f"{_C}/points/search/batch"),
    _read("search_point_groups", "POST", f"{_C}/points/search/groups"),
    _read("recommend_points", "POST", f"{_C}/points/recommend"),
    _read("recommend_batch_points", "POST", f"{_C}/points/recommend/batch"),
    _read("recommend_point_groups", "POST", f"{_C}/points/recommend/groups"),
    _read("discover_points", "POST", f"{_C}/points/discover"),
    _read("discover_batch_points", "POST", f"{_C}/points/discover/batch"),
    # A single node's business: the gateway has its own backups (rgw backup) and no cluster to manage.
    _not_routed("create_shard_key", "PUT", f"{_C}/shards"),
    _not_routed("list_shard_keys", "GET", f"{_C}/shards"),
    _not_routed("delete_shard_key", "POST", f"{_C}/shards/delete"),
    _not_routed("cluster_status", "GET", "/cluster"),
    _not_routed("cluster_telemetry", "GET", "/cluster/telemetry"),
    _not_routed("recover_current_peer", "POST", "/cluster/recover"),
    _not_routed("remove_peer", "DELETE", "/cluster/peer/{peer_id}"),
    _not_routed("collection_cluster_info", "GET", f"{_C}/cluster"),
    _not_routed("update_collection_cluster", "POST", f"{_C}/cluster"),
    _not_routed("recover_from_uploaded_snapshot", "POST", f"{_C}/snapshots/upload"),
    _not_routed("recover_from_snapshot", "PUT", f"{_C}/snapshots/recover"),
    _not_routed("list_snapshots", "GET", f"{_C}/snapshots"),
    _not_routed("create_snapshot", "POST", f"{_C}/snapshots"),
    _not_routed("delete_snapshot", "DELETE", f"{_C}/snapshots/{{snapshot_name}}"),
    _not_routed("get_snapshot", "GET", f"{_C}/snapshots/{{snapshot_name}}"),
    _not_routed("list_full_snapshots", "GET", "/snapshots"),
    _not_routed("create_full_snapshot", "POST", "/snapshots"),
    _not_routed("delete_full_snapshot", "DELETE", "/snapshots/{snapshot_name}"),
    _not_routed("get_full_snapshot", "GET", "/snapshots/{snapshot_name}"),
    _not_routed("stream_shard_snapshot", "GET", f"{_C}/shards/{{shard_id}}/snapshot"),
    _not_routed("recover_shard_from_uploaded_snapshot", "POST", f"{_C}/shards/{{shard_id}}/snapshots/upload"),
    _not_routed("recover_shard_from_snapshot", "PUT", f"{_C}/shards/{{shard_id}}/snapshots/recover"),
    _not_routed("list_shard_snapshots", "GET", f"{_C}/shards/{{shard_id}}/snapshots"),
    _not_routed("create_shard_snapshot", "POST", f"{_C}/shards/{{shard_id}}/snapshots"),
    _not_routed("delete_shard_snapshot", "DELETE", f"{_C}/shards/{{shard_id}}/snapshots/{{snapshot_name}}"),
    _not_routed("get_shard_snapshot", "GET", f"{_C}/shards/{{shard_id}}/snapshots/{{snapshot_name}}"),
)

LEGACY = frozenset({"search_points", "search_batch_points", "search_point_groups", "recommend_points",
                    "recommend_batch_points", "recommend_point_groups", "discover_points", "discover_batch_points"})
BY_ID = {op.id: op for op in OPERATIONS}
