"""Gateway configuration: TOML in, validated dataclasses out.

Every key is checked at load; an unknown key or a wrong type is an error naming the key,
the way Envoy rejects a bad bootstrap rather than guessing. Defaults are the safe ones.
"""

from __future__ import annotations

import functools
import math
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rgw import QDRANT_MAX_REQUEST_BYTES


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the key."""


@dataclass(frozen=True)
class HealthCheck:
    """Active health checking of each region (Envoy's health_check, trimmed)."""

    interval_s: float = 0.25
    timeout_s: float = 0.5
    unhealthy_threshold: int = 2
    healthy_threshold: int = 2
    path: str = "/readyz"
    # Collections are listed and inspected per region on a slower cadence.
    collections_interval_s: float = 2.0


@dataclass(frozen=True)
class OutlierDetection:
    """Passive ejection from real traffic (Envoy's outlier_detection, consecutive errors)."""

    consecutive_errors: int = 3
    base_ejection_s: float = 1.0
    max_ejection_s: float = 30.0


@dataclass(frozen=True)
class Routing:
    """Timeouts, retries across regions and hedging for reads."""

    per_try_timeout_s: float = 2.0
    # How long a read waits for some region to catch up to the writes it must see before it
    # settles for a lagging region's (stale, labelled) answer.
    freshness_wait_s: float = 1.0
    request_timeout_s: float = 10.0
    write_timeout_s: float = 10.0
    hedging: bool = True
    # None derives the delay from the region's observed p99 latency (x hedge_latency_factor).
    hedge_delay_ms: float | None = None
    hedge_latency_factor: float = 2.0
    hedge_min_delay_ms: float = 5.0
    hedge_max_delay_ms: float = 250.0


@dataclass(frozen=True)
class Limits:
    """What one client or one region may make the gateway hold; past these a request is refused."""

    max_request_bytes: int = QDRANT_MAX_REQUEST_BYTES  # a body (after decoding), as Qdrant's max_request_size_mb: 413
    max_head_bytes: int = 65536  # request line and headers together (Envoy's 60 KiB): 431
    max_headers: int = 100  # header fields in one request (Envoy's max_headers_count): 431
    max_pipelined: int = 64  # requests parsed and waiting behind the one being answered, per connection
    max_response_bytes: int = 256 * 1024 * 1024  # one region answer; a larger one is a failed attempt
    head_timeout_s: float = 10.0  # a request head must arrive within this: 408
    body_timeout_s: float = 60.0  # ... and its body within this once the head is in
    keepalive_timeout_s: float = 75.0  # an idle client connection is closed after this
    send_timeout_s: float = 60.0  # a client that stops reading its answers for this long is dropped


@dataclass(frozen=True)
class Region:
    name: str
    url: str
    api_key: str | None = None  # sent to the region as `api-key`; never shown to clients
    ca_file: str | None = None  # CA bundle to verify an https region against (default: the system's)


class Tier(StrEnum):
    CRITICAL = "critical"
    STANDARD = "standard"
    BEST_EFFORT = "best-effort"


class WriteAck(StrEnum):
    """What must hold a write before it is answered, besides the journal (see journal.writer)."""

    JOURNAL = "journal"
    PRIMARY = "primary"
    ALL = "all"


class Fallback(StrEnum):
    """The degraded sources a chain may hold besides regions."""

    PARTIAL = "partial"
    CACHE = "cache"
    LEXICAL = "lexical"


FALLBACKS = frozenset(Fallback)


@dataclass(frozen=True)
class Policy:
    """Per-collection serving policy. Parsed and validated now; degraded modes use it later."""

    tier: Tier = Tier.STANDARD
    chain: tuple[str, ...] = ()  # empty: every region in configured order
    min_coverage: float = 0.8
    cache_ttl_s: float = 0.0
    stale_if_error_s: float = 300.0
    max_staleness_s: float = 30.0
    text_field: str = "text"
    write_ack: WriteAck = WriteAck.JOURNAL
    backup_interval_s: float | None = None  # None: the tier's cadence; 0: no scheduled backups
    backup_keep: int | None = None  # bundles kept per collection; None: the tier's

    def backup_schedule(self) -> tuple[float, int]:
        """(seconds between scheduled backups, 0 for none; bundles kept), tier defaults filled in."""
        interval, keep = BACKUP_SCHEDULES[self.tier]
        return (interval if self.backup_interval_s is None else self.backup_interval_s,
                keep if self.backup_keep is None else self.backup_keep)


# Per tier: hourly for critical data, daily for standard, none for best-effort (rebuildable).
BACKUP_SCHEDULES = {Tier.CRITICAL: (3600.0, 48), Tier.STANDARD: (86400.0, 7), Tier.BEST_EFFORT: (0.0, 3)}
_OPTIONAL_FIELD_TYPES: dict[str, type] = {"backup_interval_s": float, "backup_keep": int}
_ENUM_FIELDS: dict[str, type[StrEnum]] = {"tier": Tier, "write_ack": WriteAck}


def _member(enum: type[StrEnum], value: str, where: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise ConfigError(f"{where}: expected one of {[str(m) for m in enum]}, got {value!r}") from None


@functools.lru_cache(maxsize=64)  # asked on every read; a handful of (tier, regions) pairs exist
def default_chain(tier: Tier, regions: tuple[str, ...]) -> tuple[str, ...]:
    """The chain a tier gets when the policy names none.

    critical never answers lexically; best-effort takes a fresh cache hit before asking a region.
    """
    if tier is Tier.CRITICAL:
        return (*regions, Fallback.PARTIAL, Fallback.CACHE)
    if tier is Tier.BEST_EFFORT:
        return (Fallback.CACHE, *regions, Fallback.PARTIAL, Fallback.LEXICAL)
    return (*regions, Fallback.PARTIAL, Fallback.CACHE, Fallback.LEXICAL)


@dataclass(frozen=True)
class Policies:
    default: Policy = field(default_factory=Policy)
    collections: dict[str, Policy] = field(default_factory=dict)

    def for_collection(self, name: str) -> Policy:
        return self.collections.get(name, self.default)


def override_policy(base: Policy, fields_: dict[str, Any], region_names: set[str], where: str) -> Policy:
    """`base` with some fields replaced, validated exactly as the config file's policies are."""
    return _policy(fields_, where, base, region_names)


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: `requests_per_s` on average, up to `burst` at once."""

    requests_per_s: float
    burst: int


@dataclass(frozen=True)
class RateLimits:
    """Per-credential limits (by credential id), and per credential and collection; None: unlimited."""

    default: RateLimit | None = None  # every credential without a limit of its own
    credentials: dict[str, RateLimit] = field(default_factory=dict)  # "api_key", "read_only_api_key", "jwt:<sub>"...
    collections: dict[str, RateLimit] = field(default_factory=dict)  # a bucket per (credential, collection)
    max_buckets: int = 10000  # buckets kept at once; past it the least recently used is dropped

    @property
    def enabled(self) -> bool:
        return self.default is not None or bool(self.credentials) or bool(self.collections)


SECRETS = ("api_key", "read_only_api_key", "alt_api_key", "metrics_token")
STATIC_CREDENTIALS = ("api_key", "alt_api_key", "read_only_api_key")  # credential ids of the static keys


@dataclass(frozen=True)
class AuthConfig:
    """Client authentication as Qdrant 1.19 does it (see rgw.auth); secrets are kept out of repr."""

    api_key: str | None = field(default=None, repr=False)  # full access; signs JWTs
    read_only_api_key: str | None = field(default=None, repr=False)
    alt_api_key: str | None = field(default=None, repr=False)  # a second full key (and JWT secret), for rotation
    jwt_rbac: bool = False
    metrics_token: str | None = field(default=None, repr=False)  # opens /metrics and /gateway/status only
    jwt_cache_entries: int = 10000  # verified tokens remembered until they expire
    rate_limits: RateLimits = field(default_factory=RateLimits)


DEFAULT_LISTEN = "127.0.0.1:6333"
DEFAULT_DATA_DIR = Path("var/gateway")


@dataclass(frozen=True)
class GatewayConfig:
    listen: str = DEFAULT_LISTEN
    data_dir: Path = DEFAULT_DATA_DIR
    admin_token: str | None = None  # RGW_ADMIN_TOKEN overrides; no token means the admin API is off
    regions: tuple[Region, ...] = ()
    health: HealthCheck = field(default_factory=HealthCheck)
    outlier: OutlierDetection = field(default_factory=OutlierDetection)
    routing: Routing = field(default_factory=Routing)
    limits: Limits = field(default_factory=Limits)
    policies: Policies = field(default_factory=Policies)
    auth: AuthConfig | None = None  # None: no client authentication (as before [auth] existed)
    tls_cert_file: str | None = None  # both set: the listener serves HTTPS (TLS 1.2+)
    tls_key_file: str | None = None

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]

    @property
    def local_url(self) -> str:
        """Where a client on this machine reaches the gateway (a wildcard listen address means loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        scheme = "https" if self.tls else "http"
        return f"{scheme}://[{host}]:{self.port}" if ":" in host else f"{scheme}://{host}:{self.port}"


def split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"gateway.listen: expected HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


def load_config(path: str | Path) -> GatewayConfig:
    try:
        raw = tomllib.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"no such file: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}") from exc
    return parse_config(raw)


def parse_config(raw: dict[str, Any]) -> GatewayConfig:
    _only_keys(raw, "", {"gateway", "regions", "health", "outlier", "routing", "limits", "policies", "auth"})
    gateway = _table(raw, "gateway")
    _only_keys(gateway, "gateway", {"listen", "data_dir", "admin_token", "tls_cert_file", "tls_key_file"})
    listen = _typed(gateway, "gateway", "listen", str, DEFAULT_LISTEN)
    admin_token = _typed(gateway, "gateway", "admin_token", str, None) if "admin_token" in gateway else None
    split_listen(listen)
    data_dir = Path(_typed(gateway, "gateway", "data_dir", str, str(DEFAULT_DATA_DIR)))
    tls_cert, tls_key = (_existing_file(gateway, "gateway", name) for name in ("tls_cert_file", "tls_key_file"))
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("gateway.tls_cert_file and gateway.tls_key_file: give both (HTTPS) or neither (HTTP)")
    auth = _auth(raw["auth"]) if "auth" in raw else None

    regions = _regions(raw.get("regions"))
    health = _section(raw, "health", HealthCheck)
    outlier = _section(raw, "outlier", OutlierDetection)
    routing = _section(raw, "routing", Routing)
    limits = _section(raw, "limits", Limits)
    _check_positive(limits, "limits", tuple(f.name for f in fields(Limits)))
    _check_positive(health, "health", ("interval_s", "timeout_s", "collections_interval_s"))
    _check_positive(health, "health", ("unhealthy_threshold", "healthy_threshold"))
    _check_positive(outlier, "outlier", ("consecutive_errors", "base_ejection_s", "max_ejection_s"))
    _check_positive(routing, "routing", ("per_try_timeout_s", "request_timeout_s", "write_timeout_s",
                                         "freshness_wait_s"))
    if routing.hedge_delay_ms is not None and routing.hedge_delay_ms <= 0:
        raise ConfigError("routing.hedge_delay_ms: must be > 0 (omit it to derive from latency)")
    policies = _policies(raw.get("policies", {}), {r.name for r in regions})
    return GatewayConfig(listen=listen, data_dir=data_dir, admin_token=admin_token, regions=regions, health=health,
                         outlier=outlier, routing=routing, limits=limits, policies=policies, auth=auth,
                         tls_cert_file=tls_cert, tls_key_file=tls_key)


def _existing_file(table: dict[str, Any], where: str, key: str) -> str | None:
    if key not in table:
        return None
    path = _typed(table, where, key, str, None)
    if not Path(path).is_file():
        raise ConfigError(f"{where}.{key}: no such file {path!r}")
    return str(path)


def _auth(value: Any) -> AuthConfig:
    if not isinstance(value, dict):
        raise ConfigError("auth: expected a table [auth]")
    keys = {"jwt_rbac", "jwt_cache_entries", "rate_limit"}
    for name in SECRETS:
        keys |= {name, f"{name}_env", f"{name}_file"}
    _only_keys(value, "auth", keys)
    secrets = {name: _secret(value, name) for name in SECRETS}
    jwt_rbac = _typed(value, "auth", "jwt_rbac", bool, False)
    cache = _typed(value, "auth", "jwt_cache_entries", int, 10000)
    if cache < 1:
        raise ConfigError(f"auth.jwt_cache_entries: must be >= 1, got {cache}")
    if secrets["api_key"] is None and secrets["read_only_api_key"] is None:
        raise ConfigError("auth: give api_key (or api_key_env / api_key_file), read_only_api_key, or both")
    if secrets["alt_api_key"] is not None and secrets["api_key"] is None:
        raise ConfigError("auth.alt_api_key: the alternative to api_key during a rotation; set api_key too")
    if jwt_rbac and secrets["api_key"] is None:
        raise ConfigError("auth.jwt_rbac: JWTs are signed with api_key; set api_key too")
    given = [s for s in secrets.values() if s is not None]
    if len(set(given)) != len(given):
        raise ConfigError("auth: api_key, read_only_api_key, alt_api_key and metrics_token must all differ")
    return AuthConfig(api_key=secrets["api_key"], read_only_api_key=secrets["read_only_api_key"],
                      alt_api_key=secrets["alt_api_key"], jwt_rbac=jwt_rbac, metrics_token=secrets["metrics_token"],
                      jwt_cache_entries=cache, rate_limits=_rate_limits(value.get("rate_limit", {})))


def _secret(table: dict[str, Any], name: str) -> str | None:
    """A secret given inline, by environment variable (`NAME_env`) or by file (`NAME_file`); the message names
    the key, never the value."""
    given = [key for key in (name, f"{name}_env", f"{name}_file") if key in table]
    if not given:
        return None
    if len(given) > 1:
        raise ConfigError(f"auth.{given[0]}: give one of {', '.join(given)}, not several")
    key = given[0]
    if not isinstance(table[key], str):  # said without the value: it may be the secret itself
        raise ConfigError(f"auth.{key}: expected a string")
    source = table[key]
    if key.endswith("_env"):
        secret = os.environ.get(source)
        if not secret:
            raise ConfigError(f"auth.{key}: environment variable {source!r} is not set or empty")
    elif key.endswith("_file"):
        try:
            secret = Path(source).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"auth.{key}: cannot read {source!r}: {type(exc).__name__}") from None
    else:
        secret = source
    if not secret:
        raise ConfigError(f"auth.{key}: empty")
    # Clients send it in a header: what a header cannot carry could never match.
    if secret != secret.strip(" \t") or not secret.isprintable():
        raise ConfigError(f"auth.{key}: the secret holds control characters or surrounding whitespace")
    return secret


def _rate_limits(value: Any) -> RateLimits:
    if not isinstance(value, dict):
        raise ConfigError("auth.rate_limit: expected a table")
    _only_keys(value, "auth.rate_limit", {"requests_per_s", "burst", "credentials", "collections", "max_buckets"})
    default = _rate_limit(value, "auth.rate_limit") if "requests_per_s" in value or "burst" in value else None
    credentials: dict[str, RateLimit] = {}
    collections: dict[str, RateLimit] = {}
    for group, out in (("credentials", credentials), ("collections", collections)):
        table = value.get(group, {})
        if not isinstance(table, dict):
            raise ConfigError(f"auth.rate_limit.{group}: expected a table of tables")
        for name, limit in table.items():
            where = f"auth.rate_limit.{group}.{name}"
            if not isinstance(limit, dict):
                raise ConfigError(f"{where}: expected a table with requests_per_s and burst")
            if group == "credentials" and name not in STATIC_CREDENTIALS and not name.startswith("jwt:"):
                raise ConfigError(f"{where}: a credential is one of {', '.join(STATIC_CREDENTIALS)} or "
                                  "jwt:<subject>")
            _only_keys(limit, where, {"requests_per_s", "burst"})
            out[name] = _rate_limit(limit, where)
    max_buckets = _typed(value, "auth.rate_limit", "max_buckets", int, 10000)
    if max_buckets < 1:
        raise ConfigError(f"auth.rate_limit.max_buckets: must be >= 1, got {max_buckets}")
    return RateLimits(default, credentials, collections, max_buckets)


def _rate_limit(table: dict[str, Any], where: str) -> RateLimit:
    rate = _typed(table, where, "requests_per_s", float, None)
    if rate <= 0:
        raise ConfigError(f"{where}.requests_per_s: must be > 0, got {rate}")
    burst = _typed(table, where, "burst", int, max(1, math.ceil(rate)))
    if burst < 1:
        raise ConfigError(f"{where}.burst: must be >= 1, got {burst}")
    return RateLimit(rate, burst)


def _regions(value: Any) -> tuple[Region, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError("regions: at least one [[regions]] entry with name and url is required")
    seen: set[str] = set()
    out = []
    for i, entry in enumerate(value):
        where = f"regions[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a table")
        _only_keys(entry, where, {"name", "url", "api_key", "ca_file"})
        name = _typed(entry, where, "name", str, None)
        url = _typed(entry, where, "url", str, None)
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"{where}.name: use letters, digits, '-' or '_', got {name!r}")
        if name in seen:
            raise ConfigError(f"{where}.name: duplicate region name {name!r}")
        if name in FALLBACKS:
            raise ConfigError(f"{where}.name: {name!r} is reserved for a degraded source")
        seen.add(name)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.port is None:
            raise ConfigError(f"{where}.url: expected http://HOST:PORT, got {url!r}")
        api_key = _typed(entry, where, "api_key", str, None) if "api_key" in entry else None
        if api_key is not None and (not api_key.isascii() or not api_key.isprintable()):
            raise ConfigError(f"{where}.api_key: must be printable ASCII (it travels in a header)")
        ca_file = _typed(entry, where, "ca_file", str, None) if "ca_file" in entry else None
        if ca_file is not None and not Path(ca_file).is_file():
            raise ConfigError(f"{where}.ca_file: no such file {ca_file!r}")
        out.append(Region(name=name, url=url.rstrip("/"), api_key=api_key, ca_file=ca_file))
    return tuple(out)


