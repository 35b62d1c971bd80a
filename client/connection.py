"""The session's link to the server: one websocket at a time, healed when it drops.

A `Connection` opens the websocket, says hello and waits for the welcome,
keeps the clock synced with pings, reads frames and hands each to the session,
and after a drop reconnects with backoff and *resumes*: the same client id,
proven by the resume key its first welcome handed out, and the last version
this client confirmed, so that the server sends only what was missed. Given
several server URLs it moves to the next when one fails or shuts down.

Its life is a `ConnectionState`, as a websockets connection's is its
``State``::

    CONNECTING ──welcome──▶ CONNECTED ──drop──▶ RECONNECTING ──welcome──▶ CONNECTED
        │                       │                     │
        └───────────────────────┴──────────┬──────────┘
                                           ▼
                    CLOSED (closed by this client, a final close, or no reconnect)

Whether a close is worth a reconnect is the protocol's policy, not this
module's (`backline.protocol.errors`): on a close in `FINAL_CLOSE_CODES` the
connection gives up with the typed error `error_for_close` builds; on any
other (shutdown, too slow, full, a network drop) it reconnects, with backoff.
So a replaced connection (4009: this identity joined again elsewhere) stops,
and after a server shutdown (4000) it resumes on the next URL. A frame this
client cannot apply (it lost sync) closes the websocket, and the next hello
asks for a snapshot instead of a catch-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl as ssl_module
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.frames import Close
from websockets.protocol import State
from websockets.typing import Subprotocol

from backline.client.clock import Clock
from backline.protocol.codec import SUBPROTOCOL, decode, encode
from backline.protocol.errors import (
    FINAL_CLOSE_CODES,
    BacklineError,
    CloseCode,
    ServerFull,
    Unavailable,
    error_for_close,
    error_for_code,
)
from backline.protocol.messages import ClientType, ServerType
from backline.protocol.routing import session_path

__all__ = ["NEXT_STATES", "Connection", "ConnectionState", "Hooks", "Options"]

log = logging.getLogger("backline.client")

ABNORMAL_CLOSURE = 1006  # RFC 6455: the connection ended without a close frame
BACKOFF = 0.05  # seconds before the first reconnect attempt (jittered by ±50 %, then doubled)
PING_INTERVAL = 20.0  # seconds: websockets' keepalive, which notices a dead peer
REFUSAL_GRACE = 1.0  # seconds a close may take to follow an error before the welcome
CLOCK_BURST_INTERVAL = 0.02  # seconds between the clock exchanges of the burst after a join


class ConnectionState(StrEnum):
    """Where a connection is in its life; `NEXT_STATES` says where it may go next."""

    CONNECTING = "connecting"  # the first hello is on its way
    CONNECTED = "connected"  # joined: frames flow both ways
    RECONNECTING = "reconnecting"  # dropped: retrying with backoff; edits wait in the outbox
    CLOSED = "closed"  # for good: closed by this client, refused for good, or no reconnect


NEXT_STATES: dict[ConnectionState, frozenset[ConnectionState]] = {
    ConnectionState.CONNECTING: frozenset({ConnectionState.CONNECTED, ConnectionState.CLOSED}),
    ConnectionState.CONNECTED: frozenset({ConnectionState.RECONNECTING, ConnectionState.CLOSED}),
    ConnectionState.RECONNECTING: frozenset({ConnectionState.CONNECTED, ConnectionState.CLOSED}),
    ConnectionState.CLOSED: frozenset(),
}
"""Every transition a connection makes; any other is a bug, and `Connection` raises."""


@dataclass
class Options:
    """How to join: what `connect()` was given."""

    urls: list[str]
    session: str
    token: str
    name: str
    color: str | None
    reconnect: bool
    max_backoff: float  # seconds, the longest wait between two reconnect attempts
    open_timeout: float  # seconds for the websocket handshake, and again for the welcome
    clock_interval: float = 1.0  # seconds between clock exchanges once synced
    clock_burst: int = 16  # exchanges right after connecting
    ssl: ssl_module.SSLContext | None = None  # for wss:// (None: the system's trust store)


@dataclass(frozen=True, slots=True)
class Hooks:
    """What a `Connection` asks of, and tells, the session it serves (on the event loop)."""

    version: Callable[[], int]
    """The last version this client confirmed: a resume asks for what came after it."""
    welcomed: Callable[[dict[str, Any]], None]
    """A welcome arrived (a first join or a resume): adopt it; CONNECTED is reported next."""
    received: Callable[[dict[str, Any]], None]
    """Every later frame. A `BacklineError` raised here means this client lost sync: the
    connection closes and starts over from a snapshot."""
    changed: Callable[[ConnectionState, BacklineError | None], None]
    """The connection entered CONNECTED (no error), RECONNECTING (why it dropped) or
    CLOSED (why it gave up). This client's own `Connection.close` is not reported."""


