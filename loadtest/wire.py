"""A lean websocket client for the load generator: one asyncio protocol per socket.

The `websockets` client spends several microseconds per frame on machinery a
load generator does not need, and the generator must stay well below one
core while the server under test uses all of its own. So this speaks the
client half of RFC 6455 directly:

- frames to the server are built from bytes prepared in advance (a zero
  masking key makes masking a no-op: the server cannot tell);
- frames from the server are split with a few integer operations and handed
  to one callback, with no task, future or queue per message;
- pings are answered, a close frame closes the socket.

Fragmented messages are not reassembled: none of the servers measured here
(Backline, Node `ws`, the minimal baseline) fragments what it sends.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable
from typing import cast

__all__ = ["Socket", "client_frame", "open_socket"]

_ZERO_MASK = b"\x00\x00\x00\x00"


def client_frame(payload: bytes, opcode: int = 2) -> bytes:
    """One final, masked client frame carrying `payload` (binary by default)."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return header + _ZERO_MASK + payload


class Socket(asyncio.Protocol):
    """One websocket client connection; `on_message(payload)` sees every data frame."""

    def __init__(self, request: bytes, on_message: Callable[[bytes], None]) -> None:
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._request = request
        self._handshake = b""
        self._chunks: list[bytes] = []
        self._have = 0
        self._need = 0  # bytes the frame at the head of _chunks needs; 0: unknown yet
        self.bytes_received = 0

    # -- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not an asyncio.Transport subclass, but acts as one
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during the handshake: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.bytes_received += len(data)
        if not self.opened.done():
            data = self._handshake_received(data)
            if not data:
                return
        if self._chunks:
            self._chunks.append(data)
            self._have += len(data)
            if self._have < self._need:
                return  # still inside one large frame: join once it is complete
            data = b"".join(self._chunks)
            self._chunks.clear()
        self._parse(data)

    # -- sending -------------------------------------------------------------------

    def write(self, frame: bytes) -> None:
        """Send an already built frame (see `client_frame`)."""
        assert self.transport is not None
        self.transport.write(frame)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(b"\x03\xe8", opcode=8))
            self.transport.close()

    # -- receiving -----------------------------------------------------------------

    def _handshake_received(self, data: bytes) -> bytes:
        self._handshake += data
        end = self._handshake.find(b"\r\n\r\n")
        if end < 0:
            return b""
        head, rest = self._handshake[:end], self._handshake[end + 4 :]
        self._handshake = b""
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            self.opened.set_exception(ConnectionError(f"handshake refused: {status.decode()}"))
            assert self.transport is not None
            self.transport.close()
            return b""
        self.opened.set_result(None)
        return rest

    def _parse(self, data: bytes) -> None:
        i, end = 0, len(data)
        on_message = self.on_message
        while end - i >= 2:
            b0, n = data[i], data[i + 1] & 0x7F
            if n < 126:
                start = i + 2
            elif n == 126:
                if end - i < 4:
                    break
                n, start = int.from_bytes(data[i + 2 : i + 4], "big"), i + 4
            else:
                if end - i < 10:
                    break
                n, start = int.from_bytes(data[i + 2 : i + 10], "big"), i + 10
            stop = start + n
            if stop > end:
                self._chunks.append(data[i:])
                self._have, self._need = end - i, stop - i
                return
            opcode = b0 & 0x0F
            if opcode == 2 or opcode == 1:
                on_message(data[start:stop])
            elif opcode == 9:  # ping: answer with the same payload
                self.write(client_frame(data[start:stop], opcode=10))
            elif opcode == 8:
                self.close()
                return
            i = stop
        if i < end:
            self._chunks.append(data[i:])
            self._have, self._need = end - i, 0


def _request(host: str, port: int, path: str, subprotocol: str | None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def open_socket(
    url: str,
    on_message: Callable[[bytes], None],
    subprotocol: str | None = None,
    timeout: float = 30.0,
) -> Socket:
    """Connect to ``ws://host:port/path`` and finish the opening handshake."""
    if not url.startswith("ws://"):
        raise ValueError(f"only ws:// URLs: {url}")
    rest = url[len("ws://") :]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    loop = asyncio.get_running_loop()
    request = _request(host, int(port), "/" + path, subprotocol)
    _, sock = await asyncio.wait_for(
        loop.create_connection(lambda: Socket(request, on_message), host, int(port)), timeout
    )
    await asyncio.wait_for(sock.opened, timeout)
    return sock
