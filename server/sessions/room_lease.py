"""Which process hosts a session's audio room: the holder of the session's ``room`` lease.

Every process that has a member asking to join the room first tries to take
the lease (`claim`); the one holding it hosts the room (aiortc, the mixes,
the recording) and renews it every quarter of its time to live while its room
has participants (`hold`). The others relay their members' signalling to it
over the bus and check the holder at the same pace (`watch`); when the lease
expires (its host died) or changes hands, they ask their members to offer
again, and the first offer takes the lease. With the in-process bus there is
one process, which always wins.

The bus unavailable (Redis down): the room stays where it is, or is hosted
here; it cannot be worse than one room per process, as before leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from backline.server.sessions.context import SessionContext
from backline.server.storage.bus import BusUnavailable

__all__ = ["LEASE", "RoomLease"]

log = logging.getLogger("backline.session")

LEASE = "room"  # the lease's name on the bus


class RoomLease:
    """The ``room`` lease of one session, as seen from this process.

    Args:
        context: the session's (its bus and node).
        ttl: seconds the lease lives without a renewal: how long a dead host's room
            stays unreachable before another process takes over.
        on_lost: called once when this process held the lease and another took it.
        on_moved: called once when the host being watched no longer holds it.
    """

    def __init__(
        self,
        context: SessionContext,
        ttl: float,
        *,
        on_lost: Callable[[], None],
        on_moved: Callable[[str | None], None],
        on_tick: Callable[[], None] = lambda: None,
    ) -> None:
        self._context = context
        self.ttl = ttl
        self._on_lost = on_lost
        self._on_moved = on_moved
        self._on_tick = on_tick  # every renewal: the host's housekeeping
        self._holding: asyncio.Task[None] | None = None
        self._watching: asyncio.Task[None] | None = None
        self.watched: str | None = None  # the other host whose room our members are in

    @property
    def node(self) -> str:
        return self._context.node

    @property
    def holding(self) -> bool:
        return self._holding is not None and not self._holding.done()

    async def claim(self) -> str:
        """Take (or renew) the lease if it is free; the node that holds it now."""
        try:
            return await self._context.bus.claim(self._context.name, LEASE, self.ttl)
        except BusUnavailable as exc:
            self._context.count("bus_errors")
            log.warning(
                "session %s: cannot reach the room lease (%s); hosting the audio room here",
                self._context.name, exc,
            )  # fmt: skip
            return self.node

    async def holder(self) -> str | None:
        try:
            return await self._context.bus.holder(self._context.name, LEASE)
        except BusUnavailable:
            self._context.count("bus_errors")
            return self.watched  # unknown: keep what we have

    def hold(self) -> None:
        """Keep renewing the lease (we host the room) until `release`."""
        self.unwatch()
        if not self.holding:
            self._holding = asyncio.get_running_loop().create_task(
                self._renew(), name=f"room lease {self._context.name}"
            )

    def watch(self, host: str) -> None:
        """Our members are in `host`'s room: tell us when it stops hosting."""
        self.watched = host
        if self._watching is None or self._watching.done():
            self._watching = asyncio.get_running_loop().create_task(
                self._watch(), name=f"room watch {self._context.name}"
            )

    def unwatch(self) -> None:
        self.watched = None
        if self._watching is not None:
            self._watching.cancel()
            self._watching = None

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 4)  # a period: four renewals per lifetime
            holder = await self.claim()
            if holder != self.node:
                log.warning(
                    "session %s: %s took the audio room's lease; closing the room here",
                    self._context.name, holder,
                )  # fmt: skip
                self._context.count("room_leases_lost")
                self._holding = None
                self._on_lost()
                return
            try:
                self._on_tick()
            except Exception:
                log.exception("session %s: room housekeeping failed", self._context.name)

    async def _watch(self) -> None:
        while self.watched is not None:
            await asyncio.sleep(self.ttl / 4)
            host = self.watched
            if host is None:
                return
            now = await self.holder()
            if now != host and self.watched == host:
                self.watched = None
                self._watching = None
                self._on_moved(now)
                return

    async def release(self) -> None:
        """Stop renewing and give the lease up (the room closed or emptied here)."""
        task, self._holding = self._holding, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(BusUnavailable):
            await self._context.bus.release(self._context.name, LEASE)

    async def close(self) -> None:
        self.unwatch()
        await self.release()
