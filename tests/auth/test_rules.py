"""The auth rules without processes: JWT claims, the verified-token cache and the token bucket (controllable
clocks), the guard's decisions, and the [auth] configuration."""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rgw.auth.access import Access, CollectionMode, GlobalMode
from rgw.auth.caller import Caller
from rgw.auth.errors import Forbidden, RateLimited, Unauthorized
from rgw.auth.guard import Guard, offered_credential
from rgw.auth.jwt_rules import LEEWAY_S, caller_from_claims, verify
from rgw.auth.ratelimit import RateLimiter, TokenBucket, retry_after
from rgw.auth.tokens import VerifiedTokens
from rgw.gateway.serve import describe_auth, loopback
from rgw.settings.config import AuthConfig, ConfigError, RateLimit, RateLimits, parse_config

KEY = "k" * 40
ALT = "a" * 40


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def token(claims: dict, secret: str = KEY) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def soon() -> int:
    return int(time.time()) + 600


# -- claims -------------------------------------------------------------------------------------------

def test_claims_grant_global_or_per_collection_access() -> None:
    assert caller_from_claims({"exp": 1, "access": "r"}, "t").mode is GlobalMode.READ
    assert caller_from_claims({"exp": 1, "access": "m"}, "t").mode is GlobalMode.MANAGE
    assert caller_from_claims({"exp": 1}, "t").mode is GlobalMode.MANAGE  # Qdrant: no access claim is full access
    scoped = caller_from_claims({"exp": 1, "access": [{"collection": "a", "access": "r"},
                                                      {"collection": "b", "access": "rw"}], "sub": "ann"}, "t")
    assert scoped.mode is None and scoped.id == "jwt:ann"
    assert scoped.collections == {"a": CollectionMode.READ, "b": CollectionMode.READ_WRITE}
    assert scoped.expires_at == 1 + LEEWAY_S
    assert caller_from_claims({"exp": 1, "subject": "audit-name", "sub": "x"}, "t").id == "jwt:audit-name"
    assert caller_from_claims({"exp": 1}, "token-abc").id == "jwt:token-abc"


@pytest.mark.parametrize(("claims", "named"), [
    ({"exp": 1, "access": "w"}, "access"),
    ({"exp": 1, "access": 3}, "access"),
    ({"exp": 1, "access": [{"collection": "a"}]}, "access[0].access"),
    ({"exp": 1, "access": [{"collection": "a", "access": "m"}]}, "access[0].access"),
    ({"exp": 1, "access": [{"collection": "a", "access": "r"}, {"collection": "a", "access": "rw"}]}, "twice"),
    ({"exp": 1, "access": [{"collection": "a", "access": "r", "payload": {"k": 1}}]}, "payload"),
    ({"exp": 1, "access": [{"collection": "a", "access": "r", "extra": 1}]}, "unknown field"),
    ({"exp": 1, "access": ["a"]}, "access[0]"),
    ({"exp": 1, "value_exists": {"collection": "a", "matches": []}}, "value_exists"),
    ({"exp": 1, "sub": 5}, "sub"),
    ({"exp": "soon"}, "exp"),
    ({"exp": float("nan")}, "exp"),
    ({"exp": float("inf")}, "exp"),
])
def test_bad_claims_are_a_401_naming_the_claim(claims: dict, named: str) -> None:
    with pytest.raises(Unauthorized, match=re.escape(named)):
        caller_from_claims(claims, "t")


