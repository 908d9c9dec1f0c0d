"""Chaos scenarios: validation at load, the excuse model, and the CI game day (the shipped scenarios in
short form as real subprocesses, each starting its own stores and gateway and killing them on purpose;
restore-serving and primary-emptied run in test_data_faults.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rgw.chaos.load import Read
from rgw.chaos.measures import CacheModel, excuse
from rgw.chaos.scenario import ScenarioError, load_scenario, scenario_names
from rgw.chaos.world import DOWN, World

SHIPPED = {"primary-kill", "secondary-kill", "both-down", "primary-hung", "primary-slow", "primary-flapping",
           "gateway-restart", "restore-serving", "primary-partition", "primary-emptied"}
CI_SCENARIOS = ("primary-kill", "secondary-kill", "both-down", "primary-hung", "primary-slow", "primary-flapping",
                "gateway-restart", "primary-partition")
RUN_IN_DATA_FAULTS = ("restore-serving", "primary-emptied")  # test_data_faults.py checks more of these
RUN_TIMEOUT_S = 150


def chaos(*args: str, timeout: float = RUN_TIMEOUT_S, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    """`rgw chaos ...` as a subprocess; `env` entries override the environment."""
    return subprocess.run([sys.executable, "-m", "rgw.cli", "chaos", *args], capture_output=True, text=True,
                          timeout=timeout, check=False, env={**os.environ, **(env or {})})


# -- scenario files -----------------------------------------------------------------------------------

def test_every_shipped_scenario_loads_and_is_listed() -> None:
    assert set(scenario_names()) >= SHIPPED
    for name in scenario_names():
        scenario = load_scenario(name)
        assert scenario.expect.acked_writes_lost == 0, name
        assert set(scenario.phases) == set(scenario.expect.modes), name
    listing = chaos("list", timeout=30)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.strip().splitlines()
    assert len(lines) == len(scenario_names())
    assert all(line.split()[0] in scenario_names() for line in lines)
    assert {*CI_SCENARIOS, *RUN_IN_DATA_FAULTS} == SHIPPED  # make test runs every shipped scenario short


VALID = """
[load]
duration_s = 10

[[faults]]
at_s = 2
action = "kill"
target = "primary"
phase = "down"