class Connection:
    """One participant's connection to a session, across drops and servers."""

    def __init__(self, options: Options, clock: Clock, hooks: Hooks) -> None:
        if not options.urls:
            raise ValueError("connect() needs at least one server URL")
        self.options = options
        self.clock = clock
        self.state = ConnectionState.CONNECTING
        self.error: BacklineError | None = None
        """Why the connection gave up (None until then, and after this client's own close)."""
        self.client_id = ""
        self.ws: ClientConnection | None = None
        """The websocket of the latest join (still the dropped one while reconnecting)."""
        self.node = ""
        """The server process of the latest join (its `Backline-Node` header; "" if none)."""
        self._hooks = hooks
        self._resume = ""  # the resume key of client_id (from the welcome; never shown)
        self.color = ""  # my colour in effect (from the welcome)
        self._resync = False  # lost sync: the next hello asks for a snapshot, not a catch-up
        self._url_index = 0
        self._reader: asyncio.Task[None] | None = None
        self._clock_task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The server in use now (or being tried)."""
        return self.options.urls[self._url_index % len(self.options.urls)]

    @property
    def connected(self) -> bool:
        return self.state is ConnectionState.CONNECTED

    @property
    def finished(self) -> bool:
        """Closed, with nothing left running: `close` has nothing to do."""
        return self.state is ConnectionState.CLOSED and self._reader is None

    def check_open(self) -> None:
        """Raise why the connection gave up, or `Unavailable` once this client closed it."""
        if self.error is not None:
            raise self.error
        if self.state is ConnectionState.CLOSED:
            raise Unavailable("session is closed")

    # -- joining --------------------------------------------------------------

    async def open(self) -> None:
        """Join through the first URL that lets this client in, each tried once.

        Raises the typed error of the last attempt: `Unauthorized` when the
        token is refused, `Unavailable` when no server can be reached, …
        """
        last = len(self.options.urls) - 1
        for attempt in range(last + 1):
            try:
                await self._join()
                return
            except ConnectionClosed as exc:
                error = _refusal(exc.rcvd)[0]
            except BacklineError as exc:
                error = exc
            if not isinstance(error, Unavailable | ServerFull) or attempt == last:
                self._give_up(error)
                raise error
            self._url_index += 1  # another process may be reachable, or have room

    async def _join(self) -> None:
        """Open a websocket to `url`, say hello and adopt the welcome.

        Raises `ConnectionClosed` when the server closed the websocket (its
        close code says why) and `BacklineError` for any other failure.
        """
        o = self.options
        # websockets picks a default context for wss:// only when ssl is not passed at all
        tls: dict[str, Any] = {} if o.ssl is None else {"ssl": o.ssl}
        try:
            ws = await ws_connect(
                session_url(self.url, o.session),  # /s/<session>: a balancer routes on it
                subprotocols=[Subprotocol(SUBPROTOCOL)],
                compression=None,
                open_timeout=o.open_timeout,
                max_size=None,
                ping_interval=PING_INTERVAL,
                ping_timeout=PING_INTERVAL,
                **tls,
            )
        except InvalidStatus as exc:
            raise Unavailable(
                f"server refused the websocket: HTTP {exc.response.status_code}"
            ) from exc
        except InvalidHandshake as exc:  # not a websocket server (e.g. plain ws:// to TLS)
            raise Unavailable(f"no websocket handshake with {self.url}: {exc}") from exc
        except (OSError, TimeoutError) as exc:
            raise Unavailable(f"cannot reach {self.url}: {exc}") from exc
        try:
            await ws.send(encode(self._hello()))
            welcome = await self._welcome(ws)
        except TimeoutError:
            await ws.close()
            raise Unavailable("no welcome from the server in time") from None
        if self.state is ConnectionState.CLOSED:  # this client closed meanwhile
            await ws.close()
            raise Unavailable("session is closed")
        self.ws = ws
        self.node = ws.response.headers.get("Backline-Node", "") if ws.response else ""
        self.client_id = welcome["client"]
        self._resume = str(welcome.get("resume", ""))  # proves this identity on reconnect
        # the colour in effect: the one asked for, or the free one the session handed out
        self.color = str(welcome.get("color") or self.options.color or "")
        if welcome.get("batches") is None:
            self._resync = False  # a snapshot: in sync again
        self._hooks.welcomed(welcome)
        self._start_clock(ws)
        self._enter(ConnectionState.CONNECTED)

    def _hello(self) -> dict[str, Any]:
        o = self.options
        hello: dict[str, Any] = {
            "type": ClientType.HELLO.value,
            "session": o.session,
            "token": o.token,
            "name": o.name,
        }
        color = o.color or self.color  # on a reconnect: keep the one handed out
        if color:
            hello["color"] = color
        if self.client_id:  # a resume: same identity, and what this client already has
            hello["client"] = self.client_id
            hello["resume"] = self._resume
            if not self._resync:
                hello["version"] = self._hooks.version()
        return hello

    async def _welcome(self, ws: ClientConnection) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.open_timeout
        refused: BacklineError | None = None
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                if refused is None:
                    raise
                await ws.close()
                raise refused from None  # the hello itself was refused: the server said why
            message = decode(raw, from_server=True) if isinstance(raw, bytes) else {}
            kind = message.get("type")
            if kind == ServerType.WELCOME:
                return message
            if kind == ServerType.ERROR:
                # A refused token is followed by a close whose code says why (and
                # decides whether a reconnect may try again); a refused hello is
                # not: after a moment, that error is the answer.
                log.warning("server error before welcome: %s", message.get("message"))
                refused = error_for_code(str(message.get("code")), str(message.get("message")))
                deadline = min(deadline, loop.time() + REFUSAL_GRACE)

    # -- reading and healing --------------------------------------------------

    def start(self) -> None:
        """Read frames from now on, and heal drops, until closed or refused for good."""
        self._reader = asyncio.get_running_loop().create_task(
            self._run(), name=f"backline reader {self.options.session}"
        )

    async def _run(self) -> None:
        while True:
            error, code = await self._read()
            if self.state is ConnectionState.CLOSED:
                return  # this client closed it
            if (code is not None and code in FINAL_CLOSE_CODES) or not self.options.reconnect:
                self._give_up(error)
                return
            if code == CloseCode.SERVER_SHUTDOWN:
                self._url_index += 1  # that server is going away: resume on the next one
            self._enter(ConnectionState.RECONNECTING, error)
            if not await self._reconnect():
                return

    async def _read(self) -> tuple[BacklineError, int | None]:
        """Hand every frame to the session until the websocket ends; returns why it
        ended and its close code (None when this client lost sync and closed it)."""
        ws = self.ws
        assert ws is not None
        try:
            async for raw in ws:
                if isinstance(raw, bytes):
                    self._hooks.received(decode(raw, from_server=True))
        except ConnectionClosed as closed:
            return _refusal(closed.rcvd)
        except BacklineError as desync:  # a version gap or an undecodable frame: start over
            log.error("resyncing after %s", desync)
            self._resync = True
            await ws.close()
            return Unavailable("resync"), None
        return _refusal(ws.protocol.close_rcvd)  # a normal close (1000, 1001)

    async def _reconnect(self) -> bool:
        """Join again, with jittered exponential backoff, moving through the URLs;
        False when the connection closed for good instead."""
        backoff = BACKOFF
        while self.state is not ConnectionState.CLOSED:
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, self.options.max_backoff)
            try:
                await self._join()
                return True
            except ConnectionClosed as exc:
                error, code = _refusal(exc.rcvd)
                if code in FINAL_CLOSE_CODES:
                    self._give_up(error)
                    return False
            except BacklineError as exc:  # unreachable, full, no welcome in time, …
                error = exc
            log.info("reconnect to %s failed: %s", self.url, error.message)
            self._url_index += 1  # try the next server, if there are several
        return False

    def _enter(self, state: ConnectionState, error: BacklineError | None = None) -> None:
        if state not in NEXT_STATES[self.state]:
            raise RuntimeError(f"a connection does not go from {self.state} to {state}")
        self.state = state
        self._hooks.changed(state, error)

    def _give_up(self, error: BacklineError) -> None:
        self.error = error
        self._enter(ConnectionState.CLOSED, error)

    # -- the clock --------------------------------------------------------------

    def _start_clock(self, ws: ClientConnection) -> None:
        """Sync the clock on this websocket: a burst now, then every `clock_interval`."""
        if self._clock_task is not None:
            self._clock_task.cancel()
        self.clock.reset()  # a new connection may reach a server with another clock
        self._clock_task = asyncio.get_running_loop().create_task(self._sync_clock(ws))

    async def _sync_clock(self, ws: ClientConnection) -> None:
        o = self.options
        sent = 0
        with contextlib.suppress(ConnectionClosed):
            while True:
                ping: dict[str, Any] = {"type": ClientType.PING.value, "t0": self.clock.local()}
                if self.clock.synced:
                    ping["rtt"] = self.clock.rtt
                await ws.send(encode(ping))
                sent += 1
                # pacing, not synchronisation: exchanges spread over time sample more paths
                await asyncio.sleep(
                    CLOCK_BURST_INTERVAL if sent < o.clock_burst else o.clock_interval
                )

    def on_pong(self, message: dict[str, Any]) -> None:
        """A `pong` frame: one clock exchange completed."""
        self.clock.add(message["t0"], message["t1"], message["t2"], self.clock.local())

    # -- sending ------------------------------------------------------------------

    def send_soon(self, message: dict[str, Any]) -> None:
        """Send without waiting when connected; otherwise send nothing (what must
        arrive is kept by its owner and sent again after the reconnect)."""
        ws = self.ws
        if ws is None or not self.connected:
            return
        task = asyncio.ensure_future(_send_quietly(ws, encode(message)))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)

    async def send(self, message: dict[str, Any]) -> None:
        """Send now. Raises `Unavailable` when not connected, or when the connection
        is lost while sending (the message may then not have arrived)."""
        self.check_open()
        ws = self.ws
        if ws is None or not self.connected:
            raise Unavailable("not connected")
        try:
            await ws.send(encode(message))
        except ConnectionClosed:
            raise Unavailable("connection lost while sending") from None

    async def close(self) -> None:
        """Say bye, close the websocket and stop reading (not reported to `Hooks.changed`)."""
        self.state = ConnectionState.CLOSED  # from any state: the reader stops healing
        if self._clock_task is not None:
            self._clock_task.cancel()
        ws = self.ws
        if ws is not None and ws.protocol.state is State.OPEN:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(encode({"type": ClientType.BYE.value}))
            await ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None


_tasks: set[asyncio.Future[None]] = set()  # sends in flight (a task needs a reference)


def _refusal(rcvd: Close | None) -> tuple[BacklineError, int]:
    """The typed error of a close the server sent (or of none: a lost connection), and its code."""
    if rcvd is None:
        return error_for_close(ABNORMAL_CLOSURE, "connection lost"), ABNORMAL_CLOSURE
    return error_for_close(rcvd.code, rcvd.reason), rcvd.code


async def _send_quietly(ws: ClientConnection, data: bytes) -> None:
    """Send, ignoring a closed connection: the caller resends after reconnecting."""
    with contextlib.suppress(ConnectionClosed):
        await ws.send(data)


def session_url(url: str, session: str) -> str:
    """`url` (``ws://host:port``) with the session's path, when it has no path of its
    own (empty or ``/``); a URL with another path is left as it was given."""
    parts = urllib.parse.urlsplit(url)
    if parts.path not in ("", "/"):
        return url
    return urllib.parse.urlunsplit(parts._replace(path=session_path(session)))
