"""The server's own parsing of joined connections' frames (server/wsconn.py).

Joined connections' data frames, pings and pongs are parsed by the server
itself; everything else goes to `websockets`. These tests write raw frames
to a joined connection (masked with websockets' own serializer) and check
what a client sees: split frames, pings, pongs, and frames that must end the
connection with the standard close codes.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from collections.abc import Awaitable, Callable

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from backline.protocol.codec import encode
from backline.testing import RawClient, ServerProcess

SESSION = "wire"
OpenRaw = Callable[[], Awaitable[RawClient]]


async def joined(raw: OpenRaw, server: ServerProcess) -> RawClient:
    """A joined client whose messages the server already dispatches directly: frames
    written before that (right after the welcome) queue in websockets as in the hello
    phase, which is correct but would make the parsing counters depend on timing."""
    client = await raw()
    await client.hello(SESSION, server.token(SESSION, "editor"))
    await client.send({"type": "ping", "t0": 0})  # answered once dispatching directly
    await client.recv_type("pong")
    return client


async def parsing(server: ServerProcess) -> tuple[int, int]:
    """How often joined connections' frames started to be parsed by the server itself,
    and how often a frame was handed back to websockets (/healthz counters)."""

    def fetch() -> dict[str, int]:
        with urllib.request.urlopen(server.http_url + "/healthz", timeout=10) as response:
            counters: dict[str, int] = json.load(response)["counters"]
        return counters

    counters = await asyncio.to_thread(fetch)
    return counters.get("fast_parse_entered", 0), counters.get("fast_parse_handed_back", 0)


def masked(opcode: Opcode, payload: bytes, *, fin: bool = True, mask: bool = True) -> bytes:
    """A client frame as the wire carries it."""
    return Frame(opcode, payload, fin=fin).serialize(mask=mask, extensions=[])


def edit(seq: int, tempo: int) -> bytes:
    ops = [{"op": "set", "id": "project", "field": "tempo", "value": tempo}]
    return encode({"type": "op", "seq": seq, "ops": ops})


async def write_paced(client: RawClient, data: bytes, piece: int) -> None:
    """Write `data` in pieces of `piece` bytes, each flushed on its own (TCP_NODELAY is
    on), so that the server reads most of them separately: frames split across reads."""
    transport = client.ws.transport
    for start in range(0, len(data), piece):
        transport.write(data[start : start + piece])
        await asyncio.sleep(0.002)  # pacing the writes, not waiting for an event


async def test_frames_split_across_reads_and_several_per_read_arrive_whole_and_in_order(
    server: ServerProcess, raw: OpenRaw
) -> None:
    client = await joined(raw, server)
    entered, handed_back = await parsing(server)
    assert (entered, handed_back) == (1, 0)  # this connection's frames are parsed here
    wire = b"".join(masked(Opcode.BINARY, edit(seq, 100 + seq)) for seq in range(1, 4))
    await write_paced(client, wire, 3)  # three frames, three bytes at a time
    big = os.urandom(70_000)  # a 64-bit length field, in pieces
    chat = encode({"type": "chat", "text": "split"})
    await write_paced(client, masked(Opcode.BINARY, big) + masked(Opcode.BINARY, chat), 4096)
    client.ws.transport.write(b"".join(masked(Opcode.BINARY, edit(s, 110 + s)) for s in (4, 5)))
    versions: list[tuple[int, int]] = []
    error = chat_seen = None
    while len(versions) < 5 or error is None or chat_seen is None:
        message = await client.recv()
        if message["type"] == "ops":
            versions += [(b["v"], b["ops"][0]["value"]) for b in message["batches"]]
        elif message["type"] == "error":
            error = message
        elif message["type"] == "chat":
            chat_seen = message["text"]
    assert versions == [(1, 101), (2, 102), (3, 103), (4, 114), (5, 115)]
    assert error["code"] == "bad_frame"  # the 70 kB of noise: one answer, the rest unharmed
    assert chat_seen == "split"
    # the 70 kB frame, arriving in pieces, went to websockets; parsing came back after it
    entered, handed_back = await parsing(server)
    assert handed_back >= 1 and entered == handed_back + 1


async def test_pings_are_answered_and_pongs_acknowledged(
    server: ServerProcess, raw: OpenRaw
) -> None:
    client = await joined(raw, server)
    latency = await asyncio.wait_for(await client.ws.ping(b"are you there"), 10)
    assert latency >= 0
    await client.send({"type": "ping", "t0": 5})
    assert (await client.recv_type("pong"))["t0"] == 5


async def test_a_fragmented_message_is_reassembled_then_fast_parsing_resumes(
    server: ServerProcess, raw: OpenRaw
) -> None:
    client = await joined(raw, server)
    data = edit(1, 91)
    wire = (
        masked(Opcode.BINARY, data[:4], fin=False)
        + masked(Opcode.PING, b"between fragments")
        + masked(Opcode.CONT, data[4:])
        + masked(Opcode.BINARY, edit(2, 92))
    )
    client.ws.transport.write(wire)
    values: list[int] = []
    while len(values) < 2:
        message = await client.recv()
        if message["type"] == "ops":
            values += [b["ops"][0]["value"] for b in message["batches"]]
    assert values == [91, 92]
    assert await parsing(server) == (2, 1)  # handed back at the fragment, resumed after it


async def test_a_whole_data_frame_inside_a_fragmented_message_closes_with_1002(
    server: ServerProcess, raw: OpenRaw
) -> None:
    """RFC 6455 §5.4: only continuations (and control frames) may follow a first
    fragment. The server's own parser must not take over while one is open."""
    client = await joined(raw, server)
    client.ws.transport.write(masked(Opcode.BINARY, edit(1, 91)[:4], fin=False))
    await asyncio.wait_for(await client.ws.ping(b"the fragment was read"), 10)
    client.ws.transport.write(masked(Opcode.BINARY, edit(2, 92)))
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            message = await client.recv(timeout=30)
            assert message["type"] != "ops", f"a frame inside a fragment was applied: {message}"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1002


