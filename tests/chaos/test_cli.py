"""The CLI: `serve` as a real subprocess, driven by the CLI's client commands."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from rgw.chaos.endpoints import Endpoint
from rgw.chaos.faultproxy_cli import main
from rgw.procs import Managed, free_port

from .helpers import url


@pytest.fixture
def control_port() -> int:
    return free_port()


@pytest.fixture
def server(tmp_path: Path, backend: Endpoint, control_port: int) -> Iterator[tuple[Managed, Endpoint]]:
    listen = Endpoint("127.0.0.1", free_port())
    managed = Managed(
        name="faultproxy",
        argv=[sys.executable, "-m", "rgw.chaos.faultproxy_cli", "serve", "--control", f"127.0.0.1:{control_port}",
              "--proxy", f"store={listen},{backend}"],
        ready_url=f"http://127.0.0.1:{control_port}/proxies",
        log_path=tmp_path / "faultproxy.log",
    )
    managed.start(wait=10)
    try:
        yield managed, listen
    finally:
        managed.stop()


async def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))  # the client blocks on urllib; keep the loop free
    out, err = capsys.readouterr()
    return code, out, err


async def test_serve_then_add_list_remove_down_up(
        server: tuple[Managed, Endpoint], control_port: int, client: aiohttp.ClientSession,
        capsys: pytest.CaptureFixture[str]) -> None:
    managed, listen = server
    control = ("--control", f"http://127.0.0.1:{control_port}")

    async with client.get(url(listen)) as response:
        assert await response.text() == "ok"

    code, out, _ = await _cli(capsys, "add", "store", "reset", "--param", "toxicity=1", *control)
    assert code == 0
    assert "added reset (reset)" in out
    with pytest.raises(aiohttp.ClientConnectionError):
        async with client.get(url(listen)):
            pass

    code, out, _ = await _cli(capsys, "list", *control)
    assert code == 0
    assert f"store: {listen} ->" in out
    assert "reset (reset)" in out

    code, out, _ = await _cli(capsys, "list", "--json", *control)
    [proxy] = json.loads(out)["proxies"]
    assert proxy["faults"][0]["kind"] == "reset"
    assert proxy["faults"][0]["applied"] >= 1

    code, out, _ = await _cli(capsys, "remove", "store", "reset", *control)
    assert (code, out.strip()) == (0, "store: removed reset")
    async with client.get(url(listen)) as response:
        assert await response.text() == "ok"

    code, out, _ = await _cli(capsys, "down", "store", *control)
    assert code == 0
    assert "DOWN" in out
    with pytest.raises(aiohttp.ClientConnectorError):
        async with client.get(url(listen)):
            pass
    code, _, _ = await _cli(capsys, "up", "store", *control)
    assert code == 0
    async with client.get(url(listen)) as response:
        assert await response.text() == "ok"

    managed.stop()
    assert managed.proc is not None and managed.proc.returncode == 0, managed.log_tail()


async def test_client_reports_api_errors(server: tuple[Managed, Endpoint], control_port: int,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    control = ("--control", f"127.0.0.1:{control_port}")
    code, _, err = await _cli(capsys, "add", "store", "latency", "--param", "latency_ms=-3", *control)
    assert code == 1
    assert "latency_ms:" in err
    code, _, err = await _cli(capsys, "down", "nope", *control)
    assert code == 1
    assert "nope" in err


async def test_client_reports_an_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = await _cli(capsys, "list", "--control", f"127.0.0.1:{free_port()}")
    assert code == 1
    assert "cannot reach the control API" in err


@pytest.mark.parametrize("argv", [
    ["serve", "--proxy", "p=10.0.0.1:7000,127.0.0.1:6333"],
    ["serve", "--proxy", "p=127.0.0.1:7000"],
    ["serve", "--control", "0.0.0.0:8474"],
    ["list", "--control", "http://10.0.0.1:8474"],
    ["add", "p", "latency", "--param", "latency_ms"],
])
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err
