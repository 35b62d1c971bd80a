"""The op-log store interface and the in-memory implementation."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from backline.protocol.errors import Unavailable

__all__ = ["Loaded", "MemoryStore", "Store", "StoreUnavailable", "StoredBatch"]


class StoreUnavailable(Unavailable):
    """The store could not do what was asked; nothing of that call was stored."""


@dataclass(frozen=True, slots=True)
class StoredBatch:
    version: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Loaded:
    snapshot_version: int
    snapshot: bytes | None
    batches: list[StoredBatch]


class Store(Protocol):
    async def load(self, session: str) -> Loaded | None: ...
    async def append(self, session: str, batches: Sequence[StoredBatch]) -> None: ...
    async def read_since(self, session: str, version: int) -> list[StoredBatch] | None: ...
    async def save_snapshot(self, session: str, version: int, snapshot: bytes) -> None: ...
    async def delete(self, session: str) -> None: ...
    async def sessions(self) -> list[str]: ...
    async def healthy(self) -> bool: ...
    async def close(self) -> None: ...


@dataclass
class _Log:
    batches: list[StoredBatch] = field(default_factory=list)
    snapshot_version: int = 0
    snapshot: bytes | None = None


class MemoryStore:
    def __init__(self, retain: int = 1000) -> None:
        self.retain = retain
        self._logs: dict[str, _Log] = {}

    async def load(self, session: str) -> Loaded | None:
        log = self._logs.get(session)
        if log is None:
            return None
        return Loaded(
            log.snapshot_version,
            log.snapshot,
            [b for b in log.batches if b.version > log.snapshot_version],
        )

    async def append(self, session: str, batches: Sequence[StoredBatch]) -> None:
        await asyncio.sleep(0)
        log = self._logs.setdefault(session, _Log())
        last = log.batches[-1].version if log.batches else log.snapshot_version
        for b in batches:
            if b.version != last + 1:
                raise StoreUnavailable(f"session {session}: version {b.version} after {last}")
            last = b.version
        log.batches.extend(batches)

    async def read_since(self, session: str, version: int) -> list[StoredBatch] | None:
        log = self._logs.get(session)
        if log is None:
            return []
        if log.batches and log.batches[0].version > version + 1:
            return None
        return [b for b in log.batches if b.version > version]

    async def save_snapshot(self, session: str, version: int, snapshot: bytes) -> None:
        log = self._logs.setdefault(session, _Log())
        log.snapshot_version, log.snapshot = version, snapshot
        log.batches = [b for b in log.batches if b.version > version - self.retain]

    async def delete(self, session: str) -> None:
        self._logs.pop(session, None)

    async def sessions(self) -> list[str]:
        return sorted(self._logs)

    async def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        pass
