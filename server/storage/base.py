"""The session log interface: what every store (memory, SQLite, Redis) implements.

A store keeps, per session, an ordered log of *entries*: edit proposals
exactly as servers submitted them, valid or not. The log is the order. Every
server process applies the entries in log order with the same deterministic
validation (`Sequencer.apply_entry`), so all of them compute the same versions
and the same project, and each acknowledges or rejects its own clients' edits
when it reads them back. With one process (memory, SQLite) the log has one
writer; with Redis it has many.

A process's calls for one session take effect in the order it made them
(an append, then a snapshot, then another append): stores keep that order
even when calls overlap.

Beside the log, a snapshot (the sequencer's state after some entry) and the
short chat history late joiners see, so that it outlives a restart like the
log does (chat is not versioned: it never goes through the log).

History: by default (`keep_history`) a store keeps every entry for good, and
each snapshot also stays, as a *milestone* (with the `journal` of the versions
since the previous one), so that any version can be rebuilt from the nearest
milestone before it plus the entries after it (`server/history.py`). Without
`keep_history`, saving a snapshot drops the entries the *previous* snapshot
covered (a reader that lags by less than one snapshot interval never misses an
entry), and milestones are not kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from backline.protocol.errors import Unavailable

__all__ = [
    "Entry",
    "EntryId",
    "Loaded",
    "Milestone",
    "Store",
    "StoreUnavailable",
    "Trimmed",
    "int_id",
]

EntryId = str
"""Opaque to callers; ordered by the store that issued it."""


class StoreUnavailable(Unavailable):
    """The store could not do what was asked. For `append`: nothing was appended,
    unless the store's reply itself was lost (then the entries may show up later)."""


@dataclass(frozen=True, slots=True)
class Entry:
    id: EntryId
    data: bytes


@dataclass(frozen=True, slots=True)
class Loaded:
    snapshot: bytes | None
    after: EntryId | None  # the snapshot covers every entry up to and including this one
    entries: list[Entry]  # every entry after `after`, in order


@dataclass(frozen=True, slots=True)
class Milestone:
    """A kept snapshot: the sequencer's state at `version`, after entry `after`."""

    version: int
    after: EntryId
    snapshot: bytes | None  # None where only the journals were asked for
    journal: bytes  # msgpack list of the versions since the previous milestone


class Store(Protocol):
    keep_history: bool
    single_writer: bool
    """This process is the log's only writer (memory, SQLite): an append's ids follow
    the last entry it returned, so a session may decide its own appends as they return
    instead of waiting for the follower to read them back (`Session._appended`)."""

    async def append(self, session: str, entries: Sequence[bytes]) -> list[EntryId]:
        """Durably append, in order, as one unit; return their ids once stored."""
        ...

    def append_soon(self, session: str, entries: Sequence[bytes]) -> asyncio.Future[list[EntryId]]:
        """Start `append` now; the future resolves as it would (the session's hot path
        uses this: no coroutine or task per append where the store can avoid one)."""
        ...

    async def read(self, session: str, after: EntryId | None, count: int = 1000) -> list[Entry]:
        """Up to `count` entries after `after` (None: from the start), in order.

        Raises `Trimmed` when entries right after `after` were dropped.
        """
        ...

    async def tail(
        self, positions: Mapping[str, EntryId | None], timeout: float
    ) -> dict[str, list[Entry] | None]:
        """Wait until some session has entries after its position, at most `timeout`
        seconds, and return what is there (sessions without news are left out).

        A session maps to None when entries after its position were trimmed:
        its reader fell too far behind and must load the session again.

        The follower's positions only move forward through what `tail` returned;
        a session that starts being followed (or whose position moved otherwise)
        is announced with `wake_tail(session)`. Single-writer stores rely on
        that to look only at the logs that changed since the last round.
        """
        ...

    def wake_tail(self, session: str | None = None) -> None:
        """Make a `tail` in progress return now (the positions changed; `session`, when
        given, was just added to them and must be looked at even if its log is idle)."""
        ...

    async def load(self, session: str) -> Loaded | None:
        """The latest snapshot and every entry after it; None for a new session."""
        ...

    async def save_snapshot(
        self,
        session: str,
        after: EntryId,
        snapshot: bytes,
        *,
        version: int | None = None,
        journal: bytes = b"",
    ) -> None:
        """Keep `snapshot` as covering the entries up to `after` (ignored if an equal or
        later one exists). With `keep_history`, also keep it as the milestone of
        `version` (when given); without, drop the entries the previous snapshot covered."""
        ...

    async def milestone(self, session: str, version: int) -> Milestone | None:
        """The latest milestone at or before `version`, its snapshot included."""
        ...

    async def milestones(self, session: str) -> list[Milestone]:
        """Every milestone, oldest first, without their snapshots (the journals only)."""
        ...

    async def add_chat(self, session: str, entry: dict[str, Any], keep: int) -> None:
        """Append to the session's chat history, keeping the last `keep` entries."""
        ...

    async def chat_history(self, session: str, count: int) -> list[dict[str, Any]]:
        """The last `count` chat entries, oldest first."""
        ...

    async def delete(self, session: str) -> None:
        """Forget everything of `session`: log, snapshot and chat history."""
        ...

    async def sessions(self) -> list[str]: ...
    async def healthy(self) -> bool: ...
    async def close(self) -> None: ...


class Trimmed(StoreUnavailable):
    """The entries after the given position are gone: load the session again."""


def int_id(entry_id: EntryId | None) -> int:
    return 0 if entry_id is None else int(entry_id)
