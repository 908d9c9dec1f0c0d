"""Fault and address specs reject bad values where they are written, naming the field."""

from __future__ import annotations

import pytest

from rgw.chaos.endpoints import Endpoint
from rgw.chaos.faultproxy import FaultProxy
from rgw.chaos.faults import (
    Blackhole,
    Direction,
    Fault,
    Latency,
    Reset,
    Slicer,
    fault_from_dict,
    fault_to_dict,
)


@pytest.mark.parametrize(("make", "field"), [
    (lambda: Latency(latency_ms=-1), "latency_ms"),
    (lambda: Latency(latency_ms=True), "latency_ms"),
    (lambda: Latency(latency_ms=float("nan")), "latency_ms"),
    (lambda: Latency(latency_ms=10, jitter_ms="5"), "jitter_ms"),
    (lambda: Latency(latency_ms=10, toxicity=1.5), "toxicity"),
    (lambda: Latency(latency_ms=10, direction="sideways"), "direction"),
    (lambda: Latency(latency_ms=10, name="has space"), "name"),
    (lambda: Reset(after_ms=10, after_bytes=10), "after_bytes"),
    (lambda: Reset(after_bytes=1.5), "after_bytes"),
    (lambda: Slicer(average_size=10, size_variation=10), "size_variation"),
    (lambda: Slicer(average_size=0), "average_size"),
    (lambda: Blackhole(timeout_ms=-5), "timeout_ms"),
])
def test_bad_values_raise_naming_the_field(make, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        make()


def test_defaults() -> None:
    fault = Latency(latency_ms=10)
    assert (fault.name, fault.toxicity, fault.direction) == ("latency", 1.0, Direction.DOWNSTREAM)
    assert Blackhole().direction is Direction.BOTH
    assert Latency(latency_ms=1, direction="upstream").direction is Direction.UPSTREAM


def test_dict_round_trip() -> None:
    fault = Slicer(name="chop", average_size=100, size_variation=20, delay_ms=1, toxicity=0.5)
    assert fault_from_dict(fault_to_dict(fault)) == fault


@pytest.mark.parametrize(("data", "field"), [
    ({"kind": "teleport"}, "kind"),
    ({}, "kind"),
    ({"kind": "latency"}, "latency_ms"),
    ({"kind": "latency", "latency_ms": 1, "rate_kb_s": 5}, "rate_kb_s"),
    ({"kind": "bandwidth", "rate_kb_s": 0}, "rate_kb_s"),
])
def test_from_dict_names_the_bad_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        fault_from_dict(data)


@pytest.mark.parametrize("text", ["127.0.0.1:80", "127.9.9.9:1", "localhost:8080", "[::1]:6333"])
def test_loopback_endpoints_parse(text: str) -> None:
    assert str(Endpoint.parse(text, "listen")) == text


@pytest.mark.parametrize("text", ["10.0.0.1:80", "0.0.0.0:80", "example.com:80", "[::]:80", "8.8.8.8:53"])
def test_non_loopback_endpoints_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^upstream: .*not a loopback address"):
        Endpoint.parse(text, "upstream")


@pytest.mark.parametrize("text", ["127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", ""])
def test_malformed_endpoints_name_the_field(text: str) -> None:
    with pytest.raises(ValueError, match=r"^listen:"):
        Endpoint.parse(text, "listen")


def test_proxy_refuses_non_loopback_and_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"^listen:"):
        FaultProxy("p", "192.168.1.1:80", "127.0.0.1:80")
    with pytest.raises(ValueError, match=r"^upstream:"):
        FaultProxy("p", "127.0.0.1:0", "10.1.1.1:80")
    with pytest.raises(ValueError, match=r"^upstream:"):
        FaultProxy("p", "127.0.0.1:0", "127.0.0.1:0")
    with pytest.raises(ValueError, match=r"^name:"):
        FaultProxy("a/b", "127.0.0.1:0", "127.0.0.1:80")


def test_proxy_add_takes_only_fault_kinds() -> None:
    proxy = FaultProxy("p", "127.0.0.1:0", "127.0.0.1:80")
    with pytest.raises(TypeError):
        proxy.add({"kind": "latency"})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        proxy.add(Fault(name="generic"))
