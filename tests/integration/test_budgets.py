"""Every write to a connection goes through one send budget; memory and admission are capped.

Findings of an adversarial review, each reproduced against a real server
process: ping floods whose pongs are never read (before and after hello),
hellos asking for tens of MiB of catch-up and never reading it, memory of a
session capped by counts instead of bytes, and any number of connections held
open without a token.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from backline.protocol.codec import SUBPROTOCOL, decode, encode
from backline.protocol.limits import Limits
from backline.testing import RawClient, ServerProcess, eventually, health

SESSION = "budget"
MIB = 1024 * 1024


def start(tmp_path: Path, *args: str) -> ServerProcess:
    return ServerProcess(tmp_path / "data", store="memory", extra_args=list(args)).start()


@pytest.fixture
async def opened() -> AsyncIterator[list[asyncio.StreamWriter]]:
    writers: list[asyncio.StreamWriter] = []
    yield writers
    for writer in writers:
        writer.transport.abort()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    writers.clear()


@pytest.fixture
async def raws() -> AsyncIterator[list[RawClient]]:
    clients: list[RawClient] = []
    yield clients
    for client in clients:
        client.ws.transport.abort()


async def rss(server: ServerProcess) -> float:
    """The server's resident memory (bytes), from /metrics."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    raw = await reader.read()
    writer.close()
    for family in text_string_to_metric_families(raw.split(b"\r\n\r\n", 1)[1].decode()):
        for sample in family.samples:
            if sample.name == "process_resident_memory_bytes":
                return float(sample.value)
    raise AssertionError("no process_resident_memory_bytes in /metrics")


