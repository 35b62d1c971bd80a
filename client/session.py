"""The Python SDK: a live, optimistic mirror of one session's project.

    async with connect(url, session="jam", token=token, name="bot") as s:
        drums = s.add_track("Drums", kind="drums")
        await s.set_tempo(96)            # awaiting an edit waits for the server's ack

Edits apply locally at once and are sent; `await`-ing the returned `Edit`
waits for the acknowledgement (the server stored it) and raises the typed
`BacklineError` if the server rejected it. The connection heals itself:
after a drop the SDK reconnects with backoff, catches up from its last
version and resends what was never acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import secrets
import ssl as ssl_module
from collections import deque
from collections.abc import AsyncIterator, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State
from websockets.typing import Subprotocol

from backline.client.clock import Clock
from backline.protocol.codec import SUBPROTOCOL, decode, encode
from backline.protocol.errors import (
    BacklineError,
    BadResume,
    BadToken,
    CloseCode,
    Kicked,
    Locked,
    RateAbuse,
    ServerFull,
    SessionDeleted,
    SessionFull,
    TokenExpired,
    Unauthorized,
    Unavailable,
    WrongSession,
    error_for_code,
)
from backline.protocol.limits import DEFAULT_LIMITS
from backline.protocol.messages import Batch, Role
from backline.protocol.model import PPQ, PROJECT_ID, Document
from backline.protocol.ops import Op
from backline.protocol.ratelimit import Rate, TokenBucket
from backline.protocol.replica import Replica, reset_replica
from backline.protocol.timeline import DEFAULT_LEAD_US
from backline.protocol.transport import resolve

if TYPE_CHECKING:
    from backline.client.audio import SessionAudio
from backline.client.musical_time import SessionTimeline, Tick

__all__ = [
    "AdminChanged",
    "ChatMessage",
    "ConnectionChanged",
    "Edit",
    "Event",
    "EventStream",
    "PresenceChanged",
    "RecordingChanged",
    "Rejected",
    "RemoteEdit",
    "Session",
    "connect",
]

log = logging.getLogger("backline.client")

_FATAL_CLOSE: dict[int, type[BacklineError]] = {  # closes after which reconnecting is wrong
    CloseCode.BAD_TOKEN: BadToken,
    CloseCode.TOKEN_EXPIRED: TokenExpired,
    CloseCode.WRONG_SESSION: WrongSession,
    CloseCode.BAD_RESUME: BadResume,
    CloseCode.KICKED: Kicked,
    CloseCode.SESSION_DELETED: SessionDeleted,
    CloseCode.RATE_ABUSE: RateAbuse,
}
_FULL_CLOSE: dict[int, type[BacklineError]] = {  # refused for now: retried with backoff
    CloseCode.SERVER_FULL: ServerFull,
    CloseCode.SESSION_FULL: SessionFull,
}


# -- events -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemoteEdit:
    """A batch the server accepted (`mine` when this client authored it)."""

    batch: Batch
    mine: bool


@dataclass(frozen=True, slots=True)
class Rejected:
    seq: int
    error: BacklineError

    @property
    def code(self) -> str:
        return self.error.code.value


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    peers: dict[str, dict[str, Any]]  # client id -> presence (only the ones online)
    changed: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    by: str
    name: str
    text: str
    time: int


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    state: str  # connected | reconnecting | closed
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RecordingChanged:
    """The server started or stopped recording the audio room (`message` is its frame)."""

    message: dict[str, Any]

    @property
    def active(self) -> bool:
        return bool(self.message.get("active"))


@dataclass(frozen=True, slots=True)
class AdminChanged:
    """An owner changed the session: `action` is ``kick``, ``role``, ``lock`` or
    ``viewer_audio``."""

    action: str
    by: str  # the owner's client id
    client: str | None = None  # whom it concerns (kick, role)
    role: Role | None = None  # the new role (role)
    locked: bool | None = None  # the new state (lock)
    allowed: bool | None = None  # may viewers send audio now (viewer_audio)


Event = (
    RemoteEdit
    | Rejected
    | PresenceChanged
    | ChatMessage
    | ConnectionChanged
    | RecordingChanged
    | AdminChanged
)


class Edit:
    """One submitted edit. `await edit` returns its version once stored, or raises.

    When the acknowledgement arrives folded into a snapshot (after a long
    disconnect) the exact version is unknown; the snapshot's version, an upper
    bound, is returned instead.
    """

    __slots__ = ("_future", "id", "seq")

    def __init__(self, seq: int, future: asyncio.Future[int], entity_id: str | None = None) -> None:
        self.seq = seq
        self.id = entity_id  # the new entity's id for add_* helpers
        self._future = future

    def __await__(self) -> Generator[Any, None, int]:
        return self._future.__await__()

    @property
    def done(self) -> bool:
        return self._future.done()

    def __repr__(self) -> str:
        return f"<Edit seq={self.seq} id={self.id!r} done={self.done}>"


# -- the session ----------------------------------------------------------------


@dataclass
class _Options:
    urls: list[str]
    session: str
    token: str
    name: str
    color: str | None
    reconnect: bool
    max_backoff: float
    open_timeout: float
    clock_interval: float = 1.0  # seconds between clock exchanges once synced
    clock_burst: int = 16  # exchanges right after connecting
    ssl: ssl_module.SSLContext | None = None  # for wss:// (None: the system's trust store)


class EventStream:
    """An async iterator over one subscriber's events; see `Session.events`."""

    def __init__(self, registry: list[EventStream]) -> None:
        self._registry = registry
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()  # None: the end
        self._done = False

    def put(self, event: Event) -> None:
        self._queue.put_nowait(event)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        event = await self._queue.get()
        if event is None:
            self._queue.put_nowait(None)  # stays ended for any later reader
            raise StopAsyncIteration
        if isinstance(event, ConnectionChanged) and event.state == "closed":
            self.close()
        return event

    def close(self) -> None:
        """Stop receiving events; already queued ones are still read, then iteration ends."""
        if not self._done:
            self._done = True
            self._registry.remove(self)
            self._queue.put_nowait(None)

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class Session:
    """A connected participant. Use `connect()` rather than constructing this."""

    def __init__(self, options: _Options) -> None:
        if not options.urls:
            raise ValueError("connect() needs at least one server URL")
        self._o = options
        self._url_index = 0
        self.client_id = ""
        self._resume = ""  # the resume key of client_id (from the welcome; never shown)
        self.role = Role.VIEWER
        self.replica = Replica(Document())
        self.peers: dict[str, dict[str, Any]] = {}
        self.chat_history: list[ChatMessage] = []
        self._ws: ClientConnection | None = None
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._salt = secrets.token_hex(2)
        self._outbox: dict[int, dict[str, Any]] = {}  # unacknowledged messages, by seq
        self._waiters: dict[int, asyncio.Future[int]] = {}
        self._subscribers: list[EventStream] = []
        self._version_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._reader: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closed = False
        self._fatal: BacklineError | None = None
        self._presence_pending: dict[str, Any] = {}
        self._presence_handle: asyncio.TimerHandle | None = None
        # the server's rate limits (announced in welcome): edits and chat are paced to them
        self.rates = {
            "edit": DEFAULT_LIMITS.edit,
            "presence": DEFAULT_LIMITS.presence,
            "chat": DEFAULT_LIMITS.chat,
        }
        self._edit_bucket = TokenBucket(_margin(self.rates["edit"]), 0.0)
        self._chat_bucket = TokenBucket(_margin(self.rates["chat"]), 0.0)
        self._unsent: deque[int] = deque()  # seqs of edits waiting for a token, in order
        self.locked = False
        """Read-only session: only owners may edit (an owner's `lock()`)."""
        self.viewer_audio = False
        """Viewers may send audio into the room (an owner's `allow_viewer_audio()`)."""
        self._requests: dict[int, asyncio.Future[None]] = {}  # admin requests awaiting done
        self._request_ids = itertools.count(1)
        self._pump_handle: asyncio.TimerHandle | None = None
        self.server_time_at_welcome = 0
        self._need_snapshot = False
        self.clock = Clock()
        """This client's estimate of the server clock (µs): `now()`, `offset`, `rtt`, `synced`."""
        self.timeline = SessionTimeline(lambda: self.replica.doc, self.clock)
        """The shared transport read through `clock`: `beat_at`, `time_at`, `next_bar`, …"""
        self._clock_task: asyncio.Task[None] | None = None
        self._audio: Any = None
        self.recording: dict[str, Any] | None = None
        """The server-side recording running now (its `recording` message), or None."""

    # -- state --------------------------------------------------------------

    @property
    def project(self) -> Document:
        """The live mirror: confirmed state plus my unacknowledged edits."""
        return self.replica.doc

    @property
    def version(self) -> int:
        """The last version confirmed by the server."""
        return self.replica.version

    @property
    def audio(self) -> SessionAudio:
        """The audio room: `publish(track)`, `mix()`, `set_gains()` (loads aiortc on first use)."""
        if self._audio is None:
            from backline.client.audio import SessionAudio

            self._audio = SessionAudio(self._send_now, self._o.name)
        audio: SessionAudio = self._audio
        return audio

    async def _send_now(self, message: dict[str, Any]) -> None:
        self._check_open()
        if self._ws is None:
            raise Unavailable("not connected")
        await self._ws.send(encode(message))

    @property
    def url(self) -> str:
        """The server this session is using (or trying) now."""
        return self._o.urls[self._url_index % len(self._o.urls)]

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def tracks(self) -> list[dict[str, Any]]:
        doc = self.project
        return [doc.tracks[t] for t in doc.track_order]

    # -- connection lifecycle ---------------------------------------------

    async def _open(self) -> None:
        """Connect and complete hello/welcome once; raises on failure."""
        o = self._o
        # websockets picks a default context for wss:// only when ssl is not passed at all
        tls: dict[str, Any] = {} if o.ssl is None else {"ssl": o.ssl}
        try:
            ws = await ws_connect(
                self.url,
                subprotocols=[Subprotocol(SUBPROTOCOL)],
                compression=None,
                open_timeout=o.open_timeout,
                max_size=None,
                ping_interval=20,
                ping_timeout=20,
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
        hello: dict[str, Any] = {
            "type": "hello",
            "session": o.session,
            "token": o.token,
            "name": o.name,
        }
        if o.color:
            hello["color"] = o.color
        if self.client_id:
            hello["client"] = self.client_id
            hello["resume"] = self._resume
            if not self._need_snapshot:
                hello["version"] = self.replica.version
        try:
            await ws.send(encode(hello))
            while True:
                raw = await asyncio.wait_for(ws.recv(), o.open_timeout)
                message = decode(raw) if isinstance(raw, bytes) else {}
                if message.get("type") == "welcome":
                    break
                if message.get("type") == "error":
                    # a refused token is followed by a close whose code says why
                    log.warning("server error before welcome: %s", message.get("message"))
        except ConnectionClosed as exc:
            raise self._close_error(exc) from None
        except TimeoutError:
            await ws.close()
            raise Unavailable("no welcome from the server in time") from None
        self._ws = ws
        self._on_welcome(message)
        self._start_clock(ws)
        self._unsent = deque(self._outbox)  # resend what was never acknowledged, in order
        self._connected.set()
        self._pump()
        self._emit(ConnectionChanged("connected"))

    def _close_error(self, exc: ConnectionClosed) -> BacklineError:
        code = exc.rcvd.code if exc.rcvd is not None else 1006
        reason = exc.rcvd.reason if exc.rcvd is not None else "connection lost"
        typed = _FATAL_CLOSE.get(code) or _FULL_CLOSE.get(code)
        if typed is not None:
            return typed(reason)
        return Unavailable(f"connection closed ({code} {reason})")

    def _on_welcome(self, message: dict[str, Any]) -> None:
        self.client_id = message["client"]
        self._resume = str(message.get("resume", ""))  # proves this identity on reconnect
        self.replica.client = self.client_id
        self.role = Role(message["role"])
        self.server_time_at_welcome = message["time"]
        self._set_rates(message.get("rates") or {})
        self.locked = bool(message.get("locked", False))
        self.viewer_audio = bool(message.get("viewer_audio", False))
        if message.get("batches") is not None:
            for wire in message["batches"]:
                self._confirm(Batch.from_wire(wire))
        else:
            doc = Document.from_data(message["snapshot"])
            acked = reset_replica(self.replica, doc, message["version"], message["seq"])
            self._need_snapshot = False
            for seq in acked:
                self._resolve(seq, message["version"])
        self.peers = {p["client"]: p for p in message["peers"] if p.get("online", True)}
        self.chat_history = [
            ChatMessage(c["by"], c["name"], c["text"], c["time"]) for c in message["chat"]
        ]
        self._wake_version_waiters()
        self.timeline.notice()

    def _set_rates(self, announced: dict[str, Any]) -> None:
        """Adopt the rates the server announced (kept: the defaults for any it did not)."""
        changed = False
        for kind in ("edit", "presence", "chat"):
            value = announced.get(kind)
            if isinstance(value, list) and len(value) == 2:
                rate = Rate(float(value[0]), int(value[1]))
                changed |= rate != self.rates[kind]
                self.rates[kind] = rate
        if changed:
            now = asyncio.get_running_loop().time()
            self._edit_bucket = TokenBucket(_margin(self.rates["edit"]), now)
            self._chat_bucket = TokenBucket(_margin(self.rates["chat"]), now)

    def _start_clock(self, ws: ClientConnection) -> None:
        """Sync the clock on this connection: a burst now, then every `clock_interval`."""
        if self._clock_task is not None:
            self._clock_task.cancel()
        self.clock.reset()  # a new connection may reach a server with another clock
        self._clock_task = asyncio.get_running_loop().create_task(self._sync_clock(ws))

    async def _sync_clock(self, ws: ClientConnection) -> None:
        o = self._o
        sent = 0
        with contextlib.suppress(ConnectionClosed):
            while True:
                ping: dict[str, Any] = {"type": "ping", "t0": self.clock.local()}
                if self.clock.synced:
                    ping["rtt"] = self.clock.rtt
                await ws.send(encode(ping))
                sent += 1
                # pacing, not synchronisation: exchanges spread over time sample more paths
                await asyncio.sleep(0.02 if sent < o.clock_burst else o.clock_interval)

    async def _run(self) -> None:
        """Read frames; on a drop, reconnect with backoff until closed or refused."""
        backoff = 0.05
        while not self._closed:
            ws = self._ws
            assert ws is not None
            try:
                async for raw in ws:
                    if isinstance(raw, bytes):
                        self._handle(decode(raw))
                exc: ConnectionClosed | None = None
            except ConnectionClosed as closed:
                exc = closed
            except BacklineError as desync:  # desync or undecodable frame: start over
                log.error("resyncing after %s", desync)
                self._need_snapshot = True
                await ws.close()
                exc = None
            self._connected.clear()
            self._fail_requests(Unavailable("connection lost before the answer (it may be done)"))
            if self._closed:
                break
            error = self._close_error(exc) if exc is not None else Unavailable("resync")
            if (
                type(error) in _FATAL_CLOSE.values()
                or not self._o.reconnect
                or (
                    exc is not None and exc.rcvd is not None and exc.rcvd.code == CloseCode.REPLACED
                )
            ):
                self._fail(error)
                return
            if (
                exc is not None
                and exc.rcvd is not None
                and exc.rcvd.code == CloseCode.SERVER_SHUTDOWN
            ):
                self._url_index += 1  # that server is going away: resume on the next one
            self._emit(ConnectionChanged("reconnecting", error.message))
            while not self._closed:
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, self._o.max_backoff)
                try:
                    await self._open()
                except Unauthorized as refused:
                    self._fail(refused)
                    return
                except BacklineError as failed:
                    log.info("reconnect to %s failed: %s", self.url, failed.message)
                    self._url_index += 1  # try the next server, if there are several
                    continue
                backoff = 0.05
                break

    def _fail(self, error: BacklineError) -> None:
        self._fatal = error
        self._closed = True
        self._fail_requests(error)
        for future in self._waiters.values():
            if not future.done():
                future.set_exception(error)
        self._emit(ConnectionChanged("closed", error.message))

    async def close(self) -> None:
        """Leave the session (unacknowledged edits are dropped)."""
        if self._closed and self._reader is None:
            return
        self._closed = True
        if self._presence_handle is not None:
            self._presence_handle.cancel()
        if self._pump_handle is not None:
            self._pump_handle.cancel()
        if self._clock_task is not None:
            self._clock_task.cancel()
        if self._audio is not None:
            await self._audio.stop()
        if self._ws is not None and self._ws.protocol.state is State.OPEN:
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(encode({"type": "bye"}))
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        error = Unavailable("session closed")
        self._fail_requests(error)
        for future in self._waiters.values():
            if not future.done():
                future.set_exception(error)
        self._emit(ConnectionChanged("closed", "closed by this client"))

    # -- incoming frames ----------------------------------------------------

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "rtc":
            if self._audio is not None:
                self._audio.answered(message["sdp"])
        elif kind == "pong":
            self.clock.add(message["t0"], message["t1"], message["t2"], self.clock.local())
        elif kind == "ops":
            for wire in message["batches"]:
                self._confirm(Batch.from_wire(wire))
            self._wake_version_waiters()
            self.timeline.notice()
        elif kind == "reject":
            seq = message["seq"]
            error = error_for_code(message["code"], message["message"])
            if self.replica.reject(seq) is not None or seq in self._outbox:
                self.timeline.notice()
                self._outbox.pop(seq, None)
                future = self._waiters.pop(seq, None)
                if future is not None and not future.done():
                    future.set_exception(error)
                self._emit(Rejected(seq, error))
        elif kind == "presence":
            for peer in message["peers"]:
                if peer["client"] == self.client_id:
                    continue
                if peer.get("online", True):
                    self.peers[peer["client"]] = peer
                else:
                    self.peers.pop(peer["client"], None)
            self._emit(PresenceChanged(dict(self.peers), message["peers"]))
        elif kind == "chat":
            chat = ChatMessage(message["by"], message["name"], message["text"], message["time"])
            self.chat_history.append(chat)
            del self.chat_history[:-100]
            self._emit(chat)
        elif kind == "recording":
            self.recording = message if message.get("active") else None
            if self._audio is not None:
                self._audio.recording_changed(message)
            self._emit(RecordingChanged(message))
        elif kind == "done":
            request = self._requests.pop(message["id"], None)
            if request is not None and not request.done():
                request.set_result(None)
        elif kind == "admin":
            self._admin(message)
        elif kind == "error":
            refused = self._requests.pop(message.get("id", 0), None)
            error = error_for_code(message["code"], message["message"])
            if refused is not None and not refused.done():
                refused.set_exception(error)
            else:
                log.warning("server error: %s: %s", error.code.value, error.message)
                if self._audio is not None:
                    self._audio.refused(message)

    def _admin(self, message: dict[str, Any]) -> None:
        action = message["action"]
        role = Role(message["role"]) if message.get("role") is not None else None
        if action == "role" and message.get("client") == self.client_id and role is not None:
            self.role = role
        if action == "lock":
            self.locked = bool(message["locked"])
        if action == "viewer_audio":
            self.viewer_audio = bool(message["allowed"])
        self._emit(
            AdminChanged(
                action,
                message["by"],
                message.get("client"),
                role,
                message.get("locked"),
                message.get("allowed"),
            )
        )

    def _fail_requests(self, error: BacklineError) -> None:
        requests, self._requests = self._requests, {}
        for future in requests.values():
            if not future.done():
                future.set_exception(error)

    def _confirm(self, batch: Batch) -> None:
        if batch.version <= self.replica.version:
            return  # already have it (catch-up overlap)
        mine = batch.by == self.client_id
        self.replica.confirm(batch)
        if mine:
            self._resolve(batch.seq, batch.version)
        self._emit(RemoteEdit(batch, mine))

    def _resolve(self, seq: int, version: int) -> None:
        self._outbox.pop(seq, None)
        future = self._waiters.pop(seq, None)
        if future is not None and not future.done():
            future.set_result(version)

    def _emit(self, event: Event) -> None:
        for stream in list(self._subscribers):
            stream.put(event)

    def _wake_version_waiters(self) -> None:
        keep = []
        for version, future in self._version_waiters:
            if self.replica.version >= version:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((version, future))
        self._version_waiters = keep

    # -- events and waiting -------------------------------------------------

    def events(self) -> EventStream:
        """Every event from this call on, in order, until the session closes.

        The stream subscribes at once, so events that happen before the first
        ``async for`` step are not missed. Close it (or use it as an async
        context manager) when you stop reading early; it is closed for you when
        the session closes.
        """
        stream = EventStream(self._subscribers)
        self._subscribers.append(stream)
        return stream

    async def wait_version(self, version: int) -> None:
        """Wait until the server's version `version` has been applied here."""
        if self.replica.version >= version:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._version_waiters.append((version, future))
        await future

    async def synced(self) -> None:
        """Wait until every edit sent so far was acknowledged or rejected."""
        pending = [f for f in self._waiters.values() if not f.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    # -- sending ----------------------------------------------------------------

    def _check_open(self) -> None:
        if self._fatal is not None:
            raise self._fatal
        if self._closed:
            raise Unavailable("session is closed")

    def _new_future(self, seq: int) -> asyncio.Future[int]:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        self._waiters[seq] = future
        return future

    def _post(self, message: dict[str, Any]) -> None:
        self._outbox[message["seq"]] = message
        self._unsent.append(message["seq"])
        self._pump()

    def _pump(self) -> None:
        """Send waiting edits in order, as fast as the server's edit rate allows."""
        if self._pump_handle is not None:
            return  # a send is already scheduled for when a token arrives
        ws = self._ws
        if ws is None or not self._connected.is_set():
            return  # resent from the outbox after reconnecting
        loop = asyncio.get_running_loop()
        while self._unsent:
            now = loop.time()
            if not self._edit_bucket.take(now):
                delay = self._edit_bucket.wait(now)
                self._pump_handle = loop.call_later(delay, self._pumped)
                return
            message = self._outbox.get(self._unsent.popleft())
            if message is not None:
                task = asyncio.ensure_future(_send_quietly(ws, encode(message)))
                _tasks.add(task)
                task.add_done_callback(_tasks.discard)

    def _pumped(self) -> None:
        self._pump_handle = None
        self._pump()

    def edit(self, ops: list[Op], entity_id: str | None = None) -> Edit:
        """Apply ops atomically here and send them; raises at once if invalid here."""
        self._check_open()
        if self.locked and self.role is not Role.OWNER:
            raise Locked("the session is locked: only owners may edit")
        seq = next(self._seq)
        # transport intents and tempo changes while playing: the server decides the exact
        # times; until its answer, this client's best guess is applied
        self.replica.local(seq, resolve(self.project, ops, int(self.clock.now()), DEFAULT_LEAD_US))
        self.timeline.notice()
        future = self._new_future(seq)
        self._post({"type": "op", "seq": seq, "ops": ops})
        return Edit(seq, future, entity_id)

    async def undo(self) -> int:
        """Undo my last edit (as a new edit); returns its version. Raises NothingToUndo."""
        return await self._history("undo")

    async def redo(self) -> int:
        return await self._history("redo")

    async def _history(self, kind: str) -> int:
        self._check_open()
        seq = next(self._seq)
        self.replica.track(seq)
        future = self._new_future(seq)
        self._post({"type": kind, "seq": seq})
        return await future

    def new_id(self) -> str:
        """A fresh entity id no other client can produce."""
        return f"{self.client_id}:{self._salt}{next(self._ids):x}"

    # -- musical helpers ------------------------------------------------------

    def set(self, entity_id: str, field: str, value: Any) -> Edit:
        """Set one field (last writer wins): `s.set(track, "volume", 0.8)`."""
        return self.edit([{"op": "set", "id": entity_id, "field": field, "value": value}])

    # -- transport ------------------------------------------------------------

    def play(self) -> Edit:
        """Start everyone together: on the next bar line, a lead time ahead (the server
        picks the time; 200 ms or more when someone's connection is slow)."""
        return self.edit([{"op": "play"}])

    def stop(self) -> Edit:
        """Stop where the music is now."""
        return self.edit([{"op": "stop"}])

    def seek(self, beat: float) -> Edit:
        """Move the playhead to ``beat`` (quarter notes from 0); while playing, everyone
        continues from there after the lead time."""
        return self.edit([{"op": "seek", "beat": float(beat)}])

    def beats(self, subdivision: int = 1, lookahead: float = 0.0) -> AsyncIterator[Tick]:
        """Ticks on the shared grid while playing; see `SessionTimeline.beats`."""
        return self.timeline.beats(subdivision, lookahead)

    def set_tempo(self, bpm: float) -> Edit:
        return self.set(PROJECT_ID, "tempo", float(bpm))

    def set_meter(self, numerator: int, denominator: int) -> Edit:
        return self.set(PROJECT_ID, "meter", [numerator, denominator])

    def set_swing(self, amount: float) -> Edit:
        return self.set(PROJECT_ID, "swing", float(amount))

    def set_key(self, key: str) -> Edit:
        return self.set(PROJECT_ID, "key", key)

    def set_loop(self, start: int, end: int, on: bool = True) -> Edit:
        """Loop region in ticks (960 per quarter note)."""
        return self.set(PROJECT_ID, "loop", {"start": start, "end": end, "on": on})

    def add_track(
        self,
        name: str = "Track",
        *,
        kind: str = "instrument",
        index: int | None = None,
        **fields: Any,
    ) -> Edit:
        """Add a track (kind: drums, instrument or audio); `edit.id` is its id."""
        entity_id = self.new_id()
        op: Op = {
            "op": "insert",
            "kind": "track",
            "id": entity_id,
            "value": {"name": name, "kind": kind, **fields},
        }
        if index is not None:
            op["index"] = index
        return self.edit([op], entity_id)

    def add_pattern(
        self,
        track: str,
        *,
        sounds: Sequence[int] = (),
        length: int = 16,
        steps_per_beat: int = 4,
        name: str = "Pattern",
    ) -> Edit:
        """A step pattern with one empty lane per sound (GM drum note numbers)."""
        entity_id = self.new_id()
        lanes = [{"sound": sound, "steps": [0] * length} for sound in sounds]
        value = {
            "track": track,
            "name": name,
            "length": length,
            "steps_per_beat": steps_per_beat,
            "lanes": lanes,
        }
        return self.edit(
            [{"op": "insert", "kind": "pattern", "id": entity_id, "value": value}], entity_id
        )

    def set_step(self, pattern: str, lane: int, step: int, velocity: int = 100) -> Edit:
        """Set one step's velocity (0 turns it off)."""
        op: Op = {
            "op": "set",
            "id": pattern,
            "field": "steps",
            "at": [lane, step],
            "value": velocity,
        }
        return self.edit([op])

    def add_note(
        self, track: str, pitch: int, start: int, dur: int = PPQ // 4, vel: int = 100
    ) -> Edit:
        """A note; `start` and `dur` in ticks (960 per quarter note)."""
        entity_id = self.new_id()
        value = {"track": track, "pitch": pitch, "start": start, "dur": dur, "vel": vel}
        return self.edit(
            [{"op": "insert", "kind": "note", "id": entity_id, "value": value}], entity_id
        )

    def add_clip(self, track: str, pattern: str, start: int, length: int | None = None) -> Edit:
        entity_id = self.new_id()
        value: dict[str, Any] = {"track": track, "pattern": pattern, "start": start}
        if length is not None:
            value["length"] = length
        return self.edit(
            [{"op": "insert", "kind": "clip", "id": entity_id, "value": value}], entity_id
        )

    def move_track(self, track: str, index: int) -> Edit:
        return self.edit([{"op": "move", "id": track, "index": index}])

    def remove(self, entity_id: str) -> Edit:
        """Delete an entity; a track takes its patterns, clips and notes with it."""
        return self.edit([{"op": "delete", "id": entity_id}])

    # -- owners: admin controls ---------------------------------------------------

    async def kick(self, client: str) -> None:
        """Close every connection of participant `client` (close 4012; their SDK stops).

        Owners only (`Forbidden` otherwise); `NotFound` when nobody of that id is
        connected. A kick is not a ban: with a valid token they may join again;
        `set_role(client, "viewer")` first to keep them from editing.
        """
        await self._request({"type": "kick", "client": client})

    async def set_role(self, client: str, role: Role | str) -> None:
        """Give participant `client` another role in this session, at once on every server.

        Owners only. It applies to that participant's identity (client id), also
        when they reconnect later, and survives restarts.
        """
        await self._request({"type": "role", "client": client, "role": Role(role).value})

    async def lock(self, locked: bool = True) -> None:
        """Make the session read-only (only owners may edit), or writable with ``False``."""
        await self._request({"type": "lock", "locked": locked})

    async def allow_viewer_audio(self, allowed: bool = True) -> None:
        """Let viewers send audio into the room (they listen only by default), or stop it.

        Stopping applies at once; a viewer starts being heard when it next joins the
        audio room (its client negotiates sending then).
        """
        await self._request({"type": "viewer_audio", "allowed": allowed})

    async def delete_session(self) -> None:
        """Close everyone (close 4013) and erase the session; a later join starts empty."""
        await self._request({"type": "delete"})

    async def _request(self, message: dict[str, Any]) -> None:
        """Send an admin request and wait for its `done`; raises the typed refusal."""
        self._check_open()
        ws = self._ws
        if ws is None or not self._connected.is_set():
            raise Unavailable("not connected; admin requests are not queued for a reconnect")
        request = next(self._request_ids)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._requests[request] = future
        try:
            await ws.send(encode({**message, "id": request}))
        except ConnectionClosed:
            self._requests.pop(request, None)
            raise Unavailable("connection lost before the request was sent") from None
        await future

    # -- presence and chat ------------------------------------------------------

    def set_presence(self, **state: Any) -> None:
        """Update my presence (cursor, selection, listening, playing, name, color).

        Coalesced: at most about 30 updates per second reach the server.
        """
        self._presence_pending.update(state)
        if self._presence_handle is None:
            loop = asyncio.get_running_loop()
            rate = self.rates["presence"].per_second
            interval = 1 / 30 if rate == 0 else max(1 / 30, 1 / rate)
            self._presence_handle = loop.call_later(interval, self._flush_presence)

    def _flush_presence(self) -> None:
        self._presence_handle = None
        state, self._presence_pending = self._presence_pending, {}
        ws = self._ws
        if state and ws is not None and self._connected.is_set():
            task = asyncio.ensure_future(
                _send_quietly(ws, encode({"type": "presence", "state": state}))
            )
            _tasks.add(task)
            task.add_done_callback(_tasks.discard)

    async def chat(self, text: str) -> None:
        """Post to the session's chat (paced to the server's chat rate)."""
        self._check_open()
        loop = asyncio.get_running_loop()
        while not self._chat_bucket.take(loop.time()):
            await asyncio.sleep(self._chat_bucket.wait(loop.time()))  # pacing to the rate
        if self._ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(encode({"type": "chat", "text": text}))


_tasks: set[asyncio.Future[None]] = set()


def _margin(rate: Rate) -> Rate:
    """A little under the server's rate: frames the network bunches up still fit its bucket."""
    if rate.unlimited:
        return rate
    return Rate(rate.per_second * 0.9, max(1, int(rate.burst * 0.9)))


def _retrieve(future: asyncio.Future[int]) -> None:
    """Mark a rejected edit's exception as seen: rejects also arrive as events."""
    if not future.cancelled():
        future.exception()


async def _send_quietly(ws: ClientConnection, data: bytes) -> None:
    """Send, ignoring a closed connection: the outbox resends after reconnecting."""
    with contextlib.suppress(ConnectionClosed):
        await ws.send(data)


@contextlib.asynccontextmanager
async def connect(
    url: str | Sequence[str],
    *,
    session: str,
    token: str,
    name: str = "python",
    color: str | None = None,
    reconnect: bool = True,
    max_backoff: float = 5.0,
    open_timeout: float = 10.0,
    clock_interval: float = 1.0,
    ssl: ssl_module.SSLContext | None = None,
) -> AsyncIterator[Session]:
    """Join `session` at `url` (``ws://host:port``) and keep a live mirror of it.

    Raises `Unauthorized` (BadToken, TokenExpired, WrongSession) when the token
    is refused and `Unavailable` when the server cannot be reached. With several
    URLs (processes serving the same sessions), the first that answers is used
    and a dropped connection resumes on the next. ``clock_interval`` is the time
    between clock-sync exchanges once synced. ``ssl`` is the TLS context for
    ``wss://`` URLs (e.g. one trusting a self-signed certificate); by default
    the system's trust store is used.
    """
    s = Session(
        _Options(
            [url] if isinstance(url, str) else list(url),
            session,
            token,
            name,
            color,
            reconnect,
            max_backoff,
            open_timeout,
            clock_interval,
            ssl=ssl,
        )
    )
    for attempt in range(len(s._o.urls)):
        try:
            await s._open()
            break
        except (Unavailable, ServerFull):  # another process may have room
            if attempt == len(s._o.urls) - 1:
                raise
            s._url_index += 1
    s._reader = asyncio.get_running_loop().create_task(s._run(), name=f"backline reader {session}")
    try:
        yield s
    finally:
        await s.close()
