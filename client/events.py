"""What a session tells its subscribers: the event types and the stream that yields them.

`Session.events()` hands out an `EventStream`; every collaborator of the session
reports through one `Subscribers.emit`, so each stream sees every event in the
order it happened.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from backline.client.connection import ConnectionState
from backline.protocol.errors import BacklineError
from backline.protocol.messages import Batch, Role

__all__ = [
    "AdminChanged",
    "ChatMessage",
    "ConnectionChanged",
    "Event",
    "EventStream",
    "LiveNoteEvent",
    "PresenceChanged",
    "RecordingChanged",
    "Rejected",
    "RemoteEdit",
]  # and `Subscribers`, the session's own


@dataclass(frozen=True, slots=True)
class RemoteEdit:
    """A batch the server accepted (`mine` when this client authored it)."""

    batch: Batch
    mine: bool


@dataclass(frozen=True, slots=True)
class Rejected:
    """The server refused my edit `seq`; it was already rolled back locally."""

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
    time: int  # server clock, µs
    # When it was sent, Unix ms (the server's wall clock); None in old history.
    wall: int | None = None


@dataclass(frozen=True, slots=True)
class LiveNoteEvent:
    """Someone played now (not an edit): `event` on (pitch, vel), off (pitch), bend (value
    -1..1) or sustain (on), on `track`; `time` is when the server relayed it (server µs)
    and `delay_us` how long ago that was on arrival, by this client's synced clock."""

    by: str
    event: str
    track: str | None
    time: int
    delay_us: float
    pitch: int | None = None
    vel: int | None = None
    value: float | None = None
    on: bool | None = None


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    """The connection entered `state` (connected, reconnecting or closed), and why."""

    state: ConnectionState  # a `StrEnum`: ``event.state == "closed"`` holds too
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
    | LiveNoteEvent
)


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
        if isinstance(event, ConnectionChanged) and event.state == ConnectionState.CLOSED:
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


class Subscribers:
    """The open event streams of one session; `emit` gives each of them the event."""

    def __init__(self) -> None:
        self._streams: list[EventStream] = []

    def subscribe(self) -> EventStream:
        stream = EventStream(self._streams)
        self._streams.append(stream)
        return stream

    def emit(self, event: Event) -> None:
        for stream in list(self._streams):
            stream.put(event)
