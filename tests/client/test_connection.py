"""The connection alone (`backline.client.connection`): its states, resume and close policy.

A `Connection` is driven here with recording `Hooks`, no session around it:
against a real server process for what the server really does (a drop, a
kick, a replacement, a restart), and against a small in-test websocket server
for the close policy, which needs the server to close with every code there
is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from backline.client.clock import Clock
from backline.client.connection import NEXT_STATES, Connection, ConnectionState, Hooks, Options
from backline.protocol.codec import SUBPROTOCOL, decode, encode
from backline.protocol.errors import (
    CLOSE_REASONS,
    FINAL_CLOSE_CODES,
    BacklineError,
    BadToken,
    Internal,
    Kicked,
    Unavailable,
    error_for_close,
)
from backline.protocol.messages import ClientType, ServerType
from backline.testing import RawClient, ServerProcess, eventually

SESSION = "wire"
CONNECTING, CONNECTED, RECONNECTING, CLOSED = ConnectionState


class Recorder:
    """Hooks that remember what the connection told them (and answer pongs)."""

    def __init__(self) -> None:
        self.states: list[tuple[ConnectionState, BacklineError | None]] = []
        self.welcomes: list[dict[str, Any]] = []
        self.frames: list[dict[str, Any]] = []
        self.version = 0
        self.connection: Connection | None = None
        self.fail_next = False  # the next frame "does not apply": this client lost sync

    def hooks(self) -> Hooks:
        return Hooks(lambda: self.version, self.welcomes.append, self._received, self._changed)

    def _received(self, frame: dict[str, Any]) -> None:
        if frame["type"] == ServerType.PONG and self.connection is not None:
            self.connection.on_pong(frame)
            return
        self.frames.append(frame)
        if self.fail_next:
            self.fail_next = False
            raise Internal("expected version 2, got 5")

    def _changed(self, state: ConnectionState, error: BacklineError | None) -> None:
        self.states.append((state, error))

    def seen(self) -> list[ConnectionState]:
        return [state for state, _ in self.states]


def connection(url: str, token: str, recorder: Recorder, *, reconnect: bool = True) -> Connection:
    options = Options(
        [url], SESSION, token, "conn", None, reconnect, max_backoff=0.2, open_timeout=10
    )
    recorder.connection = Connection(options, Clock(), recorder.hooks())
    return recorder.connection


def test_every_state_has_its_ways_out_and_closed_has_none() -> None:
    """The transition table covers every state; CLOSED is the only end, reachable from all."""
    assert set(NEXT_STATES) == set(ConnectionState)
    assert NEXT_STATES[CLOSED] == frozenset()
    assert all(CLOSED in NEXT_STATES[state] for state in ConnectionState if state is not CLOSED)
    assert RECONNECTING not in NEXT_STATES[CONNECTING]  # a first join that fails is final
    assert CONNECTED == "connected"  # events still compare equal to the old strings


async def test_a_drop_reconnects_and_resumes_the_same_identity(server: ServerProcess) -> None:
    """CONNECTED -> RECONNECTING -> CONNECTED; the clock syncs; this client's own close is quiet."""
    recorder = Recorder()
    conn = connection(server.url, server.token(SESSION), recorder)
    assert conn.state is CONNECTING
    await conn.open()
    conn.start()
    assert recorder.states == [(CONNECTED, None)] and conn.connected
    await asyncio.wait_for(conn.clock.wait_synced(), 10)  # pings went out, pongs came back
    me = conn.client_id
    assert conn.ws is not None
    conn.ws.transport.abort()
    await eventually(lambda: len(recorder.states) == 3, 20, "the reconnect")
    assert recorder.seen() == [CONNECTED, RECONNECTING, CONNECTED]
    assert isinstance(recorder.states[1][1], Unavailable)
    resumed = recorder.welcomes[-1]
    assert conn.client_id == me == resumed["client"]
    assert resumed["batches"] == []  # a catch-up from version 0, not a snapshot
    await conn.close()
    assert conn.state is CLOSED and conn.finished
    assert len(recorder.states) == 3  # not reported: this client closed it
    with pytest.raises(Unavailable, match="closed"):
        conn.check_open()