def test_what_each_grant_may_do() -> None:
    read = Caller("r", GlobalMode.READ)
    manage = Caller("m", GlobalMode.MANAGE)
    scoped = Caller("s", None, {"a": CollectionMode.READ, "b": CollectionMode.READ_WRITE})
    assert read.refusal(Access.READ, "x") is None and read.refusal(Access.STATUS, None) is None
    assert read.refusal(Access.WRITE, "x") == "Global manage access is required"
    assert manage.refusal(Access.MANAGE, None) is None and manage.refusal(Access.ADMIN, None) is None
    assert scoped.refusal(Access.READ, "a") is None and scoped.refusal(Access.READ, None) is None  # listings
    assert scoped.refusal(Access.READ, "c") == "Access to collection c is required"
    assert scoped.refusal(Access.WRITE, "a") == "Write access to collection a is required"
    assert scoped.refusal(Access.WRITE, "b") is None
    assert scoped.refusal(Access.MANAGE, None) == "Global access is required"  # no create or delete
    assert scoped.refusal(Access.STATUS, None) == "Global access is required"  # status names every collection
    assert scoped.sees("a") and not scoped.sees("c") and read.sees("c")


# -- signatures and expiry ----------------------------------------------------------------------------

def test_verify_follows_qdrant_statuses() -> None:
    now = time.time()
    assert verify(token({"exp": soon(), "access": "r"}), [KEY.encode()], now).mode is GlobalMode.READ
    assert verify(token({"exp": soon()}, ALT), [KEY.encode(), ALT.encode()], now).mode is GlobalMode.MANAGE
    with pytest.raises(Forbidden, match="ExpiredSignature"):
        verify(token({"exp": int(now) - LEEWAY_S - 5}), [KEY.encode()], now)
    assert verify(token({"exp": int(now) - LEEWAY_S + 10}), [KEY.encode()], now)  # within the leeway
    with pytest.raises(Forbidden, match="InvalidSignature"):
        verify(token({"exp": soon()}, "s" * 40), [KEY.encode()], now)
    with pytest.raises(Unauthorized, match="no exp"):
        verify(token({"access": "m"}), [KEY.encode()], now)
    with pytest.raises(Unauthorized, match="Invalid API key or JWT"):
        verify("a.b.c", [KEY.encode()], now)
    unsigned = jwt.encode({"exp": soon()}, None, algorithm="none")
    with pytest.raises(Unauthorized):
        verify(unsigned, [KEY.encode()], now)


# -- the verified-token cache -------------------------------------------------------------------------

def test_verified_tokens_are_kept_until_they_expire() -> None:
    clock = Clock(1000.0)
    cache = VerifiedTokens(3, clock)
    cache.put("t1", Caller("jwt:a", GlobalMode.READ, expires_at=1010.0))
    assert cache.get("t1") is not None
    clock.now = 1010.0
    assert cache.get("t1") is not None
    clock.now = 1010.01
    assert cache.get("t1") is None and len(cache) == 0  # expired entries leave on sight
    cache.put("forever", Caller("jwt:b", GlobalMode.READ))
    assert cache.get("forever") is None  # nothing without an expiry is trusted from memory


def test_verified_tokens_stay_bounded() -> None:
    clock = Clock(0.0)
    cache = VerifiedTokens(3, clock)
    for i in range(3):
        cache.put(f"t{i}", Caller(f"jwt:{i}", GlobalMode.READ, expires_at=10.0 + i))
    cache.put("t3", Caller("jwt:3", GlobalMode.READ, expires_at=20.0))
    assert len(cache) == 3 and cache.get("t0") is None  # the oldest went
    clock.now = 11.5  # t1 and t2 expired: room is made from them first
    cache.put("t4", Caller("jwt:4", GlobalMode.READ, expires_at=30.0))
    assert cache.get("t3") is not None and cache.get("t4") is not None
    for i in range(1000):
        cache.put(f"x{i}", Caller("jwt:x", GlobalMode.READ, expires_at=50.0))
    assert len(cache) == 3
    cache.put("y" * 5000, Caller("jwt:y", GlobalMode.READ, expires_at=50.0))
    assert cache.get("y" * 5000) is None  # verified each time instead: memory stays bounded in bytes too


# -- the token bucket ---------------------------------------------------------------------------------

