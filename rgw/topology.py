"""A whole local deployment on loopback: region stores plus the gateway, as real processes.

`rgw demo`, the tests, the benchmarks and the chaos runner all start their regions this way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rgw.procs import Managed, free_port, gateway_process, store_process

DEFAULT_REGIONS = ("primary", "secondary")


@dataclass(frozen=True)
class TlsFiles:
    """The gateway's certificate and key, and the CA that signed it (for clients and the readiness check)."""

    cert: Path
    key: Path
    ca: Path


@dataclass
class Topology:
    base: Path
    stores: dict[str, Managed]
    store_ports: dict[str, int]
    gateway: Managed
    gateway_port: int
    config_path: Path
    host: str = "127.0.0.1"
    extra_config: str = ""
    tls: TlsFiles | None = None  # the gateway serves HTTPS with these
    # Regions the gateway reaches over https (the port is then a TLS endpoint in front of the store), with the
    # CA to verify it against; and TOML lines added to a region's entry (e.g. its api_key).
    region_tls: dict[str, Path] = field(default_factory=dict)
    region_lines: dict[str, str] = field(default_factory=dict)
    _started: list[Managed] = field(default_factory=list)

    @property
    def gateway_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.gateway_port}"

    def store_url(self, region: str) -> str:
        return f"http://{self.host}:{self.store_ports[region]}"

    def config_text(self) -> str:
        lines = ["[gateway]", f'listen = "{self.host}:{self.gateway_port}"',
                 f'data_dir = "{self.base / "gateway"}"']
        if self.tls is not None:
            lines += [f'tls_cert_file = "{self.tls.cert}"', f'tls_key_file = "{self.tls.key}"']
        lines.append("")
        for name in self.stores:
            lines += ["[[regions]]", f'name = "{name}"']
            if name in self.region_tls:
                lines += [f'url = "https://{self.host}:{self.store_ports[name]}"',
                          f'ca_file = "{self.region_tls[name]}"']
            else:
                lines.append(f'url = "{self.store_url(name)}"')
            lines += [self.region_lines.get(name, ""), ""]
        return "\n".join(lines) + self.extra_config

    def start(self, timeout: float = 60.0) -> Topology:
        self.config_path.write_text(self.config_text())
        try:
            for store in self.stores.values():
                self._started.append(store.start(wait=0))
            for store in self.stores.values():
                store.wait_ready(timeout)
            self._started.append(self.gateway.start(wait=timeout))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop everything this topology started, gateway first; by the PIDs we started."""
        for proc in [self.gateway, *self.stores.values()]:
            if proc in self._started:
                proc.stop()

    def __enter__(self) -> Topology:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def local_topology(base: Path, regions: tuple[str, ...] = DEFAULT_REGIONS, gateway_port: int | None = None,
                   store_ports: dict[str, int] | None = None, extra_config: str = "",
                   tls: TlsFiles | None = None) -> Topology:
    """Describe (not start) a topology under `base`, on free loopback ports unless given."""
    base = base.resolve()
    logs = base / "logs"
    ports = {name: (store_ports or {}).get(name) or free_port() for name in regions}
    stores = {name: store_process(name, ports[name], base / "regions" / name, logs) for name in regions}
    gw_port = gateway_port or free_port()
    config_path = base / "gateway.toml"
    base.mkdir(parents=True, exist_ok=True)
    gateway = gateway_process(config_path, f"127.0.0.1:{gw_port}", logs, ca_file=tls.ca if tls else None)
    return Topology(base=base, stores=stores, store_ports=ports, gateway=gateway, gateway_port=gw_port,
                    config_path=config_path, extra_config=extra_config, tls=tls)