def masked(payload: bytes, opcode: int = 0x2) -> bytes:
    """One client frame (clients must mask); a zero key keeps the payload as it is."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", n)
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack("!Q", n)
    return head + b"\x00\x00\x00\x00" + payload


async def upgraded(
    server: ServerProcess, opened: list[asyncio.StreamWriter]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw TCP connection past the websocket handshake, speaking frames by hand."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    opened.append(writer)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n".encode()
    )
    response = await reader.readuntil(b"\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 101"), response
    return reader, writer


def hello(server: ServerProcess, role: str = "viewer", **extra: Any) -> bytes:
    token = server.token(SESSION, role)
    return masked(
        encode({"type": "hello", "session": SESSION, "token": token, "name": "x", **extra})
    )


async def slow_closes(server: ServerProcess) -> int:
    return int((await health(server))["counters"].get("slow_consumers_closed", 0))


PING_FLOOD = masked(b"p" * 125, opcode=0x9) * (48 * MIB // 131)  # 48 MiB of pings


@pytest.mark.parametrize("phase", ["before hello", "joined"])
async def test_a_ping_flood_that_reads_no_pong_is_paused_then_closed(
    tmp_path: Path, opened: list[asyncio.StreamWriter], phase: str
) -> None:
    server = start(tmp_path, "--slow-timeout", "2")
    try:
        base = await rss(server)
        reader, writer = await upgraded(server, opened)
        if phase == "joined":
            writer.write(hello(server))
            await reader.readexactly(2)  # the welcome is on its way: joined
        writer.write(PING_FLOOD)  # and never read a pong
        await eventually(lambda: slow_closes(server), 30, "the flood to be closed as too slow")
        grown = await rss(server) - base
        # the server stopped reading: most of the flood never left this process
        assert writer.transport.get_write_buffer_size() > 24 * MIB
        assert grown < 24 * MIB, f"the server grew {grown / MIB:.0f} MiB"
        writer.transport.abort()
        fresh = await RawClient.open(server.url)
        try:
            welcome = await fresh.hello(SESSION, server.token(SESSION), name="after")
            assert welcome["type"] == "welcome"
        finally:
            await fresh.ws.close()
    finally:
        server.stop()


def rename(seq: int, n: int) -> dict[str, Any]:
    """An edit of about 95 kB: 1,000 renames of one track (its net effect: one name)."""
    ops = [
        {"op": "set", "id": "t1", "field": "name", "value": f"{seq:04d}{i:04d}".ljust(64, "x")}
        for i in range(n)
    ]
    return {"type": "op", "seq": seq, "ops": ops}


async def acked(client: RawClient, seq: int) -> None:
    while True:
        message = await client.recv(30)
        if message["type"] == "ops" and any(b["seq"] == seq for b in message["batches"]):
            return
        assert message["type"] in ("ops", "presence"), message


async def heavy_edits(server: ServerProcess, raws: list[RawClient], edits: int) -> RawClient:
    editor = await RawClient.open(server.url)
    raws.append(editor)
    await editor.hello(SESSION, server.token(SESSION), name="ed")
    track = {"op": "insert", "kind": "track", "id": "t1", "value": {"name": "t"}}
    await editor.send({"type": "op", "seq": 1, "ops": [track]})
    for seq in range(2, edits + 2):
        await editor.send(rename(seq, 1000))
    await acked(editor, edits + 1)
    return editor


async def sees_online(client: RawClient, count: int) -> None:
    """Wait until `client` was told of `count` more participants."""
    seen: set[str] = set()
    while len(seen) < count:
        message = await client.recv(30)
        if message["type"] == "presence":
            seen |= {p["client"] for p in message["peers"] if p["online"]}


async def test_joiners_asking_for_a_huge_catch_up_and_never_reading_cost_little(
    tmp_path: Path, opened: list[asyncio.StreamWriter], raws: list[RawClient]
) -> None:
    """The review's case: after heavy edits, five 150-byte hellos with version 1 made the
    server queue ~39 MiB each. Now the catch-up window is capped by bytes (older joins
    get the snapshot, smaller here), and what a joiner gets is handed over as it reads."""
    server = start(tmp_path)
    try:
        editor = await heavy_edits(server, raws, 150)  # ~14 MB of batches
        base = await rss(server)
        for _ in range(5):
            _, writer = await upgraded(server, opened)
            writer.write(hello(server, version=1))  # and never read
        await sees_online(editor, 5)
        grown = await rss(server) - base
        assert grown < 16 * MIB, f"the server grew {grown / MIB:.0f} MiB for 5 hellos"
        late = await RawClient.open(server.url)
        raws.append(late)
        welcome = await late.hello(SESSION, server.token(SESSION, "viewer"), name="v", version=1)
        assert welcome["batches"] is None and welcome["version"] == 151
        assert welcome["snapshot"]["tracks"][0]["name"].startswith("0151")
    finally:
        server.stop()


async def test_a_large_welcome_is_streamed_as_the_joiner_reads(
    tmp_path: Path, opened: list[asyncio.StreamWriter], raws: list[RawClient]
) -> None:
    """Ten joiners that never read a 1.4 MB snapshot each hold a few hundred KiB at most
    (the snapshot's bytes are shared, handed over piece by piece); one that reads gets it
    whole, and its catch-up by ops, streamed the same way, is exact."""
    server = start(tmp_path)
    try:
        editor = await RawClient.open(server.url)
        raws.append(editor)
        await editor.hello(SESSION, server.token(SESSION), name="ed")
        track = {"op": "insert", "kind": "track", "id": "t1", "value": {}}
        await editor.send({"type": "op", "seq": 1, "ops": [track]})
        for batch in range(20):
            notes = [
                {
                    "op": "insert",
                    "kind": "note",
                    "id": f"n{batch}-{i}",
                    "value": {"track": "t1", "pitch": 60, "start": i * 240, "dur": 240},
                }
                for i in range(1000)
            ]
            await editor.send({"type": "op", "seq": batch + 2, "ops": notes})
        await acked(editor, 21)
        base = await rss(server)
        for _ in range(10):
            _, writer = await upgraded(server, opened)
            writer.write(hello(server))  # a snapshot, never read
        await sees_online(editor, 10)
        grown = await rss(server) - base
        assert grown < 16 * MIB, f"the server grew {grown / MIB:.0f} MiB for 10 snapshots"
        reader = await RawClient.open(server.url)
        raws.append(reader)
        welcome = await reader.hello(SESSION, server.token(SESSION, "viewer"), name="r")
        assert len(welcome["snapshot"]["notes"]) == 20_000 and welcome["version"] == 21
        again = await RawClient.open(server.url)
        raws.append(again)
        # from v11: 10 batches (~0.9 MB), smaller than the snapshot, so by ops
        caught = await again.hello(SESSION, server.token(SESSION, "viewer"), name="c", version=11)
        assert [b["v"] for b in caught["batches"]] == list(range(12, 22))
        assert sum(len(b["ops"]) for b in caught["batches"]) == 10_000
        # from v1 the edits since (~1.8 MB) outweigh the project: a snapshot instead
        first = await RawClient.open(server.url)
        raws.append(first)
        fresh = await first.hello(SESSION, server.token(SESSION, "viewer"), name="f", version=1)
        assert fresh["batches"] is None and len(fresh["snapshot"]["notes"]) == 20_000
    finally:
        server.stop()


async def test_session_memory_is_capped_by_bytes_and_identities(
    tmp_path: Path, raws: list[RawClient]
) -> None:
    server = start(
        tmp_path,
        "--catch-up-bytes", "1000000",
        "--undo-bytes", "300000",
        "--session-undo-bytes", "600000",
        "--max-identities", "4",
    )  # fmt: skip
    try:
        editor = await heavy_edits(server, raws, 30)  # ~2.8 MB of batches, as much undo
        memory = (await health(server))["memory"]
        assert 0 < memory["catch_up_bytes"] <= 1_000_000
        assert 0 < memory["undo_bytes"] <= 300_000
        for n in range(5):  # five more identities edit once each: the oldest are forgotten
            other = await RawClient.open(server.url)
            raws.append(other)
            await other.hello(SESSION, server.token(SESSION), name=f"e{n}")
            await other.send({"type": "op", "seq": 1, "ops": [rename(1, 1)["ops"][0]]})
            await acked(other, 1)
        memory = (await health(server))["memory"]
        assert memory["identities"] == 4 and memory["undo_bytes"] <= 600_000
        await editor.send({"type": "undo", "seq": 100})  # the first editor was forgotten
        while (message := await editor.recv())["type"] != "reject":
            assert message["type"] in ("ops", "presence"), message
        assert message["code"] == "nothing_to_undo"
        late = await RawClient.open(server.url)
        raws.append(late)
        welcome = await late.hello(SESSION, server.token(SESSION, "viewer"), name="v", version=1)
        assert welcome["batches"] is None  # v1 is out of the byte-capped window
    finally:
        server.stop()


async def test_connections_without_a_session_are_capped_per_address_and_in_all(
    tmp_path: Path, opened: list[asyncio.StreamWriter]
) -> None:
    server = start(tmp_path, "--max-pending-per-address", "3", "--max-connections", "5")
    try:
        idle = [await upgraded(server, opened) for _ in range(3)]  # no hello: pending
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        opened.append(writer)
        refused = await reader.read()  # answered and closed at once, before any handshake
        assert refused.startswith(b"HTTP/1.1 503"), refused
        assert b"have not joined" in refused and b"nosniff" in refused
        # one of them joins: its address may open another
        first_reader, first_writer = idle[0]
        first_writer.write(hello(server))
        await first_reader.readexactly(2)
        fourth = await upgraded(server, opened)
        fourth[1].write(hello(server))
        await fourth[0].readexactly(2)
        fifth = await upgraded(server, opened)  # 5 open now: the process's cap
        assert fifth is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        opened.append(writer)
        refused = await reader.read()
        assert refused.startswith(b"HTTP/1.1 503") and b"maximum of 5 connections" in refused
        fifth[1].transport.abort()  # room for the health check's own connection
        refused_probes = 0

        async def probe() -> dict[str, Any] | None:
            nonlocal refused_probes
            counters = await health_if_admitted(server)
            refused_probes += counters is None  # itself refused while the abort lands
            return counters

        counters = await eventually(probe, 10, "a connection for /healthz")
        assert counters["connections_refused"] == 2 + refused_probes, refused_probes
    finally:
        server.stop()


async def health_if_admitted(server: ServerProcess) -> dict[str, Any] | None:
    """The counters, once the server has room for one more connection."""
    try:
        return dict((await health(server))["counters"])
    except (OSError, ValueError):  # refused: the cap still counts the one just closed
        return None


def test_the_defaults_cap_what_the_docs_say() -> None:
    limits = Limits()
    assert limits.catch_up_bytes == 8 * MIB and limits.undo_bytes == 4 * MIB
    assert limits.session_undo_bytes == 64 * MIB and limits.max_identities == 1000


async def test_the_welcome_of_a_reading_joiner_decodes_whole(tmp_path: Path) -> None:
    """The welcome's pieces (header, small keys joined, shared payload) are one frame."""
    server = start(tmp_path)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write(
                f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n".encode()
            )
            await reader.readuntil(b"\r\n\r\n")
            writer.write(hello(server))
            head = await reader.readexactly(2)
            assert head[0] == 0x82  # one final binary frame
            n = head[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", await reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await reader.readexactly(8))[0]
            welcome = decode(await reader.readexactly(n), Limits(max_frame_bytes=1 << 30))
            assert welcome["type"] == "welcome" and welcome["resume"]
        finally:
            writer.transport.abort()
    finally:
        server.stop()
