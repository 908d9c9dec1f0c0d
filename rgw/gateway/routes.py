"""The gateway's one route table: every path it serves, what serves it, and what the caller needs.

Qdrant's operations come from rgw.qdrant.operations (reads along the policy chain, writes
through the journal, the rest answered by the gateway itself or refused as a single node's
business); the gateway's own endpoints, status and operator API follow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rgw.auth.access import Access
from rgw.backup.api import BackupApi
from rgw.gateway.admin import AdminApi
from rgw.gateway.front import Endpoint, Handler
from rgw.gateway.status import StatusApi
from rgw.http.routes import Route, Router
from rgw.proxy.api import GatewaySearch, NotRouted, QdrantListing, QdrantRead, QdrantWrite, probe, root
from rgw.qdrant.operations import OPERATIONS, Kind, Operation

if TYPE_CHECKING:
    from rgw.gateway.app import Gateway

SERVICE = {"root": root, "healthz": probe, "livez": probe, "readyz": probe}
# Writes to the collections themselves need global manage access ("m"), as in Qdrant; points and payload
# indexes need write access to the collection ("rw" suffices). `update_aliases` names its collections in the
# body: needing global manage access, it never depends on which.
MANAGING = frozenset({"create_collection", "update_collection", "delete_collection", "create_vector_name",
                      "delete_vector_name", "update_aliases"})
# Qdrant's /metrics (and telemetry) need a read credential, or the metrics token for scrapers.
STATUS_OPERATIONS = frozenset({"metrics", "telemetry"})


def _qdrant(gateway: Gateway, op: Operation) -> Endpoint:
    if op.kind is Kind.READ:
        read = QdrantRead(gateway.reader, op)
        return Endpoint(read.handle, Access.READ, read=read)
    if op.kind is Kind.LISTING:
        return Endpoint(QdrantListing(gateway.reader, op).handle, Access.READ)
    if op.kind is Kind.WRITE:
        return Endpoint(QdrantWrite(gateway.writer, op).handle, Access.MANAGE if op.id in MANAGING else Access.WRITE)
    if op.kind is Kind.SERVICE:
        start = SERVICE[op.id]
        return Endpoint(NotRouted(op).handle, Access.OPEN, start)
    return Endpoint(NotRouted(op).handle, Access.STATUS if op.id in STATUS_OPERATIONS else Access.READ)


def route_table(gateway: Gateway) -> Router[Endpoint]:
    admin, backups, status = AdminApi(gateway), BackupApi(gateway.backups), StatusApi(gateway)
    search = GatewaySearch(gateway.reader)

    def operator(method: str, template: str, name: str, handler: Handler) -> Route[Endpoint]:
        return Route(method, template, name, Endpoint(handler, Access.ADMIN))

    routes = [Route(op.method, op.template, op.id, _qdrant(gateway, op)) for op in OPERATIONS]
    routes += [
        Route("POST", "/gateway/collections/{collection_name}/search", "gateway_search",
            Endpoint(search.handle, Access.READ)),
        # The status and policies name every collection: a global read credential or the metrics token.
        Route("GET", "/gateway/status", "gateway_status", Endpoint(status.status, Access.STATUS)),
        Route("GET", "/gateway/policies", "gateway_policies", Endpoint(status.policies, Access.STATUS)),
        Route("GET", "/gateway/policies/{collection_name}", "gateway_policy", Endpoint(status.policies, Access.STATUS)),
        # The operator API.
        operator("POST", "/gateway/admin/collections/{collection_name}/mode", "admin_force_mode", admin.force_mode),
        operator("POST", "/gateway/admin/regions/{region}/drain", "admin_drain", admin.drain),
        operator("POST", "/gateway/admin/regions/{region}/undrain", "admin_undrain", admin.undrain),
        operator("POST", "/gateway/admin/collections/{collection_name}/restore-mark", "admin_restore_mark",
                 admin.restore_mark),
        operator("PUT", "/gateway/admin/policies/{collection_name}", "admin_set_policy", admin.set_policy),
        operator("DELETE", "/gateway/admin/policies/{collection_name}", "admin_reset_policy", admin.reset_policy),
        operator("POST", "/gateway/admin/regions/{region}/replication/{action}", "admin_replication",
                 admin.replication),
        operator("POST", "/gateway/admin/regions/{region}/dead-letters/resolve", "admin_resolve_dead_letters",
                 admin.resolve_dead_letters),
        operator("POST", "/gateway/admin/journal/trim", "admin_journal_trim", admin.trim),
        operator("POST", "/gateway/admin/lexical/{collection_name}/reindex", "admin_lexical_reindex", admin.reindex),
        operator("POST", "/gateway/admin/backups", "admin_backup", backups.create),
        operator("GET", "/gateway/admin/backups", "admin_backups", backups.listing),
        operator("POST", "/gateway/admin/backups/{bundle}/verify", "admin_backup_verify", backups.verify),
        operator("POST", "/gateway/admin/restores", "admin_restore", backups.restore),
        operator("POST", "/gateway/admin/rebuilds", "admin_rebuild", backups.rebuild),
        operator("POST", "/gateway/admin/drills", "admin_drill", backups.drill),
        operator("GET", "/gateway/admin/jobs/{job}", "admin_job", backups.job),
    ]
    return Router(routes)
