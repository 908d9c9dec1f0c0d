"""`rgw`: one command line for the store, the gateway and the operator tools."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

DEFAULT_GATEWAY = "http://127.0.0.1:6333"


def _store(args: argparse.Namespace) -> int:
    from rgw.store.server import run_store

    run_store(name=args.name, host=args.host, port=args.port, data_dir=args.data)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from rgw.gateway.serve import run_gateway
    from rgw.settings.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"rgw serve: invalid config {args.config}: {exc}", file=sys.stderr)
        return 2
    run_gateway(config)
    return 0


def _status(args: argparse.Namespace) -> int:
    from rgw.ops.status import print_status

    return print_status(args.gateway, as_json=args.json)


def _verify(args: argparse.Namespace) -> int:
    from rgw.journal.verify import run_verify

    return run_verify(args.config, collections=args.collection, repair=args.repair, as_json=args.json,
                      wait_s=args.wait_s)


def _journal_trim(args: argparse.Namespace) -> int:
    from rgw.ops.client import admin_call

    return admin_call(args.gateway, "POST", "/gateway/admin/journal/trim", {"below": args.below}, as_json=args.json)


def _mode(args: argparse.Namespace) -> int:
    from rgw.ops.client import admin_call

    return admin_call(args.gateway, "POST", f"/gateway/admin/collections/{args.collection}/mode",
                      {"source": args.source}, as_json=args.json)


def _region(args: argparse.Namespace) -> int:
    from rgw.ops.client import admin_call

    return admin_call(args.gateway, "POST", f"/gateway/admin/regions/{args.region}/{args.action}", {},
                      as_json=args.json)


def _restore_mark(args: argparse.Namespace) -> int:
    from rgw.ops.client import admin_call

    if (args.expected is None) == (not args.clear):
        print("rgw restore-mark: give --expected N or --clear", file=sys.stderr)
        return 2
    body = {"region": args.region, "clear": True} if args.clear else {"region": args.region, "expected": args.expected}
    return admin_call(args.gateway, "POST", f"/gateway/admin/collections/{args.collection}/restore-mark", body,
                      as_json=args.json)


def _policy_show(args: argparse.Namespace) -> int:
    from rgw.ops.status import print_policies

    return print_policies(args.gateway, args.collection, as_json=args.json)


def _policy_path(collection: str) -> str:
    from urllib.parse import quote

    return f"/gateway/admin/policies/{quote(collection, safe='')}"


def _policy_set(args: argparse.Namespace) -> int:
    from rgw.ops.client import admin_call, policy_fields

    try:
        fields = policy_fields(args.settings)
    except ValueError as exc:
        print(f"rgw policy set: {exc}", file=sys.stderr)
        return 2
    return admin_call(args.gateway, "PUT", _policy_path(args.collection), fields, as_json=args.json)


def _policy_reset(args: argparse.Namespace) -> int:
    from rgw.ops.client import admin_call

    return admin_call(args.gateway, "DELETE", _policy_path(args.collection), as_json=args.json)


def _reindex_lexical(args: argparse.Namespace) -> int:
    from rgw.ops.client import reindex_lexical

    return reindex_lexical(args.gateway, args.collection, args.source, as_json=args.json)


def _demo(args: argparse.Namespace) -> int:
    from rgw.demo import run_demo

    return run_demo(base_dir=args.dir, port=args.port, points=args.points)


def _bench_read(args: argparse.Namespace) -> int:
    from rgw.bench.read import run_read_bench

    return run_read_bench(points=args.points, queries=args.queries, as_json=args.json, baseline=args.baseline,
                          rounds=args.rounds, auth=args.auth)


def _bench_write(args: argparse.Namespace) -> int:
    from rgw.bench.write import run_write_bench

    return run_write_bench(points=args.points, writers=args.writers, rate=args.rate, seconds=args.seconds,
                           as_json=args.json)


def _bench_restore(args: argparse.Namespace) -> int:
    from rgw.bench.restore import run_restore_bench

    return run_restore_bench(points=args.points, after=args.after, as_json=args.json)


def _bench_fallback(args: argparse.Namespace) -> int:
    from rgw.bench.fallback import run_fallback_bench
    from rgw.bench.fallback_lexical import run_lexical_bench

    code = run_fallback_bench(docs=args.docs, queries=args.queries, as_json=args.json)
    return code or run_lexical_bench(docs=args.lexical_docs, queries=1000, as_json=args.json)


# Subcommands with parsers of their own: `rgw chaos proxy --help` must reach the fault proxy's.
OWN_PARSERS: dict[tuple[str, str], tuple[str, str]] = {
    ("chaos", "proxy"): ("rgw.chaos.faultproxy_cli", "main"),
    ("chaos", "run"): ("rgw.chaos.commands", "run_command"),
    ("chaos", "list"): ("rgw.chaos.commands", "list_command"),
}


def _own_parser(key: tuple[str, str], argv: list[str]) -> int:
    import importlib

    module, function = OWN_PARSERS[key]
    return int(getattr(importlib.import_module(module), function)(argv) or 0)


def _gateway_args(p: argparse.ArgumentParser) -> None:
    target = p.add_mutually_exclusive_group()
    target.add_argument("--gateway", help=f"gateway URL (default {DEFAULT_GATEWAY})")
    target.add_argument("--config", help="the gateway's TOML configuration (its address and admin token)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _resolve_gateway(args: argparse.Namespace) -> None:
    """Operator commands take --gateway URL or --config FILE; both end as a URL (and a token, and the api key the
    status reads need when the gateway has [auth])."""
    import os

    from rgw.auth.admin import TOKEN_ENV
    from rgw.auth.client import API_KEY_ENV, client_key
    from rgw.settings.config import ConfigError, load_config

    if getattr(args, "config", None) and "gateway" in args:
        try:
            config = load_config(args.config)
        except (ConfigError, OSError) as exc:
            raise SystemExit(f"rgw: invalid config {args.config}: {exc}") from None
        args.gateway = config.local_url
        if config.admin_token:
            os.environ.setdefault(TOKEN_ENV, config.admin_token)
        if (key := client_key(config)) is not None:
            os.environ.setdefault(API_KEY_ENV, key)
    elif "gateway" in args and args.gateway is None:
        args.gateway = DEFAULT_GATEWAY


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rgw", description="Retrieval gateway and its region store.")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    p = command("store", _store, "Run a Qdrant-compatible region store on the Qdrant Edge engine.")
    p.add_argument("--name", required=True, help="region name, shown in logs and / ")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--data", required=True, help="data directory (created if missing)")

    p = command("serve", _serve, "Run the gateway.")
    p.add_argument("--config", required=True, help="gateway TOML configuration")

    p = command("status", _status, "Show the gateway's regions, health and collections (with [auth]: RGW_API_KEY, "
                                    "or --config for the key in the gateway's config).")
    _gateway_args(p)

    p = command("verify", _verify, "Anti-entropy: compare every region with the journal's truth and with each "
                                   "other; report missing, extra and differing points, optionally repair.")
    p.add_argument("--config", required=True, help="gateway TOML configuration (regions, gateway, journal)")
    p.add_argument("--collection", action="append", help="collection to verify (repeatable; default: all)")
    p.add_argument("--repair", action="store_true", help="re-apply the journal's truth through the gateway")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--wait-s", type=float, default=60.0,
                   help="how long to wait for regions to apply the journal head (default 60)")

    journal = command("journal", lambda a: 2, "The write journal.").add_subparsers(dest="journal", required=True)
    p = journal.add_parser("trim", help="Drop journal entries below an LSN (never any a region still needs).")
    p.set_defaults(handler=_journal_trim)
    p.add_argument("--below", type=int, required=True, help="drop entries with LSN lower than this")
    _gateway_args(p)

    p = command("mode", _mode, "Force a collection to one source (e.g. lexical), or back to auto.")
    p.add_argument("collection")
    p.add_argument("source", help="auto, a region name, partial, cache or lexical")
    _gateway_args(p)

    p = command("region", _region, "Drain a region (no reads go there) or undrain it.")
    p.add_argument("region")
    p.add_argument("action", choices=("drain", "undrain"))
    _gateway_args(p)

    p = command("restore-mark", _restore_mark, "Mark a collection on a region as restoring (partial answers).")
    p.add_argument("collection")
    p.add_argument("region")
    p.add_argument("--expected", type=int, help="the point count the restore will reach")
    p.add_argument("--clear", action="store_true", help="remove the mark")
    _gateway_args(p)

    policy = command("policy", lambda a: 2, "Serving policies.").add_subparsers(dest="policy", required=True)
    p = policy.add_parser("show", help="Effective policy and chain (per collection, or all).")
    p.set_defaults(handler=_policy_show)
    p.add_argument("collection", nargs="?")
    _gateway_args(p)
    p = policy.add_parser("set", help="Override policy fields of a collection at runtime (merged into its override; "
                                      "validated as the config is).")
    p.set_defaults(handler=_policy_set)
    p.add_argument("collection")
    p.add_argument("settings", nargs="+", metavar="key=value",
                   help="a policy field and a TOML value (a bare word is a string): cache_ttl_s=30 "
                        "tier=critical chain='[\"primary\", \"cache\"]'")
    _gateway_args(p)
    p = policy.add_parser("reset", help="Drop a collection's runtime policy override: back to the config.")
    p.set_defaults(handler=_policy_reset)
    p.add_argument("collection")
    _gateway_args(p)

    reindex = command("reindex", lambda a: 2, "Rebuild a degraded source.").add_subparsers(dest="reindex",
                                                                                           required=True)
    p = reindex.add_parser("lexical", help="Rebuild a collection's lexical index by scrolling a region.")
    p.set_defaults(handler=_reindex_lexical)
    p.add_argument("--collection", required=True)
    p.add_argument("--from", dest="source", required=True, help="the region to read from")
    _gateway_args(p)

    p = command("demo", _demo, "Start two region stores and the gateway on loopback with a sample collection.")
    p.add_argument("--dir", default="var/demo", help="where data and logs go (default var/demo)")
    p.add_argument("--port", type=int, default=6333, help="gateway port (default 6333)")
    p.add_argument("--points", type=int, default=2000, help="sample points to load (default 2000)")

    bench = command("bench", lambda a: 2, "Benchmarks.").add_subparsers(dest="bench", required=True)
    p = bench.add_parser("read", help="Query latency and gateway CPU per query, direct vs through the gateway.")
    p.set_defaults(handler=_bench_read)
    p.add_argument("--points", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=3000, help="queries per measured phase")
    p.add_argument("--baseline", type=Path, help="another source tree of the gateway (built in place) to measure "
                                                 "beside this one, alternating: before and after a change")
    p.add_argument("--rounds", type=int, default=1, help="measure every target this many times, alternating; "
                                                         "report the median round")
    p.add_argument("--auth", action="store_true", help="also measure a gateway with client authentication on, "
                                                       "asked with its api key and with a JWT, in the same run")
    p.add_argument("--json", action="store_true")
    p = bench.add_parser("write", help="Acknowledged write rate through the journal, and replication lag.")
    p.set_defaults(handler=_bench_write)
    p.add_argument("--points", type=int, default=64_000, help="points per rate phase")
    p.add_argument("--writers", type=int, default=8, help="concurrent writers")
    p.add_argument("--rate", type=int, default=2000, help="points/s offered while measuring lag")
    p.add_argument("--seconds", type=float, default=20.0, help="length of the lag phase")
    p.add_argument("--json", action="store_true")

    p = bench.add_parser("restore", help="Backup, restore and rebuild times and rates.")
    p.set_defaults(handler=_bench_restore)
    p.add_argument("--points", type=int, default=100_000)
    p.add_argument("--after", type=int, default=5_000, help="points written after the backup (replayed)")
    p.add_argument("--json", action="store_true")

    p = bench.add_parser("fallback", help="Cache-hit latency, degraded-answer quality, lexical speed at 1M docs.")
    p.set_defaults(handler=_bench_fallback)
    p.add_argument("--docs", type=int, default=20_000, help="corpus size for the quality measurements")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--lexical-docs", type=int, default=1_000_000, help="corpus size for lexical speed")
    p.add_argument("--json", action="store_true")

    from rgw.backup.cli import register as register_backup_commands

    register_backup_commands(command, _gateway_args)

    chaos = command("chaos", lambda a: 2, "Fault injection.").add_subparsers(dest="chaos", required=True)
    for name, text in (("proxy", "TCP fault proxy: serve, add/remove faults, down/up, list."),
                       ("run", "Run a chaos scenario under load and print its scorecard."),
                       ("list", "List the shipped chaos scenarios.")):
        p = chaos.add_parser(name, help=text, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER, help=f"see rgw chaos {name} --help")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) >= 2 and (argv[0], argv[1]) in OWN_PARSERS:
        return _own_parser((argv[0], argv[1]), argv[2:])
    args = build_parser().parse_args(argv)
    _resolve_gateway(args)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
