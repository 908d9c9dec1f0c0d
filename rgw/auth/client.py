"""The credential the gateway's own tools present to it (rgw status, the operator commands, rgw verify, the
chaos runner, the benchmarks): `RGW_API_KEY` from the environment, or an api key from the gateway's config."""

from __future__ import annotations

import os

from rgw.settings.config import GatewayConfig

API_KEY_ENV = "RGW_API_KEY"


def client_key(config: GatewayConfig | None = None) -> str | None:
    """The environment wins; else the config's full key (the tools write), else its read-only key."""
    from_env = os.environ.get(API_KEY_ENV)
    if from_env:
        return from_env
    auth = config.auth if config is not None else None
    if auth is None:
        return None
    return auth.api_key or auth.read_only_api_key


def credential_headers(key: str | None) -> dict[str, str]:
    """Headers that carry `key` the way qdrant-client does (none without a key)."""
    return {"api-key": key} if key else {}