def test_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(RateLimit(2.0, 3), now=0.0)
    for _ in range(3):
        assert bucket.wait(0.0) == 0.0
        bucket.take()
    assert bucket.wait(0.0) == pytest.approx(0.5)
    assert bucket.wait(0.25) == pytest.approx(0.25)
    assert bucket.wait(0.5) == 0.0
    assert bucket.wait(100.0) == 0.0 and bucket.tokens == 3.0  # never more than the burst
    assert retry_after(0.01) == "1" and retry_after(1.2) == "2"


def test_rate_limiter_refuses_without_charging_and_recovers() -> None:
    clock = Clock(0.0)
    limits = RateLimits(default=RateLimit(10.0, 2), credentials={"read_only_api_key": RateLimit(10.0, 1)},
                        collections={"docs": RateLimit(1.0, 1)})
    limiter = RateLimiter(limits, clock)
    limiter.check("api_key", None)
    limiter.check("api_key", "docs")
    with pytest.raises(RateLimited) as caught:
        limiter.check("api_key", None)
    assert caught.value.status == 429 and caught.value.retry_after_s == pytest.approx(0.1)
    assert caught.value.by == "api_key"
    limiter.check("read_only_api_key", None)  # a limit of its own
    clock.now = 0.5  # the credential's bucket is full again, the collection's is half way
    with pytest.raises(RateLimited, match="on collection docs"):
        limiter.check("api_key", "docs")
    limiter.check("api_key", None)  # the refusal did not spend the credential's tokens: two are there
    limiter.check("api_key", None)
    with pytest.raises(RateLimited):
        limiter.check("api_key", None)
    limiter.check("jwt:other", "docs")  # per credential: another caller's buckets are its own


def test_rate_limiter_state_is_bounded() -> None:
    clock = Clock(0.0)
    limiter = RateLimiter(RateLimits(default=RateLimit(1.0, 1), max_buckets=10), clock)
    for i in range(1000):
        clock.now = i * 0.001
        limiter.check(f"jwt:{i}", None)
    assert len(limiter) <= 10


# -- the guard ----------------------------------------------------------------------------------------

def guard(clock: Clock | None = None, **auth: object) -> Guard:
    config = AuthConfig(**{"api_key": KEY, "alt_api_key": ALT, "read_only_api_key": "ro" * 10, "jwt_rbac": True,
                           "metrics_token": "metrics" * 4, **auth})  # type: ignore[arg-type]
    return Guard(config, "admin" * 5, clock=clock or time.time)


def test_credentials_are_read_as_qdrant_reads_them() -> None:
    assert offered_credential({"api-key": "x"}) == "x"
    assert offered_credential({"authorization": "Bearer y"}) == "y"
    assert offered_credential({"authorization": "bearer  y "}) == "y"
    assert offered_credential({"authorization": "Basic y"}) is None
    assert offered_credential({"api-key": "x", "authorization": "Bearer y"}) == "x"


def test_guard_decides_401_403_and_callers() -> None:
    g = guard()
    with pytest.raises(Unauthorized, match="Must provide"):
        g.admit({}, Access.READ, "a")
    with pytest.raises(Unauthorized, match="Invalid API key or JWT"):
        g.admit({"api-key": "wrong"}, Access.READ, "a")
    # Any byte a client can send: latin-1 text from the front door, never an exception other than a 401.
    with pytest.raises(Unauthorized):
        g.admit({"api-key": "\xff\xfe\x00é"}, Access.READ, "a")
    with pytest.raises(Unauthorized):
        g.admit({"api-key": "名前"}, Access.READ, "a")
    assert g.admit({"api-key": KEY}, Access.MANAGE, None).id == "api_key"
    assert g.admit({"authorization": f"Bearer {ALT}"}, Access.WRITE, "a").id == "alt_api_key"
    with pytest.raises(Forbidden, match="Global manage access is required"):
        g.admit({"api-key": "ro" * 10}, Access.WRITE, "a")
    assert g.admit({}, Access.OPEN, None).id == "anonymous"
    assert g.admit({"api-key": "metrics" * 4}, Access.STATUS, None).status_only
    with pytest.raises(Forbidden, match="metrics token"):
        g.admit({"api-key": "metrics" * 4}, Access.READ, "a")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.sampled_from(list(Access)))