async def test_without_reconnect_a_drop_is_the_end(server: ServerProcess) -> None:
    recorder = Recorder()
    conn = connection(server.url, server.token(SESSION), recorder, reconnect=False)
    await conn.open()
    conn.start()
    assert conn.ws is not None
    conn.ws.transport.abort()
    await eventually(lambda: conn.state is CLOSED, 10, "the close")
    assert recorder.seen() == [CONNECTED, CLOSED]
    assert isinstance(conn.error, Unavailable) and "1006" in conn.error.message
    with pytest.raises(Unavailable):
        conn.check_open()
    await conn.close()


async def test_a_refused_first_join_closes_with_the_typed_error(server: ServerProcess) -> None:
    recorder = Recorder()
    conn = connection(server.url, "not-a-token", recorder)
    with pytest.raises(BadToken):
        await conn.open()
    assert conn.state is CLOSED and isinstance(conn.error, BadToken)
    assert recorder.seen() == [CLOSED]


async def test_a_kick_is_final(server: ServerProcess) -> None:
    """Close 4012 is in FINAL_CLOSE_CODES: the connection gives up with `Kicked`."""
    recorder = Recorder()
    conn = connection(server.url, server.token(SESSION), recorder)
    await conn.open()
    conn.start()
    owner = await RawClient.open(server.url)
    try:
        await owner.hello(SESSION, server.token(SESSION, "owner"), name="boss")
        await owner.send({"type": ClientType.KICK.value, "id": 1, "client": conn.client_id})
        await eventually(lambda: conn.state is CLOSED, 10, "the kick")
    finally:
        await owner.ws.close()
    assert recorder.seen() == [CONNECTED, CLOSED]
    assert isinstance(conn.error, Kicked) and "kicked by" in conn.error.message
    with pytest.raises(Kicked):
        conn.check_open()
    await conn.close()


async def test_being_replaced_by_the_same_identity_is_final(server: ServerProcess) -> None:
    """Someone resumed this identity elsewhere (4009): the newer connection lives on."""
    recorder = Recorder()
    conn = connection(server.url, server.token(SESSION), recorder)
    await conn.open()
    conn.start()
    other = await RawClient.open(server.url)
    try:
        resume = server.resume(SESSION, conn.client_id)
        await other.hello(
            SESSION, server.token(SESSION), name="again", client=conn.client_id, resume=resume
        )
        await eventually(lambda: conn.state is CLOSED, 10, "the replacement")
        await asyncio.sleep(0.3)  # no reconnect attempt follows
        assert recorder.seen() == [CONNECTED, CLOSED]
        assert conn.error is not None and "4009" in conn.error.message
    finally:
        await other.ws.close()
        await conn.close()


async def test_a_server_shutdown_is_survived_by_resuming_after_the_restart(
    server: ServerProcess,
) -> None:
    """Close 4000 is not final: the connection retries with backoff until the server is back."""
    recorder = Recorder()
    conn = connection(server.url, server.token(SESSION), recorder)
    await conn.open()
    conn.start()
    me = conn.client_id
    assert await server.astop() == 0
    await eventually(lambda: RECONNECTING in recorder.seen(), 10, "the shutdown")
    error = recorder.states[1][1]
    assert error is not None and "4000" in error.message
    server.start()
    await eventually(lambda: len(recorder.states) == 3, 30, "the resume")
    assert recorder.seen() == [CONNECTED, RECONNECTING, CONNECTED] and conn.client_id == me
    await conn.close()


# -- the close policy, code by code, against a scripted websocket server ------------


class Script:
    """A websocket server whose n-th connection does `steps[n]` after the hello:
    ``"welcome"`` (then stay), ``"welcome+ops"`` (then an `ops` frame, and stay),
    ``("welcome", code)`` (then close with code) or ``("refuse", code)`` (close
    with code instead of a welcome). The last step repeats."""

    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps)
        self.hellos: list[dict[str, Any]] = []
        self.url = ""

    async def handler(self, ws: ServerConnection) -> None:
        hello = decode(await ws.recv())  # type: ignore[arg-type]
        step = self.steps[min(len(self.hellos), len(self.steps) - 1)]
        self.hellos.append(hello)
        if isinstance(step, tuple) and step[0] == "refuse":
            await ws.close(step[1], "scripted")
            return
        welcome: dict[str, Any] = {
            "type": ServerType.WELCOME.value,
            "client": "c1",
            "resume": "key",
        }
        welcome["batches"] = [] if hello.get("version") is not None else None
        await ws.send(encode(welcome))
        if isinstance(step, tuple):
            await ws.close(step[1], "scripted")
            return
        if step == "welcome+ops":
            await ws.send(encode({"type": ServerType.OPS.value, "batches": []}))
        async for _ in ws:  # stays; pings are read and ignored
            pass


