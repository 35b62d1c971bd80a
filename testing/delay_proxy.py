"""A loopback TCP proxy that emulates a WAN path: delay and jitter, in order.

Tests and benchmarks put it between a websocket client and the server to see
how the protocol behaves at a realistic round-trip time without a real
network. Each chunk read in either direction is delivered after a one-way
delay of ``rtt_ms / 2 ± jitter_ms / 2``, so a request/response round trip
takes ``rtt_ms ± jitter_ms``. Delays are measured from when a chunk was read,
not from when the previous one was written, so they do not add up; and a
chunk is never delivered before an earlier one of the same direction, because
TCP is a byte stream and reordering it would corrupt the data.

    async with DelayProxy("127.0.0.1", server_port, rtt_ms=80, jitter_ms=20) as proxy:
        async with websockets.asyncio.client.connect(proxy.url()) as ws:
            ...
"""

from __future__ import annotations

import asyncio
import enum
import random
from collections import deque
from dataclasses import dataclass
from types import TracebackType

__all__ = ["DelayProxy", "ProxyStats"]

_CHUNK = 64 * 1024
_DEFAULT_BUFFER_LIMIT = 4 * 1024 * 1024


class _Signal(enum.Enum):
    """End-of-stream markers queued behind the data, so they are delayed like it."""

    EOF = "eof"  # orderly half-close: forward it as a FIN
    RESET = "reset"  # the source failed: tear the whole connection down


@dataclass
class ProxyStats:
    """Counters for tests and benchmarks to check that traffic really went through."""

    connections: int = 0
    """Client connections accepted."""
    bytes_to_target: int = 0
    """Bytes delivered from clients to the target."""
    bytes_to_client: int = 0
    """Bytes delivered from the target to clients."""


class _Pipe:
    """One direction of one connection: a reader that timestamps chunks into a
    queue, and a writer that delivers each at its due time."""

    def __init__(
        self,
        proxy: DelayProxy,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        *,
        to_target: bool,
    ) -> None:
        self._proxy = proxy
        self._src = src
        self._dst = dst
        self._to_target = to_target
        self._loop = asyncio.get_running_loop()
        self._queue: deque[tuple[float, bytes | _Signal]] = deque()
        self._ready = asyncio.Event()  # the queue is not empty
        self._room = asyncio.Event()  # the queue holds less than the buffer limit
        self._room.set()
        self._buffered = 0
        self._last_due = 0.0

    def _push(self, item: bytes | _Signal) -> None:
        # Due time is relative to the read, but never before the previous chunk's.
        due = max(self._last_due, self._loop.time() + self._proxy._one_way_delay())
        self._last_due = due
        self._queue.append((due, item))
        self._ready.set()
        if isinstance(item, bytes):
            self._buffered += len(item)
            if self._buffered >= self._proxy._buffer_limit:
                self._room.clear()

    async def read_loop(self) -> None:
        """Read until EOF or error; stop reading while the queue is full so the
        sender feels backpressure instead of the proxy buffering without bound."""
        end = _Signal.EOF
        try:
            while True:
                data = await self._src.read(_CHUNK)
                if not data:
                    break
                self._push(data)
                await self._room.wait()
        except OSError:  # ConnectionResetError and friends
            end = _Signal.RESET
        self._push(end)

    async def write_loop(self) -> bool:
        """Deliver queued chunks at their due times; True if the direction ended
        with an orderly EOF, False if it was reset or the destination failed."""
        try:
            while True:
                while not self._queue:
                    self._ready.clear()
                    await self._ready.wait()
                due, item = self._queue.popleft()
                wait = due - self._loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if item is _Signal.RESET:
                    return False
                if item is _Signal.EOF:
                    if self._dst.can_write_eof():
                        self._dst.write_eof()
                    return True
                self._dst.write(item)
                self._buffered -= len(item)
                if self._buffered < self._proxy._buffer_limit:
                    self._room.set()
                await self._dst.drain()
                self._proxy._count(len(item), to_target=self._to_target)
        except (OSError, RuntimeError):  # reset peer, or write to a closing transport
            return False


