"""What a session's collaborators share: its name, the bus, metrics, background tasks.

A session is split into collaborators that own their state (`Roster`, `Chat`,
`SessionRoom`, the pipeline in `Session`); each gets this small context
instead of the session itself, so that none reaches into another's state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from enum import StrEnum
from typing import Any

from backline.server.metrics import Metrics
from backline.server.storage.bus import Bus, BusUnavailable

__all__ = ["BusKind", "SessionContext"]

log = logging.getLogger("backline.session")


class BusKind(StrEnum):
    """What a session's processes tell each other over the bus (field ``t``)."""

    PRESENCE = "presence"  # members whose presence changed
    HEARTBEAT = "hb"  # every member here, again (a process that died stops sending these)
    SYNC = "sync"  # a process just loaded the session: say who is here
    CHAT = "chat"  # a chat message posted here
    RECORDING = "recording"  # this process's audio room started or stopped a recording
    DELETED = "deleted"  # an owner deleted the session
    LIVE = "live"  # a member here played a live note
    ROOM = "room"  # the audio room's signalling between its host and the other processes


class SessionContext:
    """The session's name, node, bus, metrics and a home for its background tasks."""

    def __init__(self, name: str, bus: Bus, metrics: Metrics | None) -> None:
        self.name = name
        self.bus = bus
        self.node = bus.node
        self.metrics = metrics
        self._tasks: set[asyncio.Task[Any]] = set()

    def background(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run `coro` without waiting for it; a failure is logged, never lost."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("session %s: background task failed", self.name, exc_info=task.exception())

    async def publish(self, kind: BusKind, **fields: Any) -> None:
        """Tell the session's other processes (best effort: presence and chat only)."""
        try:
            await self.bus.publish(self.name, {"t": kind.value, **fields})
        except BusUnavailable as exc:
            self.count("bus_errors")
            log.debug("session %s: bus publish failed: %s", self.name, exc)

    def observe(self, name: str, value: float) -> None:
        if self.metrics is not None:
            self.metrics.observe(name, value)

    def count(self, name: str, n: int = 1, **labels: str) -> None:
        if self.metrics is not None:
            self.metrics.count(name, n, **labels)
