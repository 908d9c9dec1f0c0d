"""The processes a scenario runs against: region stores, optional fault proxies, the gateway.

Built on rgw.topology: for a region behind a fault proxy the topology is told the proxy's port as
that region's port (so the gateway's config sends it through the proxy) and the store itself is
started on a port of its own, with the proxy's upstream pointing there. The fault proxies run as
one `rgw chaos proxy serve` process, switched through its control API, so proxying costs the load
generator no CPU and the proxy is exactly the tool operators use by hand.
"""

from __future__ import annotations

import secrets
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import orjson

from rgw.auth.client import client_key
from rgw.chaos.scenario import Scenario, gateway_config_of
from rgw.procs import Managed, free_port, rgw_argv, store_process, wait_until
from rgw.topology import Topology, local_topology

HOST = "127.0.0.1"


@dataclass
class Deployment:
    gateway_url: str
    store_urls: dict[str, str]  # each region's store, directly (not through its proxy)
    admin_token: str
    topology: Topology | None  # None: a running gateway this run attached to (`--gateway`), no processes
    proxy: Managed | None = None  # the fault proxy server, when any region has one and this run started it
    control_url: str | None = None  # the fault proxies' control API
    proxied: tuple[str, ...] = ()  # regions behind a fault proxy (each proxy is named after its region)
    config_path: Path | None = None  # the gateway's config, which `rgw verify` reads
    api_key: str | None = None  # sent with every request when the gateway has [auth] (its api key)
    _proxy_started: bool = False

    @property
    def client_headers(self) -> dict[str, str]:
        return {"api-key": self.api_key} if self.api_key else {}

    @property
    def attached(self) -> bool:
        return self.topology is None

    def process(self, target: str) -> Managed:
        if self.topology is None:
            raise RuntimeError(f"{target} is not a process this run started (attached with --gateway)")
        return self.topology.gateway if target == "gateway" else self.topology.stores[target]

    def data_dir(self, region: str) -> Path:
        """Where the region's store keeps its data (what a wipe deletes)."""
        if self.topology is None:
            raise RuntimeError(f"{region}'s data is not this run's to delete (attached with --gateway)")
        return self.topology.base / "regions" / region

    def start(self, timeout: float = 60.0) -> None:
        """Proxies first, so the gateway's very first health checks already go through them."""
        if self.topology is None:
            return
        if self.proxy is not None:
            self.proxy.start(wait=timeout)
            self._proxy_started = True
            # /proxies answers as soon as the control API is up, a moment before the proxies listen.
            wait_until(self._proxies_listening, timeout, what="the fault proxies to listen")
        try:
            self.topology.start(timeout)
        except BaseException:
            self.stop()
            raise

    def _proxies_listening(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.control_url}/proxies", timeout=1) as resp:
                listed = orjson.loads(resp.read())["proxies"]
        except (OSError, ValueError, KeyError):
            return False
        return sorted(p["name"] for p in listed if p["enabled"]) == sorted(self.proxied)

    def stop(self) -> None:
        if self.topology is None:
            return
        self.topology.stop()
        if self.proxy is not None and self._proxy_started:
            self.proxy.stop()


def deploy(base: Path, scenario: Scenario) -> Deployment:
    """Describe (not start) the scenario's processes under `base`, on free loopback ports."""
    spec = scenario.topology
    proxy_ports = {region: free_port() for region in spec.fault_proxies}
    topology = local_topology(base, spec.regions, store_ports=proxy_ports, extra_config=spec.gateway_config)
    store_urls = {region: topology.store_url(region) for region in spec.regions}
    proxies = []
    for region, listen in proxy_ports.items():
        real = free_port()
        topology.stores[region] = store_process(region, real, topology.base / "regions" / region,
                                                topology.base / "logs")
        store_urls[region] = f"http://{HOST}:{real}"
        proxies.append(f"{region}={HOST}:{listen},{HOST}:{real}")
    token = secrets.token_hex(16)
    topology.gateway.env["RGW_ADMIN_TOKEN"] = token
    proxy = control_url = None
    if proxies:
        control = f"{HOST}:{free_port()}"
        argv = rgw_argv("chaos", "proxy", "serve", "--control", control)
        for option in proxies:
            argv += ["--proxy", option]
        proxy = Managed(name="faultproxy", argv=argv, ready_url=f"http://{control}/proxies",
                        log_path=topology.base / "logs" / "faultproxy.log")
        control_url = f"http://{control}"
    return Deployment(topology.gateway_url, store_urls, token, topology, proxy, control_url, tuple(proxy_ports),
                      topology.config_path, client_key(gateway_config_of(spec)))
