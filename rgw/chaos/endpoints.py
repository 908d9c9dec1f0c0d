"""Loopback-only host:port addresses for the fault proxy.

A fault proxy is a tool for breaking things on purpose; confining it to loopback means it can never
be pointed at, or exposed to, anything beyond this machine. This is a hard rule, not a default.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

LOOPBACK_RULE = "only 127.0.0.0/8, ::1 and localhost are allowed"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Endpoint:
    """A loopback host and a TCP port (0 only where the OS may pick one)."""

    host: str
    port: int

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not is_loopback(self.host):
            raise ValueError(f"{self.host!r} is not a loopback address; {LOOPBACK_RULE}")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError(f"port must be an integer 0-65535, got {self.port!r}")

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: object, field: str) -> Endpoint:
        """Parse 'host:port' or '[v6]:port'; every error message starts with `field`."""
        try:
            if not isinstance(text, str):
                raise ValueError(f"must be a 'host:port' string, got {text!r}")
            host, sep, port = text.rpartition(":")
            if not sep or not port.isdigit():
                raise ValueError(f"must look like 'host:port', got {text!r}")
            return cls(host.removeprefix("[").removesuffix("]"), int(port))
        except ValueError as exc:
            raise ValueError(f"{field}: {exc}") from None

    @classmethod
    def coerce(cls, value: Endpoint | str, field: str) -> Endpoint:
        return value if isinstance(value, Endpoint) else cls.parse(value, field)
