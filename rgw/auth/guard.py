"""The one check before any route serves a request: who is asking (authentication), may they (authorization),
and are they within their rate (limits). rgw.gateway.front calls `admit` before dispatch, so nothing refused
reaches the journal, a region, the cache or the lexical index.

Credentials arrive as Qdrant reads them: the `api-key` header, else `Authorization: Bearer <credential>`.
Header values are latin-1 text (every byte as sent); they are compared, as bytes, with the secrets' UTF-8
bytes in constant time, so any byte a client sends is fine and none can raise.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

from rgw.auth.access import Access, GlobalMode
from rgw.auth.admin import TOKEN_ENV
from rgw.auth.caller import ADMIN, ANYONE, METRICS, NOBODY, Caller
from rgw.auth.errors import Forbidden, Unauthorized
from rgw.auth.jwt_rules import INVALID, verify
from rgw.auth.ratelimit import RateLimiter
from rgw.auth.tokens import VerifiedTokens
from rgw.settings.config import AuthConfig

MISSING = "Must provide an API key or an Authorization bearer token"


def offered_credential(headers: dict[str, str]) -> str | None:
    """The credential a request carries: `api-key`, else the token of `Authorization: Bearer`."""
    key = headers.get("api-key")
    if key:
        return key
    authorization = headers.get("authorization")
    if not authorization:
        return None
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credential.strip() or None


def _bytes(text: str) -> bytes | None:
    """What the client sent: header text is latin-1, one character per byte (None for text that never was)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return None


class Guard:
    def __init__(self, auth: AuthConfig | None, admin_token: str | None,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.auth = auth
        self._clock = clock
        self._admin = admin_token.encode("utf-8") if admin_token else None
        self._static: list[tuple[bytes, Caller]] = []
        self._jwt_secrets: list[bytes] = []
        self._tokens: VerifiedTokens | None = None
        self._limiter: RateLimiter | None = None
        if auth is None:
            return
        for secret, caller in ((auth.api_key, Caller("api_key", GlobalMode.MANAGE)),
                               (auth.alt_api_key, Caller("alt_api_key", GlobalMode.MANAGE)),
                               (auth.read_only_api_key, Caller("read_only_api_key", GlobalMode.READ)),
                               (auth.metrics_token, METRICS)):
            if secret is not None:
                self._static.append((secret.encode("utf-8"), caller))
        if auth.jwt_rbac:
            self._jwt_secrets = [s.encode("utf-8") for s in (auth.api_key, auth.alt_api_key) if s is not None]
            self._tokens = VerifiedTokens(auth.jwt_cache_entries, clock)
        if auth.rate_limits.enabled:
            self._limiter = RateLimiter(auth.rate_limits, monotonic)

    @property
    def enabled(self) -> bool:
        return self.auth is not None

    def admit(self, headers: dict[str, str], access: Access, collection: str | None) -> Caller:
        """The caller, allowed to do `access` on `collection`; Unauthorized, Forbidden or RateLimited otherwise."""
        if access is Access.OPEN:
            return NOBODY if self.auth is not None else ANYONE
        if access is Access.ADMIN:
            return self._admin_caller(headers)
        if self.auth is None:
            return ANYONE
        caller = self.authenticate(offered_credential(headers))
        refusal = caller.refusal(access, collection)
        if refusal is not None:
            raise Forbidden(refusal, caller.id)
        if self._limiter is not None and caller is not METRICS:
            self._limiter.check(caller.id, collection)
        return caller

    def authenticate(self, offered: str | None) -> Caller:
        if offered is None:
            raise Unauthorized(MISSING)
        sent = _bytes(offered)
        if sent is not None:
            for secret, caller in self._static:
                if hmac.compare_digest(sent, secret):
                    return caller
        tokens = self._tokens
        if tokens is None or offered.count(".") != 2:  # three base64url segments, or not worth a signature check
            raise Unauthorized(INVALID)
        known = tokens.get(offered)
        if known is not None:
            return known
        caller = verify(offered, self._jwt_secrets, self._clock())
        tokens.put(offered, caller)
        return caller

    def _admin_caller(self, headers: dict[str, str]) -> Caller:
        """The admin token, or (with [auth]) a global "m" credential: the full api key or a JWT with access "m"."""
        offered = offered_credential(headers)
        sent = None if offered is None else _bytes(offered)
        if self._admin is not None and sent is not None and hmac.compare_digest(sent, self._admin):
            return ADMIN
        if self.auth is None:
            if self._admin is None:
                raise Forbidden(f"the admin API is disabled; set {TOKEN_ENV} or gateway.admin_token to enable it")
            raise Unauthorized("admin API needs 'Authorization: Bearer <token>'")
        caller = self.authenticate(offered)
        if caller.mode is not GlobalMode.MANAGE:
            raise Forbidden("Global manage access is required (the admin API takes the admin token or a global "
                            "\"m\" credential)", caller.id)
        return caller
