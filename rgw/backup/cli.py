"""`rgw backup create|list|verify`, `rgw restore`, `rgw rebuild`, `rgw drill`: start a job in the gateway,
show its progress, end with a summary a person can read (or JSON with --json).

The job runs in the gateway: stopping the command (Ctrl-C) stops watching, not the job.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from rgw.backup.bundle import verify_bundle
from rgw.ops.client import AdminError, admin_request

POLL_S = 0.5
FOLLOW_LIMIT_S = 24 * 3600.0


def _print_json(value: Any) -> None:
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def _progress_line(job: dict[str, Any]) -> str:
    total = f"/{job['total']}" if job["total"] else ""
    eta = f", ETA {job['eta_s']:.0f}s" if job["eta_s"] is not None else ""
    done = f": {job['done']}{total} {job['unit']}" if job["unit"] else ""
    return f"{job['kind']} {job['collection']} on {job['region']}: {job['phase']}{done}{eta}"


def follow(gateway: str, job: dict[str, Any]) -> dict[str, Any]:
    """Poll a job to its end, one rewritten progress line on stderr; returns its final state."""
    tty = sys.stderr.isatty()
    deadline = time.monotonic() + FOLLOW_LIMIT_S
    last_line = ""
    while job["state"] == "running" and time.monotonic() < deadline:
        line = _progress_line(job)
        if line != last_line:
            print(("\r\x1b[K" if tty else "") + "  " + line, end="" if tty else "\n", file=sys.stderr, flush=True)
            last_line = line
        time.sleep(POLL_S)
        job = admin_request(gateway, "GET", f"/gateway/admin/jobs/{job['id']}")
    if tty and last_line:
        print(file=sys.stderr)
    return job


def _summary(job: dict[str, Any]) -> list[str]:
    result = job["result"]
    kind = job["kind"]
    if kind == "backup":
        return [f"backed up {result['collection']} from {result['region']}: {result['points_count']} points "
                f"at lsn {result['lsn']}, {result['size_bytes'] / 1e6:.1f} MB in {result['seconds']:.2f}s",
                f"bundle {result['id']} at {result['path']}"]
    if kind in ("restore", "rebuild"):
        check = result["check"]
        checked = ("counts and digests match " + check["reference"] if isinstance(check, dict) and check["equal"]
                   else str(check))
        lines = [f"{kind} of {result['collection']} into {result['target']} on {result['region']} from "
                 f"{result['source']}: {result['points']} points, journal replayed lsn {result['start_lsn']} -> "
                 f"{result['replayed_to_lsn']}, {result['seconds']:.2f}s ({result['points_per_s']} points/s)",
                 f"checked: {checked}"]
        if result.get("recovered_s") is not None:
            lines.append(f"snapshot recovered after {result['recovered_s']:.2f}s")
        return lines
    if kind == "drill":
        lines = [f"drill of {result['collection']}: {'PASSED' if result['ok'] else 'FAILED'} "
                 f"(bundle {result['bundle']}, RTO {result['rto_s']:.2f}s, RPO {result['rpo']['summary']})"]
        lines += [f"  {'ok    ' if c['ok'] else 'FAILED'} {c['name']}: {c['detail']}" for c in result["checks"]]
        lines.append(f"report: {result['report']['markdown']}")
        return lines
    return [str(result)]


def run_job(gateway: str, path: str, body: dict[str, Any], as_json: bool) -> int:
    try:
        job = admin_request(gateway, "POST", path, body)
        if job.get("kind") is None:  # answered at once (a rollback), not a job
            _print_json(job) if as_json else print("\n".join(f"{k}: {v}" for k, v in job.items()))
            return 0
        job = follow(gateway, job)
    except AdminError as exc:
        print(f"rgw: {exc}", file=sys.stderr)
        return 1
    if as_json:
        _print_json(job)
    elif job["state"] == "done":
        print("\n".join(_summary(job)))
    else:
        print(f"rgw: {job['kind']} of {job['collection']} {job['state']}: {job['error']}", file=sys.stderr)
    if job["state"] != "done":
        return 1
    return 0 if job["result"].get("ok", True) else 1


def _backup_create(args: argparse.Namespace) -> int:
    return run_job(args.gateway, "/gateway/admin/backups", {"collection": args.collection, "region": args.region},
                   args.json)


def _backup_list(args: argparse.Namespace) -> int:
    query = f"?collection={args.collection}" if args.collection else ""
    try:
        bundles = admin_request(args.gateway, "GET", "/gateway/admin/backups" + query)
    except AdminError as exc:
        print(f"rgw: {exc}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(bundles)
        return 0
    if not bundles:
        print("no backups")
    for b in bundles:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(b["created_at"]))
        print(f"{b['id']}  {when}  from {b['region']}  lsn {b['lsn']}  {b['points_count']} points  "
              f"{b['size_bytes'] / 1e6:.1f} MB")
    return 0


def _backup_verify(args: argparse.Namespace) -> int:
    if Path(args.bundle).is_dir():  # a bundle on this machine: no gateway needed
        verdict = verify_bundle(Path(args.bundle)).as_dict()
    else:
        try:
            verdict = admin_request(args.gateway, "POST", f"/gateway/admin/backups/{args.bundle}/verify", {},
                                    timeout=3600)
        except AdminError as exc:
            print(f"rgw: {exc}", file=sys.stderr)
            return 1
    if args.json:
        _print_json(verdict)
    elif verdict["ok"]:
        print(f"bundle {verdict['bundle']} is intact ({verdict['checked_bytes'] / 1e6:.1f} MB checked)")
    else:
        print(f"bundle {verdict['bundle']} is DAMAGED:", *(f"  - {p}" for p in verdict["problems"]), sep="\n")
    return 0 if verdict["ok"] else 1


def _restore(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"collection": args.collection, "to": args.to, "as": args.as_name, "bundle": args.bundle,
                            "max_rate": args.max_rate, "resume": args.resume, "rollback": args.rollback}
    return run_job(args.gateway, "/gateway/admin/restores", body, args.json)


def _rebuild(args: argparse.Namespace) -> int:
    return run_job(args.gateway, "/gateway/admin/rebuilds",
                   {"collection": args.collection, "to": args.to, "max_rate": args.max_rate}, args.json)


def _drill(args: argparse.Namespace) -> int:
    return run_job(args.gateway, "/gateway/admin/drills",
                   {"collection": args.collection, "region": args.region, "bundle": args.bundle, "keep": args.keep},
                   args.json)


Command = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def register(command: Command, target_args: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the backup commands to `rgw`'s parser; `target_args` adds --config / --gateway / --json."""
    backup = command("backup", lambda a: 2, "Backups of collections (bundles).").add_subparsers(
        dest="backup", required=True)
    p = backup.add_parser("create", help="Back up a collection from a region into a bundle.")
    p.set_defaults(handler=_backup_create)
    p.add_argument("--collection", required=True)
    p.add_argument("--region", help="region to snapshot (default: the first with every write applied)")
    target_args(p)
    p = backup.add_parser("list", help="List bundles, oldest first.")
    p.set_defaults(handler=_backup_list)
    p.add_argument("--collection")
    target_args(p)
    p = backup.add_parser("verify", help="Recompute a bundle's checksums and say what is wrong with it.")
    p.set_defaults(handler=_backup_verify)
    p.add_argument("bundle", help="bundle directory, or bundle id (checked by the gateway)")
    target_args(p)

    p = command("restore", _restore, "Restore a collection into a region from a bundle, then replay the journal.")
    p.add_argument("--collection", required=True)
    p.add_argument("--to", required=True, help="the region to restore into")
    p.add_argument("--bundle", help="bundle id or path (default: the newest bundle of the collection)")
    p.add_argument("--as", dest="as_name", help="restore under another name (an isolated copy)")
    p.add_argument("--max-rate", type=float, help="journal entries per second while replaying (default: no limit)")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--resume", action="store_true", help="resume an interrupted restore")
    action.add_argument("--rollback", action="store_true", help="roll an interrupted restore back")
    target_args(p)

    p = command("rebuild", _rebuild, "Recreate a collection in a region from the journal alone.")
    p.add_argument("--collection", required=True)
    p.add_argument("--to", required=True, help="the region to rebuild into")
    p.add_argument("--max-rate", type=float, help="journal entries per second (default: no limit)")
    target_args(p)

    p = command("drill", _drill, "Restore the newest bundle into an isolated collection and check it.")
    p.add_argument("--collection", required=True)
    p.add_argument("--region", help="region to restore the isolated copy into (default: the first up to date)")
    p.add_argument("--bundle", help="bundle id or path (default: the newest)")
    p.add_argument("--keep", action="store_true", help="keep the isolated copy")
    target_args(p)
