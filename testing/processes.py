"""Real processes for tests and benchmarks: a server, a bundled bot.

`ServerProcess` runs a real `backline serve` in a child process on a free
port, reads the URL it prints, and can stop it gracefully, `kill -9` it, or
start it again on the same data dir and port. `BotProcess` runs
`backline bot NAME ...`. `health` reads a server's /healthz.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from backline.protocol.messages import Role
from backline.protocol.tokens import mint, resume_key

__all__ = ["BotProcess", "ServerProcess", "health"]

_LISTENING = re.compile(r"Backline listening on (https?://\S+) \(websocket (wss?://\S+)\)")


class ServerProcess:
    """A real server process for tests and load tests."""

    def __init__(
        self,
        data_dir: Path,
        *,
        secret: str | None = "test-secret",
        store: str = "sqlite",
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        start_timeout: float = 60.0,  # a loaded machine can take long to import aiortc and numpy
        cpu: int | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.secret = secret
        self.store = store
        self.extra_args = list(extra_args)
        self.env = env
        self.start_timeout = start_timeout
        self.cpu = cpu
        self.port = 0
        self.http_url = ""
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None
        self.log_path = self.data_dir / "server.log"
        self.owner_link = ""  # the join link the server prints at start
        self.start_lines: list[str] = []  # what it printed up to that link (the last start)

    def token(
        self,
        session: str,
        role: Role | str = Role.EDITOR,
        expires: int | None = None,
        *,
        may_create: bool = True,
    ) -> str:
        """A fresh token (its own id); by default one that may create the session, as an
        operator's would (`may_create=False`: an ordinary guest's)."""
        if self.secret is None:
            raise RuntimeError("this server made its own secret; use the owner link's token")
        return mint(
            self.secret.encode(),
            session,
            role,
            expires,
            nonce=secrets.token_hex(6),
            may_create=may_create,
        )

    def resume(self, session: str, client: str) -> str:
        """The resume key of identity `client` in `session` (what its welcome hands out):
        lets a test name a participant of its choosing, ``hello(..., client=c, resume=...)``."""
        if self.secret is None:
            raise RuntimeError("this server made its own secret")
        return resume_key(self.secret.encode(), session, client)

    def start(self) -> ServerProcess:
        """Start (or restart, on the same port) and wait until it listens."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "backline.server",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--data-dir", str(self.data_dir), "--store", self.store,
            *(["--secret", self.secret] if self.secret is not None else []),
            *self.extra_args,
        ]  # fmt: skip
        if self.cpu is not None:
            cmd = ["taskset", "-c", str(self.cpu), *cmd]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(self.env or {})}
        log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + self.start_timeout
        assert self.proc.stdout is not None
        self.start_lines = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.start_lines.append(line.rstrip("\n"))
            match = _LISTENING.search(line)
            if match:
                self.http_url, self.url = match.group(1), match.group(2)
                self.port = int(self.url.rsplit(":", 1)[1])
            elif line.startswith("Owner link: ") and self.url:
                self.owner_link = line.removeprefix("Owner link: ").strip()
                return self
        code = self.proc.poll()
        self.kill()
        tail = self.log_path.read_text()[-3000:]
        raise RuntimeError(f"server did not start (exit {code}); see {self.log_path}:\n{tail}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs at all."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._close_pipe()

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait for a graceful exit; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise RuntimeError(f"server ignored SIGTERM for {timeout} s") from None
        self._close_pipe()
        return self.proc.returncode

    async def astop(self, timeout: float = 20.0) -> int:
        return await asyncio.to_thread(self.stop, timeout)

    async def astart(self) -> ServerProcess:
        return await asyncio.to_thread(self.start)

    def _close_pipe(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            with contextlib.suppress(OSError):
                self.proc.stdout.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def health(server: ServerProcess) -> dict[str, Any]:
    """The server's /healthz answer (any status), read without blocking the loop."""

    def fetch() -> dict[str, Any]:
        try:
            with urllib.request.urlopen(server.http_url + "/healthz", timeout=10) as response:
                body: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as exc:  # 503 still carries the JSON
            body = json.load(exc)
        return body

    return await asyncio.to_thread(fetch)


class BotProcess:
    """`backline bot NAME URL --session S ...` as a child process, for tests.

    `wait_for(text)` reads its log (stderr) until a line contains `text`;
    `stdout` carries what the bot prints; `stop()` sends SIGTERM and returns the
    exit code. Use it with ``async with``: a bot still running at the end is killed.
    """

    def __init__(self, server: ServerProcess, bot: str, session: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "backline.cli", "bot", bot, server.url,
                "--session", session, "--secret", server.secret or "", *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.stdout = self.proc.stdout
        self._stderr = self.proc.stderr

    async def wait_for(self, text: str, timeout: float = 30.0) -> str:
        while True:
            line = await asyncio.wait_for(asyncio.to_thread(self._stderr.readline), timeout)
            if not line:
                raise AssertionError(f"the bot exited before logging {text!r}")
            if text in line:
                return line

    async def read_line(self, timeout: float = 10.0) -> str:
        return (await asyncio.wait_for(asyncio.to_thread(self.stdout.readline), timeout)).strip()

    async def stop(self, timeout: float = 30.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.proc.wait, timeout)

    async def __aenter__(self) -> BotProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.stdout.close()
        self._stderr.close()