def _policies(value: Any, region_names: set[str]) -> Policies:
    if not isinstance(value, dict):
        raise ConfigError("policies: expected a table")
    _only_keys(value, "policies", {"default", "collections"})
    default = _policy(value.get("default", {}), "policies.default", Policy(), region_names)
    collections = {}
    raw_collections = value.get("collections", {})
    if not isinstance(raw_collections, dict):
        raise ConfigError("policies.collections: expected a table of collection tables")
    for name, body in raw_collections.items():
        collections[name] = _policy(body, f"policies.collections.{name}", default, region_names)
    return Policies(default=default, collections=collections)


def _policy(value: Any, where: str, base: Policy, region_names: set[str]) -> Policy:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table")
    _only_keys(value, where, {f.name for f in fields(Policy)})
    kwargs: dict[str, Any] = {}
    for f in fields(Policy):
        if f.name not in value:
            continue
        if f.name == "chain":
            chain = value["chain"]
            if not isinstance(chain, list) or not all(isinstance(s, str) for s in chain) or not chain:
                raise ConfigError(f"{where}.chain: expected a non-empty list of source names")
            for source in chain:
                if source not in region_names and source not in FALLBACKS:
                    allowed = sorted(region_names | {str(f) for f in Fallback})
                    raise ConfigError(f"{where}.chain: unknown source {source!r} (allowed: {allowed})")
            kwargs["chain"] = tuple(Fallback(s) if s in FALLBACKS else s for s in chain)
        elif f.name in _ENUM_FIELDS:
            kwargs[f.name] = _member(_ENUM_FIELDS[f.name], _typed(value, where, f.name, str, None), f"{where}.{f.name}")
        else:
            expected = _OPTIONAL_FIELD_TYPES.get(f.name) or type(getattr(base, f.name))
            kwargs[f.name] = _typed(value, where, f.name, expected, None)
    policy = replace(base, **kwargs)
    if not 0.0 <= policy.min_coverage <= 1.0:
        raise ConfigError(f"{where}.min_coverage: expected 0..1, got {policy.min_coverage}")
    for name in ("cache_ttl_s", "stale_if_error_s", "max_staleness_s"):
        if getattr(policy, name) < 0:
            raise ConfigError(f"{where}.{name}: must be >= 0")
    if policy.backup_interval_s is not None and policy.backup_interval_s < 0:
        raise ConfigError(f"{where}.backup_interval_s: must be >= 0 (0 turns scheduled backups off)")
    if policy.backup_keep is not None and policy.backup_keep < 1:
        raise ConfigError(f"{where}.backup_keep: must be >= 1")
    return policy


