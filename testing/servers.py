"""Testing helpers, public so that tests, benchmarks and users share them.

`ServerProcess` runs a real `backline serve` in a child process on a free
port, reads the URL it prints, and can stop it gracefully, `kill -9` it, or
start it again on the same data dir and port.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from backline.client.session import Session, connect
from backline.protocol.codec import SUBPROTOCOL, decode, encode
from backline.protocol.errors import BacklineError
from backline.protocol.limits import Limits
from backline.protocol.messages import Role
from backline.protocol.tokens import mint, resume_key

__all__ = [
    "BotProcess",
    "RawClient",
    "ServerProcess",
    "SessionThread",
    "eventually",
    "health",
    "random_edit",
]

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

    def token(
        self, session: str, role: Role | str = Role.EDITOR, expires: int | None = None
    ) -> str:
        if self.secret is None:
            raise RuntimeError("this server made its own secret; use the owner link's token")
        return mint(self.secret.encode(), session, role, expires, nonce=secrets.token_hex(6))

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
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
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


async def eventually(condition: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Wait until ``condition()`` (awaited if it returns an awaitable) is truthy; returns it.

    For state that announces nothing (a server's counters, a file): checked at
    once, then after waits that grow from 5 ms to 200 ms, until `timeout`.
    Raises AssertionError naming `what` when it never holds.
    """
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or condition}")
        await asyncio.sleep(pause)  # nothing to await: this state is only readable
        pause = min(pause * 2, 0.2)


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


_UNLIMITED = Limits(max_frame_bytes=1 << 30)


class RawClient:
    """A bare websocket speaking msgpack frames, for protocol-level tests."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> RawClient:
        ws = await ws_connect(
            url,
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            compression=None,
            max_size=None,
            **kwargs,
        )
        return cls(ws)

    async def send(self, message: Any) -> None:
        await self.ws.send(message if isinstance(message, bytes | str) else encode(message))

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(raw, bytes)
        return decode(raw, _UNLIMITED)

    async def recv_type(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        """Next frame of type `kind`, skipping presence and chat frames."""
        while True:
            message = await self.recv(timeout)
            if message["type"] == kind:
                return message
            if message["type"] not in ("presence", "chat"):
                raise AssertionError(f"expected {kind!r}, got {message}")

    async def hello(
        self, session: str, token: str, name: str = "raw", **extra: Any
    ) -> dict[str, Any]:
        await self.send(
            {"type": "hello", "session": session, "token": token, "name": name, **extra}
        )
        return await self.recv_type("welcome")


def random_edit(s: Session, rng: random.Random, tracks: list[str]) -> None:
    """One random edit that is valid locally (it may still be rejected by the server).

    For convergence tests and benchmarks: tracks, notes, volumes, tempo, moves, deletes.
    """
    doc = s.project
    live = [t for t in tracks if t in doc.tracks]
    choice = rng.random()
    try:
        if not live or choice < 0.1:
            tracks.append(s.add_track(f"t{rng.randrange(100)}", kind="drums").id or "")
        elif choice < 0.45:
            s.add_note(rng.choice(live), rng.randrange(128), rng.randrange(0, 3840 * 4, 240))
        elif choice < 0.6:
            s.set(rng.choice(live), "volume", round(rng.random() * 2, 3))
        elif choice < 0.7:
            s.set_tempo(rng.choice([90, 100, 120, 128, 140]))
        elif choice < 0.8 and doc.notes:
            s.set(rng.choice(sorted(doc.notes)), "vel", rng.randrange(1, 128))
        elif choice < 0.87 and doc.notes:
            s.remove(rng.choice(sorted(doc.notes)))
        elif choice < 0.92 and len(live) > 1:
            s.move_track(rng.choice(live), rng.randrange(len(doc.track_order)))
        elif choice < 0.95 and len(live) > 3:
            s.remove(rng.choice(live))
        else:
            s.set(rng.choice(live), "mute", rng.random() < 0.5)
    except BacklineError:
        pass  # invalid against this client's current view; skip it


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


class SessionThread:
    """An SDK session on its own event loop thread, driven from synchronous code.

    For browser tests, which are synchronous (Playwright's sync API): a Python
    participant beside the browsers. `run(fn)` calls ``fn(session)`` on the
    loop and returns its result, awaiting it first if it is awaitable.
    """

    def __init__(
        self, url: str, *, session: str, token: str, name: str = "bot", **options: Any
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"sdk {name}", daemon=True
        )
        self._args = (url, session, token, name, options)
        self._session: Session | None = None
        self._stop: asyncio.Event | None = None
        self._main: Any = None

    async def _hold(self, ready: asyncio.Future[Session]) -> None:
        url, session, token, name, options = self._args
        self._stop = asyncio.Event()
        try:
            async with connect(url, session=session, token=token, name=name, **options) as s:
                ready.set_result(s)
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    def __enter__(self) -> SessionThread:
        self._thread.start()

        async def start() -> Session:
            ready: asyncio.Future[Session] = asyncio.get_running_loop().create_future()
            self._main = asyncio.ensure_future(self._hold(ready))
            return await ready

        self._session = asyncio.run_coroutine_threadsafe(start(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        async def finish() -> None:
            assert self._stop is not None
            self._stop.set()
            await self._main

        try:
            asyncio.run_coroutine_threadsafe(finish(), self._loop).result(30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    @property
    def session(self) -> Session:
        assert self._session is not None, "use SessionThread as a context manager"
        return self._session

    def run(self, fn: Callable[[Session], Any], timeout: float = 30.0) -> Any:
        """``fn(session)`` on the session's loop (awaited if it returns an awaitable)."""

        async def call() -> Any:
            result = fn(self.session)
            if inspect.isawaitable(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout)

    def wait_until(
        self, predicate: Callable[[Session], bool], timeout: float = 20.0, what: str = ""
    ) -> None:
        """Wait (on the session's events, not by polling a clock) until ``predicate(session)``."""

        async def wait() -> None:
            s = self.session
            async with s.events() as events:
                if predicate(s):
                    return
                async for _ in events:
                    if predicate(s):
                        return

        try:
            self.run(lambda _: asyncio.wait_for(wait(), timeout), timeout + 5)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what or predicate}") from None
