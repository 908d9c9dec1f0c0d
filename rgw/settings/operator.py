"""What operators have set at runtime: forced modes, drained regions, restore marks, policy overrides.

Each change takes effect at once, is logged, records when it was set and from where, and is
saved (atomically) in the gateway's data_dir so a restart does not silently undo it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from rgw.durable import atomic_write
from rgw.settings.config import FALLBACKS, GatewayConfig, Policy, default_chain, override_policy

log = logging.getLogger("rgw.operator")

STATE_FILE = "operator.json"


@dataclass
class Setting:
    value: Any
    set_at: float  # wall clock
    by: str


@dataclass
class Restoring:
    expected_points: int
    set_at: float
    by: str


@dataclass
class OperatorState:
    forced: dict[str, Setting] = field(default_factory=dict)  # collection -> source
    drained: dict[str, Setting] = field(default_factory=dict)  # region -> True
    restoring: dict[str, dict[str, Restoring]] = field(default_factory=dict)  # collection -> region -> mark
    policies: dict[str, Setting] = field(default_factory=dict)  # collection -> overridden policy fields


class RefusedChange(ValueError):
    """An operator change that cannot be made (unknown region or source, a bad value); nothing changed."""


class Operator:
    """The operator state plus the rules for changing it; effective policies live here."""

    def __init__(self, config: GatewayConfig) -> None:
        self._config = config
        self._regions = tuple(r.name for r in config.regions)
        self._path = config.data_dir / STATE_FILE
        self.state = self._load()
        # Effective policies of overridden collections, validated once per change, not per read.
        self._overridden: dict[str, Policy] = {}
        self._resolve_overrides()
        self.generation = 0  # bumped by every change: what readers derived from the settings is out of date

    # -- reading ---------------------------------------------------------------------------
    def policy(self, collection: str) -> Policy:
        overridden = self._overridden.get(collection)
        return overridden if overridden is not None else self._config.policies.for_collection(collection)

    def chain(self, collection: str) -> tuple[str, ...]:
        policy = self.policy(collection)
        return policy.chain or default_chain(policy.tier, self._regions)

    def forced(self, collection: str) -> str | None:
        setting = self.state.forced.get(collection)
        return None if setting is None else str(setting.value)

    def drained(self, region: str) -> bool:
        return region in self.state.drained

    def restoring(self, collection: str) -> dict[str, Restoring]:
        return self.state.restoring.get(collection, {})

    # -- changing --------------------------------------------------------------------------
    def force(self, collection: str, source: str, by: str) -> None:
        """`source` is "auto", a region name, or partial / cache / lexical."""
        if source == "auto":
            self.state.forced.pop(collection, None)
        else:
            if source not in self._regions and source not in FALLBACKS:
                raise RefusedChange(f"source: unknown source {source!r} (use auto, a region, "
                                    f"{', '.join(FALLBACKS)})")
            self.state.forced[collection] = Setting(source, time.time(), by)
        self._changed(f"mode of {collection} set to {source}", by)

    def drain(self, region: str, drained: bool, by: str) -> None:
        self._known_region(region)
        if drained:
            self.state.drained[region] = Setting(True, time.time(), by)
        else:
            self.state.drained.pop(region, None)
        self._changed(f"region {region} {'drained' if drained else 'undrained'}", by)

    def mark_restoring(self, collection: str, region: str, expected: int | None, by: str) -> None:
        """Mark (expected point count) or clear (None) a restore of `collection` on `region`."""
        self._known_region(region)
        marks = self.state.restoring.setdefault(collection, {})
        if expected is None:
            marks.pop(region, None)
            if not marks:
                self.state.restoring.pop(collection, None)
            self._changed(f"restore mark of {collection} on {region} cleared", by)
            return
        if expected < 0:
            raise RefusedChange(f"expected: must be >= 0, got {expected}")
        marks[region] = Restoring(expected, time.time(), by)
        self._changed(f"{collection} on {region} marked restoring, expecting {expected} points", by)

    def override_policy(self, collection: str, fields_: dict[str, Any] | None, by: str) -> Policy:
        """Replace some policy fields of `collection` at runtime (validated); None removes the override."""
        if fields_ is None:
            self.state.policies.pop(collection, None)
            self._changed(f"policy override of {collection} removed", by)
            return self.policy(collection)
        base = self._config.policies.for_collection(collection)
        merged = {**(self.state.policies[collection].value if collection in self.state.policies else {}), **fields_}
        policy = override_policy(base, merged, set(self._regions), f"policy of {collection}")  # raises if invalid
        self.state.policies[collection] = Setting(merged, time.time(), by)
        self._changed(f"policy of {collection} overridden: {fields_}", by)
        return policy

    def snapshot(self) -> dict[str, Any]:
        return asdict(self.state)

    # -- persistence -----------------------------------------------------------------------
    def _known_region(self, region: str) -> None:
        if region not in self._regions:
            raise RefusedChange(f"region: no region named {region!r} (have {', '.join(self._regions)})")

    def _resolve_overrides(self) -> None:
        self._overridden = {
            collection: override_policy(self._config.policies.for_collection(collection), setting.value,
                                        set(self._regions), f"override of {collection}")
            for collection, setting in self.state.policies.items()}

    def _changed(self, what: str, by: str) -> None:
        log.warning("operator: %s (by %s)", what, by)
        self._resolve_overrides()
        self.generation += 1
        self._save()

    def _save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self._path, orjson.dumps(asdict(self.state), option=orjson.OPT_INDENT_2))

    def _load(self) -> OperatorState:
        if not self._path.exists():
            return OperatorState()
        raw = orjson.loads(self._path.read_bytes())
        return OperatorState(
            forced={k: Setting(**v) for k, v in raw.get("forced", {}).items()},
            drained={k: Setting(**v) for k, v in raw.get("drained", {}).items()},
            restoring={c: {r: Restoring(**m) for r, m in marks.items()}
                       for c, marks in raw.get("restoring", {}).items()},
            policies={k: Setting(**v) for k, v in raw.get("policies", {}).items()},
        )

