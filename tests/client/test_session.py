"""The facade (`backline.client.session`): where each frame goes, and what the session
does when the connection is down.

Frames are built by the server's own builders (`backline.protocol.frames`) and
handed to the session as its connection would, with no socket; what crosses
the wire (chat and admin requests while disconnected, the states in events)
runs against a real server process.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest

from backline.client import (
    AdminChanged,
    ChatMessage,
    ConnectionChanged,
    ConnectionState,
    Event,
    EventStream,
    PresenceChanged,
    RecordingChanged,
    Rejected,
    RemoteEdit,
    Session,
    connect,
)
from backline.client.connection import Options
from backline.protocol import frames
from backline.protocol.codec import decode
from backline.protocol.errors import ErrorCode, Forbidden, Unavailable
from backline.protocol.messages import Batch, Role, ServerType
from backline.protocol.model import PROJECT_ID
from backline.testing import ServerProcess, eventually

SESSION = "facade"
TEMPO = {"op": "set", "id": PROJECT_ID, "field": "tempo", "value": 100.0}


def offline() -> Session:
    """A session that never connects: frames are handed to it directly."""
    return Session(Options(["ws://127.0.0.1:9"], SESSION, "t", "me", None, True, 1.0, 1.0))


def join(s: Session, client: str = "me") -> None:
    """What the connection does with a welcome: take the identity, hand the rest over."""
    s._conn.client_id = client
    s._welcomed(welcome(client))


def welcome(client: str) -> dict[str, Any]:
    fields = {
        "session": SESSION,
        "client": client,
        "resume": "key",
        "role": "editor",
        "locked": False,
        "viewer_audio": False,
        "version": 0,
        "seq": 0,
        "time": 1,
        "peers": [],
        "chat": [],
        "rates": {},
    }
    return decode(b"".join(frames.welcome_parts(fields, None, [])))


async def next_event(stream: EventStream) -> Event:
    return await asyncio.wait_for(anext(stream), 2)


def test_every_frame_type_but_welcome_has_a_handler() -> None:
    """The dispatch table is keyed by `ServerType` and covers all of it; a `welcome` only
    ever answers a hello, so the connection takes it before frames are dispatched."""
    s = offline()
    assert set(s._handlers) == set(ServerType) - {ServerType.WELCOME}
    assert all(isinstance(kind, ServerType) for kind in s._handlers)


async def test_each_frame_reaches_the_part_that_owns_its_state() -> None:
    s = offline()
    join(s)
    events = s.events()

    s._received(frames.ops_frame([Batch(1, "other", 1, [TEMPO]).to_wire()]))
    edit = await next_event(events)
    assert isinstance(edit, RemoteEdit) and not edit.mine
    assert s.version == 1 and s.project.project["tempo"] == 100.0

    peer = {"client": "other", "name": "o", "online": True}
    s._received(frames.presence([peer, {"client": "me", "online": True}]))
    presence = await next_event(events)
    assert isinstance(presence, PresenceChanged) and s.peers == {"other": peer}  # not me

    s._received(frames.chat({"by": "other", "name": "o", "text": "hi", "time": 5}))
    assert await next_event(events) == ChatMessage("other", "o", "hi", 5)
    assert s.chat_history[-1].text == "hi"

    s._received(frames.admin("lock", "boss", locked=True))
    assert await next_event(events) == AdminChanged("lock", "boss", locked=True)
    assert s.locked
    s._received(frames.admin("role", "boss", client="me", role="viewer"))
    assert isinstance(await next_event(events), AdminChanged) and s.role is Role.VIEWER

    s._received(frames.recording(True, "take1", "boss", time=9))
    recording = await next_event(events)
    assert isinstance(recording, RecordingChanged) and recording.active
    assert s.recording is not None and s.recording["id"] == "take1"

    samples = s.clock.samples
    t0 = s.clock.local()
    s._received(frames.pong(t0, int(t0), int(t0)))
    assert s.clock.samples == samples + 1

    s._received(frames.rtc("v=0"))  # no audio room joined: nothing to answer, aiortc unloaded
    s._received(frames.error(ErrorCode.FORBIDDEN.value, "no", request=99))  # nobody asked
    s._received(frames.done(99))
    s._received({"type": "no-such-frame"})  # a newer server's frame: ignored
    s._received({"type": ServerType.WELCOME.value})  # only ever an answer to a hello
    assert events._queue.empty()
    assert s._audio is None


async def test_a_reject_rolls_the_edit_back_and_fails_its_handle() -> None:
    s = offline()
    join(s)
    events = s.events()
    edit = s.set_tempo(150)  # not connected: applied here, waits in the outbox
    assert s.project.project["tempo"] == 150.0 and edit.seq in s._mirror.unacked
    s._received(frames.reject(edit.seq, ErrorCode.FORBIDDEN.value, "viewers cannot edit"))
    rejected = await next_event(events)
    assert isinstance(rejected, Rejected) and rejected.code == "forbidden"
    assert s.project.project["tempo"] != 150.0 and not s._mirror.unacked
    with pytest.raises(Forbidden):
        await edit


async def test_chat_raises_while_the_connection_is_down(server: ServerProcess) -> None:
    """Chat is not queued like edits: while reconnecting it raises `Unavailable` and the
    message never arrives; once connected again chat flows."""
    token = server.token(SESSION)
    async with (
        connect(server.url, session=SESSION, token=token, name="a") as a,
        connect(server.url, session=SESSION, token=token, name="b") as b,
    ):
        heard = b.events()
        await a.chat("before")
        assert (await _chat(heard)).text == "before"
        assert server.proc is not None
        async with a.events() as changes:
            server.proc.send_signal(signal.SIGSTOP)  # the reconnect hangs until SIGCONT
            try:
                assert a._ws is not None
                a._ws.transport.abort()
                reconnecting = await next_event(changes)
                assert isinstance(reconnecting, ConnectionChanged)
                assert reconnecting.state is ConnectionState.RECONNECTING
                assert a.state is ConnectionState.RECONNECTING and not a.connected
                with pytest.raises(Unavailable, match="not queued"):
                    await a.chat("during")
                with pytest.raises(Unavailable, match="not queued"):
                    await a.lock()  # admin requests are not queued either
                edit = a.set_tempo(123)  # an edit is: it goes after the reconnect
            finally:
                server.proc.send_signal(signal.SIGCONT)
            connected = await asyncio.wait_for(anext(changes), 20)
            assert isinstance(connected, ConnectionChanged) and connected.state == "connected"
        assert a.connected
        await edit
        await a.chat("after")
        assert (await _chat(heard)).text == "after"  # "during" was never sent
        assert [c.text for c in b.chat_history] == ["before", "after"]
    with pytest.raises(Unavailable, match="closed"):
        await a.chat("too late")
    assert a.state is ConnectionState.CLOSED


async def test_closing_reports_closed_once_and_ends_the_streams(server: ServerProcess) -> None:
    async with connect(server.url, session=SESSION, token=server.token(SESSION), name="a") as s:
        events = s.events()
        assert s.state is ConnectionState.CONNECTED
    seen = [event async for event in events]
    assert seen == [ConnectionChanged(ConnectionState.CLOSED, "closed by this client")]
    await s.close()  # a second close does nothing
    await eventually(lambda: s._conn.finished, 5, "the close")


async def _chat(stream: EventStream) -> ChatMessage:
    while True:
        event = await asyncio.wait_for(anext(stream), 10)
        if isinstance(event, ChatMessage):
            return event
