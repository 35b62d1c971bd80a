"""Writing frames to connections without ever waiting on a slow one.

Frames are written straight into the connection's transport (no task, no
queue object per message). The transport's buffer is the bounded send queue:
a client whose buffer grows past the limit cannot keep up, so it is closed with
`SLOW_CONSUMER` and resumes from its last version when it reconnects, instead
of holding back the room or growing memory without bound.

A frame going to many connections is framed once: a server's frames are not
masked and no extension is negotiated (no compression), so the websocket frame
is the same bytes for every recipient and `broadcast` writes those bytes to
each transport, skipping the per-connection framing of `websockets`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from backline.protocol.errors import CloseCode

__all__ = ["Peer", "broadcast", "frame_bytes", "send", "send_parts", "stats"]

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


def frame_bytes(payload: bytes) -> bytes:
    """One final, unmasked binary websocket frame (RFC 6455 §5.2) carrying `payload`."""
    return _header(len(payload)) + payload


def _header(n: int) -> bytes:
    """The header of a final, unmasked binary frame of `n` payload bytes."""
    if n < 126:
        return bytes((0x82, n))
    if n < 65536:
        return b"\x82\x7e" + n.to_bytes(2, "big")
    return b"\x82\x7f" + n.to_bytes(8, "big")


def _room_for(peer: Peer, max_buffer: int) -> bool:
    """Whether `peer` is open and keeping up; closes it when it fell too far behind."""
    if not peer.open:
        return False
    if peer.ws.transport.get_write_buffer_size() > max_buffer:
        stats["slow_consumers_closed"] += 1
        log.warning("%s: closing slow consumer (more than %d bytes queued)", peer.label, max_buffer)
        peer.close_soon(CloseCode.SLOW_CONSUMER, "too slow: outgoing buffer overflowed")
        return False
    return True


def send(peer: Peer, frame: bytes, max_buffer: int) -> bool:
    """Queue one binary frame; close the peer instead if it is too far behind."""
    if not _room_for(peer, max_buffer):
        return False
    ws = peer.ws
    ws.protocol.send_binary(frame)
    ws.send_data()
    return True


def send_parts(peer: Peer, parts: list[bytes], max_buffer: int) -> bool:
    """Queue one binary frame whose payload is `parts` joined, without joining them.

    For a welcome carrying a large snapshot: the header goes in front and the
    snapshot bytes (shared by every welcome of that version) are written as
    they are, instead of being copied twice into a new payload and a new frame.
    """
    if not _room_for(peer, max_buffer):
        return False
    ws = peer.ws
    protocol = ws.protocol
    if protocol.extensions or protocol.expect_continuation_frame:
        return send(peer, b"".join(parts), max_buffer)
    if protocol.writes:  # keep the order of anything websockets queued
        ws.send_data()
    ws.transport.writelines([_header(sum(map(len, parts))), *parts])
    return True


def broadcast(peers: Iterable[Peer], payload: bytes, max_buffer: int) -> int:
    """Send `payload` to every peer, framed once; returns how many got it."""
    frame = frame_bytes(payload)
    sent = 0
    for peer in peers:
        if not _room_for(peer, max_buffer):
            continue
        ws = peer.ws
        protocol = ws.protocol
        if protocol.extensions or protocol.expect_continuation_frame:
            send(peer, payload, max_buffer)  # frames differ per connection: the general path
        else:
            if protocol.writes:  # never expected between callbacks; keep the order anyway
                ws.send_data()
            ws.transport.write(frame)
        sent += 1
    return sent