def test_whatever_a_client_sends_is_admitted_or_refused_never_an_error(sent: str, access: Access) -> None:
    g = guard()
    for headers in ({"api-key": sent}, {"authorization": sent}, {"authorization": f"Bearer {sent}"}):
        with contextlib.suppress(Unauthorized, Forbidden, RateLimited):
            g.admit(headers, access, "a")


def test_a_forged_looking_token_with_odd_claims_is_refused_cleanly() -> None:
    g = guard()
    for claims in ({"exp": "1e400"}, {"exp": soon(), "access": {"collection": "a"}}, {"exp": soon(), "sub": []}):
        with pytest.raises(Unauthorized):
            g.admit({"api-key": token(claims)}, Access.READ, "a")
    nan = jwt.api_jws.encode(b'{"exp": NaN}', KEY, algorithm="HS256")
    with pytest.raises(Unauthorized):
        g.admit({"api-key": nan}, Access.READ, "a")


def test_a_secret_with_non_ascii_characters_matches_its_utf8_bytes() -> None:
    g = Guard(AuthConfig(api_key="clé-secrète-ü"), None)
    sent = "clé-secrète-ü".encode().decode("latin-1")  # what the front door makes of the UTF-8 bytes sent
    assert g.admit({"api-key": sent}, Access.READ, "a").id == "api_key"
    with pytest.raises(Unauthorized):
        g.admit({"api-key": "clé-secrète-ü"}, Access.READ, "a")  # those are other bytes on the wire


def test_guard_admin_takes_the_admin_token_or_global_manage() -> None:
    g = guard()
    assert g.admit({"authorization": "Bearer " + "admin" * 5}, Access.ADMIN, None).id == "admin_token"
    assert g.admit({"api-key": KEY}, Access.ADMIN, None).id == "api_key"
    assert g.admit({"authorization": "Bearer " + token({"exp": soon(), "access": "m", "sub": "op"})},
                   Access.ADMIN, None).id == "jwt:op"
    for refused in ("ro" * 10, token({"exp": soon(), "access": "r"}), "metrics" * 4):
        with pytest.raises(Forbidden):
            g.admit({"api-key": refused}, Access.ADMIN, None)
    with pytest.raises(Unauthorized):
        g.admit({}, Access.ADMIN, None)
    off = Guard(None, None)
    with pytest.raises(Forbidden, match="disabled"):
        off.admit({"api-key": KEY}, Access.ADMIN, None)
    assert off.admit({}, Access.MANAGE, None).id == "anonymous"  # no [auth]: as before


def test_a_cached_token_is_refused_once_it_expires() -> None:
    clock = Clock(time.time())
    g = guard(clock)
    exp = int(clock.now) + 5
    t = token({"exp": exp, "access": [{"collection": "a", "access": "r"}], "sub": "ann"})
    assert g.admit({"api-key": t}, Access.READ, "a").id == "jwt:ann"
    assert g.admit({"api-key": t}, Access.READ, "a").id == "jwt:ann"  # from the cache
    clock.now = exp + LEEWAY_S + 1  # past exp and its leeway: out of the cache, and refused as Qdrant does
    with pytest.raises(Forbidden, match="ExpiredSignature"):
        g.admit({"api-key": t}, Access.READ, "a")


def test_the_start_up_warning_and_description() -> None:
    assert loopback("127.0.0.1") and loopback("::1") and loopback("localhost")
    assert not loopback("0.0.0.0") and not loopback("::") and not loopback("10.1.2.3")
    described = describe_auth(parse_config({**BASE, "auth": {"api_key": "the-secret", "jwt_rbac": True}}))
    assert described == "on (api_key; jwt_rbac on; rate limits off)"
    assert describe_auth(parse_config(BASE)) == "off (no [auth] section)"


