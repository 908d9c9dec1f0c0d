"""The operator API's credential: a bearer token from the environment or the config (rgw.auth.guard checks it)."""

from __future__ import annotations

import os

TOKEN_ENV = "RGW_ADMIN_TOKEN"


def admin_token(configured: str | None) -> str | None:
    """The environment wins over the file, so a token need not be written to disk."""
    return os.environ.get(TOKEN_ENV) or configured or None