class _Link:
    """One proxied connection, registered synchronously on accept so close() can
    always reach its transports and task, even before the task first runs."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.target: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None

    def abort(self) -> None:
        for writer in (self.client, self.target):
            if writer is not None:
                writer.transport.abort()


class DelayProxy:
    """A TCP proxy on loopback that delays every chunk by half an RTT, with jitter."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        rtt_ms: float = 0.0,
        jitter_ms: float = 0.0,
        seed: int | None = None,
        listen_host: str = "127.0.0.1",
        buffer_limit: int = _DEFAULT_BUFFER_LIMIT,
    ) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.listen_host = listen_host
        self.port = 0
        self.stats = ProxyStats()
        self._rng = random.Random(seed)
        self._rtt_ms = 0.0
        self._jitter_ms = 0.0
        self.set_delay(rtt_ms, jitter_ms)
        if buffer_limit <= 0:
            raise ValueError("buffer_limit must be positive")
        self._buffer_limit = buffer_limit
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._closing = False

    @property
    def rtt_ms(self) -> float:
        return self._rtt_ms

    @property
    def jitter_ms(self) -> float:
        return self._jitter_ms

    @property
    def active_connections(self) -> int:
        """Connections currently proxied, so tests can wait for teardown."""
        return len(self._links)

    def set_delay(self, rtt_ms: float, jitter_ms: float) -> None:
        """Change the path; applies to data read from now on (queued data keeps
        its due time, so order is preserved)."""
        if rtt_ms < 0 or jitter_ms < 0:
            raise ValueError("rtt_ms and jitter_ms must be >= 0")
        self._rtt_ms = float(rtt_ms)
        self._jitter_ms = float(jitter_ms)

    def _one_way_delay(self) -> float:
        """Seconds: half the RTT plus uniform jitter of ± jitter/2, never negative."""
        ms = self._rtt_ms / 2
        if self._jitter_ms:
            ms += self._rng.uniform(-self._jitter_ms / 2, self._jitter_ms / 2)
        return max(0.0, ms) / 1000.0

    def _count(self, n: int, *, to_target: bool) -> None:
        if to_target:
            self.stats.bytes_to_target += n
        else:
            self.stats.bytes_to_client += n

    def url(self, scheme: str = "ws") -> str:
        """The address clients should dial instead of the target's."""
        if not self.port:
            raise RuntimeError("DelayProxy is not started")
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> DelayProxy:
        """Listen on a free port (see `port` / `url()`); returns self for chaining."""
        if self._server is not None:
            raise RuntimeError("DelayProxy already started")
        self._closing = False
        self._server = await asyncio.start_server(self._on_connect, self.listen_host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def close(self) -> None:
        """Stop listening, drop every proxied connection and wait for its tasks."""
        self._closing = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        links = list(self._links)
        for link in links:
            link.abort()
            if link.task is not None:
                link.task.cancel()
        tasks = [link.task for link in links if link.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> DelayProxy:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain callback (not a coroutine) so the link and its task are tracked
        # before control returns to the loop; close() can then never miss one.
        if self._closing:
            writer.transport.abort()
            return
        self.stats.connections += 1
        link = _Link(writer)
        self._links.add(link)
        link.task = asyncio.get_running_loop().create_task(self._run(link, reader))

    async def _run(self, link: _Link, client_reader: asyncio.StreamReader) -> None:
        children: list[asyncio.Task[None] | asyncio.Task[bool]] = []
        clean = False
        try:
            try:
                target_reader, link.target = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
            except OSError:
                return
            up = _Pipe(self, client_reader, link.target, to_target=True)
            down = _Pipe(self, target_reader, link.client, to_target=False)
            children += [asyncio.create_task(up.read_loop()), asyncio.create_task(down.read_loop())]
            writers = [asyncio.create_task(up.write_loop()), asyncio.create_task(down.write_loop())]
            children += writers
            pending: set[asyncio.Task[bool]] = set(writers)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if not all(task.result() for task in done):
                    return  # a reset or failed write: the finally aborts both sides
            # Both directions ended with EOF: close politely, flushing what is buffered.
            clean = True
            link.client.close()
            link.target.close()
        finally:
            if not clean:
                link.abort()
            for child in children:
                child.cancel()
            await asyncio.gather(*children, return_exceptions=True)
            self._links.discard(link)
