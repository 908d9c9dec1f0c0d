"""`rgw`: one command line for the store, the gateway and the operator tools."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

DEFAULT_GATEWAY = "http://127.0.0.1:6333"


def _store(args: argparse.Namespace) -> int:
    from rgw.store.server import run_store

    run_store(name=args.name, host=args.host, port=args.port, data_dir=args.data)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from rgw.proxy.config import ConfigError, load_config
    from rgw.proxy.server import run_gateway

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"rgw serve: invalid config {args.config}: {exc}", file=sys.stderr)
        return 2
    run_gateway(config)
    return 0


def _status(args: argparse.Namespace) -> int:
    from rgw.proxy.status import print_status

    return print_status(args.gateway, as_json=args.json)


def _demo(args: argparse.Namespace) -> int:
    from rgw.demo import run_demo

    return run_demo(base_dir=args.dir, port=args.port, points=args.points)


def _bench(args: argparse.Namespace) -> int:
    from rgw.bench.read import run_read_bench

    return run_read_bench(points=args.points, queries=args.queries, as_json=args.json)


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

    p = command("status", _status, "Show the gateway's regions, health and collections.")
    p.add_argument("--gateway", default=DEFAULT_GATEWAY, help=f"gateway URL (default {DEFAULT_GATEWAY})")
    p.add_argument("--json", action="store_true", help="print the raw status JSON")

    p = command("demo", _demo, "Start two region stores and the gateway on loopback with a sample collection.")
    p.add_argument("--dir", default="var/demo", help="where data and logs go (default var/demo)")
    p.add_argument("--port", type=int, default=6333, help="gateway port (default 6333)")
    p.add_argument("--points", type=int, default=2000, help="sample points to load (default 2000)")

    bench = command("bench", lambda a: 2, "Benchmarks.").add_subparsers(dest="bench", required=True)
    p = bench.add_parser("read", help="Query latency and gateway CPU per query, direct vs through the gateway.")
    p.set_defaults(handler=_bench)
    p.add_argument("--points", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=3000, help="queries per measured phase")
    p.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
