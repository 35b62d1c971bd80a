"""Writing frames to connections without ever waiting on a slow one.

Frames are written straight into the connection's transport (no task, no
queue object per message). The transport's buffer is the bounded send queue:
a client whose buffer grows past the limit cannot keep up, so it is closed with
`SLOW_CONSUMER` and resumes from its last version when it reconnects, instead
of holding back the room or growing memory without bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from backline.protocol.errors import CloseCode

__all__ = ["Peer", "send", "stats"]

log = logging.getLogger("backline.fanout")

stats: Counter[str] = Counter()
"""Process-wide fan-out counters, reported by /healthz."""


class Peer:
    """A websocket connection as the session hub sees it."""

    __slots__ = ("_closing", "label", "ws")

    def __init__(self, ws: ServerConnection, label: str) -> None:
        self.ws = ws
        self.label = label
        self._closing = False

    @property
    def open(self) -> bool:
        return not self._closing and self.ws.protocol.state is State.OPEN

    def close_soon(self, code: int, reason: str) -> None:
        """Start a close handshake without waiting for it."""
        if self._closing:
            return
        self._closing = True
        task = asyncio.get_running_loop().create_task(self.ws.close(int(code), reason))
        _background.add(task)
        task.add_done_callback(_background.discard)


_background: set[asyncio.Task[None]] = set()


def send(peer: Peer, frame: bytes, max_buffer: int) -> bool:
    """Queue one binary frame; close the peer instead if it is too far behind."""
    if not peer.open:
        return False
    ws = peer.ws
    if ws.transport.get_write_buffer_size() > max_buffer:
        stats["slow_consumers_closed"] += 1
        log.warning("%s: closing slow consumer (more than %d bytes queued)", peer.label, max_buffer)
        peer.close_soon(CloseCode.SLOW_CONSUMER, "too slow: outgoing buffer overflowed")
        return False
    ws.protocol.send_binary(frame)
    ws.send_data()
    return True
