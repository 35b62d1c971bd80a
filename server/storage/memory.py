"""The in-memory store: one process, nothing kept across restarts (tests, benchmarks)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backline.server.storage.base import (
    Entry,
    EntryId,
    Loaded,
    Milestone,
    Trimmed,
    int_id,
)
from backline.server.storage.news import News

__all__ = ["MemoryStore"]


@dataclass
class _Log:
    entries: list[tuple[int, bytes]] = field(default_factory=list)
    next_id: int = 1
    snapshot: bytes | None = None
    snapshot_after: int = 0
    trimmed_upto: int = 0  # every entry with an id up to this one was dropped
    milestones: dict[int, Milestone] = field(default_factory=dict)  # by version


class MemoryStore:
    """One process, nothing kept across restarts: for tests and benchmarks."""

    def __init__(self, keep_history: bool = True) -> None:
        self.keep_history = keep_history
        self.single_writer = True
        self._logs: dict[str, _Log] = {}
        self._news = News()
        # sessions whose follower may have something to read: a change to a log puts
        # it here, and `tail` drops it once the follower has caught up. `tail` looks
        # at these only, not at every session a process holds (most are idle).
        self._dirty: set[str] = set()
        self._chat: dict[str, list[dict[str, Any]]] = {}
        self._pending: list[tuple[str, list[bytes], asyncio.Future[list[EntryId]]]] = []

    async def append(self, session: str, entries: Sequence[bytes]) -> list[EntryId]:
        return await self.append_soon(session, entries)

    def append_soon(self, session: str, entries: Sequence[bytes]) -> asyncio.Future[list[EntryId]]:
        """Append on the next loop turn (a store answers later, never synchronously).

        Every append of one loop turn is made by one callback, which resolves all of
        their futures before it tells the follower: the sessions' own-append
        callbacks are then queued ahead of the follower's wake-up, so each session
        decides its own entries (`Session._deliver_own`) instead of the follower
        reading and decoding them. With a callback per append, the follower woken
        by the first one read the others' entries first, and most went the slow way.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[EntryId]] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._append_pending)
        self._pending.append((session, list(entries), future))
        return future

    def _append_pending(self) -> None:
        pending, self._pending = self._pending, []
        for session, entries, future in pending:
            if future.cancelled():
                continue
            self._dirty.add(session)
            log = self._logs.setdefault(session, _Log())
            ids = []
            for data in entries:
                log.entries.append((log.next_id, data))
                ids.append(str(log.next_id))
                log.next_id += 1
            future.set_result(ids)
        self._news.set()

    def _after(self, session: str, after: EntryId | None, count: int) -> list[Entry] | None:
        log = self._logs.get(session)
        if log is None:
            return []
        position = int_id(after)
        if position < log.trimmed_upto:
            return None
        if not log.entries:
            return []
        start = max(0, position + 1 - log.entries[0][0])  # ids are consecutive
        return [Entry(str(i), d) for i, d in log.entries[start : start + count]]

    async def read(self, session: str, after: EntryId | None, count: int = 1000) -> list[Entry]:
        found = self._after(session, after, count)
        if found is None:
            raise Trimmed(f"session {session}: entries after {after} were trimmed")
        return found

    async def tail(
        self, positions: Mapping[str, EntryId | None], timeout: float
    ) -> dict[str, list[Entry] | None]:
        self._news.clear()
        found = self._news_at(positions)
        if not found:
            if not await self._news.wait(timeout):
                return {}
            found = self._news_at(positions)
        return found

    def _news_at(self, positions: Mapping[str, EntryId | None]) -> dict[str, list[Entry] | None]:
        found: dict[str, list[Entry] | None] = {}
        for session in list(self._dirty):
            if session not in positions:
                self._dirty.discard(session)  # not followed: `wake_tail` adds it back
                continue
            entries = self._after(session, positions[session], 1000)
            if entries is None or entries:
                found[session] = entries
            else:
                self._dirty.discard(session)
        return found

    def wake_tail(self, session: str | None = None) -> None:
        if session is not None:
            self._dirty.add(session)
        self._news.set()

    async def load(self, session: str) -> Loaded | None:
        log = self._logs.get(session)
        if log is None:
            return None
        after = str(log.snapshot_after) if log.snapshot is not None else None
        entries = [Entry(str(i), d) for i, d in log.entries if i > log.snapshot_after]
        return Loaded(log.snapshot, after, entries)

    async def save_snapshot(
        self,
        session: str,
        after: EntryId,
        snapshot: bytes,
        *,
        version: int | None = None,
        journal: bytes = b"",
    ) -> None:
        self._dirty.add(session)
        log = self._logs.setdefault(session, _Log())
        position = int_id(after)
        if self.keep_history and version is not None and version not in log.milestones:
            log.milestones[version] = Milestone(version, str(position), snapshot, journal)
        if log.snapshot is not None and position <= log.snapshot_after:
            return
        previous = log.snapshot_after
        log.snapshot, log.snapshot_after = snapshot, position
        if previous and not self.keep_history:
            log.entries = [(i, d) for i, d in log.entries if i > previous]
            log.trimmed_upto = max(log.trimmed_upto, previous)

    async def milestone(self, session: str, version: int) -> Milestone | None:
        log = self._logs.get(session)
        if log is None:
            return None
        found = [v for v in log.milestones if v <= version]
        return log.milestones[max(found)] if found else None

    async def milestones(self, session: str) -> list[Milestone]:
        log = self._logs.get(session)
        if log is None:
            return []
        return [
            Milestone(m.version, m.after, None, m.journal)
            for _, m in sorted(log.milestones.items())
        ]

    async def add_chat(self, session: str, entry: dict[str, Any], keep: int) -> None:
        history = self._chat.setdefault(session, [])
        history.append(dict(entry))
        del history[: max(0, len(history) - keep)]

    async def chat_history(self, session: str, count: int) -> list[dict[str, Any]]:
        history = self._chat.get(session, [])
        return [dict(e) for e in history[-count:]] if count > 0 else []

    async def delete(self, session: str) -> None:
        self._dirty.add(session)
        self._logs.pop(session, None)
        self._chat.pop(session, None)

    async def sessions(self) -> list[str]:
        return sorted(self._logs)

    async def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        self._news.set()