@pytest.fixture
async def scripted() -> AsyncIterator[Any]:
    servers: list[Any] = []

    async def start(script: Script) -> Script:
        server = await serve(
            script.handler, "127.0.0.1", 0, subprotocols=[Subprotocol(SUBPROTOCOL)]
        )
        servers.append(server)
        port = next(iter(server.sockets)).getsockname()[1]
        script.url = f"ws://127.0.0.1:{port}"
        return script

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


CODES = sorted(CLOSE_REASONS)


@pytest.mark.parametrize("code", CODES)
async def test_a_close_while_connected_follows_the_policy(code: int, scripted: Any) -> None:
    """Final codes end the connection with `error_for_close`'s error; others reconnect."""
    script = await scripted(Script(("welcome", code), "welcome"))
    recorder = Recorder()
    conn = connection(script.url, "t", recorder)
    await conn.open()
    conn.start()
    expected = error_for_close(code, "scripted")
    if code in FINAL_CLOSE_CODES:
        await eventually(lambda: conn.state is CLOSED, 10, f"the final close {code}")
        assert recorder.seen() == [CONNECTED, CLOSED]
    else:
        await eventually(lambda: len(recorder.states) == 3, 10, f"the reconnect after {code}")
        assert recorder.seen() == [CONNECTED, RECONNECTING, CONNECTED]
    error = recorder.states[1][1]
    assert type(error) is type(expected) and error is not None
    assert error.message == expected.message
    await conn.close()


@pytest.mark.parametrize("code", CODES)
async def test_a_close_while_rejoining_follows_the_policy(code: int, scripted: Any) -> None:
    """The same policy when the server closes a resume instead of welcoming it (e.g. full)."""
    script = await scripted(Script(("welcome", 1011), ("refuse", code), "welcome"))
    recorder = Recorder()
    conn = connection(script.url, "t", recorder)
    await conn.open()
    conn.start()
    if code in FINAL_CLOSE_CODES:
        await eventually(lambda: conn.state is CLOSED, 10, f"the final close {code}")
        assert recorder.seen() == [CONNECTED, RECONNECTING, CLOSED]
        expected = error_for_close(code, "scripted")
        assert type(conn.error) is type(expected) and conn.error is not None
        assert conn.error.message == expected.message
    else:  # retried with backoff (server full and session full too), then welcomed
        await eventually(lambda: len(recorder.states) == 3, 10, f"the retry after {code}")
        assert recorder.seen() == [CONNECTED, RECONNECTING, CONNECTED]
        assert len(script.hellos) == 3
    await conn.close()


async def test_a_resume_names_the_identity_and_a_lost_sync_asks_for_a_snapshot(
    scripted: Any,
) -> None:
    """Hellos after the first carry client id, resume key and version, except right after
    this client lost sync: then no version, and the server answers with a snapshot."""
    script = await scripted(Script("welcome", "welcome+ops", "welcome"))
    recorder = Recorder()
    recorder.version = 7
    recorder.fail_next = True  # the `ops` frame after the second welcome does not apply
    conn = connection(script.url, "t", recorder)
    await conn.open()
    conn.start()
    assert "client" not in script.hellos[0]
    assert conn.ws is not None
    conn.ws.transport.abort()  # a drop: resumed, and then sync is lost
    await eventually(lambda: len(recorder.welcomes) == 3, 10, "the resync")
    assert script.hellos[1]["client"] == "c1" and script.hellos[1]["resume"] == "key"
    assert script.hellos[1]["version"] == 7
    assert recorder.seen() == [CONNECTED, RECONNECTING, CONNECTED, RECONNECTING, CONNECTED]
    lost = recorder.states[3][1]
    assert lost is not None and lost.message == "resync"
    assert "version" not in script.hellos[2] and script.hellos[2]["client"] == "c1"
    assert conn.ws is not None
    conn.ws.transport.abort()  # in sync again (a snapshot came): resumes with a version
    await eventually(lambda: len(recorder.welcomes) == 4, 10, "the next resume")
    assert script.hellos[3]["version"] == 7
    await conn.close()
