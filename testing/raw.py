"""A bare websocket speaking msgpack frames, for protocol-level tests."""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from backline.protocol.codec import SUBPROTOCOL, decode, encode
from backline.protocol.limits import Limits

__all__ = ["RawClient"]

_UNLIMITED = Limits(max_frame_bytes=1 << 30)


class RawClient:
    """A bare websocket speaking msgpack frames, for protocol-level tests."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> RawClient:
        ws = await ws_connect(
            url,
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            compression=None,
            max_size=None,
            **kwargs,
        )
        return cls(ws)

    async def send(self, message: Any) -> None:
        await self.ws.send(message if isinstance(message, bytes | str) else encode(message))

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(raw, bytes)
        return decode(raw, _UNLIMITED)

    async def recv_type(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        """Next frame of type `kind`, skipping presence and chat frames."""
        while True:
            message = await self.recv(timeout)
            if message["type"] == kind:
                return message
            if message["type"] not in ("presence", "chat"):
                raise AssertionError(f"expected {kind!r}, got {message}")

    async def hello(
        self, session: str, token: str, name: str = "raw", **extra: Any
    ) -> dict[str, Any]:
        await self.send(
            {"type": "hello", "session": session, "token": token, "name": name, **extra}
        )
        return await self.recv_type("welcome")
