"""Chaos scenarios: TOML files in rgw/chaos/scenarios/, loaded into validated dataclasses.

A scenario is a topology (regions, which regions sit behind a fault proxy, extra gateway config such
as policies), a load (rates, clients, duration, preloaded points), a fault timeline, and what must
hold (expectations). Every key is checked at load and an error names it, the way the gateway's
own config does: a typo must fail before anything starts, never halfway through a game day.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rgw.chaos.faults import Fault, fault_from_dict
from rgw.settings.config import ConfigError, GatewayConfig, Policy, default_chain, parse_config

SCENARIO_DIR = Path(__file__).parent / "scenarios"
GATEWAY = "gateway"
MODES = ("normal", "failover", "partial", "cache", "lexical")
BASELINE = "baseline"  # the phase before the first step that names one

PROCESS_ACTIONS = frozenset({"kill", "stop", "cont", "restart"})  # target: a region or the gateway
PROXY_ACTIONS = frozenset({"fault", "unfault", "proxy-down", "proxy-up"})  # target: a proxied region
REGION_ADMIN_ACTIONS = frozenset({"drain", "undrain", "restore-mark", "restore-clear"})  # target: a region
# Data faults and the jobs that repair them, target: a region. wipe loses the region's disk (kill, delete
# its data, restart empty); drop deletes the collection on the store behind the gateway's back, empty
# deletes its points; backup, restore and rebuild are the gateway's own jobs, followed until they end.
DATA_ACTIONS = frozenset({"backup", "wipe", "drop", "empty", "restore", "rebuild"})
ACTIONS = PROCESS_ACTIONS | PROXY_ACTIONS | REGION_ADMIN_ACTIONS | DATA_ACTIONS | {"mode"}  # mode: the collection
# Actions that need processes this run started (not possible against a running gateway, --gateway).
NEEDS_PROCESSES = PROCESS_ACTIONS | {"wipe"}
# Faults after which the proxied region cannot answer at all (others only slow it down).
BREAKING_FAULTS = frozenset({"reset", "blackhole", "limit_data"})


class ScenarioError(ValueError):
    """A scenario that cannot be run; the message names the file and the key."""


@dataclass(frozen=True)
class TopologySpec:
    regions: tuple[str, ...] = ("primary", "secondary")
    fault_proxies: tuple[str, ...] = ()  # regions the gateway reaches through a TCP fault proxy
    gateway_config: str = ""  # TOML appended to the gateway's config: policies, health, routing


@dataclass(frozen=True)
class LoadSpec:
    duration_s: float = 30.0
    read_rate: float = 40.0  # read requests per second, open loop
    write_rate: float = 5.0  # write requests per second, open loop
    write_batch: int = 8  # points per write request
    text_share: float = 0.3  # share of reads that carry query text (header or the gateway's search endpoint)
    filter_share: float = 0.25  # share of the query pool that carries a payload filter
    clients: int = 16  # concurrent read requests at most; a read due while all are busy is shed
    writers: int = 4  # concurrent write requests at most
    preload: int = 2000  # points written (and acknowledged) before the clock starts
    queries: int = 300  # distinct queries in the pool: repeats are what the cache can serve
    collection: str = "articles"
    short_factor: float = 0.4  # --short multiplies durations, step times and preload by this


@dataclass(frozen=True)
class Step:
    """One timeline entry: at `at_s` seconds after the load starts, do `action` to `target`."""

    at_s: float
    action: str
    target: str
    phase: str | None = None  # a new phase of the run starts with this step
    fault: Fault | None = None  # action "fault"
    fault_name: str | None = None  # action "unfault"
    expected: int | None = None  # action "restore-mark": the point count the restore will reach
    expected_factor: float | None = None  # ... or that many times the points acknowledged so far
    source: str | None = None  # action "mode": auto, a region, partial, cache or lexical
    max_rate: float | None = None  # actions "restore" and "rebuild": journal entries replayed per second at most

    def describe(self) -> str:
        detail = ""
        if self.fault is not None:
            params = {k: v for k, v in dataclasses.asdict(self.fault).items()
                      if k not in ("name", "toxicity", "direction") and v}
            detail = f" {self.fault.kind} " + " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                                       for k, v in params.items())
        elif self.fault_name:
            detail = f" {self.fault_name}"
        elif self.action == "restore-mark":
            detail = f" expected={self.expected}" if self.expected is not None else f" x{self.expected_factor:g}"
        elif self.source:
            detail = f" {self.source}"
        elif self.max_rate:
            detail = f" max_rate={self.max_rate:g}"
        return f"{self.action} {self.target}{detail}".rstrip()


@dataclass(frozen=True)
class Expectations:
    max_failed_reads: int | None = None  # every failed read, excused or not
    max_unexcused_failed_reads: int = 0  # failed while some allowed source could have answered
    max_short_answers: int = 0  # full answers with fewer hits than asked (a region answering from lost data)
    max_answers_from_lost_data: int = 0  # full answers from a region the timeline emptied (before detection)
    acked_writes_lost: int = 0
    max_failover_s: float | None = None
    max_recovery_s: float | None = None
    max_convergence_s: float = 60.0
    verify: bool = True  # `rgw verify` must find no drift after convergence
    modes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # phase -> modes allowed in it
    modes_seen: dict[str, tuple[str, ...]] = field(default_factory=dict)  # phase -> modes that must answer in it
    max_p99_ms: dict[str, float] = field(default_factory=dict)  # phase -> read latency bound


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    path: Path
    topology: TopologySpec
    load: LoadSpec
    steps: tuple[Step, ...]
    expect: Expectations
    gateway: GatewayConfig  # the gateway config the scenario implies (for policies and chains)

    @property
    def phases(self) -> tuple[str, ...]:
        names = [BASELINE]
        for step in self.steps:
            if step.phase and step.phase not in names:
                names.append(step.phase)
        return tuple(names)

    @property
    def policy(self) -> Policy:
        return self.gateway.policies.for_collection(self.load.collection)

    @property
    def chain(self) -> tuple[str, ...]:
        """The collection's fallback chain, as the gateway will derive it."""
        return self.policy.chain or default_chain(self.policy.tier, self.topology.regions)

    @property
    def preferred(self) -> str:
        """The region whose answers are mode `normal`."""
        return next(s for s in self.chain if s in self.topology.regions)

    def shortened(self) -> Scenario:
        """The CI form: same faults in the same order, everything sooner and smaller."""
        f = self.load.short_factor
        load = dataclasses.replace(self.load, duration_s=round(self.load.duration_s * f, 2),
                                   preload=max(100, int(self.load.preload * f)))
        steps = tuple(dataclasses.replace(s, at_s=round(s.at_s * f, 2)) for s in self.steps)
        return dataclasses.replace(self, load=load, steps=steps)


