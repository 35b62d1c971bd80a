"""All sessions of one server process: created on first join, unloaded when idle."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

from backline.protocol.codec import decode_record
from backline.protocol.messages import Batch

from . import fanout
from .config import Settings
from .sequencer import Sequencer
from .session import Session
from .store import Store

__all__ = ["Hub", "Metrics"]

log = logging.getLogger("backline.hub")


class Metrics:
    """Counters and running totals, reported by /healthz (Prometheus comes later)."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.sums: dict[str, float] = {}

    def count(self, name: str, n: int = 1, **labels: str) -> None:
        key = (
            name
            if not labels
            else name + "{" + ",".join(f"{k}={v}" for k, v in labels.items()) + "}"
        )
        self.counters[key] += n

    def observe(self, name: str, value: float) -> None:
        self.sums[name + "_sum"] = self.sums.get(name + "_sum", 0.0) + value
        self.counters[name + "_count"] += 1


class Hub:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.sessions: dict[str, Session] = {}
        self.connections = 0
        self.metrics = Metrics()
        self._loading: dict[str, asyncio.Future[Session]] = {}
        self._unload_timers: dict[str, asyncio.TimerHandle] = {}
        self.closing = False

    async def session(self, name: str) -> Session:
        """The live session `name`, loaded from the store (or created) on first use."""
        timer = self._unload_timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        live = self.sessions.get(name)
        if live is not None:
            return live
        pending = self._loading.get(name)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Session] = asyncio.get_running_loop().create_future()
        self._loading[name] = future
        try:
            session = await self._load(name)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # consumed here; waiters get it through await
            raise
        finally:
            del self._loading[name]
        self.sessions[name] = session
        future.set_result(session)
        return session

    async def _load(self, name: str) -> Session:
        limits = self.settings.limits
        sequencer = Sequencer(limits, self.settings.catch_up)
        loaded = await self.store.load(name)
        if loaded is not None:
            snapshot = None if loaded.snapshot is None else decode_record(loaded.snapshot)
            sequencer.restore(snapshot, loaded.snapshot_version)
            for stored in loaded.batches:
                sequencer.replay(Batch.from_wire(decode_record(stored.data)))
            log.info(
                "session %s: loaded v%d (snapshot v%d + %d batches)",
                name,
                sequencer.version,
                loaded.snapshot_version,
                len(loaded.batches),
            )
        else:
            log.info("session %s: created", name)
        return Session(
            name,
            self.store,
            sequencer,
            send_buffer=self.settings.send_buffer_bytes,
            snapshot_every=self.settings.snapshot_every,
            presence_interval=self.settings.presence_interval,
            chat_history=limits.chat_history,
            min_lead_us=int(self.settings.lead_ms * 1000),
            on_idle=self._idle,
            metrics=self.metrics,
        )

    def _idle(self, session: Session) -> None:
        if self.closing or session.name in self._unload_timers:
            return
        loop = asyncio.get_running_loop()
        self._unload_timers[session.name] = loop.call_later(
            self.settings.idle_unload, self._unload, session
        )

    def _unload(self, session: Session) -> None:
        self._unload_timers.pop(session.name, None)
        if self.sessions.get(session.name) is not session or not session.idle:
            return
        del self.sessions[session.name]
        task = asyncio.get_running_loop().create_task(session.close())
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
        log.info("session %s: unloaded after %.0f s idle", session.name, self.settings.idle_unload)

    async def close(self) -> None:
        """Finish every session's queued work (called before the store closes)."""
        self.closing = True
        for timer in self._unload_timers.values():
            timer.cancel()
        self._unload_timers.clear()
        await asyncio.gather(*(s.close() for s in self.sessions.values()))
        if _tasks:
            await asyncio.gather(*_tasks)

    def health(self) -> dict[str, Any]:
        return {
            "sessions": len(self.sessions),
            "connections": self.connections,
            "counters": {**self.metrics.counters, **fanout.stats},
        }


_tasks: set[asyncio.Task[None]] = set()
