"""The websocket connection class the server uses: messages go straight to a callback.

`websockets` queues each incoming message for a handler task that awaits
`recv()`: per message, a queue, a future and a task switch. A session server
handles each message in microseconds and never waits on one, so once a
connection has joined, its complete messages are handed to a callback right
where they are parsed (in `data_received`), in order. Fragmented messages are
reassembled here; the size limit is the parser's, as before. Until a callback
is set (the hello phase), messages queue as usual and `recv()` works.
"""

from __future__ import annotations

from collections.abc import Callable

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.http11 import Request

__all__ = ["TEXT", "DirectConnection", "MessageCallback"]

TEXT = ""
"""What the callback receives for a text message (the protocol accepts binary only)."""

MessageCallback = Callable[[bytes | str], None]


class DirectConnection(ServerConnection):
    """A `ServerConnection` that can dispatch messages synchronously (see module doc)."""

    on_message: MessageCallback | None = None
    _fragments: list[Frame] | None = None

    async def dispatch_to(self, callback: MessageCallback) -> None:
        """From now on, hand every message to `callback`; first those already queued."""
        while len(self.recv_messages.frames):  # sent right after hello, before this call
            raw = await self.recv()
            callback(raw if isinstance(raw, str | bytes) else bytes(raw))
        self.on_message = callback

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
