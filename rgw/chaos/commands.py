"""`rgw chaos run` and `rgw chaos list`; also runnable as `python -m rgw.chaos.commands run|list ...`.

Exit codes of run: 0 every expectation held, 1 one was violated (or the run broke), 2 bad usage or
an invalid scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

import orjson

from rgw.auth.admin import admin_token
from rgw.auth.client import client_key
from rgw.chaos.attach import AttachError, Target
from rgw.chaos.runner import run_scenario, write_report
from rgw.chaos.scenario import ScenarioError, load_scenario, scenario_names, with_collection
from rgw.chaos.scorecard import markdown, scorecard
from rgw.settings.config import ConfigError, load_config


def run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rgw chaos run", description="Run a chaos scenario under load and print "
                                "its scorecard; exit 1 when an expectation is violated.")
    p.add_argument("scenario", help="a shipped scenario's name (see `rgw chaos list`) or a TOML file")
    p.add_argument("--report", metavar="DIR", type=Path,
                   help="write scorecard.json, scorecard.md, timeline.png and the processes' logs here")
    p.add_argument("--json", action="store_true", help="print the scorecard as JSON instead of Markdown")
    p.add_argument("--short", action="store_true",
                   help="the CI form: durations, fault times and preload scaled by the scenario's short_factor")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--gateway", metavar="URL", help="run against this running gateway (loopback) instead of "
                        "starting one; admin token from RGW_ADMIN_TOKEN; steps that kill processes are refused")
    target.add_argument("--config", metavar="FILE", type=Path, help="like --gateway, with the address and admin "
                        "token from the running gateway's config; also runs rgw verify")
    p.add_argument("--collection", metavar="NAME", help="the collection the run loads and breaks, instead of the "
                   "scenario's load.collection (it must not exist yet)")
    p.add_argument("--proxy-control", metavar="URL", help="with --gateway/--config: the control API of the fault "
                   "proxies in front of its regions (`rgw chaos proxy serve --control`), for fault steps")
    return p


def _target(args: argparse.Namespace) -> Target | None:
    """Where --gateway or --config point the run; None: the run starts its own processes."""
    if args.config is not None:
        try:
            config = load_config(args.config)
        except (ConfigError, OSError) as exc:
            raise ScenarioError(f"invalid gateway config {args.config}: {exc}") from None
        return Target(config.local_url, admin_token(config.admin_token), args.config.resolve(), args.proxy_control,
                      client_key(config))
    if args.gateway is not None:
        return Target(args.gateway, admin_token(None), None, args.proxy_control, client_key())
    if args.proxy_control is not None:
        raise ScenarioError("--proxy-control goes with --gateway or --config (a run of its own starts its proxies)")
    return None


def run_command(argv: list[str]) -> int:
    args = run_parser().parse_args(argv)
    try:
        scenario = load_scenario(args.scenario)
        if args.collection is not None:
            scenario = with_collection(scenario, args.collection)
        target = _target(args)
    except ScenarioError as exc:
        print(f"rgw chaos run: invalid scenario: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix=f"rgw-chaos-{scenario.name}-") as tmp:
        workdir = Path(tmp)
        try:
            result = asyncio.run(run_scenario(scenario, workdir, short=args.short, target=target))
        except KeyboardInterrupt:
            return 130
        except AttachError as exc:
            print(f"rgw chaos run: cannot run {scenario.name} there: {exc}", file=sys.stderr)
            return 2
        except Exception:  # the run itself broke (a process would not start...): say so, fail the run
            print(f"rgw chaos run: {scenario.name} could not complete:\n{traceback.format_exc()}", file=sys.stderr)
            _keep_logs(workdir, args.report)
            return 1
        card = scorecard(result)
        png = None
        if args.report is not None:
            paths = write_report(result, args.report, workdir / "logs")
            png = paths["png"].name
            print(f"rgw chaos run: report in {args.report}", file=sys.stderr)
    print(orjson.dumps(card, option=orjson.OPT_INDENT_2).decode() if args.json else markdown(card, png))
    return 0 if result.passed else 1


def _keep_logs(workdir: Path, report: Path | None) -> None:
    logs = workdir / "logs"
    if report is not None and logs.is_dir():
        shutil.copytree(logs, report / "logs", dirs_exist_ok=True)
        print(f"rgw chaos run: logs kept in {report / 'logs'}", file=sys.stderr)


def list_command(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="rgw chaos list", description="The shipped chaos scenarios, one per line."
                            ).parse_args(argv)
    code = 0
    for name in scenario_names():
        try:
            s = load_scenario(name)
        except ScenarioError as exc:
            print(f"{name:<22} INVALID: {exc}")
            code = 1
            continue
        summary = s.description.strip().splitlines()[0] if s.description.strip() else ""
        print(f"{name:<20} {s.load.duration_s:>4g}s {len(s.steps):>2} steps  {summary}")
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"run": run_command, "list": list_command}
    if not argv or argv[0] not in commands:
        print("usage: python -m rgw.chaos.commands {run,list} ...", file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
