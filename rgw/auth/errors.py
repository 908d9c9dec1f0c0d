"""Why a request was refused before anything served it, with the status Qdrant answers it with."""

from __future__ import annotations


class AuthError(Exception):
    status = 400
    by = "unauthenticated"  # the credential's id, once it is known (for the audit line of a refusal)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(AuthError):
    """No credential, or one that is not the gateway's (Qdrant: 401)."""

    status = 401

    def __init__(self, detail: str) -> None:
        super().__init__(f"Unauthorized: {detail}")


class Forbidden(AuthError):
    """A credential the gateway knows, without the access asked for; also an expired or wrongly signed JWT,
    as Qdrant answers them (403)."""

    status = 403

    def __init__(self, detail: str, by: str | None = None) -> None:
        super().__init__(f"Forbidden: {detail}")
        if by is not None:
            self.by = by


class RateLimited(AuthError):
    """The credential spent its request budget (429, with Retry-After)."""

    status = 429

    def __init__(self, detail: str, retry_after_s: float, by: str) -> None:
        super().__init__(f"Too many requests: {detail}")
        self.retry_after_s = retry_after_s
        self.by = by
