"""Writing frames to connections without ever waiting on a slow one.

Frames go into each connection's outbox (`DirectConnection.queue`): straight
into its transport while it keeps up, never a task or queue object per
message. The connection's send budget bounds what one slow peer may hold; a
peer past it is closed with `SLOW_CONSUMER` and resumes from its last version
when it reconnects, instead of holding back the room or growing memory
without bound.

A frame going to many connections is framed once: a server's frames are not
masked and no extension is negotiated (no compression), so the websocket frame
is the same bytes for every recipient and `broadcast` queues those bytes for
each connection, skipping the per-connection framing of `websockets`.
"""

from __future__ import annotations

from collections.abc import Iterable

from backline.server.wire.connection import CHUNK, DirectConnection

__all__ = ["Peer", "broadcast", "frame_bytes", "send", "send_parts"]


class Peer:
    """A websocket connection as the session hub sees it."""

    __slots__ = ("label", "ws")

    def __init__(self, ws: DirectConnection, label: str) -> None:
        self.ws = ws
        self.label = label

    @property
    def open(self) -> bool:
        return self.ws.accepting

    def close_soon(self, code: int, reason: str) -> None:
        """Start a close handshake without waiting for it."""
        self.ws.close_soon(code, reason)


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


_SMALL = 4096  # a welcome's pieces below this are copied together before writing


def _framed_here(ws: DirectConnection) -> bool:
    """Whether our own framing is what websockets would write on this connection."""
    protocol = ws.protocol
    return not protocol.extensions and not protocol.expect_continuation_frame


def send(peer: Peer, frame: bytes) -> bool:
    """Queue one binary frame; close the peer instead if it is too far behind."""
    ws = peer.ws
    if not ws.room():
        return False
    if not _framed_here(ws):
        ws.protocol.send_binary(frame)
        ws.send_data()
    elif len(frame) < CHUNK:
        ws.queue(frame_bytes(frame))
    else:  # a large frame is not copied behind its header
        ws.queue(_header(len(frame)))
        ws.queue(frame)
    return True


def send_parts(peer: Peer, parts: list[bytes], shared: bool = False) -> bool:
    """Queue one binary frame whose payload is `parts` joined, without joining them.

    For a welcome: the header goes in front and the snapshot or catch-up bytes
    (the same objects for every joiner of that version) are queued as they are,
    `shared` (off the budget: they are not this peer's alone) and handed over
    as the peer reads.
    """
    ws = peer.ws
    if not ws.room():
        return False
    if not _framed_here(ws):
        ws.protocol.send_binary(b"".join(parts))
        ws.send_data()
        return True
    small: list[bytes] = [_header(sum(map(len, parts)))]
    for part in parts:  # runs of small pieces are joined: one write each, not one per key
        if len(part) < _SMALL:
            small.append(part)
            continue
        ws.queue(b"".join(small), shared)
        small = []
        ws.queue(part, shared)
    ws.queue(b"".join(small), shared)
    return True


def broadcast(peers: Iterable[Peer], payload: bytes) -> int:
    """Send `payload` to every peer, framed once; returns how many got it."""
    frame = frame_bytes(payload)
    sent = 0
    for peer in peers:
        ws = peer.ws
        if not ws.room():
            continue
        if _framed_here(ws):
            ws.queue(frame)
        else:  # frames differ per connection: the general path
            ws.protocol.send_binary(payload)
            ws.send_data()
        sent += 1
    return sent
