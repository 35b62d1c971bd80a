"""The websocket connection class the server uses: messages go straight to a callback.

`websockets` queues each incoming message for a handler task that awaits
`recv()`: per message, a queue, a future and a task switch, and its frame
parser is a chain of generators. A session server handles each message in
microseconds and never waits on one, so once a connection has joined, its
messages are handed to a callback right where they arrive (`data_received`),
in order.

Joined connections also skip the generic parser for the frames a client
sends all the time: complete, masked binary (or text) data frames, pings and
pongs are parsed here (RFC 6455 §5.2), unmasked with websockets' C helper.
Anything else — a close frame, a fragmented message, reserved bits, a frame
over the size limit, a protocol violation — and every frame once the
connection is closing, is handed with all bytes after it to `websockets`, whose
parser sits at that same frame boundary and decides (close handshake, 1002,
1009, reassembly), exactly as if it had parsed everything. The fast path
resumes once that parser is back at a frame boundary.

Before a callback is set (the hello phase), messages queue as usual and
`recv()` works.
"""

from __future__ import annotations

from collections.abc import Callable

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode, apply_mask  # type: ignore[attr-defined]
from websockets.http11 import Request
from websockets.protocol import State
from websockets.streams import StreamReader

from .fanout import stats

__all__ = ["TEXT", "DirectConnection", "MessageCallback"]

TEXT = ""
"""What the callback receives for a text message (the protocol accepts binary only)."""

MessageCallback = Callable[[bytes | str], None]

_AT_FRAME_START = StreamReader.at_eof.__code__  # where websockets' parser waits between frames
_FAST_OPCODES = frozenset((1, 2, 9, 10))  # text, binary, ping, pong
# a partial frame is kept and joined with the next read; past this size it goes to
# websockets' parser instead, whose buffer grows linearly (joining would be quadratic)
_MAX_PENDING = 64 * 1024


class DirectConnection(ServerConnection):
    """A `ServerConnection` that can dispatch messages synchronously (see module doc)."""

    on_message: MessageCallback | None = None
    _fragments: list[Frame] | None = None
    _fast = False  # parse here (the generic parser is idle at a frame boundary)
    _pending = b""  # the start of a frame whose rest has not arrived yet (fast path)

    async def dispatch_to(self, callback: MessageCallback) -> None:
        """From now on, hand every message to `callback`; first those already queued."""
        while len(self.recv_messages.frames):  # sent right after hello, before this call
            raw = await self.recv()
            callback(raw if isinstance(raw, str | bytes) else bytes(raw))
        self.on_message = callback
        self._parse_here_if_idle()

    # -- the fast path --------------------------------------------------------------

    def _parse_here_if_idle(self) -> None:
        """Take over parsing if websockets' parser has nothing buffered and waits for
        a new frame (counted in /healthz as `fast_parse_entered`)."""
        protocol = self.protocol
        if protocol.state is not State.OPEN or protocol.reader.buffer:
            return
        waiting = protocol.parser  # the server's parser delegates to the frame parser
        while (inner := getattr(waiting, "gi_yieldfrom", None)) is not None:
            waiting = inner
        if getattr(waiting, "gi_code", None) is _AT_FRAME_START:
            self._fast = True
            stats["fast_parse_entered"] += 1

    def data_received(self, data: bytes) -> None:
        if not self._fast:
            super().data_received(data)
            if self.on_message is not None:
                self._parse_here_if_idle()
            return
        if self._pending:
            data = self._pending + data
            self._pending = b""
        size = len(data)
        at = 0
        max_size = self.protocol.max_message_size
        callback = self.on_message
        assert callback is not None
        while at < size:
            second = data[at + 1] if size - at > 1 else 0
            length = second & 0x7F
            head = 2 if length < 126 else 4 if length == 126 else 10
            if size - at < head:
                self._pending = data[at:]
                return
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
                stats["fast_parse_handed_back"] += 1
                super().data_received(data[at:])
                self._parse_here_if_idle()  # it may have taken whole frames only
                return
            if end > size:
                self._pending = data[at:]
                return
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
            else:
                self.acknowledge_pings(payload)

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
