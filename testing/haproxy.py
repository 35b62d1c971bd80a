"""A real HAProxy (Debian's `haproxy`) in front of server processes, for tests and benchmarks.

The configuration is deploy/haproxy.cfg itself, with its `bind` moved to a free
loopback port and its `server` lines replaced by the processes given, so what
is tested is the template an operator copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

__all__ = ["TEMPLATE", "HAProxy", "config_for"]

TEMPLATE = Path(__file__).resolve().parents[1] / "deploy" / "haproxy.cfg"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def config_for(port: int, backends: Sequence[int], template: Path = TEMPLATE) -> str:
    """The template listening on 127.0.0.1:`port`, its servers the loopback `backends`."""
    lines = [
        line.replace("bind :8080", f"bind 127.0.0.1:{port}")
        for line in template.read_text().splitlines()
        if not line.strip().startswith("server ")
    ]
    lines += [f"    server b{i + 1} 127.0.0.1:{p} id {i + 1}" for i, p in enumerate(backends)]
    return "\n".join(lines) + "\n"


class HAProxy:
    """``haproxy -db -f <cfg>`` on a free loopback port in front of `backends` (ports)."""

    def __init__(self, directory: Path, backends: Sequence[int]) -> None:
        if shutil.which("haproxy") is None:
            raise RuntimeError("haproxy is not installed (scripts/bootstrap.sh installs it)")
        self.port = _free_port()
        self.backends = list(backends)
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "haproxy.cfg"
        self.config.write_text(config_for(self.port, self.backends))
        self.log = directory / "haproxy.log"  # its stderr (warnings, alerts)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def start(self, timeout: float = 30.0) -> HAProxy:
        """Start it and wait until it forwards /healthz to a process whose check passed."""
        with self.log.open("wb") as log:
            self._proc = subprocess.Popen(
                ["haproxy", "-db", "-f", str(self.config)], stdout=subprocess.DEVNULL, stderr=log
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                err = self.log.read_text(errors="replace")
                raise RuntimeError(f"haproxy exited {self._proc.returncode}: {err}")
            with contextlib.suppress(OSError):
                url = f"http://127.0.0.1:{self.port}/healthz"
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return self
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"haproxy did not forward within {timeout} s")
            time.sleep(0.1)

    async def astart(self, timeout: float = 30.0) -> HAProxy:
        return await asyncio.to_thread(self.start, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by PID (hard stop), SIGKILL if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)

    def __enter__(self) -> HAProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
