"""Start, wait for and stop the project's own processes on loopback (stores, gateway).

Used by `rgw demo`, the tests, the benchmarks and the chaos runner, so that every one of
them starts real processes the same way and kills exactly the PIDs it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def http_ok(url: str, timeout: float = 0.5, ca_file: Path | None = None) -> bool:
    """True when GET url answers 2xx within timeout (an https URL verified against `ca_file` when given)."""
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file and url.startswith("https:") else None
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition") -> None:
    """Poll predicate until it is true; raise TimeoutError naming `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")


@dataclass
class Managed:
    """A child process we started, with where it logs and how to know it is up."""

    name: str
    argv: list[str]
    ready_url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None  # where it runs (a baseline gateway runs from its own source tree)
    ca_file: Path | None = None  # verifies an https ready_url
    proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was never started"
        return self.proc.pid

    def start(self, wait: float = 30.0) -> Managed:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it for its lifetime
        env = {**os.environ, **self.env}
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.cwd,
                                     start_new_session=True)
        log.close()
        if wait:
            self.wait_ready(wait)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        def up() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; log: {self.log_tail()}")
            return http_ok(self.ready_url, ca_file=self.ca_file)

        wait_until(up, timeout, what=f"{self.name} at {self.ready_url}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL and reap: the crash case."""
        if self.proc is None:
            return
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)  # a stopped process must be able to die
                os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if not self.alive():
            return
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGCONT)
            os.kill(self.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def rgw_argv(*args: str) -> list[str]:
    """argv running this installation's `rgw` with the current interpreter."""
    return [sys.executable, "-m", "rgw.cli", *args]


def store_process(name: str, port: int, data_dir: Path, log_dir: Path, host: str = "127.0.0.1") -> Managed:
    return Managed(
        name=f"store:{name}",
        argv=rgw_argv("store", "--name", name, "--host", host, "--port", str(port), "--data", str(data_dir)),
        ready_url=f"http://{host}:{port}/readyz",
        log_path=log_dir / f"store-{name}.log",
    )


def gateway_process(config_path: Path, listen: str, log_dir: Path, name: str = "gateway",
                    ca_file: Path | None = None) -> Managed:
    """The gateway; with `ca_file` it serves HTTPS, and is checked against that CA."""
    return Managed(
        name=name,
        argv=rgw_argv("serve", "--config", str(config_path)),
        ready_url=f"{'https' if ca_file else 'http'}://{listen}/readyz",
        log_path=log_dir / f"{name}.log",
        ca_file=ca_file,
    )