def _section(raw: dict[str, Any], name: str, cls: type) -> Any:
    table = _table(raw, name)
    _only_keys(table, name, {f.name for f in fields(cls)})
    defaults = cls()
    kwargs = {}
    for f in fields(cls):
        if f.name in table:
            default = getattr(defaults, f.name)
            expected = float if default is None else type(default)
            kwargs[f.name] = _typed(table, name, f.name, expected, None)
    return cls(**kwargs)


def _table(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a table [{name}]")
    return value


def _only_keys(table: dict[str, Any], where: str, allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            prefix = f"{where}." if where else ""
            raise ConfigError(f"{prefix}{key}: unknown key (allowed: {', '.join(sorted(allowed))})")


def _typed(table: dict[str, Any], where: str, key: str, expected: type, default: Any) -> Any:
    if key not in table:
        if default is None:
            raise ConfigError(f"{where}.{key}: required")
        return default
    value = table[key]
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        # nan compares false with everything: max_staleness_s = nan would silently switch the check off
        raise ConfigError(f"{where}.{key}: expected a finite number, got {value}")
    if (expected is int and isinstance(value, bool)) or not isinstance(value, expected):
        raise ConfigError(f"{where}.{key}: expected {expected.__name__}, got {type(value).__name__} {value!r}")
    return value


def _check_positive(section: Any, where: str, names: tuple[str, ...]) -> None:
    for name in names:
        if getattr(section, name) <= 0:
            raise ConfigError(f"{where}.{name}: must be > 0, got {getattr(section, name)}")

