"""Any version of a session, rebuilt from the store: the timeline, a version's project, diffs.

The store keeps every log entry and, every `snapshot_every` versions, a
milestone (the sequencer's state then, and the journal of the versions since
the previous one). A version is rebuilt from the nearest milestone at or before
it plus the entries after that milestone, replayed through the same
deterministic `Sequencer` the live session runs, so ``at(v)`` *is* what the
session was at v. The replay runs in a worker thread (a few hundred entries:
milliseconds, but never on the event loop) and reads the log in pages, so its
memory is bounded however long the session is.

The timeline is the milestones' journals plus the versions since the latest
one; a journal that is missing (a snapshot whose save failed) is rebuilt by
replaying its interval.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backline.protocol.codec import decode_record
from backline.protocol.entry import EntryKind
from backline.protocol.errors import BacklineError, NotFound
from backline.protocol.history import changes
from backline.protocol.limits import DEFAULT_LIMITS, Limits
from backline.protocol.sequencer import Control, Sequencer
from backline.server.storage.base import Entry, EntryId, Store, Trimmed

__all__ = ["History", "Rebuilt", "VersionRow"]

PAGE = 1000  # log entries read per store call while replaying
CACHED = 64  # sessions whose decoded timeline is kept between requests

VersionRow = list[Any]
"""[version, by, at (unix ms), what it came from, summary] (`Sequencer.journal`)."""


@dataclass(slots=True)
class Rebuilt:
    """A session's sequencer as it was at `sequencer.version`, and where in the log."""

    sequencer: Sequencer
    position: EntryId | None


def _journal(packed: bytes) -> list[VersionRow]:
    return decode_record(packed) if packed else []


def _restore(sequencer: Sequencer, snapshot: bytes) -> None:
    sequencer.restore(decode_record(snapshot), owned=True)


def _replay(
    sequencer: Sequencer, entries: list[Entry], until: int | None
) -> tuple[int, EntryId | None, bool]:
    """Apply entries until the sequencer reaches version `until` (None: all of them);
    returns how many were used, the last one's id, and whether `until` was reached."""
    last: EntryId | None = None
    for used, stored in enumerate(entries, 1):
        if until is not None and sequencer.version >= until:
            return used - 1, last, True
        try:
            result = sequencer.apply_entry(decode_record(stored.data))
        except BacklineError:
            result = None  # rejected when it was decided, rejected again: the same outcome
        if isinstance(result, Control) and result.kind is EntryKind.DELETE:
            # its erasing failed or raced with edits: what follows starts afresh (as a load)
            sequencer.__init__(sequencer.limits)  # type: ignore[misc]
        last = stored.id
        if until is not None and sequencer.version >= until:
            return used, last, True
    return len(entries), last, until is not None and sequencer.version >= until


