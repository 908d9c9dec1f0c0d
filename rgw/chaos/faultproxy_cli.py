"""`faultproxy`: run fault proxies (`serve`), or switch faults on a running server through its control API.

    python -m rgw.chaos.faultproxy_cli serve --control 127.0.0.1:8474 \\
        --proxy primary=127.0.0.1:7333,127.0.0.1:6334
    python -m rgw.chaos.faultproxy_cli add primary latency --param latency_ms=200 --param jitter_ms=50
    python -m rgw.chaos.faultproxy_cli list
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any

import uvloop

from rgw.chaos.control import ControlServer
from rgw.chaos.endpoints import LOOPBACK_RULE, Endpoint, is_loopback
from rgw.chaos.faults import FAULT_KINDS, Fault, check_name

DEFAULT_CONTROL = "127.0.0.1:8474"
_COMMON_FAULT_FIELDS = {f.name for f in fields(Fault)}


class ControlError(Exception):
    """The control API refused a request or could not be reached."""


# -- argument types ---------------------------------------------------------------------------------

def _as_arg_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """argparse prints ArgumentTypeError messages verbatim; our ValueErrors already name the field."""
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return convert


def _listen_address(text: str) -> Endpoint:
    return Endpoint.parse(text, "--control")


def _proxy_option(text: str) -> tuple[str, Endpoint, Endpoint]:
    name, eq, rest = text.partition("=")
    listen, comma, upstream = rest.partition(",")
    if not eq or not comma:
        raise ValueError(f"--proxy: expected name=listen_host:port,upstream_host:port, got {text!r}")
    return check_name("--proxy name", name), Endpoint.parse(listen, "listen"), Endpoint.parse(upstream, "upstream")


def _param(text: str) -> tuple[str, Any]:
    key, eq, raw = text.partition("=")
    if not eq or not key:
        raise ValueError(f"--param: expected key=value, got {text!r}")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw  # bare words such as direction=upstream


def _control_url(text: str) -> str:
    url = text if "://" in text else f"http://{text}"
    host = urllib.parse.urlsplit(url).hostname or ""
    if not is_loopback(host):
        raise ValueError(f"--control: {host!r} is not a loopback address; {LOOPBACK_RULE}")
    return url.rstrip("/")


# -- serve --------------------------------------------------------------------------------------------

async def _run_server(control: Endpoint, proxies: list[tuple[str, Endpoint, Endpoint]]) -> None:
    server = ControlServer(control)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
        for name, listen, upstream in proxies:
            proxy = await server.add_proxy(name, listen, upstream)
            print(f"proxy {proxy.name}: {proxy.listen} -> {proxy.upstream}", flush=True)
        print(f"control API on {server.url}", flush=True)
        await stop.wait()
    finally:
        await server.stop()


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        uvloop.run(_run_server(args.control, args.proxy))
    except OSError as exc:
        print(f"faultproxy serve: {exc}", file=sys.stderr)
        return 1
    return 0


# -- client commands ----------------------------------------------------------------------------------

def _call(control: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{control}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {exc.code} {exc.reason}"
        raise ControlError(message) from None
    except OSError as exc:  # URLError is an OSError
        raise ControlError(f"cannot reach the control API at {control}: {getattr(exc, 'reason', exc)}") from None
    return json.loads(raw) if raw else None


def _path(*parts: str) -> str:
    return "".join(f"/{urllib.parse.quote(part, safe='')}" for part in parts)


def _fault_line(fault: dict[str, Any]) -> str:
    params = " ".join(f"{k}={v}" for k, v in fault.items() if k not in _COMMON_FAULT_FIELDS | {"kind", "applied"})
    return (f"{fault['name']} ({fault['kind']}) {params} {fault['direction']} "
            f"toxicity={fault['toxicity']:g} applied={fault['applied']}")


def _proxy_lines(proxy: dict[str, Any]) -> list[str]:
    s = proxy["stats"]
    state = "up" if proxy["enabled"] else "DOWN (refusing)"
    head = (f"{proxy['name']}: {proxy['listen']} -> {proxy['upstream']} {state}; "
            f"connections {s['accepted']} ({s['active']} open), bytes up {s['bytes_up']} "
            f"down {s['bytes_down']}, faults applied {s['faults_applied']}")
    return [head, *(f"  {_fault_line(f)}" for f in proxy["faults"])] if proxy["faults"] else [head, "  no faults"]


def _show(args: argparse.Namespace, result: Any, text: Callable[[Any], list[str]]) -> int:
    print(json.dumps(result, indent=2) if args.json else "\n".join(text(result)))
    return 0


def _add(args: argparse.Namespace) -> int:
    body = {"kind": args.fault, **dict(args.param)}
    fault = _call(args.control, "POST", _path("proxies", args.name, "faults"), body)
    return _show(args, fault, lambda f: [f"{args.name}: added {_fault_line(f)}"])


def _remove(args: argparse.Namespace) -> int:
    _call(args.control, "DELETE", _path("proxies", args.name, "faults", args.fault))
    return _show(args, {"proxy": args.name, "removed": args.fault},
                 lambda r: [f"{r['proxy']}: removed {r['removed']}"])


def _down(args: argparse.Namespace) -> int:
    return _show(args, _call(args.control, "POST", _path("proxies", args.name, "down")), _proxy_lines)


def _up(args: argparse.Namespace) -> int:
    return _show(args, _call(args.control, "POST", _path("proxies", args.name, "up")), _proxy_lines)


def _list(args: argparse.Namespace) -> int:
    listing = _call(args.control, "GET", "/proxies")
    return _show(args, listing,
                 lambda r: [line for p in r["proxies"] for line in _proxy_lines(p)] or ["no proxies"])


# -- parser -------------------------------------------------------------------------------------------

def _fault_help() -> str:
    lines = ["fault kinds and their --param keys (every kind also takes name, toxicity, direction):"]
    for kind, cls in FAULT_KINDS.items():
        own = [f.name if f.default is MISSING else f"{f.name}={f.default}"
               for f in fields(cls) if f.name not in _COMMON_FAULT_FIELDS]
        direction = next(f.default for f in fields(cls) if f.name == "direction")
        lines.append(f"  {kind}: {', '.join(own)} (direction={direction})")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faultproxy", description="TCP fault proxy: latency, resets, "
                                     "blackholes and more, switched at runtime.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the control API and proxies until SIGINT/SIGTERM")
    p.add_argument("--control", type=_as_arg_type(_listen_address), default=_listen_address(DEFAULT_CONTROL),
                   help=f"control API listen address (default {DEFAULT_CONTROL})")
    p.add_argument("--proxy", type=_as_arg_type(_proxy_option), action="append", default=[],
                   metavar="NAME=LISTEN,UPSTREAM", help="a proxy to start with, e.g. "
                   "primary=127.0.0.1:7333,127.0.0.1:6334 (repeatable)")
    p.set_defaults(handler=_serve)

    client = argparse.ArgumentParser(add_help=False)
    client.add_argument("--control", type=_as_arg_type(_control_url), default=_control_url(DEFAULT_CONTROL),
                        help=f"control API URL (default http://{DEFAULT_CONTROL})")
    client.add_argument("--json", action="store_true", help="print the API's JSON")

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_text: str,
                **kwargs: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[client], help=help_text, description=help_text, **kwargs)
        p.set_defaults(handler=handler)
        return p

    p = command("add", _add, "add a fault to a proxy", epilog=_fault_help(),
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="proxy name")
    p.add_argument("fault", choices=list(FAULT_KINDS), metavar="FAULT", help="fault kind (see below)")
    p.add_argument("--param", type=_as_arg_type(_param), action="append", default=[], metavar="KEY=VALUE",
                   help="a fault parameter; values are JSON, bare words are strings (repeatable)")

    p = command("remove", _remove, "remove a fault from a proxy")
    p.add_argument("name", help="proxy name")
    p.add_argument("fault", help="fault name (by default its kind)")

    p = command("down", _down, "stop a proxy listening (connections refused) and cut open connections")
    p.add_argument("name", help="proxy name")

    p = command("up", _up, "make a proxy listen again on the same port")
    p.add_argument("name", help="proxy name")

    command("list", _list, "show proxies, their faults and stats")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ControlError as exc:
        print(f"faultproxy {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