[expect.modes]
baseline = ["normal", "failover"]
down = ["failover"]
"""


@pytest.mark.parametrize(("change", "named"), [
    (("duration_s = 10", "duration_s = \"ten\""), "load.duration_s: expected float"),
    (("duration_s = 10", "duration_s = 10\nrate = 5"), "load.rate: unknown key"),
    (('target = "primary"', 'target = "tertiary"'), "faults[0].target"),
    (('action = "kill"', 'action = "explode"'), "faults[0].action"),
    (("at_s = 2", "at_s = 20"), "faults[0].at_s: must be within the load"),
    (('action = "kill"\ntarget = "primary"', 'action = "fault"\ntarget = "primary"'),
     "faults[0].target: region 'primary' has no fault proxy"),
    (('down = ["failover"]', 'down = ["sideways"]'), "expect.modes.down"),
    (('down = ["failover"]', 'down = ["failover"]\nlater = ["normal"]'), "expect.modes.later: no such phase"),
    (('down = ["failover"]\n', ""), "expect.modes.down: every phase needs its allowed modes"),
    (("[load]", '[topology]\ngateway_config = "[policies.default]\\ntier = \\"gold\\""\n\n[load]'),
     "topology.gateway_config: policies.default.tier"),
    (("[load]", '[topology]\nfault_proxies = ["primary"]\n\n[load]'), None),
    (('target = "primary"', 'target = "primary"\nmax_rate = 5'), "faults[0].max_rate: not a parameter of kill"),
    (('action = "kill"', 'action = "restore"\nmax_rate = 0'), "faults[0].max_rate: must be > 0"),
    (('action = "kill"', 'action = "wipe"'), None),
    (('down = ["failover"]', 'down = ["failover"]\n\n[expect.modes_seen]\ndown = ["partial"]'),
     "expect.modes_seen.down: 'partial' must answer but is not allowed"),
])
def test_a_bad_scenario_fails_at_load_naming_the_key(tmp_path: Path, change: tuple[str, str],
                                                     named: str | None) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(VALID.replace(*change))
    if named is None:
        load_scenario(str(path))
        return
    with pytest.raises(ScenarioError) as caught:
        load_scenario(str(path))
    assert named in str(caught.value)
    assert "bad.toml" in str(caught.value)


def test_a_bad_fault_parameter_is_named(tmp_path: Path) -> None:
    path = tmp_path / "fault.toml"
    path.write_text(VALID.replace('action = "kill"\ntarget = "primary"',
                                  'action = "fault"\ntarget = "primary"\nfault = { kind = "latency" }')
                    .replace("[load]", '[topology]\nfault_proxies = ["primary"]\n\n[load]'))
    with pytest.raises(ScenarioError, match=r"faults\[0\]\.fault\.latency_ms: required"):
        load_scenario(str(path))


# -- the excuse model: a failed read is held against the gateway only if some source could answer ------

def _failed(start: float, end: float, text: bool = False, query: int = 0) -> Read:
    return Read(start, end, query, "query", text, status=503, error="HTTP 503")


def test_a_failed_read_is_excused_only_when_no_source_could_answer(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(VALID)
    scenario = load_scenario(str(path))
    world = World(scenario.topology.regions)
    world.change(10.0, lambda s: setattr(s.regions["primary"], "process", DOWN))
    world.change(20.0, lambda s: setattr(s.regions["secondary"], "process", DOWN))
    world.change(30.0, lambda s: setattr(s, "gateway", DOWN))
    answered = Read(1.0, 1.1, 7, "query", False, status=200, source="primary", mode="normal")
    cache = CacheModel([answered], world)

    why, able = excuse(_failed(12.0, 12.5), world, scenario, cache)
    assert why is None and able == ["secondary"]  # the secondary was up the whole time: a violation
    why, _ = excuse(_failed(19.9, 20.1), world, scenario, cache)
    assert why is not None  # the secondary went down while it was in flight
    why, _ = excuse(_failed(22.0, 22.1), world, scenario, cache)
    assert why is not None and "no source" in why  # both down, no text, never answered before
    why, able = excuse(_failed(22.0, 22.1, text=True), world, scenario, cache)
    assert why is None and able == ["lexical"]  # it carried text: lexical could have answered
    why, able = excuse(_failed(22.0, 22.1, query=7), world, scenario, cache)
    assert why is None and able == ["cache"]  # the same query was answered before: the cache holds it
    why, _ = excuse(_failed(31.0, 31.1, text=True), world, scenario, cache)
    assert why == "gateway down"


# -- the CI game day ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", CI_SCENARIOS)
def test_short_scenario_keeps_every_promise(name: str, tmp_path: Path) -> None:
    run = chaos("run", name, "--short", "--json", "--report", str(tmp_path / "report"))
    assert run.returncode == 0, f"{name} violated an expectation:\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    card = json.loads(run.stdout)
    assert card["passed"] and card["short"]
    assert card["acked_writes_lost"] == 0
    assert card["requests"]["writes_acked"] > 0 and card["requests"]["acked_points"] > 0
    assert card["requests"]["failed_unexcused"] == 0
    limit = load_scenario(name).expect.max_failed_reads
    assert limit is None or card["requests"]["reads_failed"] <= limit
    assert card["verify"]["exit_code"] == 0
    assert all(check["passed"] for check in card["checks"])
    for artefact in ("scorecard.json", "scorecard.md", "timeline.png"):
        assert (tmp_path / "report" / artefact).stat().st_size > 0


def test_a_violated_expectation_fails_the_run(tmp_path: Path) -> None:
    """The tool must catch what it claims to: here a failover answer where only normal ones are allowed."""
    path = tmp_path / "strict.toml"
    path.write_text(VALID.replace("duration_s = 10", "duration_s = 5\npreload = 100\nread_rate = 20\nwrite_rate = 2")
                    .replace('down = ["failover"]', 'down = ["normal"]'))
    run = chaos("run", str(path), "--json")
    assert run.returncode == 1, run.stderr[-3000:]
    card = json.loads(run.stdout)
    failing = [c["name"] for c in card["checks"] if not c["passed"]]
    assert failing == ["modes in phase 'down'"], failing
    assert card["acked_writes_lost"] == 0


def test_a_short_scenario_runs_against_a_gateway_with_auth_on(tmp_path: Path) -> None:
    """The runner's load, status polling, admin calls and rgw verify all present the config's key."""
    shipped = (Path(__file__).parents[2] / "rgw" / "chaos" / "scenarios" / "primary-kill.toml").read_text()
    auth = '[auth]\napi_key = "chaos-key-0123456789abcdef0123456789abcd"\nread_only_api_key = "chaos-ro-key-0123"\n'
    path = tmp_path / "primary-kill-auth.toml"
    path.write_text(shipped.replace('regions = ["primary", "secondary"]',
                                    f"regions = [\"primary\", \"secondary\"]\ngateway_config = '''\n{auth}'''", 1))
    run = chaos("run", str(path), "--short", "--json", "--report", str(tmp_path / "report"))
    assert run.returncode == 0, f"violated an expectation:\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    card = json.loads(run.stdout)
    assert card["passed"] and card["acked_writes_lost"] == 0 and card["verify"]["exit_code"] == 0
    assert card["requests"]["writes_acked"] > 0 and card["requests"]["failed_unexcused"] == 0
    log = (tmp_path / "report" / "logs" / "gateway.log").read_text()
    assert "client authentication: on (api_key, read_only_api_key" in log
    assert '"by":"api_key","op":"upsert_points"' in log
    assert "chaos-key-0123456789abcdef0123456789abcd" not in log