class History:
    def __init__(self, store: Store, limits: Limits = DEFAULT_LIMITS) -> None:
        self.store = store
        self.limits = limits
        # session -> (its milestones' versions, their rows): the timeline's settled part
        self._rows: OrderedDict[str, tuple[tuple[int, ...], list[VersionRow]]] = OrderedDict()

    async def rebuild(self, session: str, version: int | None = None) -> Rebuilt:
        """The session at `version` (None: its latest); raises `NotFound` for a version
        it never had (or that a trimmed log no longer holds)."""
        sequencer = Sequencer(self.limits)
        position: EntryId | None = None
        milestone = None if version is None else await self.store.milestone(session, version)
        if milestone is None and version is None:
            loaded = await self.store.load(session)
            if loaded is None:
                raise NotFound(f"no session {session!r}")
            if loaded.snapshot is not None:
                await asyncio.to_thread(_restore, sequencer, loaded.snapshot)
                position = loaded.after
            await asyncio.to_thread(_replay, sequencer, loaded.entries, None)
            if loaded.entries:
                position = loaded.entries[-1].id
            return Rebuilt(sequencer, position)
        if milestone is not None and milestone.snapshot is not None:
            await asyncio.to_thread(_restore, sequencer, milestone.snapshot)
            position = milestone.after
        while version is None or sequencer.version < version:
            # about as many entries as versions are missing (a few more for refusals)
            count = PAGE if version is None else min(PAGE, version - sequencer.version + 32)
            try:
                entries = await self.store.read(session, position, count)
            except Trimmed:
                raise NotFound(
                    f"version {version} of {session!r} is no longer kept (history is trimmed)"
                ) from None
            if not entries:
                break
            _, last, reached = await asyncio.to_thread(_replay, sequencer, entries, version)
            position = last or position
            if reached:
                break
        if version is not None and sequencer.version != version:
            raise NotFound(
                f"session {session!r} has no version {version} (the latest is {sequencer.version})"
            )
        return Rebuilt(sequencer, position)

    async def versions(
        self, session: str, latest: Sequence[Sequence[Any]] | None = None
    ) -> list[VersionRow]:
        """Every version's row, oldest first (journals, gaps rebuilt, the latest replayed).

        The milestones' part is decoded in a worker thread and kept for the next call
        (milestones never change: only new ones are decoded), for `CACHED` sessions.
        `latest`: the rows a live sequencer holds since its last milestone (its
        `journal`), which spare replaying them; without it they are replayed."""
        milestones = await self.store.milestones(session)
        key = tuple(m.version for m in milestones)
        cached = self._rows.get(session)
        if cached is not None and cached[0] == key:
            rows = list(cached[1])
            self._rows.move_to_end(session)
        else:
            rows = []
            for milestone in milestones:
                journal = await asyncio.to_thread(_journal, milestone.journal)
                first = journal[0][0] if journal else milestone.version + 1
                have = rows[-1][0] if rows else 0
                if first > have + 1:  # a journal is missing: replay its versions
                    rows.extend(await self._rows_between(session, have, first - 1))
                rows.extend(row for row in journal if row[0] > (rows[-1][0] if rows else 0))
            self._rows[session] = (key, list(rows))
            while len(self._rows) > CACHED:
                self._rows.popitem(last=False)
        have = rows[-1][0] if rows else 0
        if latest:
            if latest[0][0] > have + 1:  # a milestone whose save failed: replay its versions
                rows.extend(await self._rows_between(session, have, latest[0][0] - 1))
            rows.extend(list(row) for row in latest if row[0] > have)
            return rows
        rows.extend(await self._rows_between(session, have, None))
        return rows

    def forget(self, session: str) -> None:
        """Drop what is kept of `session` (it was deleted)."""
        self._rows.pop(session, None)

    async def _rows_between(self, session: str, after: int, until: int | None) -> list[VersionRow]:
        """The rows of versions after `after` up to `until` (None: the latest), by replay."""
        try:
            start = await self.rebuild(session, after)
        except NotFound:
            return []
        sequencer, position = start.sequencer, start.position
        sequencer.take_journal()
        rows: list[VersionRow] = []
        while until is None or sequencer.version < until:
            try:
                entries = await self.store.read(session, position, PAGE)
            except Trimmed:
                break
            if not entries:
                break
            _, last, reached = await asyncio.to_thread(_replay, sequencer, entries, until)
            rows.extend(map(list, sequencer.take_journal()))
            position = last or position
            if reached:
                break
        return rows

    async def version_at(self, session: str, time_ms: int) -> int:
        """The latest version made at or before unix-ms `time_ms` (0: before the first)."""
        found = 0
        for row in await self.versions(session):
            if row[2] and row[2] > time_ms:
                break
            found = row[0]
        return found

    async def diff(self, session: str, before: int, after: int) -> dict[str, Any]:
        """What changed from version `before` to `after`, and who changed it (the blame at
        `after` for what it has; the authors of the versions between for the rest)."""
        a, b = await asyncio.gather(self.rebuild(session, before), self.rebuild(session, after))
        found = changes(a.sequencer.doc, b.sequencer.doc)
        blame = b.sequencer.blame
        for change in found:
            row = blame.get(change["id"]) if change["change"] != "removed" else None
            change["by"] = None if row is None else row[2]
            change["at"] = None if row is None else row[3]
        low, high = sorted((before, after))
        authors = sorted({row[1] for row in await self.versions(session) if low < row[0] <= high})
        return {"from": before, "to": after, "changes": found, "authors": authors}
