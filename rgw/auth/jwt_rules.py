"""JWTs as Qdrant 1.19 reads them: HS256 signed with the api key (or the alternative key during a rotation).

Claims: `exp` (required, 30 s leeway), `access` ("r", "m", or `[{"collection": ..., "access": "r" | "rw"}]`;
absent means full access, as in Qdrant), `sub` and `subject` (who, for audit and rate limits). What Qdrant
answers, we answer: an expired or wrongly signed token is a 403; anything that is not a usable JWT is a 401.
`value_exists` (validation by a lookup in a collection) and payload constraints are refused with a 401.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from typing import Any

import jwt

from rgw.auth.access import CollectionMode, GlobalMode
from rgw.auth.caller import Caller
from rgw.auth.errors import Forbidden, Unauthorized

LEEWAY_S = 30  # Qdrant's allowance for clock skew on `exp`
ALGORITHMS = ["HS256"]
INVALID = "Invalid API key or JWT"
MAX_SUBJECT = 128  # a subject goes into log lines: bounded, and printable
# The key's length is the operator's choice, as in Qdrant (the gateway logs a warning at start for a short
# one): not a warning per verified token.
warnings.filterwarnings("ignore", message="The HMAC key is .* below the minimum recommended length")
# PyJWT checks the signature and that `exp` is there; `exp` itself is checked here against the guard's clock,
# the same clock the verified-token cache uses.
_OPTIONS = {"require": ["exp"], "verify_exp": False, "verify_aud": False, "verify_iss": False, "verify_nbf": False,
            "verify_iat": False}


def verify(token: str, secrets: list[bytes], now: float) -> Caller:
    """The caller a token speaks for, if one of `secrets` signed it and it has not expired at `now` (wall-clock
    seconds); Unauthorized or Forbidden otherwise."""
    first: Forbidden | None = None
    for secret in secrets:
        try:
            claims = jwt.decode(token, secret, algorithms=ALGORITHMS, options=_OPTIONS)
        except jwt.InvalidSignatureError:
            first = first or Forbidden("InvalidSignature (the token is not signed with this gateway's api key)")
        except jwt.MissingRequiredClaimError:
            raise Unauthorized(f"{INVALID} (the JWT has no exp claim)") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"{INVALID} ({_plain(str(exc))})") from None
        else:
            caller = caller_from_claims(claims, _fingerprint(token))
            if caller.expires_at is not None and now > caller.expires_at:
                first = first or Forbidden(f"ExpiredSignature (the token's exp is past, beyond {LEEWAY_S} s of "
                                           "leeway)")
                continue
            return caller
    if first is not None:
        raise first
    raise Unauthorized(INVALID)


def caller_from_claims(claims: dict[str, Any], fingerprint: str) -> Caller:
    """The claim rules: what a verified token's claims grant. `fingerprint` names a token without a subject."""
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        # NaN would compare false with every clock and never expire; inf would never expire either.
        raise Unauthorized(f"{INVALID} (exp must be a number of seconds since the epoch)")
    if claims.get("value_exists") is not None:
        raise Unauthorized("Invalid JWT, stateful validation failed: value_exists claims are not supported by the "
                           "gateway")
    mode, collections = _access(claims.get("access", "m"))
    subject = claims.get("subject") or claims.get("sub")
    if subject is not None and not isinstance(subject, str):
        raise Unauthorized(f"{INVALID} (sub and subject must be strings)")
    name = _plain(subject)[:MAX_SUBJECT] if subject else fingerprint
    return Caller(f"jwt:{name}", mode, collections, expires_at=float(exp) + LEEWAY_S)


def _access(value: Any) -> tuple[GlobalMode | None, dict[str, CollectionMode]]:
    if isinstance(value, str):
        try:
            return GlobalMode(value), {}
        except ValueError:
            raise Unauthorized(f'{INVALID} (access: expected "r", "m" or a list of collections, got {value[:20]!r})'
                               ) from None
    if not isinstance(value, list):
        raise Unauthorized(f'{INVALID} (access: expected "r", "m" or a list of collections)')
    collections: dict[str, CollectionMode] = {}
    for i, entry in enumerate(value):
        where = f"access[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("collection"), str):
            raise Unauthorized(f'{INVALID} ({where}: expected {{"collection": NAME, "access": "r" | "rw"}})')
        unknown = sorted(set(entry) - {"collection", "access", "payload"})
        if unknown:
            raise Unauthorized(f"{INVALID} ({where}: unknown field {unknown[0]!r})")
        if entry.get("payload") is not None:
            raise Unauthorized(f"{INVALID} ({where}.payload: payload constraints are not supported)")
        name = entry["collection"]
        if name in collections:
            raise Unauthorized(f"{INVALID} ({where}: collection {name!r} listed twice; names must be unique)")
        try:
            collections[name] = CollectionMode(entry.get("access"))
        except ValueError:
            raise Unauthorized(f'{INVALID} ({where}.access: expected "r" or "rw")') from None
    return None, collections


def _fingerprint(token: str) -> str:
    """A name for a token without a subject: its digest's prefix (the token cannot be recovered from it)."""
    return "token-" + hashlib.sha256(token.encode("latin-1", "replace")).hexdigest()[:16]


def _plain(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)
