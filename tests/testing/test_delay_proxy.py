"""DelayProxy: bytes pass intact and in order, delays are per direction and not
cumulative, websockets work through it, and it tears down cleanly."""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import statistics
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve

from backline.testing import eventually
from backline.testing.delay_proxy import DelayProxy

T = TypeVar("T")
TIMEOUT = 5.0


async def bounded(aw: Awaitable[T], timeout: float = TIMEOUT) -> T:
    return await asyncio.wait_for(aw, timeout)


class Target(asyncio.Protocol):
    """A callback-based target server (no tasks of its own): echoes, greets and
    hangs up, resets, or never reads, depending on `mode`."""

    def __init__(self, mode: str, opened: list[asyncio.Transport]) -> None:
        self.mode = mode
        self.opened = opened

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.opened.append(transport)
        if self.mode == "greet-and-close":
            transport.write(b"bye")
            transport.close()
        elif self.mode == "reset":
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        elif self.mode == "stall":
            transport.pause_reading()  # a consumer that never keeps up

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def eof_received(self) -> None:
        return None  # close once the echoed bytes are flushed


TargetFactory = Callable[[str], Awaitable[int]]


@pytest.fixture
async def target() -> AsyncIterator[TargetFactory]:
    """Start target servers on free ports; all closed (with their connections) at the end."""
    loop = asyncio.get_running_loop()
    servers: list[asyncio.Server] = []
    opened: list[asyncio.Transport] = []

    async def start(mode: str = "echo") -> int:
        server = await loop.create_server(lambda: Target(mode, opened), "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for transport in opened:
        transport.abort()
    for server in servers:
        server.close()
        await server.wait_closed()
    await asyncio.sleep(0)  # let aborted transports run connection_lost


@pytest.fixture(autouse=True)
async def no_loop_errors() -> AsyncIterator[None]:
    """Fail on anything the loop reports: unretrieved task errors, callback crashes."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    yield
    loop.set_exception_handler(None)
    assert not errors


async def read_to_eof(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while chunk := await reader.read(65536):
        chunks.append(chunk)
    return b"".join(chunks)


async def eof_or_reset(reader: asyncio.StreamReader) -> bytes:
    """What is left before the stream ends; a reset counts as an end with nothing left."""
    try:
        return await read_to_eof(reader)
    except ConnectionResetError:
        return b""


async def test_large_transfer_both_ways_in_order_under_jitter(target: TargetFactory) -> None:
    port = await target("echo")
    payload = random.Random(1).randbytes(5 * 1024 * 1024)
    async with DelayProxy("127.0.0.1", port, rtt_ms=10, jitter_ms=10, seed=3) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)

        async def send() -> None:
            # Uneven chunk sizes so reads and due times interleave irregularly.
            rng, pos = random.Random(2), 0
            while pos < len(payload):
                n = rng.randint(1, 200_000)
                writer.write(payload[pos : pos + n])
                await writer.drain()
                pos += n
            writer.write_eof()  # half-close: the echo must still come back

        _, echoed = await bounded(asyncio.gather(send(), read_to_eof(reader)))
        writer.close()
        assert len(echoed) == len(payload)
        assert hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest()
        assert proxy.stats.connections == 1
        assert proxy.stats.bytes_to_target == len(payload)
        assert proxy.stats.bytes_to_client == len(payload)
        await eventually(lambda: proxy.active_connections == 0)


async def test_small_messages_pass_both_ways(target: TargetFactory) -> None:
    port = await target("echo")
    async with DelayProxy("127.0.0.1", port, rtt_ms=4, jitter_ms=4) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        for i in range(20):
            msg = f"message {i};".encode()
            writer.write(msg)
            assert await bounded(reader.readexactly(len(msg))) == msg
        writer.close()
        await bounded(writer.wait_closed())
        await eventually(lambda: proxy.active_connections == 0)


async def test_rtt_applies_per_direction(target: TargetFactory) -> None:
    port = await target("echo")
    async with DelayProxy("127.0.0.1", port, rtt_ms=40, jitter_ms=10, seed=5) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        samples = []
        for i in range(15):
            start = time.perf_counter()
            writer.write(struct.pack("!Q", i))
            assert await bounded(reader.readexactly(8)) == struct.pack("!Q", i)
            samples.append((time.perf_counter() - start) * 1000)
        writer.close()
    assert min(samples) >= 40 - 10 - 1, samples
    assert 30 <= statistics.median(samples) <= 60, samples


async def test_delay_is_not_cumulative(target: TargetFactory) -> None:
    """A burst of messages each takes ~one RTT, not one RTT per message queued ahead."""
    port = await target("echo")
    async with DelayProxy("127.0.0.1", port, rtt_ms=40) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        sent: list[float] = []
        received: list[float] = []

        async def send() -> None:
            for i in range(10):
                sent.append(time.perf_counter())
                writer.write(struct.pack("!Q", i))
                await asyncio.sleep(0.005)

        async def receive() -> None:
            for i in range(10):
                assert await reader.readexactly(8) == struct.pack("!Q", i)
                received.append(time.perf_counter())

        await bounded(asyncio.gather(send(), receive()))
        writer.close()
    latencies = [(r - s) * 1000 for s, r in zip(sent, received, strict=True)]
    # cumulative delay would put the last at ~400 ms; the upper bound leaves room
    # for a loaded machine's scheduling stalls, the lower one cannot be cheated
    assert all(39 <= ms <= 200 for ms in latencies), latencies


async def test_set_delay_applies_to_later_data(target: TargetFactory) -> None:
    port = await target("echo")
    async with DelayProxy("127.0.0.1", port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)

        async def round_trip() -> float:
            start = time.perf_counter()
            writer.write(b"x")
            await bounded(reader.readexactly(1))
            return (time.perf_counter() - start) * 1000

        assert await round_trip() < 45  # no delay yet (bound: a loaded machine's stalls)
        proxy.set_delay(60, 0)
        assert await round_trip() >= 59
        proxy.set_delay(0, 0)
        assert await round_trip() < 45
        writer.close()
        with pytest.raises(ValueError):
            proxy.set_delay(-1, 0)


def test_jitter_is_bounded_clamped_and_seeded() -> None:
    def delays(seed: int, rtt: float, jitter: float) -> list[float]:
        proxy = DelayProxy("127.0.0.1", 1, rtt_ms=rtt, jitter_ms=jitter, seed=seed)
        return [proxy._one_way_delay() for _ in range(500)]

    one = delays(7, 40, 10)
    assert one == delays(7, 40, 10)
    assert one != delays(8, 40, 10)
    assert all(0.015 <= d <= 0.025 for d in one)
    assert min(one) < 0.016 and max(one) > 0.024  # the whole ±jitter/2 band is used
    clamped = delays(7, 4, 20)
    assert min(clamped) == 0.0 and all(d >= 0 for d in clamped)
    assert set(delays(7, 40, 0)) == {0.02}


async def test_websocket_through_proxy() -> None:
    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with ws_serve(echo, "127.0.0.1", 0) as server:
        port = int(next(iter(server.sockets)).getsockname()[1])
        async with DelayProxy("127.0.0.1", port, rtt_ms=20, jitter_ms=4) as proxy:
            assert proxy.url() == f"ws://127.0.0.1:{proxy.port}"
            assert proxy.url("http") == f"http://127.0.0.1:{proxy.port}"
            async with ws_connect(proxy.url(), open_timeout=TIMEOUT) as ws:
                for i in range(5):
                    await ws.send(f"text {i}")
                    assert await bounded(ws.recv()) == f"text {i}"
                blob = random.Random(4).randbytes(300_000)
                await ws.send(blob)
                assert await bounded(ws.recv()) == blob
                latency = await bounded(await ws.ping())
                assert latency >= 0.020 - 0.004 - 0.001
            # The closing handshake and both FINs crossed the proxy (else close times out).
            assert ws.close_code == 1000
            assert proxy.stats.connections == 1
            assert proxy.stats.bytes_to_target > len(blob)
            assert proxy.stats.bytes_to_client > len(blob)
            await eventually(lambda: proxy.active_connections == 0)


async def test_backpressure_reaches_the_sender(target: TargetFactory) -> None:
    """A stalled target must stall the client, not make the proxy buffer without bound."""
    port = await target("stall")
    async with DelayProxy("127.0.0.1", port, rtt_ms=2, buffer_limit=256 * 1024) as proxy:
        _, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        sent = 0
        chunk = bytes(64 * 1024)

        async def send() -> None:
            nonlocal sent
            while sent < 512 * 1024 * 1024:
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)

        sender = asyncio.create_task(send())
        await asyncio.sleep(0.5)
        stalled_at = sent
        await asyncio.sleep(0.2)
        assert not sender.done()
        # Kernel socket buffers on both legs absorb a few MB; the proxy adds ~256 KiB.
        assert sent == stalled_at < 32 * 1024 * 1024
        sender.cancel()
        with pytest.raises(asyncio.CancelledError):
            await bounded(sender)
        writer.transport.abort()


async def test_server_close_reaches_client_as_eof(target: TargetFactory) -> None:
    port = await target("greet-and-close")
    async with DelayProxy("127.0.0.1", port, rtt_ms=20) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await bounded(read_to_eof(reader)) == b"bye"
        assert reader.at_eof()
        writer.close()
        await eventually(lambda: proxy.active_connections == 0)
        assert proxy.stats.bytes_to_client == 3


async def test_target_reset_closes_client_and_proxy_survives(target: TargetFactory) -> None:
    reset_port = await target("reset")
    async with DelayProxy("127.0.0.1", reset_port, rtt_ms=2) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"hello")
        assert await bounded(eof_or_reset(reader)) == b""
        writer.close()
        await eventually(lambda: proxy.active_connections == 0)
        # Still serving: a second connection behaves the same, no crash.
        reader2, writer2 = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await bounded(eof_or_reset(reader2)) == b""
        writer2.close()
        assert proxy.stats.connections == 2


async def test_unreachable_target_closes_client(target: TargetFactory) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]  # nothing listens here once the socket closes
    async with DelayProxy("127.0.0.1", dead_port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await bounded(read_to_eof(reader)) == b""
        writer.close()
        await eventually(lambda: proxy.active_connections == 0)


async def test_close_drops_connections_and_leaves_no_tasks(target: TargetFactory) -> None:
    port = await target("echo")
    proxy = await DelayProxy("127.0.0.1", port, rtt_ms=10_000).start()
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"in flight")  # queued in the proxy for 5 s when close() runs
    await eventually(lambda: proxy.active_connections == 1)
    start = time.perf_counter()
    await bounded(proxy.close())
    assert time.perf_counter() - start < 2.5  # did not wait for the queued delivery
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert proxy.active_connections == 0
    assert await bounded(eof_or_reset(reader)) == b""
    writer.close()
    with pytest.raises(OSError):
        await bounded(asyncio.open_connection("127.0.0.1", proxy.port))
