"""The embedded durable store: one SQLite file in the data dir.

Every append waits for a real commit (WAL, ``synchronous=FULL`` by default), so an
acknowledged batch survives ``kill -9`` and power loss. Commits are grouped: all
appends that arrive while a commit is in flight — from every session on this
process — go into the next single transaction, so throughput grows with load
instead of paying one fsync per batch. SQLite runs on one worker thread; the event
loop never blocks on disk.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .store import Loaded, StoredBatch, StoreUnavailable

__all__ = ["SQLiteStore"]

log = logging.getLogger("backline.store")

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    session TEXT NOT NULL,
    version INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (session, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
    session TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    data BLOB NOT NULL
) WITHOUT ROWID;
"""

FILENAME = "backline.db"


@dataclass(slots=True)
class _Append:
    session: str
    batches: Sequence[StoredBatch]
    future: asyncio.Future[None]


class SQLiteStore:
    """Op log and snapshots for every session in ``<data_dir>/backline.db``."""

    def __init__(self, data_dir: Path, retain: int = 1000, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")
        self.path = Path(data_dir) / FILENAME
        self.retain = retain
        self.commits = 0
        self._synchronous = synchronous.upper()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="backline-sqlite")
        self._db: sqlite3.Connection | None = None
        self._opened = threading.Event()
        self._pending: list[_Append] = []
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False

    # -- worker-thread side -------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._synchronous}")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def _last_version(self, db: sqlite3.Connection, session: str) -> int:
        row = db.execute(
            "SELECT max(v) FROM (SELECT max(version) AS v FROM batches WHERE session = ?"
            " UNION ALL SELECT version FROM snapshots WHERE session = ?)",
            (session, session),
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _commit(self, appends: list[tuple[str, Sequence[StoredBatch]]]) -> list[str | None]:
        """Write all appends in one transaction; per append, None or why it was refused."""
        db = self._conn()
        outcome: list[str | None] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            last: dict[str, int] = {}
            for session, batches in appends:
                expected = last.get(session)
                if expected is None:
                    expected = self._last_version(db, session)
                problem = None
                for b in batches:
                    if b.version != expected + 1:
                        problem = f"session {session}: version {b.version} after {expected}"
                        break
                    expected = b.version
                if problem is None:
                    db.executemany(
                        "INSERT INTO batches (session, version, data) VALUES (?, ?, ?)",
                        [(session, b.version, b.data) for b in batches],
                    )
                    last[session] = expected
                outcome.append(problem)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return outcome

    def _load(self, session: str) -> Loaded | None:
        db = self._conn()
        snap = db.execute(
            "SELECT version, data FROM snapshots WHERE session = ?", (session,)
        ).fetchone()
        since = 0 if snap is None else int(snap[0])
        rows = db.execute(
            "SELECT version, data FROM batches WHERE session = ? AND version > ? ORDER BY version",
            (session, since),
        ).fetchall()
        if snap is None and not rows:
            return None
        return Loaded(
            since,
            None if snap is None else bytes(snap[1]),
            [StoredBatch(int(v), bytes(d)) for v, d in rows],
        )

    def _read_since(self, session: str, version: int) -> list[StoredBatch] | None:
        db = self._conn()
        rows = db.execute(
            "SELECT version, data FROM batches WHERE session = ? AND version > ? ORDER BY version",
            (session, version),
        ).fetchall()
        if rows:
            return (
                None if rows[0][0] != version + 1 else [StoredBatch(v, bytes(d)) for v, d in rows]
            )
        return None if self._last_version(db, session) > version else []

    def _save_snapshot(self, session: str, version: int, snapshot: bytes) -> None:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO snapshots (session, version, data) VALUES (?, ?, ?)"
                " ON CONFLICT (session) DO UPDATE SET version = excluded.version,"
                " data = excluded.data WHERE excluded.version > snapshots.version",
                (session, version, snapshot),
            )
            db.execute(
                "DELETE FROM batches WHERE session = ? AND version <= ?",
                (session, version - self.retain),
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _delete(self, session: str) -> None:
        db = self._conn()
        with db:
            db.execute("DELETE FROM batches WHERE session = ?", (session,))
            db.execute("DELETE FROM snapshots WHERE session = ?", (session,))

    def _sessions(self) -> list[str]:
        rows = (
            self._conn()
            .execute("SELECT session FROM batches UNION SELECT session FROM snapshots ORDER BY 1")
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

    async def load(self, session: str) -> Loaded | None:
        return await self._run(self._load, session)

    async def append(self, session: str, batches: Sequence[StoredBatch]) -> None:
        """Return once ``batches`` are committed; raise StoreUnavailable otherwise."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        if not batches:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(_Append(session, batches, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                group, self._pending = self._pending, []
                try:
                    outcome = await self._run(self._commit, [(a.session, a.batches) for a in group])
                except StoreUnavailable as exc:
                    for a in group:
                        if not a.future.done():
                            a.future.set_exception(StoreUnavailable(exc.message))
                    continue
                self.commits += 1
                for a, problem in zip(group, outcome, strict=True):
                    if a.future.done():
                        continue
                    if problem is None:
                        a.future.set_result(None)
                    else:
                        a.future.set_exception(StoreUnavailable(problem))
        finally:
            self._flusher = None

    async def read_since(self, session: str, version: int) -> list[StoredBatch] | None:
        return await self._run(self._read_since, session, version)

    async def save_snapshot(self, session: str, version: int, snapshot: bytes) -> None:
        await self._run(self._save_snapshot, session, version, snapshot)

    async def delete(self, session: str) -> None:
        await self._run(self._delete, session)

    async def sessions(self) -> list[str]:
        return await self._run(self._sessions)

    async def healthy(self) -> bool:
        try:
            await asyncio.wait_for(self._run(self._ping), timeout=2.0)
        except (StoreUnavailable, TimeoutError):
            return False
        return True

    async def close(self) -> None:
        """Finish in-flight commits, then close the file."""
        if self._closed:
            return
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        finally:
            self._closed = True
            self._executor.shutdown(wait=True)
