"""The operator API's credential: a bearer token from the environment or the config, compared in constant time."""

from __future__ import annotations

import hmac
import os

TOKEN_ENV = "RGW_ADMIN_TOKEN"


def admin_token(configured: str | None) -> str | None:
    """The environment wins over the file, so a token need not be written to disk."""
    return os.environ.get(TOKEN_ENV) or configured or None


def bearer(authorization: str | None) -> bytes | None:
    """The credential of an `Authorization: Bearer <credential>` header, as the bytes that were sent."""
    if not authorization:
        return None
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    return credential.strip().encode("latin-1")  # headers arrive as latin-1 text: this is every byte sent


def same_secret(offered: bytes, secret: str) -> bool:
    """Constant-time comparison of what a client sent with a configured secret (any bytes are fine to send)."""
    return hmac.compare_digest(offered, secret.encode("utf-8"))
