"""The embedded durable store: one SQLite file in the data dir.

It keeps each session's log of entries (see `base.py`) and its snapshot.
Every append waits for a real commit (WAL, ``synchronous=FULL`` by default), so an
acknowledged batch survives ``kill -9`` and power loss. Commits are grouped: all
appends that arrive while a commit is in flight — from every session on this
process — go into the next single transaction, so throughput grows with load
instead of paying one fsync per batch. Commits also start at most once per
`commit_interval` (1 ms by default): a commit costs about 0.15 ms of CPU however
few entries it holds, and without the pacing a busy server committed every one
or two edits on their own. An edit arriving after a quiet spell commits at once.
SQLite runs on one worker thread; the event loop never blocks on disk.

With `keep_history` (the default) no entry is ever deleted and every snapshot
also stays in ``milestones``, zlib-compressed, with its journal (`base.py`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import zlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from backline.protocol.codec import decode_record, encode
from backline.server.storage.base import (
    Entry,
    EntryId,
    Loaded,
    Milestone,
    StoreUnavailable,
    Trimmed,
    int_id,
)
from backline.server.storage.news import News

__all__ = ["SQLiteStore"]

log = logging.getLogger("backline.store")

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    session TEXT NOT NULL,
    id INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (session, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
    session TEXT PRIMARY KEY,
    after INTEGER NOT NULL,
    data BLOB NOT NULL,
    trimmed INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chat (
    session TEXT NOT NULL,
    n INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (session, n)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS milestones (
    session TEXT NOT NULL,
    version INTEGER NOT NULL,
    after INTEGER NOT NULL,
    data BLOB NOT NULL,
    journal BLOB NOT NULL,
    PRIMARY KEY (session, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, written INTEGER NOT NULL);
"""

FILENAME = "backline.db"


@dataclass(slots=True)
class _Append:
    session: str
    entries: Sequence[bytes]
    future: asyncio.Future[list[EntryId]]


