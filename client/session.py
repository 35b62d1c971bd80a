"""The Python SDK: a live, optimistic mirror of one session's project.

    async with connect(url, session="jam", token=token, name="bot") as s:
        drums = s.add_track("Drums", kind="drums")
        await s.set_tempo(96)            # awaiting an edit waits for the server's ack

Edits apply locally at once and are sent; `await`-ing the returned `Edit`
waits for the acknowledgement (the server stored it) and raises the typed
`BacklineError` if the server rejected it. The connection heals itself:
after a drop the SDK reconnects with backoff, catches up from its last
version and resends what was never acknowledged.

`Session` is the facade; each job is a collaborator with its own state:

- `connection.Connection`: the websocket, hello/welcome, clock pings,
  reconnect and resume, the server URLs; its `ConnectionState`;
- `mirror.Mirror`: the optimistic replica, the outbox, acks and rejects,
  version waiters; `pacing.EditPump` sends the outbox at the server's rate;
- `peers.Peers`: presence and chat; `admin.Admin`: owners' requests, role, lock;
- `editing.Editing` (a base class): the musical helpers;
- `events.Subscribers`: every event, in order, to every `events()` stream.

Incoming frames reach their collaborator through one table keyed by
`ServerType` (`Session._handlers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import secrets
import ssl as ssl_module
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection

from backline.client import events as _events
from backline.client.admin import Admin
from backline.client.clock import Clock
from backline.client.connection import Connection, ConnectionState, Hooks, Options
from backline.client.editing import Editing
from backline.client.events import *  # noqa: F403  (the event types belong to this facade)
from backline.client.events import (
    ChatMessage,
    ConnectionChanged,
    EventStream,
    LiveNoteEvent,
    RecordingChanged,
    Subscribers,
)
from backline.client.history import SessionHistory
from backline.client.httpapi import invite_link
from backline.client.mirror import Edit, Mirror
from backline.client.musical_time import SessionTimeline, Tick
from backline.client.pacing import EditPump, Pacing
from backline.client.peers import Peers
from backline.protocol.codec import encode
from backline.protocol.errors import (
    BacklineError,
    BadImport,
    Locked,
    TooLarge,
    Unavailable,
    error_for_code,
)
from backline.protocol.limits import DEFAULT_LIMITS
from backline.protocol.messages import (
    DEFAULT_INVITE_TTL,
    ClientType,
    Role,
    ServerType,
    parse_client,
)
from backline.protocol.model import Document, check_id
from backline.protocol.ops import Op
from backline.protocol.ratelimit import Rate
from backline.protocol.replica import Replica
from backline.protocol.smf import project_midi
from backline.protocol.timeline import DEFAULT_LEAD_US
from backline.protocol.transport import resolve

if TYPE_CHECKING:
    from backline.client.audio import SessionAudio

__all__ = ["ConnectionState", "Edit", "Session", "connect"]
__all__ += _events.__all__

log = logging.getLogger("backline.client")

_LOST = "connection lost before the answer (it may be done)"


class Session(Editing):
    """A connected participant. Use `connect()` rather than constructing this."""

    def __init__(self, options: Options) -> None:
        self._events = Subscribers()
        self.clock = Clock()
        """This client's estimate of the server clock (µs): `now()`, `offset`, `rtt`, `synced`."""
        self._mirror = Mirror(self._events.emit, self._notice)
        self.timeline = SessionTimeline(lambda: self._mirror.replica.doc, self.clock)
        """The shared transport read through `clock`: `beat_at`, `time_at`, `next_bar`, …"""
        self._conn = Connection(
            options,
            self.clock,
            Hooks(lambda: self._mirror.version, self._welcomed, self._received, self._changed),
        )
        self._pacing = Pacing()
        self._pump = EditPump(self._mirror, self._pacing, self._conn)
        self._peers = Peers(self._conn, self._pacing, self._events.emit)
        self._admin = Admin(self._conn, self._events.emit)
        self._o = options  # what connect() was given (the bundled bots log its session)
        self._ids = itertools.count(1)
        self._salt = secrets.token_hex(2)
        self._audio: SessionAudio | None = None
        self.history = SessionHistory(self._admin.request, self._restore)
        """The session's past: `at(version | time)`, `versions()`, `diff()`, `blame()`,
        `label()`, `restore()` (editors and owners)."""
        self.server_time_at_welcome = 0
        self.ice_servers: list[dict[str, Any]] = []
        """The STUN/TURN servers (with this client's credentials) of the latest welcome."""
        self.recording: dict[str, Any] | None = None
        """The server-side recording running now (its `recording` message), or None."""
        self._handlers: dict[ServerType, Callable[[dict[str, Any]], None]] = {
            ServerType.OPS: self._mirror.on_ops,
            ServerType.REJECT: self._mirror.on_reject,
            ServerType.PRESENCE: self._peers.on_presence,
            ServerType.CHAT: self._peers.on_chat,
            ServerType.PONG: self._conn.on_pong,
            ServerType.DONE: self._admin.on_done,
            ServerType.ACCESS: self._admin.on_done,
            ServerType.HISTORY: self._admin.on_done,
            ServerType.ADMIN: self._admin.on_admin,
            ServerType.ERROR: self._on_error,
            ServerType.RTC: self._on_rtc,
            ServerType.RECORDING: self._on_recording,
            ServerType.LIVE: self._on_live,
        }
        """Where each frame goes once joined (a `welcome` only answers a hello)."""

    # -- state --------------------------------------------------------------

    @property
    def project(self) -> Document:
        """The live mirror: confirmed state plus my unacknowledged edits."""
        return self._mirror.replica.doc

    def export_midi(self, chord_notes: bool = False) -> bytes:
        """The project as a Standard MIDI File: what the arrangement plays (clips, notes,
        swing) and the chord track as markers (`chord_notes`: also as a track of notes),
        byte for byte what the browser's Export MIDI writes."""
        return project_midi(self.project, chord_notes)

    @property
    def replica(self) -> Replica:
        return self._mirror.replica

    @property
    def version(self) -> int:
        """The last version confirmed by the server."""
        return self._mirror.version

    @property
    def client_id(self) -> str:
        """This participant's id in the session (kept across reconnects)."""
        return self._conn.client_id

    @property
    def color(self) -> str:
        """My colour as others see it: the one asked for, or the one the session handed
        out (a colour nobody else online wore when I joined)."""
        return self._conn.color

    @property
    def role(self) -> Role:
        return self._admin.role

    @property
    def locked(self) -> bool:
        """Read-only session: only owners may edit (an owner's `lock()`)."""
        return self._admin.locked

    @property
    def viewer_audio(self) -> bool:
        """Viewers may send audio into the room (an owner's `allow_viewer_audio()`)."""
        return self._admin.viewer_audio

    @property
    def peers(self) -> dict[str, dict[str, Any]]:
        """Client id -> presence of every other participant online now."""
        return self._peers.online

    @property
    def chat_history(self) -> list[ChatMessage]:
        """The recent chat (the last 100 messages), oldest first."""
        return self._peers.history

    @property
    def rates(self) -> dict[str, Rate]:
        """The server's rate limits (edit, presence, chat); the SDK paces itself to them."""
        return self._pacing.rates

    @property
    def audio(self) -> SessionAudio:
        """The audio room: `publish(track)`, `mix()`, `set_gains()` (loads aiortc on first use)."""
        if self._audio is None:
            from backline.client.audio import SessionAudio

            self._audio = SessionAudio(
                self._conn.send, self._o.name, ice_servers=lambda: self.ice_servers
            )
        return self._audio

    @property
    def url(self) -> str:
        """The server this session is using (or trying) now."""
        return self._conn.url

    @property
    def state(self) -> ConnectionState:
        """Where the connection is: connecting, connected, reconnecting or closed."""
        return self._conn.state

    @property
    def connected(self) -> bool:
        return self._conn.connected

    @property
    def _ws(self) -> ClientConnection | None:
        """The current websocket (tests drop the network through its transport)."""
        return self._conn.ws

    def tracks(self) -> list[dict[str, Any]]:
        doc = self.project
        return [doc.tracks[t] for t in doc.track_order]

    # -- what the connection reports ------------------------------------------

    def _welcomed(self, welcome: dict[str, Any]) -> None:
        self.server_time_at_welcome = welcome["time"]
        self.ice_servers = list(welcome.get("ice_servers") or [])
        self._pacing.adopt(welcome.get("rates") or {})
        self._admin.welcomed(welcome)
        self._mirror.welcomed(welcome)
        self._peers.welcomed(welcome)

    def _received(self, message: dict[str, Any]) -> None:
        try:
            handler = self._handlers[ServerType(message["type"])]
        except (ValueError, KeyError):
            log.debug("ignoring a %r frame", message["type"])
            return
        handler(message)

    def _changed(self, state: ConnectionState, error: BacklineError | None) -> None:
        if state is ConnectionState.CONNECTED:
            self._pump.resend()  # what was never acknowledged, in order
            self._events.emit(ConnectionChanged(state))
            return
        assert error is not None
        self._admin.fail(Unavailable(_LOST))
        if state is ConnectionState.CLOSED:
            self._mirror.fail(error)
        self._events.emit(ConnectionChanged(state, error.message))

    def _notice(self) -> None:
        self.timeline.notice()

    def _on_error(self, message: dict[str, Any]) -> None:
        error = error_for_code(message["code"], message["message"])
        if not self._admin.refused(message.get("id", 0), error):
            log.warning("server error: %s: %s", error.code.value, error.message)
            if self._audio is not None:
                self._audio.refused(message)

    def _on_rtc(self, message: dict[str, Any]) -> None:
        if self._audio is None:
            return
        if message.get("reoffer"):
            self._audio.reoffer()  # the room moved to another process
        else:
            self._audio.answered(message["sdp"])

    def _on_recording(self, message: dict[str, Any]) -> None:
        self.recording = message if message.get("active") else None
        if self._audio is not None:
            self._audio.recording_changed(message)
        self._events.emit(RecordingChanged(message))

    # -- lifecycle ----------------------------------------------------------

    async def close(self) -> None:
        """Leave the session (unacknowledged edits are dropped)."""
        if self._conn.finished:
            return
        self._peers.cancel()
        self._pump.cancel()
        if self._audio is not None:
            await self._audio.stop()
        await self._conn.close()
        error = Unavailable("session closed")
        self._admin.fail(error)
        self._mirror.fail(error)
        self._events.emit(ConnectionChanged(ConnectionState.CLOSED, "closed by this client"))

    # -- events and waiting -------------------------------------------------

    def events(self) -> EventStream:
        """Every event from this call on, in order, until the session closes.

        The stream subscribes at once, so events that happen before the first
        ``async for`` step are not missed. Close it (or use it as an async
        context manager) when you stop reading early; it is closed for you when
        the session closes.
        """
        return self._events.subscribe()

    async def wait_version(self, version: int) -> None:
        """Wait until the server's version `version` has been applied here."""
        await self._mirror.wait_version(version)

    async def synced(self) -> None:
        """Wait until every edit sent so far was acknowledged or rejected."""
        await self._mirror.synced()

    def beats(self, subdivision: int = 1, lookahead: float = 0.0) -> AsyncIterator[Tick]:
        """Ticks on the shared grid while playing; see `SessionTimeline.beats`."""
        return self.timeline.beats(subdivision, lookahead)

    # -- editing ----------------------------------------------------------------

    def edit(self, ops: list[Op], entity_id: str | None = None) -> Edit:
        """Apply ops atomically here and send them; raises at once if invalid here."""
        self._conn.check_open()
        if self.locked and self.role is not Role.OWNER:
            raise Locked("the session is locked: only owners may edit")
        edit = self._mirror.edit(ops, self._guess, entity_id)
        self._pump.post(edit.seq)
        return edit

    def _guess(self, ops: list[Op]) -> list[Op]:
        # transport intents and tempo changes while playing: the server decides the exact
        # times; until its answer, this client's best guess is applied
        return resolve(self.project, ops, int(self.clock.now()), DEFAULT_LEAD_US)

    async def undo(self) -> int:
        """Undo my last edit (as a new edit); returns its version. Raises NothingToUndo."""
        return await self._history(ClientType.UNDO)

    async def redo(self) -> int:
        return await self._history(ClientType.REDO)

    async def _history(self, kind: ClientType) -> int:
        self._conn.check_open()
        edit = self._mirror.history(kind)
        self._pump.post(edit.seq)
        return await edit

    def _decided(self, kind: ClientType, **fields: Any) -> Edit:
        self._conn.check_open()
        size = len(encode({"type": kind.value, "seq": 0, **fields}))
        if size > DEFAULT_LIMITS.max_frame_bytes:  # the server would refuse the frame whole
            raise TooLarge(
                f"{size} bytes: one message may carry at most"
                f" {DEFAULT_LIMITS.max_frame_bytes // 1024} KiB (a server's --max-frame-bytes)"
            )
        if self.locked and self.role is not Role.OWNER:
            raise Locked("the session is locked: only owners may edit")
        edit = self._mirror.decided(kind, fields)
        self._pump.post(edit.seq)
        return edit

    def _restore(self, version: int) -> Edit:
        return self._decided(ClientType.RESTORE, version=version)

    def import_midi(self, data: bytes | str | os.PathLike[str], *, name: str = "") -> Edit:
        """Add a Standard MIDI File's tracks, notes, tempo and meter to the project as one
        undoable edit (the server parses it: a bad file is refused as `bad_import`)."""
        if not isinstance(data, bytes):
            path = Path(data)
            name = name or path.name
            data = path.read_bytes()
        return self._decided(ClientType.IMPORT, format="midi", data=data, name=name)

    def import_project(
        self, project: dict[str, Any] | str | os.PathLike[str], *, name: str = ""
    ) -> Edit:
        """Make the project equal to a project file (the JSON the page or `backline state`
        exports: a path, or the parsed object) as one undoable edit."""
        if not isinstance(project, dict):
            path = Path(project)
            name = name or path.name
            project = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(project, dict):
            raise BadImport("a project file holds a JSON object")
        return self._decided(ClientType.IMPORT, format="project", project=project, name=name)

    async def fork(self, session: str, *, version: int | None = None) -> dict[str, Any]:
        """Copy the project at `version` (None: now) into the new session `session`, which
        credits this one; returns ``session``, ``version``, ``token`` (an owner's, for the
        fork) and ``link``. Refused with `session_exists` when that name is taken."""
        fields: dict[str, Any] = {"session": session}
        if version is not None:
            fields["version"] = version
        answer = await self._admin.request(ClientType.FORK, **fields)
        out = {k: v for k, v in answer.items() if k not in ("type", "id")}
        if not out.get("link"):
            out["link"] = invite_link(self.url, session, str(answer["token"]))
        return out

    def new_id(self) -> str:
        """A fresh entity id no other client can produce."""
        return f"{self.client_id}:{self._salt}{next(self._ids):x}"

    # -- owners: admin controls ---------------------------------------------------

    async def kick(self, client: str) -> None:
        """Close every connection of participant `client` (close 4012; their SDK stops).

        Owners only (`Forbidden` otherwise); `NotFound` when nobody of that id is
        connected. A kick is not a ban: with a valid token they may join again;
        `set_role(client, "viewer")` first to keep them from editing.
        """
        await self._admin.request(ClientType.KICK, client=client)

    async def set_role(self, client: str, role: Role | str) -> None:
        """Give participant `client` another role in this session, at once on every server.

        Owners only. It applies to that participant's identity (client id), also
        when they reconnect later, and survives restarts.
        """
        await self._admin.request(ClientType.ROLE, client=client, role=Role(role).value)

    async def lock(self, locked: bool = True) -> None:
        """Make the session read-only (only owners may edit), or writable with ``False``."""
        await self._admin.request(ClientType.LOCK, locked=locked)

    async def allow_viewer_audio(self, allowed: bool = True) -> None:
        """Let viewers send audio into the room (they listen only by default), or stop it.

        Stopping applies at once; a viewer starts being heard when it next joins the
        audio room (its client negotiates sending then).
        """
        await self._admin.request(ClientType.VIEWER_AUDIO, allowed=allowed)

    async def delete_session(self) -> None:
        """Close everyone (close 4013) and erase the session; a later join starts empty."""
        await self._admin.request(ClientType.DELETE)

    async def invite(
        self,
        role: Role | str = Role.EDITOR,
        *,
        name: str = "",
        expires_in: int = DEFAULT_INVITE_TTL,
        uses: int = 1,
    ) -> dict[str, Any]:
        """Create a personal invite (owners): a token for `role` that `uses` people may
        join with until `expires_in` seconds from now (a week by default).

        Returns ``invite`` (its id, for `revoke`), ``token``, ``link`` (the page's
        address with session and token, to send), ``role``, ``name``, ``expires``
        (unix seconds) and ``uses``. The first join of each person spends a use;
        a later one of the same person (their identity resumed) does not.
        """
        answer = await self._admin.request(
            ClientType.INVITE, role=Role(role).value, name=name, expires_in=expires_in, uses=uses
        )
        fields = {k: v for k, v in answer.items() if k not in ("type", "id")}
        if not fields.get("link"):  # the server's --public-url, else this connection's
            fields["link"] = invite_link(self.url, self._o.session, str(answer["token"]))
        return fields

    async def access(self) -> dict[str, list[dict[str, Any]]]:
        """Who holds access (owners): ``invites`` (id, role, name, by, created µs, expires,
        uses, used, revoked) and ``people`` (client, name, role, invite, token id, online,
        revoked): everyone who came in with an invite and everyone connected now."""
        answer = await self._admin.request(ClientType.ACCESS)
        return {"invites": answer["invites"], "people": answer["people"]}

    async def revoke(
        self, *, client: str | None = None, invite: str | None = None, token: str | None = None
    ) -> None:
        """Revoke one person (`client`: their identity, and their token unless it is a
        shared invite's), one `invite` (and everyone who joined with it) or one `token` id
        (e.g. an old owner link). Owners only; at once on every server: their
        connections close (4405, `Revoked`) and every later join or download is refused.
        """
        given = {k: v for k, v in (("client", client), ("invite", invite), ("token", token)) if v}
        await self._admin.request(ClientType.REVOKE, **given)

    # -- presence and chat ------------------------------------------------------

    def set_presence(self, **state: Any) -> None:
        """Update my presence (cursor, selection, listening, playing, name, color).

        Coalesced: at most about 30 updates per second reach the server.
        """
        self._peers.set_presence(state)

    # -- live notes: played now, heard by everyone, not versioned --------------------

    async def play_note(
        self, pitch: int, vel: int = 100, *, track: str | None = None, duration: float | None = None
    ) -> None:
        """Play `pitch` now for everyone (they hear it with `track`'s instrument); with
        `duration` (seconds) release it after that long, else call `release_note`. Paced to
        the server's live-note rate; raises `Unavailable` while disconnected (a live note is
        never sent late) and `BadField` / `OutOfRange` for a pitch or velocity out of range."""
        await self._live({"event": "on", "pitch": pitch, "vel": vel, "track": track})
        if duration is not None:
            await asyncio.sleep(duration)
            await self.release_note(pitch, track=track)

    async def release_note(self, pitch: int, *, track: str | None = None) -> None:
        await self._live({"event": "off", "pitch": pitch, "track": track})

    async def bend(self, value: float, *, track: str | None = None) -> None:
        """The pitch wheel, -1 (down) to 1 (up), 0 at rest (two semitones each way)."""
        await self._live({"event": "bend", "value": value, "track": track})

    async def sustain(self, on: bool, *, track: str | None = None) -> None:
        """The sustain pedal: notes released while it is down ring until it comes up."""
        await self._live({"event": "sustain", "on": on, "track": track})

    def live_notes(self) -> AsyncIterator[LiveNoteEvent]:
        """The live notes the others play, from now on (`LiveNoteEvent`s of `events()`)."""

        async def notes() -> AsyncIterator[LiveNoteEvent]:
            async with self.events() as events:
                async for event in events:
                    if isinstance(event, LiveNoteEvent):
                        yield event

        return notes()

    async def _live(self, fields: dict[str, Any]) -> None:
        message = {"type": ClientType.LIVE.value, **fields}
        parse_client(message)  # refused here as the server would refuse it
        self._conn.check_open()
        if not self._conn.connected:
            raise Unavailable("not connected; live notes are not queued for a reconnect")
        await self._pacing.live_turn()
        await self._conn.send(message)

    def _on_live(self, message: dict[str, Any]) -> None:
        fields = {k: message.get(k) for k in ("pitch", "vel", "value", "on")}
        delay = self.clock.now() - float(message["time"])
        self._events.emit(
            LiveNoteEvent(
                str(message["by"]),
                str(message["event"]),
                message.get("track"),
                int(message["time"]),
                delay,
                **fields,
            )
        )

    async def chat(self, text: str) -> None:
        """Post to the session's chat (paced to the server's chat rate).

        Raises `Unavailable` while not connected (and if the connection drops
        before the message is sent): unlike edits, chat is not queued for a
        reconnect, so a message never arrives late or twice.
        """
        await self._peers.chat(text)


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
    the system's trust store is used. A session name that is not an id is
    refused at once (`BadField`), before any connection.
    """
    check_id(session, name="session")
    s = Session(
        Options(
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
    await s._conn.open()
    s._conn.start()
    try:
        yield s
    finally:
        await s.close()