# -- loading ----------------------------------------------------------------------------------------

def scenario_names() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def find_scenario(name_or_path: str) -> Path:
    """A shipped scenario by name, or a TOML file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ScenarioError(f"no such scenario file: {name_or_path}")
        return path
    shipped = SCENARIO_DIR / f"{name_or_path}.toml"
    if not shipped.is_file():
        raise ScenarioError(f"no scenario named {name_or_path!r} (shipped: {', '.join(scenario_names())})")
    return shipped


def load_scenario(name_or_path: str) -> Scenario:
    path = find_scenario(name_or_path)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    try:
        return parse_scenario(raw, path)
    except ScenarioError as exc:
        raise ScenarioError(f"{path.name}: {exc}") from None


def parse_scenario(raw: dict[str, Any], path: Path) -> Scenario:
    _only(raw, "", {"name", "description", "topology", "load", "faults", "expect"})
    name = _get(raw, "", "name", str, path.stem)
    description = _get(raw, "", "description", str, "")
    topology = _topology(_table(raw, "topology"))
    load = _load(_table(raw, "load"))
    gateway = gateway_config_of(topology)
    steps = _steps(raw.get("faults", []), topology, load)
    expect = _expect(_table(raw, "expect"))
    scenario = Scenario(name, description, path, topology, load, steps, expect, gateway)
    _check_phases(scenario)
    return scenario


def _topology(table: dict[str, Any]) -> TopologySpec:
    where = "topology"
    _only(table, where, {f.name for f in dataclasses.fields(TopologySpec)})
    regions = tuple(_names(table, where, "regions", TopologySpec.regions))
    if not regions:
        raise ScenarioError("topology.regions: at least one region")
    if GATEWAY in regions:
        raise ScenarioError(f"topology.regions: {GATEWAY!r} names the gateway, not a region")
    proxies = tuple(_names(table, where, "fault_proxies", ()))
    for region in proxies:
        if region not in regions:
            raise ScenarioError(f"topology.fault_proxies: {region!r} is not one of the regions {list(regions)}")
    return TopologySpec(regions, proxies, _get(table, where, "gateway_config", str, ""))


def gateway_config_of(topology: TopologySpec) -> GatewayConfig:
    """Validate gateway_config exactly as the gateway will, by parsing the config it will get."""
    regions = "".join(f'[[regions]]\nname = "{r}"\nurl = "http://127.0.0.1:{i + 1}"\n\n'
                      for i, r in enumerate(topology.regions))
    text = f'[gateway]\nlisten = "127.0.0.1:1"\n\n{regions}{topology.gateway_config}'
    try:
        return parse_config(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"topology.gateway_config: not valid TOML: {exc}") from None
    except ConfigError as exc:
        raise ScenarioError(f"topology.gateway_config: {exc}") from None


def _load(table: dict[str, Any]) -> LoadSpec:
    where = "load"
    _only(table, where, {f.name for f in dataclasses.fields(LoadSpec)})
    defaults = LoadSpec()
    values = {f.name: _get(table, where, f.name, type(getattr(defaults, f.name)), getattr(defaults, f.name))
              for f in dataclasses.fields(LoadSpec)}
    load = LoadSpec(**values)
    for key in ("duration_s", "read_rate", "clients", "writers", "queries", "write_batch", "short_factor"):
        if getattr(load, key) <= 0:
            raise ScenarioError(f"load.{key}: must be > 0, got {getattr(load, key)}")
    for key in ("write_rate", "preload"):
        if getattr(load, key) < 0:
            raise ScenarioError(f"load.{key}: must be >= 0, got {getattr(load, key)}")
    for key in ("text_share", "filter_share", "short_factor"):
        if not 0 <= getattr(load, key) <= 1:
            raise ScenarioError(f"load.{key}: must be between 0 and 1, got {getattr(load, key)}")
    _check_collection(load.collection)
    return load


def _check_collection(name: str) -> None:
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ScenarioError(f"load.collection: use letters, digits, '-' or '_', got {name!r}")


def with_collection(scenario: Scenario, name: str) -> Scenario:
    """The scenario loading (and breaking) collection `name` instead of its own."""
    _check_collection(name)
    return dataclasses.replace(scenario, load=dataclasses.replace(scenario.load, collection=name))


_STEP_KEYS = {"at_s", "action", "target", "phase", "fault", "name", "expected", "expected_factor", "source",
              "max_rate"}


def _steps(value: Any, topology: TopologySpec, load: LoadSpec) -> tuple[Step, ...]:
    if not isinstance(value, list):
        raise ScenarioError("faults: expected [[faults]] tables")
    steps = []
    for i, entry in enumerate(value):
        where = f"faults[{i}]"
        if not isinstance(entry, dict):
            raise ScenarioError(f"{where}: expected a table")
        _only(entry, where, _STEP_KEYS)
        at_s = _get(entry, where, "at_s", float, None)
        if not 0 <= at_s <= load.duration_s:
            raise ScenarioError(f"{where}.at_s: must be within the load (0..{load.duration_s:g}), got {at_s:g}")
        action = _get(entry, where, "action", str, None)
        if action not in ACTIONS:
            raise ScenarioError(f"{where}.action: expected one of {sorted(ACTIONS)}, got {action!r}")
        target = _get(entry, where, "target", str, load.collection if action == "mode" else None)
        _check_target(where, action, target, topology, load)
        phase = _get(entry, where, "phase", str, "") or None
        params = _action_params(entry, where, action)
        sources = ("auto", *topology.regions, "partial", "cache", "lexical")
        if action == "mode" and params["source"] not in sources:
            raise ScenarioError(f"{where}.source: expected one of {list(sources)}, got {params['source']!r}")
        steps.append(Step(at_s, action, target, phase, **params))
    if [s.at_s for s in steps] != sorted(s.at_s for s in steps):
        raise ScenarioError("faults: steps must be in time order (at_s)")
    return tuple(steps)


def _check_target(where: str, action: str, target: str, topology: TopologySpec, load: LoadSpec) -> None:
    if action in PROCESS_ACTIONS:
        allowed: tuple[str, ...] = (*topology.regions, GATEWAY)
    elif action in PROXY_ACTIONS:
        allowed = topology.fault_proxies
        if target in topology.regions and target not in allowed:
            raise ScenarioError(f"{where}.target: region {target!r} has no fault proxy; add it to "
                                "topology.fault_proxies")
    elif action == "mode":
        allowed = (load.collection,)
    else:
        allowed = topology.regions
    if target not in allowed:
        raise ScenarioError(f"{where}.target: {action} needs one of {list(allowed)}, got {target!r}")


def _action_params(entry: dict[str, Any], where: str, action: str) -> dict[str, Any]:
    """The keys each action takes; any other key given is an error naming it."""
    takes = {"fault": {"fault"}, "unfault": {"name"}, "restore-mark": {"expected", "expected_factor"},
             "mode": {"source"}, "restore": {"max_rate"}, "rebuild": {"max_rate"}}.get(action, set())
    for key in _STEP_KEYS - {"at_s", "action", "target", "phase"} - takes:
        if key in entry:
            raise ScenarioError(f"{where}.{key}: not a parameter of {action}")
    params: dict[str, Any] = {}
    if action == "fault":
        spec = _table(entry, "fault", where)
        if not spec:
            raise ScenarioError(f"{where}.fault: required, e.g. {{ kind = \"latency\", latency_ms = 500 }}")
        try:
            params["fault"] = fault_from_dict(spec)
        except (ValueError, TypeError) as exc:
            raise ScenarioError(f"{where}.fault.{exc}") from None
    elif action == "unfault":
        params["fault_name"] = _get(entry, where, "name", str, None)
    elif action == "restore-mark":
        if ("expected" in entry) == ("expected_factor" in entry):
            raise ScenarioError(f"{where}.expected: give expected (points) or expected_factor, exactly one")
        if "expected" in entry:
            params["expected"] = _get(entry, where, "expected", int, None)
            if params["expected"] <= 0:
                raise ScenarioError(f"{where}.expected: must be > 0")
        else:
            params["expected_factor"] = _get(entry, where, "expected_factor", float, None)
            if params["expected_factor"] < 1:
                raise ScenarioError(f"{where}.expected_factor: must be >= 1 (a restore expects at least "
                                    "what is already there)")
    elif action == "mode":
        params["source"] = _get(entry, where, "source", str, None)
    elif "max_rate" in entry:
        params["max_rate"] = _get(entry, where, "max_rate", float, None)
        if params["max_rate"] <= 0:
            raise ScenarioError(f"{where}.max_rate: must be > 0 (journal entries per second)")
    return params


def _expect(table: dict[str, Any]) -> Expectations:
    where = "expect"
    keys = {f.name for f in dataclasses.fields(Expectations)}
    _only(table, where, keys)
    values: dict[str, Any] = {}
    for key, kind in (("max_failed_reads", int), ("max_unexcused_failed_reads", int), ("max_short_answers", int),
                      ("max_answers_from_lost_data", int), ("acked_writes_lost", int),
                      ("max_failover_s", float), ("max_recovery_s", float), ("max_convergence_s", float),
                      ("verify", bool)):
        if key in table:
            values[key] = _get(table, where, key, kind, None)
            if kind is not bool and values[key] < 0:
                raise ScenarioError(f"{where}.{key}: must be >= 0")
    for key in ("modes", "modes_seen"):
        values[key] = {}
        for phase, listed in _table(table, key, where).items():
            if not isinstance(listed, list) or not listed or not all(m in MODES for m in listed):
                raise ScenarioError(f"{where}.{key}.{phase}: expected a non-empty list of modes from "
                                    f"{list(MODES)}, got {listed!r}")
            values[key][phase] = tuple(listed)
    p99 = _table(table, "max_p99_ms", where)
    values["max_p99_ms"] = {phase: _get(p99, f"{where}.max_p99_ms", phase, float, None) for phase in p99}
    return Expectations(**values)


def _check_phases(scenario: Scenario) -> None:
    phases = scenario.phases
    for key, table in (("modes", scenario.expect.modes), ("modes_seen", scenario.expect.modes_seen),
                       ("max_p99_ms", scenario.expect.max_p99_ms)):
        for phase in table:
            if phase not in phases:
                raise ScenarioError(f"expect.{key}.{phase}: no such phase (phases: {list(phases)})")
    for phase in phases:
        if phase not in scenario.expect.modes:
            raise ScenarioError(f"expect.modes.{phase}: every phase needs its allowed modes (phases: {list(phases)})")
    chain = scenario.chain
    for phase, allowed in scenario.expect.modes.items():
        for mode in allowed:
            if mode in ("partial", "cache", "lexical") and mode not in chain:
                raise ScenarioError(f"expect.modes.{phase}: {mode!r} is not in the collection's chain {list(chain)}")
    for phase, required in scenario.expect.modes_seen.items():
        for mode in required:
            if mode not in scenario.expect.modes[phase]:
                raise ScenarioError(f"expect.modes_seen.{phase}: {mode!r} must answer but is not allowed "
                                    f"(expect.modes.{phase})")


# -- typed access ----------------------------------------------------------------------------------

def _only(table: dict[str, Any], where: str, allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            prefix = f"{where}." if where else ""
            raise ScenarioError(f"{prefix}{key}: unknown key (allowed: {', '.join(sorted(allowed))})")


def _table(raw: dict[str, Any], key: str, where: str = "") -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ScenarioError(f"{where + '.' if where else ''}{key}: expected a table")
    return value


def _get(table: dict[str, Any], where: str, key: str, kind: type, default: Any) -> Any:
    name = f"{where}.{key}" if where else key
    if key not in table:
        if default is None:
            raise ScenarioError(f"{name}: required")
        return default
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if (kind in (int, float) and isinstance(value, bool)) or not isinstance(value, kind):
        raise ScenarioError(f"{name}: expected {kind.__name__}, got {type(value).__name__} {value!r}")
    if kind is float and not math.isfinite(value):
        raise ScenarioError(f"{name}: must be finite, got {value!r}")
    return value


def _names(table: dict[str, Any], where: str, key: str, default: tuple[str, ...]) -> list[str]:
    value = table.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ScenarioError(f"{where}.{key}: expected a list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise ScenarioError(f"{where}.{key}: names repeat: {value!r}")
    return value