# -- configuration ------------------------------------------------------------------------------------

BASE = {"regions": [{"name": "primary", "url": "http://127.0.0.1:1"}]}


def config(auth: dict, gateway: dict | None = None):
    return parse_config({**BASE, "auth": auth, **({"gateway": gateway} if gateway else {})})


def test_secrets_come_from_the_file_the_environment_or_a_file(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RGW_TEST_KEY", "from-env-key")
    (tmp_path / "ro").write_text("from-file-key\n")
    auth = config({"api_key_env": "RGW_TEST_KEY", "read_only_api_key_file": str(tmp_path / "ro"),
                   "metrics_token": "inline-token", "jwt_rbac": True}).auth
    assert auth is not None
    assert (auth.api_key, auth.read_only_api_key, auth.metrics_token) == ("from-env-key", "from-file-key",
                                                                          "inline-token")
    shown = repr(auth)
    assert "from-env-key" not in shown and "from-file-key" not in shown and "inline-token" not in shown
    assert parse_config(BASE).auth is None


@pytest.mark.parametrize(("auth", "named"), [
    ({}, "auth: give api_key"),
    ({"api_key": "x", "api_key_env": "Y"}, "auth.api_key: give one of"),
    ({"api_key_env": "RGW_SURELY_UNSET_VARIABLE"}, "auth.api_key_env"),
    ({"api_key_file": "/nonexistent/key"}, "auth.api_key_file"),
    ({"api_key": ""}, "auth.api_key: empty"),
    ({"api_key": " padded "}, "auth.api_key"),
    ({"api_key": "a\nb"}, "auth.api_key"),
    ({"read_only_api_key": "r", "jwt_rbac": True}, "auth.jwt_rbac"),
    ({"read_only_api_key": "r", "alt_api_key": "a"}, "auth.alt_api_key"),
    ({"api_key": "same", "read_only_api_key": "same"}, "must all differ"),
    ({"api_key": "x", "jwt_rbac": "yes"}, "auth.jwt_rbac: expected bool"),
    ({"api_key": "x", "token": "y"}, "auth.token: unknown key"),
    ({"api_key": 123456789}, "auth.api_key: expected a string"),
    ({"api_key": "x", "rate_limit": {"requests_per_s": 0}}, "auth.rate_limit.requests_per_s: must be > 0"),
    ({"api_key": "x", "rate_limit": {"requests_per_s": float("inf")}}, "finite"),
    ({"api_key": "x", "rate_limit": {"credentials": {"bob": {"requests_per_s": 1}}}}, "credentials.bob"),
    ({"api_key": "x", "rate_limit": {"collections": {"docs": {"requests_per_s": 1, "burst": 0}}}},
     "collections.docs.burst"),
])
def test_a_bad_auth_section_is_refused_naming_the_key(auth: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(named)):
        config(auth)


def test_rate_limits_and_tls_parse(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("y")
    parsed = config({"api_key": "x", "rate_limit": {"requests_per_s": 5, "burst": 10,
                                                    "credentials": {"jwt:bob": {"requests_per_s": 1}},
                                                    "collections": {"docs": {"requests_per_s": 2, "burst": 2}}}},
                    {"tls_cert_file": str(cert), "tls_key_file": str(key), "listen": "127.0.0.1:6333"})
    assert parsed.auth is not None and parsed.auth.rate_limits.default == RateLimit(5.0, 10)
    assert parsed.auth.rate_limits.credentials["jwt:bob"] == RateLimit(1.0, 1)
    assert parsed.local_url == "https://127.0.0.1:6333"
    with pytest.raises(ConfigError, match="give both"):
        config({"api_key": "x"}, {"tls_cert_file": str(cert)})
    with pytest.raises(ConfigError, match=re.escape("gateway.tls_key_file: no such file")):
        config({"api_key": "x"}, {"tls_cert_file": str(cert), "tls_key_file": str(tmp_path / "none")})
