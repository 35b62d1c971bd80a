"""The websocket connection class the server uses: one bounded outbox, direct dispatch.

**Every write goes through one send budget.** Frames for a connection — pongs,
errors, welcomes, broadcasts, websockets' own pings and close frames — are
written by `queue`: straight into the transport while it keeps up, else into
an outbox that is drained when the transport asks for more (`resume_writing`).
A large payload (a welcome's snapshot or catch-up) is handed over in pieces of
`CHUNK` bytes as the peer reads, never copied whole into the transport's
buffer, and the bytes shared between joiners stay shared. While the transport
is paused (its buffer above the write limit) the connection stops *reading*
too, so a peer that sends pings, hellos or edits without reading the answers
only fills its own socket. A connection whose bytes held here alone
(transport buffer plus outbox, a welcome's shared payload excepted) exceed the
budget, or that stays paused for `slow_timeout` seconds, is closed with
`SLOW_CONSUMER` (4008) and resumes from its last version when it reconnects.

**Admission.** Each server counts its connections and, per client address,
those that have not joined yet; over either cap a new connection gets a plain
HTTP 503 and is closed before any websocket work.

**Direct dispatch.** `websockets` queues each incoming message for a handler
task that awaits `recv()`: per message, a queue, a future and a task switch,
and its frame parser is a chain of generators. A session server handles each
message in microseconds and never waits on one, so once a connection has
joined, its messages are handed to a callback right where they arrive
(`data_received`), in order.

Joined connections also skip the generic parser for the frames a client
sends all the time: complete, masked binary (or text) data frames, pings and
pongs are parsed here (RFC 6455 §5.2), unmasked with websockets' C helper.
Anything else — a close frame, a fragmented message, reserved bits, a frame
over the size limit, a protocol violation — and every frame once the
connection is closing, is handed with all bytes after it to `websockets`, whose
parser sits at that same frame boundary and decides (close handshake, 1002,
1009, reassembly), exactly as if it had parsed everything. The fast path
resumes once that parser is back at a frame boundary *and* no fragmented
message is open (RFC 6455 §5.4: a data frame inside one is a protocol error,
which only websockets' parser knows to refuse).

Before a callback is set (the hello phase), messages queue as usual and
`recv()` works.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode, apply_mask  # type: ignore[attr-defined]
from websockets.http11 import Request
from websockets.protocol import State
from websockets.streams import StreamReader

from backline.protocol.errors import CloseCode

__all__ = [
    "CHUNK",
    "TEXT",
    "WRITE_PAUSE_BYTES",
    "Admission",
    "ConnectionPolicy",
    "DirectConnection",
    "MessageCallback",
]

log = logging.getLogger("backline.wire")

TEXT = ""
"""What the callback receives for a text message (the protocol accepts binary only)."""

MessageCallback = Callable[[bytes | str], None]

CHUNK = 64 * 1024
"""Largest piece of one payload handed to the transport at a time."""

WRITE_PAUSE_BYTES = 256 * 1024
"""A transport buffer above this pauses writing (the outbox fills) and reading."""

_AT_FRAME_START = StreamReader.at_eof.__code__  # where websockets' parser waits between frames
_FAST_OPCODES = frozenset((1, 2, 9, 10))  # text, binary, ping, pong
# a partial frame is kept and joined with the next read; past this size it goes to
# websockets' parser instead, whose buffer grows linearly (joining would be quadratic)
_MAX_PENDING = 64 * 1024
_EOF = b""  # in the outbox: half-close once everything before it is written (never data)


@dataclass(frozen=True, slots=True)
class ConnectionPolicy:
    """What one server allows each connection (see docs/OPERATIONS.md)."""

    send_budget: int = 4 * 1024 * 1024  # bytes queued to one connection before 4008
    slow_timeout: float = 10.0  # seconds paused before 4008
    max_connections: int = 10_000  # open connections of this process
    max_pending_per_address: int = 256  # connections of one address that have not joined


@dataclass(slots=True)
class Admission:
    """Connections one server holds: in all, and not joined yet per client address."""

    policy: ConnectionPolicy
    total: int = 0
    pending: Counter[str] = field(default_factory=Counter)
    # this server's wire counters (/healthz): fast_parse_entered, fast_parse_handed_back,
    # slow_consumers_closed, connections_refused
    stats: Counter[str] = field(default_factory=Counter)

    def refusal(self, address: str) -> str | None:
        """Why a new connection from `address` is refused, or None to admit it."""
        if self.total >= self.policy.max_connections:
            return f"this server holds its maximum of {self.policy.max_connections} connections"
        if self.pending[address] >= self.policy.max_pending_per_address:
            limit = self.policy.max_pending_per_address
            return f"{limit} connections from your address have not joined a session yet"
        return None


def _http_refusal(reason: str) -> bytes:
    body = f"{reason}; try again later\n".encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class DirectConnection(ServerConnection):
    """A `ServerConnection` with a bounded outbox and synchronous dispatch (module doc).

    Subclassed per server by `for_server`, which sets `admission`.
    """

    admission: Admission = Admission(ConnectionPolicy())
    on_message: MessageCallback | None = None
    _fragments: list[Frame] | None = None
    _fast = False  # parse here (the generic parser is idle at a frame boundary)
    _pending = b""  # the start of a frame whose rest has not arrived yet (fast path)
    _address = ""
    _admitted = False  # counted in `admission` (total, and pending until joined)
    _joined = False
    _write_paused = False
    _queue_paused = False  # websockets' message queue asked to stop reading (hello phase)
    _reading_paused = False
    _slow_timer: asyncio.TimerHandle | None = None
    _closing_soon = False
    _overflowed = False  # closed as too slow: nothing more is read or queued

    @classmethod
    def for_server(cls, policy: ConnectionPolicy) -> type[DirectConnection]:
        """A subclass whose connections share one `Admission` under `policy`."""
        return type(cls.__name__, (cls,), {"admission": Admission(policy)})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (bytes, shared): what the transport could not take yet, in order
        self._out: deque[tuple[bytes | memoryview, bool]] = deque()
        self._out_owned = 0  # outbox bytes that count against the budget

    # -- admission ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        self._address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        admission = self.admission
        refusal = admission.refusal(self._address)
        if refusal is not None:
            self.admission.stats["connections_refused"] += 1
            log.warning("refusing a connection from %s: %s", self._address, refusal)
            writer = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
            writer.write(_http_refusal(refusal))
            writer.close()  # the handshake then sees the connection lost and ends
            return
        admission.total += 1
        admission.pending[self._address] += 1
        self._admitted = True
        assembler = self.recv_messages  # route its pause/resume through ours
        assembler.pause, assembler.resume = self._pause_for_queue, self._resume_for_queue

    def connection_lost(self, exc: Exception | None) -> None:
        if self._admitted:
            self._admitted = False
            self.admission.total -= 1
            if not self._joined:
                self._release_pending()
        if self._slow_timer is not None:
            self._slow_timer.cancel()
            self._slow_timer = None
        self._out.clear()
        self._out_owned = 0
        super().connection_lost(exc)
        # our flow-control callbacks on websockets' queue tie it to us: untie (no cycle to
        # wait for a full garbage collection)
        self.recv_messages.pause = self.recv_messages.resume = _nothing
        self.on_message = None  # the session's callback holds this connection too

    def forget_handshake(self) -> None:
        """Drop the handshake's headers once the handler has read what it needs.

        websockets keeps the request and response, headers included, for the
        connection's whole life; nothing reads them after the upgrade, and at
        about 2.5 KiB they were a tenth of what an idle connection holds.
        """
        if self.request is not None:
            self.request.headers.clear()
        if self.response is not None:
            self.response.headers.clear()

    def _release_pending(self) -> None:
        pending = self.admission.pending
        pending[self._address] -= 1
        if pending[self._address] <= 0:
            del pending[self._address]

    # -- the outbox -----------------------------------------------------------------

    @property
    def queued(self) -> int:
        """Bytes held for this connection alone: the transport's buffer and the outbox,
        without the welcome payload shared with other joiners."""
        return self.transport.get_write_buffer_size() + self._out_owned

    @property
    def accepting(self) -> bool:
        """Open and not on its way out: frames queued now will be sent."""
        return not self._closing_soon and self.protocol.state is State.OPEN

    def room(self) -> bool:
        """Whether this connection can take another frame; closes it (4008) when its
        bytes exceed the budget."""
        if self._closing_soon or self.protocol.state is not State.OPEN:
            return False
        if self.queued > self.admission.policy.send_budget:
            self.overflow("outgoing buffer overflowed")
            return False
        return True

    def queue(self, data: bytes | memoryview, shared: bool = False) -> None:
        """Write `data` in order after everything queued before it.

        `shared` bytes (a welcome's snapshot or catch-up, the same object for many
        joiners) do not count against the budget while they wait in the outbox.
        """
        size = len(data)
        if not size:
            return
        if not self._out and not self._write_paused:
            if size <= CHUNK:  # the common case: one frame, straight to the socket
                if not self.transport.is_closing():
                    self.transport.write(data)
                return
            data = self._write_now(memoryview(data))
            if not data:
                return
        self._out.append((data, shared))
        if not shared:
            self._out_owned += len(data)

    def queue_parts(self, parts: Iterable[bytes | memoryview], shared: bool = False) -> None:
        for part in parts:
            self.queue(part, shared)

    def _write_now(self, view: memoryview) -> memoryview:
        """Hand `view` to the transport, `CHUNK` bytes at a time, until it pauses;
        returns what is left."""
        transport = self.transport
        if transport.is_closing():
            return view[:0]
        while view and not self._write_paused:
            transport.write(view[:CHUNK])
            view = view[CHUNK:]
        return view

    def _drain_outbox(self) -> None:
        out = self._out
        while out and not self._write_paused:
            data, shared = out.popleft()
            if not shared:
                self._out_owned -= len(data)
            if not data:  # the end of the stream (`send_data`)
                self._write_eof()
                continue
            rest = self._write_now(memoryview(data))
            if rest:
                out.appendleft((rest, shared))
                if not shared:
                    self._out_owned += len(rest)

    def send_data(self) -> None:
        """websockets' own writes (handshake, pongs, pings, close) join the outbox too."""
        for data in self.protocol.data_to_send():
            if data:
                self.queue(data)
            elif self._out:
                self._out.append((_EOF, True))
            else:
                self._write_eof()

    def _write_eof(self) -> None:
        transport = self.transport
        if transport.is_closing():
            return
        if transport.can_write_eof():
            try:
                transport.write_eof()
            except Exception:  # uvloop may raise RuntimeError on a closing socket
                log.debug("half-closing failed", exc_info=True)
        else:
            transport.close()

    def overflow(self, why: str) -> None:
        """Close as too slow: nothing more is queued, what waits unsent is dropped."""
        if self._closing_soon:
            return
        self.admission.stats["slow_consumers_closed"] += 1
        log.warning(
            "%s: closing slow consumer (%s, %d bytes queued)", self._address, why, self.queued
        )
        if self._out:  # keep the frame being written (its start is on the wire)
            head = self._out[0]
            self._out.clear()
            self._out.append(head)
            self._out_owned = 0 if head[1] else len(head[0])
        self._overflowed = True  # and read nothing more from it
        self._update_reading()
        self.close_soon(CloseCode.SLOW_CONSUMER, f"too slow: {why}")

    def close_soon(self, code: int, reason: str) -> None:
        """Start a close handshake without waiting for it."""
        if self._closing_soon:
            return
        self._closing_soon = True
        task = asyncio.get_running_loop().create_task(self.close(int(code), reason))
        _background.add(task)
        task.add_done_callback(_background.discard)

    # -- flow control: a full outbox stops reading ---------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        self._write_paused = True
        self._update_reading()
        if self._slow_timer is None and not self._closing_soon:
            timeout = self.admission.policy.slow_timeout
            self._slow_timer = self.loop.call_later(timeout, self._stuck)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._write_paused = False
        self._drain_outbox()
        if not self._write_paused:
            if self._slow_timer is not None:
                self._slow_timer.cancel()
                self._slow_timer = None
            self._update_reading()

    def _stuck(self) -> None:
        self._slow_timer = None
        if self._write_paused:
            timeout = self.admission.policy.slow_timeout
            self.overflow(f"read nothing for {timeout:g} s")

    def _pause_for_queue(self) -> None:
        self._queue_paused = True
        self._update_reading()

    def _resume_for_queue(self) -> None:
        self._queue_paused = False
        self._update_reading()

    def _update_reading(self) -> None:
        want_paused = self._write_paused or self._queue_paused or self._overflowed
        if want_paused == self._reading_paused:
            return
        transport = self.transport
        if transport.is_closing():
            return
        self._reading_paused = want_paused
        if want_paused:
            transport.pause_reading()
        else:
            transport.resume_reading()

    # -- joining --------------------------------------------------------------------

    async def dispatch_to(self, callback: MessageCallback) -> None:
        """From now on, hand every message to `callback`; first those already queued."""
        if self._admitted and not self._joined:
            self._joined = True
            self._release_pending()
        while len(self.recv_messages.frames):  # sent right after hello, before this call
            raw = await self.recv()
            callback(raw if isinstance(raw, str | bytes) else bytes(raw))
        self.on_message = callback
        if self._queue_paused:  # the hello-phase queue is not used any more
            self._resume_for_queue()
        self._parse_here_if_idle()

    # -- the fast path --------------------------------------------------------------

    def _parse_here_if_idle(self) -> None:
        """Take over parsing if websockets' parser has nothing buffered, waits for a new
        frame and no fragmented message is open (counted in /healthz as
        `fast_parse_entered`)."""
        protocol = self.protocol
        if protocol.state is not State.OPEN or protocol.reader.buffer:
            return
        if protocol.current_size is not None or self._fragments is not None:
            return  # inside a fragmented message: only continuations may follow
        waiting = protocol.parser  # the server's parser delegates to the frame parser
        while (inner := getattr(waiting, "gi_yieldfrom", None)) is not None:
            waiting = inner
        if getattr(waiting, "gi_code", None) is _AT_FRAME_START:
            self._fast = True
            self.admission.stats["fast_parse_entered"] += 1

    def data_received(self, data: bytes) -> None:
        if not self._fast:
            super().data_received(data)
            if self.on_message is not None:
                self._parse_here_if_idle()
            self._check_budget()
            return
        if self._pending:
            data = self._pending + data
            self._pending = b""
        size = len(data)
        at = 0
        max_size = self.protocol.max_message_size
        callback = self.on_message
        assert callback is not None
        ponged = False
        while at < size:
            second = data[at + 1] if size - at > 1 else 0
            length = second & 0x7F
            head = 2 if length < 126 else 4 if length == 126 else 10
            if size - at < head:
                self._pending = data[at:]
                break
            if head > 2:
                length = int.from_bytes(data[at + 2 : at + head], "big")
            first = data[at]
            opcode = first & 0x0F
            end = at + head + 4 + length
            if (
                first & 0xF0 != 0x80  # not final, or reserved bits set
                or not second & 0x80  # clients must mask
                or opcode not in _FAST_OPCODES  # close, continuation, or unknown
                or (opcode >= 8 and length > 125)
                or (max_size is not None and length > max_size)
                or (end > size and length > _MAX_PENDING)  # big and partial: linear there
                or self.protocol.state is not State.OPEN
            ):
                self._fast = False  # websockets takes it from this frame on
                self.admission.stats["fast_parse_handed_back"] += 1
                super().data_received(data[at:])
                self._parse_here_if_idle()  # it may have taken whole frames only
                self._check_budget()
                return
            if end > size:
                self._pending = data[at:]
                break
            mask = data[at + head : at + head + 4]
            payload = apply_mask(data[at + head + 4 : end], mask)
            at = end
            if opcode == 2:
                callback(payload)
            elif opcode == 1:
                callback(TEXT)
            elif opcode == 9:
                self.protocol.send_pong(payload)
                self.send_data()
                ponged = True
            else:
                self.acknowledge_pings(payload)
        if ponged:
            self._check_budget()

    def _check_budget(self) -> None:
        """After answering on our own (pongs, errors of the hello phase): within budget?"""
        if (
            self._admitted
            and not self._closing_soon
            and self.protocol.state is State.OPEN
            and self.queued > self.admission.policy.send_budget
        ):
            self.overflow("outgoing buffer overflowed")

    # -- the generic path, once joined ---------------------------------------------

    def process_event(self, event: Request | Frame) -> None:  # type: ignore[override]
        callback = self.on_message
        if callback is None or not isinstance(event, Frame):
            super().process_event(event)
            return
        opcode = event.opcode
        if opcode is Opcode.BINARY or opcode is Opcode.TEXT:
            if event.fin:
                callback(bytes(event.data) if opcode is Opcode.BINARY else TEXT)
            else:
                self._fragments = [event]
        elif opcode is Opcode.CONT:
            fragments = self._fragments
            if fragments is None:  # the parser refuses a stray continuation first
                return
            fragments.append(event)
            if event.fin:
                self._fragments = None
                if fragments[0].opcode is Opcode.TEXT:
                    callback(TEXT)
                else:
                    callback(b"".join(frame.data for frame in fragments))
        elif opcode is Opcode.PONG:
            self.acknowledge_pings(bytes(event.data))


_background: set[asyncio.Task[None]] = set()


def _nothing() -> None:
    """A flow-control callback that does nothing (a closed connection's)."""
