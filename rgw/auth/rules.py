"""A collection's access rules as a document: which credentials may read, write and manage it (names, never
secrets). Backups carry it in their manifest and drills report it: a restore without its access rules is not
a working restore."""

from __future__ import annotations

from typing import Any

from rgw.settings.config import AuthConfig


def access_rules(auth: AuthConfig | None, collection: str) -> dict[str, Any]:
    if auth is None:
        return {"auth": "off", "read": ["anyone who reaches the gateway"], "write": ["anyone who reaches the gateway"],
                "manage": ["anyone who reaches the gateway"]}
    full = [name for name in ("api_key", "alt_api_key") if getattr(auth, name) is not None]
    read = [*full, *(["read_only_api_key"] if auth.read_only_api_key is not None else [])]
    write, manage = list(full), list(full)
    if auth.jwt_rbac:
        read += ['JWT with access "r" or "m"', f'JWT listing {collection} ("r" or "rw")']
        write += ['JWT with access "m"', f'JWT listing {collection} with "rw"']
        manage += ['JWT with access "m"']
    limits = auth.rate_limits
    rules: dict[str, Any] = {"auth": "on", "read": read, "write": write, "manage": manage, "jwt_rbac": auth.jwt_rbac}
    if collection in limits.collections:
        limit = limits.collections[collection]
        rules["rate_limit"] = {"requests_per_s": limit.requests_per_s, "burst": limit.burst,
                               "per": "credential and collection"}
    return rules


def describe(rules: dict[str, Any]) -> str:
    """One line for a report."""
    if not rules:
        return "not recorded (a bundle taken before access rules were kept)"
    text = (f"auth {rules.get('auth')}; read: {', '.join(rules.get('read', []))}; "
            f"write: {', '.join(rules.get('write', []))}; manage: {', '.join(rules.get('manage', []))}")
    if "rate_limit" in rules:
        limit = rules["rate_limit"]
        text += f"; rate limit {limit['requests_per_s']}/s (burst {limit['burst']}) per credential"
    return text
