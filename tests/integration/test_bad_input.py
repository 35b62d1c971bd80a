"""Every class of bad input gets a stable error code and changes nothing for anyone."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
import pytest
from websockets.exceptions import ConnectionClosed

from backline.client import connect
from backline.protocol.codec import encode
from backline.protocol.errors import CloseCode
from backline.testing import RawClient, ServerProcess

SESSION = "jam"
OpenRaw = Callable[[], Awaitable[RawClient]]


async def joined(raw: OpenRaw, server: ServerProcess, role: str = "editor") -> RawClient:
    client = await raw()
    await client.hello(SESSION, server.token(SESSION, role))
    return client


async def setup_track(client: RawClient) -> None:
    await client.send(
        {
            "type": "op",
            "seq": 1,
            "ops": [{"op": "insert", "kind": "track", "id": "t1", "value": {}}],
        }
    )
    ack = await client.recv_type("ops")
    assert ack["batches"][0]["v"] == 1


BAD_FRAMES: list[tuple[str, Any, str]] = [
    ("not msgpack", b"\xc1\xc1\xc1", "bad_frame"),
    ("truncated msgpack", encode({"type": "op", "seq": 2})[:-3], "bad_frame"),
    ("not a map", encode([1, 2, 3]), "bad_frame"),
    ("no type", encode({"seq": 1}), "bad_frame"),
    ("non-string type", encode({"type": 7}), "bad_frame"),
    ("integer map keys", msgpack.packb({1: 2, "type": "chat"}), "bad_frame"),
    ("text frame", "hello", "bad_frame"),
    ("unknown type", {"type": "explode"}, "unknown_type"),
    ("missing field", {"type": "chat"}, "bad_field"),
    ("unknown field", {"type": "chat", "text": "x", "extra": 1}, "bad_field"),
    ("wrong field type", {"type": "chat", "text": 5}, "bad_field"),
    ("empty chat", {"type": "chat", "text": ""}, "out_of_range"),
    (
        "second hello",
        {"type": "hello", "session": SESSION, "token": "x", "name": "n"},
        "already_joined",
    ),
    ("bad presence", {"type": "presence", "state": {"color": "red"}}, "bad_field"),
    ("huge integer", msgpack.packb({"type": "ping", "t0": 2**64 - 1}), None),
    ("deep nesting", msgpack.packb({"type": "chat", "text": [[[[[[[[[]]]]]]]]]}), "bad_field"),
]

BAD_OPS: list[tuple[str, Any, str]] = [
    ("ops not a list", {"type": "op", "seq": 5, "ops": {}}, "bad_field"),
    ("empty ops", {"type": "op", "seq": 5, "ops": []}, "bad_field"),
    ("unknown op", {"type": "op", "seq": 5, "ops": [{"op": "explode"}]}, "bad_field"),
    ("wrong value type", {"type": "op", "seq": 5, "ops": [{"op": "set", "id": "project", "field": "tempo", "value": "fast"}]}, "bad_field"),
    ("bool for int", {"type": "op", "seq": 5, "ops": [{"op": "set", "id": "t1", "field": "instrument", "value": True}]}, "bad_field"),
    ("tempo too high", {"type": "op", "seq": 5, "ops": [{"op": "set", "id": "project", "field": "tempo", "value": 1000}]}, "out_of_range"),
    ("pitch out of range", {"type": "op", "seq": 5, "ops": [{"op": "insert", "kind": "note", "id": "n1", "value": {"track": "t1", "pitch": 128, "start": 0}}]}, "out_of_range"),
    ("missing reference", {"type": "op", "seq": 5, "ops": [{"op": "insert", "kind": "note", "id": "n1", "value": {"track": "nope", "pitch": 60, "start": 0}}]}, "not_found"),
    ("delete missing", {"type": "op", "seq": 5, "ops": [{"op": "delete", "id": "ghost"}]}, "not_found"),
    ("duplicate id", {"type": "op", "seq": 5, "ops": [{"op": "insert", "kind": "track", "id": "t1", "value": {}}]}, "conflict"),
    ("unknown field", {"type": "op", "seq": 5, "ops": [{"op": "set", "id": "t1", "field": "colour", "value": 1}]}, "bad_field"),
    ("half-valid batch", {"type": "op", "seq": 5, "ops": [{"op": "set", "id": "project", "field": "tempo", "value": 90}, {"op": "set", "id": "project", "field": "swing", "value": 7}]}, "out_of_range"),
    ("too many ops", {"type": "op", "seq": 5, "ops": [{"op": "delete", "id": "x"}] * 1001}, "too_large"),
    ("name too long", {"type": "op", "seq": 5, "ops": [{"op": "set", "id": "t1", "field": "name", "value": "x" * 65}]}, "too_large"),
    ("seq not an int", {"type": "op", "seq": "five", "ops": [{"op": "delete", "id": "t1"}]}, "bad_field"),
    ("seq already used", {"type": "op", "seq": 1, "ops": [{"op": "set", "id": "t1", "field": "mute", "value": True}]}, "duplicate"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "frame", "code"), BAD_FRAMES, ids=[b[0] for b in BAD_FRAMES])
async def test_bad_frames_get_error_frames(
    server: ServerProcess, raw: OpenRaw, label: str, frame: Any, code: str | None
) -> None:
    """A malformed frame is answered with `error` + stable code; the connection stays usable."""
    client = await joined(raw, server)
    watcher = await joined(raw, server, "viewer")
    await client.send(frame)
    if code is None:  # a valid frame with an extreme value: answered normally
        assert (await client.recv_type("pong"))["t0"] == float(2**64 - 1)
    else:
        error = await client.recv_type("error")
        assert error["code"] == code, error
        assert isinstance(error["message"], str) and error["message"]
    await setup_track(client)  # still joined and editing
    batches = (await watcher.recv_type("ops"))["batches"]
    assert [b["v"] for b in batches] == [1]  # the watcher saw only the valid edit


@pytest.mark.parametrize(("label", "frame", "code"), BAD_OPS, ids=[b[0] for b in BAD_OPS])
async def test_bad_edits_are_rejected_and_change_nothing(
    server: ServerProcess, raw: OpenRaw, label: str, frame: Any, code: str
) -> None:
    """An invalid edit gets `reject` (or `error` without a usable seq); no version is used."""
    client = await joined(raw, server)
    watcher = await joined(raw, server, "viewer")
    await setup_track(client)
    assert (await watcher.recv_type("ops"))["batches"][0]["v"] == 1
    await client.send(frame)
    reply = await client.recv()
    while reply["type"] == "presence":
        reply = await client.recv()
    assert reply["type"] in ("reject", "error"), reply
    assert reply["code"] == code, reply
    if reply["type"] == "reject":
        assert reply["seq"] == frame["seq"]
    # the next valid edit gets version 2: nothing was applied in between
    await client.send(
        {"type": "op", "seq": 6, "ops": [{"op": "set", "id": "t1", "field": "name", "value": "ok"}]}
    )
    assert (await client.recv_type("ops"))["batches"][0]["v"] == 2
    batches = (await watcher.recv_type("ops"))["batches"]
    assert [(b["v"], b["seq"]) for b in batches] == [(2, 6)]
    async with connect(server.url, session=SESSION, token=server.token(SESSION)) as s:
        assert s.project.tracks["t1"]["name"] == "ok"
        assert s.project.project["tempo"] == 120.0 and s.project.project["swing"] == 0.0
        assert list(s.project.notes) == []


async def test_oversized_frame(server: ServerProcess, raw: OpenRaw) -> None:
    """A frame above max_frame_bytes gets `too_large`; one above 4x is closed with 1009."""
    client = await joined(raw, server)
    await client.send({"type": "chat", "text": "x" * 600_000})
    assert (await client.recv_type("error"))["code"] == "too_large"
    await client.send({"type": "chat", "text": "x" * 3_000_000})
    with pytest.raises(ConnectionClosed) as info:
        await client.recv_type("never")
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009


async def test_messages_before_hello(server: ServerProcess, raw: OpenRaw) -> None:
    """Anything before hello is `not_joined`; a later hello still works."""
    client = await raw()
    await client.send({"type": "op", "seq": 1, "ops": [{"op": "delete", "id": "x"}]})
    reply = await client.recv()
    assert reply["type"] == "reject" and reply["code"] == "not_joined"
    await client.send({"type": "chat", "text": "hi"})
    assert (await client.recv())["code"] == "not_joined"
    welcome = await client.hello(SESSION, server.token(SESSION))
    assert welcome["version"] == 0


@pytest.mark.parametrize(
    ("token_kind", "close_code"),
    [("garbage", CloseCode.BAD_TOKEN), ("wrong secret", CloseCode.BAD_TOKEN),
     ("expired", CloseCode.TOKEN_EXPIRED), ("other session", CloseCode.WRONG_SESSION)],
)  # fmt: skip
async def test_bad_tokens_are_refused_at_hello(
    server: ServerProcess, raw: OpenRaw, token_kind: str, close_code: CloseCode
) -> None:
    """A refused token gets `unauthorized` and a close code that says why."""
    from backline.protocol.tokens import mint

    token = {
        "garbage": "not-a-token",
        "wrong secret": mint(b"other", SESSION, "owner"),
        "expired": server.token(SESSION, "owner", expires=int(time.time()) - 1),
        "other session": server.token("elsewhere", "owner"),
    }[token_kind]
    client = await raw()
    await client.send({"type": "hello", "session": SESSION, "token": token, "name": "x"})
    assert (await client.recv())["code"] == "unauthorized"
    with pytest.raises(ConnectionClosed) as info:
        await client.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == close_code


async def test_sdk_raises_typed_error_for_expired_token(server: ServerProcess) -> None:
    """The SDK turns a refused token into TokenExpired instead of retrying forever."""
    from backline.protocol.errors import TokenExpired

    token = server.token(SESSION, "owner", expires=int(time.time()) - 1)
    with pytest.raises(TokenExpired):
        async with connect(server.url, session=SESSION, token=token):
            pass


async def test_abuse_is_closed_with_protocol_violation(server: ServerProcess, raw: OpenRaw) -> None:
    """More than 100 bad frames in a row close the connection with 4002; others are fine."""
    client = await joined(raw, server)
    other = await joined(raw, server)
    for _ in range(101):
        await client.send(b"\xc1")
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await client.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == CloseCode.PROTOCOL_VIOLATION
    await setup_track(other)


async def test_stalled_reader_is_closed_and_room_keeps_going(tmp_path: Any) -> None:
    """A client that stops reading is closed as a slow consumer; the room keeps its pace."""
    # chat is the cheap way to fill the stalled reader's buffer: no chat rate limit here
    args = ["--send-buffer", "65536", "--chat-rate", "0"]
    with ServerProcess(tmp_path / "d", extra_args=args) as server:
        token = server.token(SESSION)
        # A tiny receive window, so the kernel cannot hide the stall behind megabytes
        # of socket buffers and the server's own bounded queue overflows.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        stalled_client = await RawClient.open(server.url, max_queue=1, sock=sock)
        stalled = stalled_client.ws
        await stalled_client.hello(SESSION, token)
        stalled.transport.pause_reading()
        text = "z" * 1000
        async with connect(server.url, session=SESSION, token=token, name="fast") as fast:
            track = fast.add_track("x")
            await track
            for i in range(400):
                for _ in range(20):
                    await fast.chat(text)  # 20 kB per round to every member
                fast.set(track.id or "", "name", f"n{i}")
                await fast.synced()  # the fast client is acknowledged every round
            assert fast.project.tracks[track.id or ""]["name"] == "n399"
            assert fast.connected
        health = json.loads(urllib.request.urlopen(server.http_url + "/healthz", timeout=10).read())
        assert health["counters"]["slow_consumers_closed"] == 1
        metrics = urllib.request.urlopen(server.http_url + "/metrics", timeout=10).read()
        assert b"\nbackline_slow_consumers_closed_total 1.0\n" in metrics
        stalled.transport.resume_reading()
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await asyncio.wait_for(stalled.recv(), 30)
        # the close frame sits behind the stalled data; if the server gave up waiting
        # for the handshake it aborted the connection instead
        assert info.value.rcvd is None or info.value.rcvd.code == CloseCode.SLOW_CONSUMER
        await stalled.close()


async def test_fragmented_messages_and_messages_sent_with_hello_are_handled_in_order(
    server: ServerProcess, raw: OpenRaw
) -> None:
    """The server hands messages to the session where it parses them: one sent right
    behind hello (before the welcome), a binary message in fragments and a text message
    in fragments are each handled once, in the order sent."""
    client = await raw()
    hello = {"type": "hello", "session": SESSION, "token": server.token(SESSION, "editor")}
    track = {"op": "insert", "kind": "track", "id": "t1", "value": {}}
    tempo = {"op": "set", "id": "project", "field": "tempo", "value": 97}
    await client.send({**hello, "name": "frag"})
    await client.send({"type": "op", "seq": 1, "ops": [track]})  # before any welcome
    data = encode({"type": "op", "seq": 2, "ops": [tempo]})
    await client.ws.send([data[:5], data[5:9], data[9:]])  # one message, three frames
    await client.ws.send(["not", " binary"])  # text, in two frames
    await client.send({"type": "ping", "t0": 1})
    assert (await client.recv_type("welcome"))["version"] == 0
    # errors and pongs answer at once, edits once stored: collect, then check each
    got: dict[str, list[dict[str, Any]]] = {"ops": [], "error": [], "pong": []}
    while sum(len(m["batches"]) for m in got["ops"]) < 2 or not got["error"] or not got["pong"]:
        message = await client.recv()
        got.setdefault(message["type"], []).append(message)
    batches = [b for m in got["ops"] for b in m["batches"]]
    assert [(b["v"], b["seq"]) for b in batches] == [(1, 1), (2, 2)]
    assert batches[1]["ops"][0]["value"] == 97
    assert [e["code"] for e in got["error"]] == ["bad_frame"]
    assert "text" in got["error"][0]["message"]
    assert [p["t0"] for p in got["pong"]] == [1]
