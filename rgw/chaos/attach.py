"""Running a scenario against a gateway that is already up (`rgw chaos run --gateway URL`).

The run starts nothing and stops nothing: it drives load into a collection of its own, applies the
steps that need no process of ours (admin calls, backups and restores, dropping the collection on a
store, fault proxies when their control API is given), checks the data and, when the gateway's
config is given, runs `rgw verify`. Everything it needs is checked before the first request: a
scenario that would kill a process, regions that differ from the scenario's, a collection that
already exists, an address that is not loopback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import orjson

from rgw.chaos.deploy import Deployment
from rgw.chaos.scenario import NEEDS_PROCESSES, PROXY_ACTIONS, Scenario
from rgw.ops.client import AdminError, admin_request

CALL_TIMEOUT_S = 10.0


class AttachError(Exception):
    """The scenario cannot run against that gateway; the message says why, before anything was sent."""


def loopback_url(url: str, what: str) -> str:
    """`url` without a trailing slash, if its host is a loopback address; chaos runs touch nothing else."""
    host = urlsplit(url).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise AttachError(f"{what} {url}: chaos runs only target loopback addresses (127.0.0.0/8, ::1)")
    return url.rstrip("/")


async def _get(session: aiohttp.ClientSession, url: str, token: str | None = None,
               api_key: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {"api-key": api_key} if api_key else {}
    try:
        async with session.get(url, headers=headers) as resp:
            raw = await resp.read()
            if resp.status != 200:
                raise AttachError(f"GET {url} answered {resp.status}: {raw[:200].decode(errors='replace')}")
            return orjson.loads(raw)
    except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
        raise AttachError(f"cannot reach {url}: {type(exc).__name__}: {exc}") from None


async def attach(scenario: Scenario, gateway_url: str, token: str | None, config_path: Path | None,
                 control_url: str | None, api_key: str | None = None) -> Deployment:
    """Check that `scenario` can run against the gateway at `gateway_url`, and describe it as a Deployment."""
    gateway_url = loopback_url(gateway_url, "gateway")
    needs = sorted({s.describe() for s in scenario.steps if s.action in NEEDS_PROCESSES})
    if needs:
        raise AttachError("these steps need processes this run starts itself, not possible with --gateway: "
                          + "; ".join(needs))
    if not token:
        raise AttachError("the admin token is needed (RGW_ADMIN_TOKEN, or --config with gateway.admin_token)")
    proxied_steps = [s for s in scenario.steps if s.action in PROXY_ACTIONS]
    if proxied_steps and control_url is None:
        raise AttachError("the scenario switches fault proxies: give their control API with --proxy-control URL")
    collection = scenario.load.collection
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_S)) as session:
        status = await _get(session, f"{gateway_url}/gateway/status", api_key=api_key)
        regions = {r["name"]: r["url"] for r in status["regions"]}
        if tuple(regions) != scenario.topology.regions:
            raise AttachError(f"the gateway's regions are {list(regions)}, the scenario's "
                              f"{list(scenario.topology.regions)}: write the scenario for this topology")
        exists = await _get(session, f"{gateway_url}/collections/{quote(collection, safe='')}/exists",
                            api_key=api_key)
        if exists["result"]["exists"]:
            raise AttachError(f"collection {collection!r} already exists on that gateway: a run loads, breaks "
                              "and drops a collection of its own; set load.collection to an unused name")
        await _get(session, f"{gateway_url}/gateway/admin/backups", token)  # the token is right
        proxied: tuple[str, ...] = ()
        if control_url is not None:
            control_url = loopback_url(control_url, "fault proxy control API")
            listed = await _get(session, f"{control_url}/proxies")
            proxied = tuple(p["name"] for p in listed["proxies"])
            missing = sorted({s.target for s in proxied_steps} - set(proxied))
            if missing:
                raise AttachError(f"no fault proxy named {missing} at {control_url} (it has {list(proxied)})")
    for region, url in regions.items():
        loopback_url(url, f"region {region}")
    return Deployment(gateway_url, regions, token, None, control_url=control_url, proxied=proxied,
                      config_path=config_path, api_key=api_key)


def policy_fields(scenario: Scenario) -> dict[str, Any]:
    """The scenario's policy for its collection, as the runtime override the attached gateway is given."""
    policy = dataclasses.asdict(scenario.policy)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in policy.items() if v is not None and v != ()}


@dataclass(frozen=True)
class Target:
    """What `rgw chaos run --gateway/--config` points the run at."""

    gateway_url: str
    token: str | None
    config_path: Path | None = None
    control_url: str | None = None
    api_key: str | None = None  # the gateway's api key when it has [auth] (RGW_API_KEY, or from --config)


async def admin(deployment: Deployment, method: str, path: str, body: Any = None) -> None:
    """One admin call to the attached gateway; AttachError naming it when it is refused."""
    try:
        await asyncio.to_thread(admin_request, deployment.gateway_url, method, f"/gateway/admin/{path}", body,
                                CALL_TIMEOUT_S, deployment.admin_token)
    except AdminError as exc:
        raise AttachError(f"{method} /gateway/admin/{path}: {exc}") from None


async def drop_collection(deployment: Deployment, collection: str) -> str | None:
    """Delete the run's collection through the gateway (a journaled delete); an error's text, or None."""
    url = f"{deployment.gateway_url}/collections/{quote(collection, safe='')}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_S),
                                         headers=deployment.client_headers) as session:
            async with session.delete(url) as resp:
                return None if resp.status == 200 else f"DELETE {url} answered {resp.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"DELETE {url}: {type(exc).__name__}: {exc}"