class SQLiteStore:
    """Entry logs and snapshots for every session in ``<data_dir>/backline.db``.

    One process writes the file, so it knows where every log ends: `tail`
    answers from the entries it appended itself, kept in memory, and reads the
    file only for a position older than that cache. The follower reads each
    commit right after it, so a short cache per session suffices (64 entries;
    4,096 cost up to 800 MB with a thousand busy sessions).
    """

    def __init__(
        self,
        data_dir: Path,
        synchronous: str = "FULL",
        cache: int = 64,
        commit_interval: float = 0.001,
        keep_history: bool = True,
    ) -> None:
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")
        self.path = Path(data_dir) / FILENAME
        self.keep_history = keep_history
        self.single_writer = True
        self.commits = 0
        self._commit_interval = commit_interval
        self._last_commit = float("-inf")  # loop time the last group commit started
        self._synchronous = synchronous.upper()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="backline-sqlite")
        self._db: sqlite3.Connection | None = None
        self._next_id: dict[str, int] = {}  # worker thread only
        self._pending: list[_Append] = []
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self._write_failed: str | None = None  # why the last write failed, until one succeeds
        # event-loop side: where each known log ends, and its newest entries
        self._end: dict[str, int] = {}
        # sessions whose follower may have something to read: appends, loads and trims
        # put them here, and `tail` drops each once its follower has caught up, so a
        # round costs the sessions that changed, not every session this process holds
        self._dirty: set[str] = set()
        self._recent: dict[str, deque[tuple[int, bytes]]] = {}
        self._cache = cache
        self._trim: dict[str, int] = {}  # known trim points
        self._news = News()

    # -- worker-thread side -------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(f"PRAGMA synchronous={self._synchronous}")
                db.executescript(_SCHEMA)
            except BaseException:
                db.close()  # e.g. a read-only data dir: try again on the next call
                raise
            self._db = db
        return self._db

    def _last_id(self, db: sqlite3.Connection, session: str) -> int:
        cached = self._next_id.get(session)
        if cached is not None:
            return cached - 1
        row = db.execute(
            "SELECT max(v) FROM (SELECT max(id) AS v FROM entries WHERE session = ?"
            " UNION ALL SELECT after FROM snapshots WHERE session = ?)",
            (session, session),
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _commit(self, appends: list[tuple[str, Sequence[bytes]]]) -> list[list[int]]:
        """Write every append in one transaction; their ids, in order."""
        db = self._conn()
        ids: list[list[int]] = []
        assigned: dict[str, int] = {}
        db.execute("BEGIN IMMEDIATE")
        try:
            for session, entries in appends:
                first = assigned.get(session, self._last_id(db, session)) + 1
                these = list(range(first, first + len(entries)))
                db.executemany(
                    "INSERT INTO entries (session, id, data) VALUES (?, ?, ?)",
                    [(session, i, d) for i, d in zip(these, entries, strict=True)],
                )
                assigned[session] = these[-1] if these else first - 1
                ids.append(these)
            db.execute("COMMIT")
        except BaseException:
            self._abandon(db)
            raise
        for session, last in assigned.items():
            self._next_id[session] = last + 1
        return ids

    def _trimmed(self, db: sqlite3.Connection, session: str) -> int:
        row = db.execute("SELECT trimmed FROM snapshots WHERE session = ?", (session,)).fetchone()
        return 0 if row is None else int(row[0])

    def _read(self, session: str, after: int, count: int) -> list[tuple[int, bytes]] | None:
        db = self._conn()
        if after < self._trimmed(db, session):
            return None
        rows = db.execute(
            "SELECT id, data FROM entries WHERE session = ? AND id > ? ORDER BY id LIMIT ?",
            (session, after, count),
        ).fetchall()
        return [(int(i), bytes(d)) for i, d in rows]

    def _load(self, session: str) -> tuple[Loaded | None, int, int]:
        db = self._conn()
        snap = db.execute(
            "SELECT after, data FROM snapshots WHERE session = ?", (session,)
        ).fetchone()
        since = 0 if snap is None else int(snap[0])
        rows = db.execute(
            "SELECT id, data FROM entries WHERE session = ? AND id > ? ORDER BY id",
            (session, since),
        ).fetchall()
        end = self._last_id(db, session)
        if snap is None and not rows:
            return None, end, self._trimmed(db, session)
        loaded = Loaded(
            None if snap is None else bytes(snap[1]),
            None if snap is None else str(since),
            [Entry(str(i), bytes(d)) for i, d in rows],
        )
        return loaded, end, self._trimmed(db, session)

    def _save_snapshot(
        self, session: str, after: int, snapshot: bytes, version: int | None, journal: bytes
    ) -> int:
        """Returns the session's trim point afterwards."""
        db = self._conn()
        packed = zlib.compress(snapshot, 1) if self.keep_history and version is not None else b""
        db.execute("BEGIN IMMEDIATE")
        try:
            if packed:
                db.execute(
                    "INSERT OR IGNORE INTO milestones (session, version, after, data, journal)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (session, version, after, packed, journal),
                )
            row = db.execute("SELECT after FROM snapshots WHERE session = ?", (session,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO snapshots (session, after, data, trimmed) VALUES (?, ?, ?, 0)",
                    (session, after, snapshot),
                )
            elif after > int(row[0]):
                previous = int(row[0])
                db.execute(
                    "UPDATE snapshots SET after = ?, data = ?, trimmed = max(trimmed, ?)"
                    " WHERE session = ?",
                    (after, snapshot, 0 if self.keep_history else previous, session),
                )
                if not self.keep_history:
                    db.execute(
                        "DELETE FROM entries WHERE session = ? AND id <= ?", (session, previous)
                    )
            trimmed = self._trimmed(db, session)
            db.execute("COMMIT")
        except BaseException:
            self._abandon(db)
            raise
        return trimmed

    def _milestone(self, session: str, version: int) -> Milestone | None:
        row = (
            self._conn()
            .execute(
                "SELECT version, after, data, journal FROM milestones"
                " WHERE session = ? AND version <= ? ORDER BY version DESC LIMIT 1",
                (session, version),
            )
            .fetchone()
        )
        if row is None:
            return None
        return Milestone(int(row[0]), str(row[1]), zlib.decompress(row[2]), bytes(row[3]))

    def _milestones(self, session: str) -> list[Milestone]:
        rows = (
            self._conn()
            .execute(
                "SELECT version, after, journal FROM milestones WHERE session = ? ORDER BY version",
                (session,),
            )
            .fetchall()
        )
        return [Milestone(int(v), str(a), None, bytes(j)) for v, a, j in rows]

    def _abandon(self, db: sqlite3.Connection) -> None:
        """After a failed write: roll back, close, and open the file afresh next time.

        A full disk or a read-only data dir fails writes. The connection must not stay
        inside the transaction, and SQLite keeps a file it opened read-only that way,
        so a new connection is what notices that space or permission came back.
        """
        try:
            if db.in_transaction:
                db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            log.warning("sqlite rollback failed: %s", exc)
        db.close()
        self._db = None
        self._next_id.clear()

    def _probe(self) -> None:
        """A tiny write: does the store accept writes again (disk space, permissions)?"""
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT OR REPLACE INTO probe (id, written) VALUES (1, unixepoch())")
            db.execute("COMMIT")
        except BaseException:
            self._abandon(db)
            raise

    def _add_chat(self, session: str, data: bytes, keep: int) -> None:
        db = self._conn()
        with db:
            row = db.execute("SELECT MAX(n) FROM chat WHERE session = ?", (session,)).fetchone()
            n = (row[0] or 0) + 1
            db.execute("INSERT INTO chat (session, n, data) VALUES (?, ?, ?)", (session, n, data))
            db.execute("DELETE FROM chat WHERE session = ? AND n <= ?", (session, n - keep))

    def _chat_history(self, session: str, count: int) -> list[bytes]:
        rows = (
            self._conn()
            .execute(
                "SELECT data FROM chat WHERE session = ? ORDER BY n DESC LIMIT ?", (session, count)
            )
            .fetchall()
        )
        return [bytes(r[0]) for r in reversed(rows)]

    def _delete(self, session: str) -> None:
        db = self._conn()
        with db:
            db.execute("DELETE FROM entries WHERE session = ?", (session,))
            db.execute("DELETE FROM snapshots WHERE session = ?", (session,))
            db.execute("DELETE FROM milestones WHERE session = ?", (session,))
            db.execute("DELETE FROM chat WHERE session = ?", (session,))
        self._next_id.pop(session, None)

    def _sessions(self) -> list[str]:
        rows = (
            self._conn()
            .execute("SELECT session FROM entries UNION SELECT session FROM snapshots ORDER BY 1")
            .fetchall()
        )
        return [str(r[0]) for r in rows]

    def _ping(self) -> None:
        self._conn().execute("SELECT 1").fetchone()

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- event-loop side ----------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        if self._closed:
            raise StoreUnavailable("the store is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as exc:
            log.error("sqlite %s failed: %s", getattr(fn, "__name__", fn), exc)
            raise StoreUnavailable(f"sqlite: {exc}") from exc
        except RuntimeError as exc:  # executor shut down under us
            raise StoreUnavailable(str(exc)) from exc

    async def append(self, session: str, entries: Sequence[bytes]) -> list[EntryId]:
        """Return the ids once ``entries`` are committed; raise StoreUnavailable otherwise."""
        return await self.append_soon(session, entries)

    def append_soon(self, session: str, entries: Sequence[bytes]) -> asyncio.Future[list[EntryId]]:
        """Queue `entries` for the next group commit; the future resolves like `append`."""
        future: asyncio.Future[list[EntryId]] = asyncio.get_running_loop().create_future()
        if self._closed:
            future.set_exception(StoreUnavailable("the store is closed"))
        elif not entries:
            future.set_result([])
        else:
            self._pending.append(_Append(session, entries, future))
            if self._flusher is None:
                self._flusher = asyncio.create_task(self._flush())
        return future

    async def _flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
            while self._pending:
                wait = self._last_commit + self._commit_interval - loop.time()
                if wait > 0:  # pace commits: what arrives meanwhile joins this one
                    await asyncio.sleep(wait)
                self._last_commit = loop.time()
                group, self._pending = self._pending, []
                try:
                    ids = await self._run(self._commit, [(a.session, a.entries) for a in group])
                except StoreUnavailable as exc:
                    self._write_failed = exc.message
                    for a in group:
                        if not a.future.done():
                            a.future.set_exception(StoreUnavailable(exc.message))
                    continue
                self.commits += 1
                self._write_failed = None
                for a, these in zip(group, ids, strict=True):
                    self._remember(a.session, these, a.entries)
                    if not a.future.done():
                        a.future.set_result([str(i) for i in these])
                self._news.set()
        finally:
            self._flusher = None

    def _remember(self, session: str, ids: list[int], entries: Sequence[bytes]) -> None:
        self._dirty.add(session)
        recent = self._recent.get(session)
        if recent is None:
            recent = self._recent[session] = deque(maxlen=self._cache)
        recent.extend(zip(ids, entries, strict=True))
        if ids:
            self._end[session] = ids[-1]

    async def read(self, session: str, after: EntryId | None, count: int = 1000) -> list[Entry]:
        rows = await self._run(self._read, session, int_id(after), count)
        if rows is None:
            raise Trimmed(f"session {session}: entries after {after} were trimmed")
        return [Entry(str(i), d) for i, d in rows]

    async def tail(
        self, positions: Mapping[str, EntryId | None], timeout: float
    ) -> dict[str, list[Entry] | None]:
        self._news.clear()
        found = await self._news_at(positions)
        if not found:
            if not await self._news.wait(timeout):
                return {}
            found = await self._news_at(positions)
        return found

    async def _news_at(
        self, positions: Mapping[str, EntryId | None]
    ) -> dict[str, list[Entry] | None]:
        found: dict[str, list[Entry] | None] = {}
        for session in list(self._dirty):
            if session not in positions:
                self._dirty.discard(session)  # not followed: `wake_tail` adds it back
                continue
            after = int_id(positions[session])
            if after < self._trim.get(session, 0):
                found[session] = None
                continue
            end = self._end.get(session)
            if end is not None and after >= end:
                self._dirty.discard(session)
                continue  # this process is the only writer: nothing newer exists
            recent = self._recent.get(session)
            if recent and recent[0][0] <= after + 1:
                start = after + 1 - recent[0][0]  # ids are consecutive
                # index from the nearer end: a follower is usually only a few entries behind
                found[session] = [
                    Entry(str(recent[j][0]), recent[j][1])
                    for j in range(start, min(len(recent), start + 1000))
                ]
                continue
            rows = await self._run(self._read, session, after, 1000)
            if rows is None or rows:
                found[session] = None if rows is None else [Entry(str(i), d) for i, d in rows]
            if rows is not None and not rows:
                self._dirty.discard(session)
                self._end.setdefault(session, after)
        return found

    def wake_tail(self, session: str | None = None) -> None:
        if session is not None:
            self._dirty.add(session)
        self._news.set()

    async def load(self, session: str) -> Loaded | None:
        loaded, end, trimmed = await self._run(self._load, session)
        self._end[session] = end
        self._trim[session] = trimmed
        self._dirty.add(session)
        return loaded

    async def save_snapshot(
        self,
        session: str,
        after: EntryId,
        snapshot: bytes,
        *,
        version: int | None = None,
        journal: bytes = b"",
    ) -> None:
        try:
            trimmed = await self._run(
                self._save_snapshot, session, int_id(after), snapshot, version, journal
            )
        except StoreUnavailable as exc:
            self._write_failed = exc.message
            raise
        self._trim[session] = trimmed
        self._dirty.add(session)
        recent = self._recent.get(session)
        while recent and recent[0][0] <= trimmed:
            recent.popleft()  # the cache never serves what the file no longer has

    async def milestone(self, session: str, version: int) -> Milestone | None:
        return await self._run(self._milestone, session, version)

    async def milestones(self, session: str) -> list[Milestone]:
        return await self._run(self._milestones, session)

    async def add_chat(self, session: str, entry: dict[str, Any], keep: int) -> None:
        await self._run(self._add_chat, session, encode(entry), keep)

    async def chat_history(self, session: str, count: int) -> list[dict[str, Any]]:
        if count <= 0:
            return []
        rows = await self._run(self._chat_history, session, count)
        return [decode_record(row) for row in rows]

    async def delete(self, session: str) -> None:
        await self._run(self._delete, session)
        self._dirty.add(session)
        self._end.pop(session, None)
        self._recent.pop(session, None)
        self._trim.pop(session, None)

    async def sessions(self) -> list[str]:
        return await self._run(self._sessions)

    async def healthy(self) -> bool:
        """Reads work, and writes too: after a failed write, healthy only once a probe
        write succeeds (a full disk or a read-only data dir fail writes, not reads)."""
        try:
            await asyncio.wait_for(self._run(self._ping), timeout=2.0)
            if self._write_failed is not None:
                await asyncio.wait_for(self._run(self._probe), timeout=2.0)
                log.warning("sqlite accepts writes again (last failure: %s)", self._write_failed)
                self._write_failed = None
        except (StoreUnavailable, TimeoutError):
            return False
        return True

    async def close(self) -> None:
        """Finish in-flight commits, then close the file."""
        if self._closed:
            return
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
        self._news.set()
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        finally:
            self._closed = True
            self._executor.shutdown(wait=True)
