"""2,000 connections opened and dropped abruptly: no leaked tasks, sockets or memory.

Connections are raw TCP sockets speaking just enough HTTP and WebSocket by
hand to stop at every awkward point: before the handshake ends, right after
it, after joining a session, in the middle of a frame header, in the middle
of a frame's payload. Each ends with a TCP reset (SO_LINGER 0), never a close
frame. Before and after, /metrics gives the open connections, asyncio tasks,
open file descriptors and resident memory of the server process.

Memory is compared with a baseline taken after a warm-up of the same mix (the
first connections grow the allocator's pools and caches once). The allowed
margin, 8 MiB, is about a tenth of what the 2,000 connections would keep if
each leaked its websocket buffers.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import socket
import struct
import time
from collections import Counter
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from backline.protocol.codec import SUBPROTOCOL, encode
from backline.testing import ServerProcess

SESSION = "flood"
CONNECTIONS = 2000
WARM_UP = 300
CONCURRENCY = 100
RSS_MARGIN = 8 * 1024 * 1024
KINDS = (
    "tcp_only",  # connect, reset
    "partial_handshake",  # half an HTTP upgrade request, reset
    "handshake",  # upgraded, reset without a close frame
    "joined",  # upgraded, hello, welcome read, reset
    "partial_header",  # upgraded, hello, the first byte of a frame header, reset
    "partial_payload",  # upgraded, hello, a frame announcing 4 KiB with 100 bytes sent, reset
)


async def scrape(server: ServerProcess) -> dict[str, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    raw = await reader.read()
    writer.close()
    body = raw.split(b"\r\n\r\n", 1)[1].decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if not sample.labels
    }


def masked(payload: bytes, opcode: int = 0x2) -> bytes:
    """One client frame (clients must mask)."""
    key = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + body


def upgrade_request(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n"
    ).encode()


async def one(server: ServerProcess, kind: str, token: str, number: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    try:
        if kind == "tcp_only":
            return
        request = upgrade_request(server.port)
        if kind == "partial_handshake":
            writer.write(request[: len(request) // 2])
            await writer.drain()
            return
        writer.write(request)
        response = await reader.readuntil(b"\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 101"), response
        if kind == "handshake":
            return
        hello = {"type": "hello", "session": SESSION, "token": token, "name": f"f{number}"}
        writer.write(masked(encode(hello)))
        await reader.readexactly(2)  # the first bytes of the welcome: we are in
        if kind == "partial_header":
            writer.write(b"\x82")
        elif kind == "partial_payload":
            frame = masked(os.urandom(4096))
            writer.write(frame[:108])
        await writer.drain()
    finally:
        writer.transport.abort()  # SO_LINGER 0: a reset, no FIN, no close frame


async def churn(server: ServerProcess, count: int, rng: random.Random) -> Counter[str]:
    token = server.token(SESSION)
    kinds: Counter[str] = Counter()
    gate = asyncio.Semaphore(CONCURRENCY)

    async def run(number: int) -> None:
        kind = KINDS[number % len(KINDS)] if number < len(KINDS) else rng.choice(KINDS)
        async with gate:
            await one(server, kind, token, number)
        kinds[kind] += 1

    await asyncio.gather(*(run(n) for n in range(count)))
    return kinds


async def settled(server: ServerProcess, tasks_at_most: float) -> dict[str, float]:
    """/metrics once the server has noticed every reset (bounded wait)."""
    deadline = time.monotonic() + 60
    while True:
        metrics = await scrape(server)
        if (
            metrics["backline_connections"] == 0
            and metrics["backline_asyncio_tasks"] <= tasks_at_most
        ) or time.monotonic() > deadline:
            return metrics
        await asyncio.sleep(0.2)  # polling a counter that has no event to await


async def test_2000_abrupt_connections_leak_no_tasks_sockets_or_memory(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", extra_args=["--max-clients", "5000"])
    await server.astart()
    rng = random.Random(3)
    try:
        idle = await scrape(server)
        await churn(server, WARM_UP, rng)
        baseline = await settled(server, tasks_at_most=idle["backline_asyncio_tasks"] + 3)
        started = time.monotonic()
        kinds = await churn(server, CONNECTIONS, rng)
        elapsed = time.monotonic() - started
        after = await settled(server, tasks_at_most=baseline["backline_asyncio_tasks"])
        assert server.proc is not None and server.proc.poll() is None
        rss_before = baseline["process_resident_memory_bytes"]
        rss_after = after["process_resident_memory_bytes"]
        print(
            f"\nflood: {sum(kinds.values())} connections churned in {elapsed:.1f} s "
            f"({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}); "
            f"tasks {baseline['backline_asyncio_tasks']:.0f} -> {after['backline_asyncio_tasks']:.0f}, "
            f"open fds {baseline['process_open_fds']:.0f} -> {after['process_open_fds']:.0f}, "
            f"RSS {rss_before / 2**20:.1f} -> {rss_after / 2**20:.1f} MiB "
            f"(margin {RSS_MARGIN / 2**20:.0f} MiB)"
        )
        assert sum(kinds.values()) == CONNECTIONS and len(kinds) == len(KINDS)
        assert after["backline_connections"] == 0
        assert after["backline_asyncio_tasks"] <= baseline["backline_asyncio_tasks"]
        assert after["process_open_fds"] <= baseline["process_open_fds"]
        assert rss_after - rss_before <= RSS_MARGIN
    finally:
        server.stop()