@pytest.mark.parametrize(
    ("label", "frame", "code"),
    [
        ("unmasked", masked(Opcode.BINARY, b"\x80", mask=False), 1002),
        ("reserved bit", b"\xc2" + masked(Opcode.BINARY, b"\x80")[1:], 1002),
        ("unknown opcode", masked(Opcode.BINARY, b"\x80").replace(b"\x82", b"\x83", 1), 1002),
        ("oversized", masked(Opcode.BINARY, b"\x00" * (4 * 1024 * 1024 + 1)), 1009),
        ("continuation first", masked(Opcode.CONT, b"\x80"), 1002),
    ],
    ids=["unmasked", "reserved bit", "unknown opcode", "oversized", "continuation first"],
)
async def test_frames_that_break_the_protocol_close_with_the_standard_code(
    server: ServerProcess, raw: OpenRaw, label: str, frame: bytes, code: int
) -> None:
    client = await joined(raw, server)
    client.ws.transport.write(frame)
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await client.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code, label
    if not client.ws.connection_lost_waiter.done():  # a lost transport has nothing left
        client.ws.transport.abort()  # drop what the server refused to read (4 MiB unsent)
    await asyncio.wait_for(asyncio.shield(client.ws.connection_lost_waiter), 10)  # it is gone


async def test_a_client_close_mid_session_completes_the_handshake(
    server: ServerProcess, raw: OpenRaw
) -> None:
    client = await joined(raw, server)
    await client.send(edit(1, 99))
    await client.recv_type("ops")
    await asyncio.wait_for(client.ws.close(1000, "done"), 10)
    assert client.ws.close_code == 1000
    assert client.ws.protocol.close_rcvd is not None
    assert client.ws.protocol.close_rcvd.code == 1000  # the server answered the close frame
