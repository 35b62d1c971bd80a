"""Generator-side clients: join a room, send prepared edits, count what arrives.

One `Member` is one websocket. Against Backline it joins with `hello` and
sends real `op` frames (set the tempo); against a relaying baseline it joins
``/ROOM`` and sends the `ops` frame Backline would have broadcast, which the
baseline relays to the room. Either way every member receives the same kind
of frame, an `ops` frame with one or more batches, and counts its batches
(deliveries) from the frame's first bytes, without decoding it. A sender
decodes only frames that carry its own client id, to time its
acknowledgements.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgpack

from backline.protocol.codec import SUBPROTOCOL, encode

from .targets import Target, start_target
from .wire import Socket, client_frame, open_socket

__all__ = ["OPS_PREFIX", "Member", "close_all", "connect_all", "percentile", "running_target"]

OPS_PREFIX = b"\x82" + encode("type") + encode("ops") + encode("batches")
_WELCOME = encode("type") + encode("welcome")
_EDIT_OPS = [{"op": "set", "id": "project", "field": "tempo", "value": 121.0}]
_N = len(OPS_PREFIX)


def _map_header(payload: bytes) -> int:
    """Bytes of a msgpack map's header: fixmap 1, map16 3 (a welcome has 16 keys), map32 5."""
    first = payload[0] if payload else 0
    return 3 if first == 0xDE else 5 if first == 0xDF else 1


def batches_in(payload: bytes) -> int:
    """How many batches an `ops` frame holds, read from its array header."""
    c = payload[_N]
    if c < 0xA0:
        return c - 0x90
    if c == 0xDC:
        return int.from_bytes(payload[_N + 1 : _N + 3], "big")
    return int.from_bytes(payload[_N + 1 : _N + 5], "big")


def percentile(ordered: list[float], q: float) -> float:
    """The q-quantile of an already sorted list (nan when empty)."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Member:
    """One client of the load generator."""

    def __init__(self, target: Target, session: str, index: int, sender: bool) -> None:
        self.target = target
        self.session = session
        self.index = index
        self.sender = sender
        self.sock: Socket | None = None
        self.client = f"g{index:06d}"
        self.seq = 0
        self.sent: dict[int, float] = {}
        self.rtts: list[float] = []
        self.deliveries = 0
        self.frames = 0
        self.welcome: asyncio.Future[bytes] | None = None
        self.hello_at = 0.0
        self.joined_at = 0.0  # when the complete welcome frame arrived
        self._marker = b""
        self._head = b""
        self._tail = b""
        self._tail2 = b""

    # -- joining -------------------------------------------------------------------

    async def open(self) -> None:
        """Open the socket (no hello yet)."""
        if self.target.speaks_protocol:
            url = self.target.urls[self.index % len(self.target.urls)]
            self.sock = await open_socket(url, self._on_join_frame, SUBPROTOCOL)
        else:
            url = f"{self.target.urls[0]}/{self.session}"
            self.sock = await open_socket(url, self._on_frame, SUBPROTOCOL)

    def send_hello(self, token: str) -> None:
        """Send `hello` (Backline only); `welcome` resolves with the welcome frame."""
        assert self.sock is not None
        self.welcome = asyncio.get_running_loop().create_future()
        hello = {
            "type": "hello",
            "session": self.session,
            "token": token,
            "name": f"lt{self.index}",
        }
        self.hello_at = time.perf_counter()
        self.sock.write(client_frame(encode(hello)))

    def _on_join_frame(self, payload: bytes) -> None:
        if payload[_map_header(payload) :].startswith(_WELCOME):
            self.joined_at = time.perf_counter()
            assert self.sock is not None and self.welcome is not None
            self.sock.on_message = self._on_frame
            if not self.welcome.done():
                self.welcome.set_result(payload)
        elif self.welcome is not None and not self.welcome.done():
            message = msgpack.unpackb(payload)
            if message.get("type") == "error":
                self.welcome.set_exception(RuntimeError(f"join refused: {message}"))

    async def join(self, token: str, decode_welcome: bool = True) -> None:
        """Open and, against Backline, say hello and wait for the welcome."""
        await self.open()
        if not self.target.speaks_protocol:
            self._prepare()
            return
        self.send_hello(token)
        assert self.welcome is not None
        frame = await asyncio.wait_for(self.welcome, 60)
        if decode_welcome:
            self.client = msgpack.unpackb(frame)["client"]
        self._prepare()

    # -- edits ---------------------------------------------------------------------

    def _prepare(self) -> None:
        """Build the parts of this member's edit frames once; only `seq` changes."""
        self._marker = encode("by") + encode(self.client)
        if self.target.speaks_protocol:
            head = b"\x83" + encode("type") + encode("op") + encode("seq") + b"\xce"
            tail = encode("ops") + encode(_EDIT_OPS)
            frame = client_frame(head + bytes(4) + tail)
            self._head, self._tail = frame[: len(frame) - len(tail) - 4], tail
        else:  # what Backline would broadcast: {"type":"ops","batches":[{v,by,seq,ops}]}
            head = OPS_PREFIX + b"\x91\x84" + encode("v") + b"\xce"
            middle = self._marker + encode("seq") + b"\xce"
            tail = encode("ops") + encode(_EDIT_OPS)
            frame = client_frame(head + bytes(4) + middle + bytes(4) + tail)
            self._head = frame[: len(frame) - len(tail) - 4 - len(middle) - 4]
            self._tail = middle
            self._tail2 = tail

    def send_edit(self, now: float) -> None:
        self.seq += 1
        seq = self.seq
        self.sent[seq] = now
        raw = seq.to_bytes(4, "big")
        assert self.sock is not None
        if self.target.speaks_protocol:
            self.sock.write(self._head + raw + self._tail)
        else:
            self.sock.write(self._head + raw + self._tail + raw + self._tail2)

    def send_payload(self, payload: bytes) -> None:
        assert self.sock is not None
        self.sock.write(client_frame(payload))

    # -- receiving -----------------------------------------------------------------

    def _on_frame(self, payload: bytes) -> None:
        self.frames += 1
        if payload.startswith(OPS_PREFIX):
            self.deliveries += batches_in(payload)
            if self.sent and self._marker in payload:
                now = time.perf_counter()
                for batch in msgpack.unpackb(payload)["batches"]:
                    if batch["by"] == self.client:
                        sent = self.sent.pop(batch["seq"], None)
                        if sent is not None:
                            self.rtts.append(now - sent)
        elif self.on_other is not None:
            self.on_other(self, payload)

    on_other: Any = None  # a scenario's handler for other frames (presence, …)

    def reset(self) -> None:
        self.rtts = []
        self.deliveries = 0
        self.frames = 0

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


async def connect_all(members: list[Member], token_for: Any, batch: int = 100) -> None:
    """Join every member, `batch` at a time (the server's listen backlog is finite)."""
    for i in range(0, len(members), batch):
        await asyncio.gather(*(m.join(token_for(m.session)) for m in members[i : i + batch]))


async def close_all(members: list[Member], timeout: float = 10.0) -> None:
    """Close every socket and wait (bounded) until each is gone."""
    for m in members:
        m.close()
    waits = [m.sock.closed for m in members if m.sock is not None]
    if waits:
        await asyncio.wait(waits, timeout=timeout)


@contextlib.asynccontextmanager
async def running_target(name: str) -> AsyncIterator[Target]:
    """Start a target in a fresh folder; stop it (off the event loop) afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        stack = contextlib.ExitStack()
        try:
            yield await asyncio.to_thread(start_target, name, Path(tmp), stack)
        finally:
            await asyncio.to_thread(stack.close)
