"""Who is asking, and what they may do: one `Caller` per credential, checked against a route's `Access`."""

from __future__ import annotations

from dataclasses import dataclass, field

from rgw.auth.access import Access, CollectionMode, GlobalMode


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified credential. `id` names it in audit lines, logs and rate limits; it is never a secret."""

    id: str  # "api_key", "alt_api_key", "read_only_api_key", "jwt:<subject>", "metrics_token", "admin_token"...
    mode: GlobalMode | None  # access to every collection; None: only to `collections`
    collections: dict[str, CollectionMode] = field(default_factory=dict)
    expires_at: float | None = None  # wall-clock time after which it is no longer accepted (a JWT's exp + leeway)
    status_only: bool = False  # the metrics token: status and metrics, nothing else

    def refusal(self, access: Access, collection: str | None) -> str | None:
        """Why this caller may not do `access` (on `collection`), in Qdrant's words; None when it may."""
        mode = self.mode
        if access is Access.OPEN:
            return None
        if access is Access.STATUS:
            # The status names every collection: a collection-scoped credential must not read it.
            return None if mode is not None or self.status_only else "Global access is required"
        if self.status_only:
            return "the metrics token opens /metrics and the gateway's status only"
        if access is Access.READ:
            if mode is not None or collection is None:
                return None  # a listing: filtered to what the caller sees (rgw.proxy.api.QdrantListing)
            return None if collection in self.collections else f"Access to collection {collection} is required"
        if access is Access.WRITE:
            if mode is GlobalMode.MANAGE:
                return None
            if mode is GlobalMode.READ:
                return "Global manage access is required"
            if collection is None:
                return "Global access is required"
            granted = self.collections.get(collection)
            if granted is None:
                return f"Access to collection {collection} is required"
            return None if granted is CollectionMode.READ_WRITE else \
                f"Write access to collection {collection} is required"
        if mode is GlobalMode.MANAGE:  # MANAGE and ADMIN
            return None
        return "Global manage access is required" if mode is GlobalMode.READ else "Global access is required"

    def sees(self, collection: str) -> bool:
        """Whether `collection` shows in this caller's listings."""
        return self.mode is not None or collection in self.collections

    @property
    def scoped(self) -> bool:
        return self.mode is None


ANYONE = Caller("anonymous", GlobalMode.MANAGE)  # no [auth]: everyone may do everything, as before auth existed
NOBODY = Caller("anonymous", None)  # an open route (root, probes) while auth is on
ADMIN = Caller("admin_token", GlobalMode.MANAGE)  # the operator API's own token
METRICS = Caller("metrics_token", None, status_only=True)
