"""The bus: presence and chat between the server processes of one session.

Edits go through the store's log, in order and durably; presence and chat do
not need either, so they travel on a lighter bus. The bus also holds leases
(`claim`): a session's audio room is hosted by the node holding its ``room``
lease, and the room's signalling travels on the bus to it. Each message is tagged with
the publishing process (``node``), and a process drops its own echoes. The
chat history late joiners see is kept by the store, beside the log.

`MemoryNetwork` connects the buses of processes living in one Python process
(the embedded default has exactly one), and lets tests run several nodes
without Redis; `backline.server.storage.redis_bus.RedisBus` is the same over Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from backline.protocol.codec import decode_record, encode
from backline.protocol.errors import Unavailable

__all__ = ["Bus", "BusUnavailable", "Handler", "MemoryBus", "MemoryNetwork"]

Handler = Callable[[dict[str, Any]], None]
"""Called with each message another node published (its ``"o"`` is the origin node)."""


class BusUnavailable(Unavailable):
    """The bus could not deliver or read; local members are unaffected."""


class Bus(Protocol):
    node: str

    async def publish(self, session: str, message: dict[str, Any]) -> None:
        """Send to every other node subscribed to `session` (best effort, at most once)."""
        ...

    async def subscribe(self, session: str, handler: Handler) -> None:
        """Deliver `session`'s messages from other nodes to `handler` until unsubscribed."""
        ...

    async def unsubscribe(self, session: str) -> None: ...

    async def claim(self, session: str, name: str, ttl: float) -> str:
        """Take or renew the lease `name` of `session` for `ttl` seconds, if nobody else
        holds it; returns the node holding it now (this one when it succeeded)."""
        ...

    async def release(self, session: str, name: str) -> None:
        """Give the lease up, if this node holds it (another's is left alone)."""
        ...

    async def holder(self, session: str, name: str) -> str | None:
        """The node holding the lease `name` of `session`, or None."""
        ...

    async def healthy(self) -> bool: ...
    async def close(self) -> None: ...


class MemoryNetwork:
    """The shared medium of in-process buses."""

    def __init__(self) -> None:
        self.subscribers: dict[str, dict[str, Handler]] = {}  # session -> node -> handler
        self.leases: dict[tuple[str, str], tuple[str, float]] = {}  # -> (node, expiry)

    def bus(self, node: str) -> MemoryBus:
        return MemoryBus(node, self)


class MemoryBus:
    def __init__(self, node: str, network: MemoryNetwork | None = None) -> None:
        self.node = node
        self.network = network or MemoryNetwork()

    async def publish(self, session: str, message: dict[str, Any]) -> None:
        # the same encoding as on Redis, so a message that cannot travel fails here too
        payload = encode({**message, "o": self.node})
        loop = asyncio.get_running_loop()
        for node, handler in list(self.network.subscribers.get(session, {}).items()):
            if node != self.node:
                loop.call_soon(handler, decode_record(payload))

    async def subscribe(self, session: str, handler: Handler) -> None:
        self.network.subscribers.setdefault(session, {})[self.node] = handler

    async def unsubscribe(self, session: str) -> None:
        nodes = self.network.subscribers.get(session, {})
        nodes.pop(self.node, None)
        if not nodes:
            self.network.subscribers.pop(session, None)

    async def claim(self, session: str, name: str, ttl: float) -> str:
        now = asyncio.get_running_loop().time()
        held = self.network.leases.get((session, name))
        if held is None or held[0] == self.node or held[1] <= now:
            self.network.leases[(session, name)] = (self.node, now + ttl)
            return self.node
        return held[0]

    async def release(self, session: str, name: str) -> None:
        held = self.network.leases.get((session, name))
        if held is not None and held[0] == self.node:
            del self.network.leases[(session, name)]

    async def holder(self, session: str, name: str) -> str | None:
        held = self.network.leases.get((session, name))
        if held is None or held[1] <= asyncio.get_running_loop().time():
            return None
        return held[0]

    async def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        for session in list(self.network.subscribers):
            await self.unsubscribe(session)
