"""One contract for every store, run against each; plus SQLite durability under kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backline.server.sqlite_store import SQLiteStore
from backline.server.store import MemoryStore, Store, StoredBatch, StoreUnavailable


def batches(first: int, count: int, tag: str = "x") -> list[StoredBatch]:
    return [StoredBatch(v, f"{tag}{v}".encode()) for v in range(first, first + count)]


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s: Store = MemoryStore(retain=10) if request.param == "memory" else SQLiteStore(tmp_path, 10)
    yield s
    await s.close()


async def test_unknown_session_loads_as_none(store: Store) -> None:
    assert await store.load("nope") is None
    assert await store.read_since("nope", 0) == []
    assert await store.sessions() == []


async def test_append_then_load_returns_batches_in_order(store: Store) -> None:
    await store.append("a", batches(1, 3))
    await store.append("a", batches(4, 2))
    loaded = await store.load("a")
    assert loaded is not None
    assert loaded.snapshot is None and loaded.snapshot_version == 0
    assert loaded.batches == batches(1, 5)


async def test_sessions_are_independent(store: Store) -> None:
    await store.append("a", batches(1, 2, "a"))
    await store.append("b", batches(1, 3, "b"))
    assert await store.sessions() == ["a", "b"]
    la, lb = await store.load("a"), await store.load("b")
    assert la is not None and lb is not None
    assert la.batches == batches(1, 2, "a") and lb.batches == batches(1, 3, "b")


async def test_version_gap_or_repeat_is_refused_and_stores_nothing(store: Store) -> None:
    await store.append("a", batches(1, 2))
    with pytest.raises(StoreUnavailable):
        await store.append("a", batches(4, 1))  # gap
    with pytest.raises(StoreUnavailable):
        await store.append("a", batches(2, 2))  # repeat
    loaded = await store.load("a")
    assert loaded is not None and loaded.batches == batches(1, 2)


async def test_snapshot_trims_log_but_keeps_retained_tail(store: Store) -> None:
    await store.append("a", batches(1, 30))
    await store.save_snapshot("a", 25, b"snap25")
    loaded = await store.load("a")
    assert loaded is not None
    assert (loaded.snapshot_version, loaded.snapshot) == (25, b"snap25")
    assert loaded.batches == batches(26, 5)
    # retain=10: versions 16..30 are kept, so a client at v15 can still catch up
    assert await store.read_since("a", 15) == batches(16, 15)
    assert await store.read_since("a", 30) == []
    # older than the retained tail: the caller must send a snapshot
    assert await store.read_since("a", 3) is None
    await store.append("a", batches(31, 1))
    assert await store.read_since("a", 30) == batches(31, 1)


async def test_delete_forgets_session(store: Store) -> None:
    await store.append("a", batches(1, 2))
    await store.save_snapshot("a", 2, b"s")
    await store.delete("a")
    assert await store.load("a") is None
    assert await store.sessions() == []
    await store.append("a", batches(1, 1))


async def test_healthy(store: Store) -> None:
    assert await store.healthy()


async def test_sqlite_groups_concurrent_appends_into_few_commits(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path)
    try:
        await asyncio.gather(*(store.append(f"s{i}", batches(1, 1)) for i in range(200)))
        # all 200 sessions' appends arrived in one loop turn: one commit, not 200
        assert store.commits <= 2
        assert len(await store.sessions()) == 200
    finally:
        await store.close()


async def test_sqlite_one_bad_append_does_not_fail_its_group(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path)
    try:
        await store.append("a", batches(1, 1))
        results = await asyncio.gather(
            store.append("a", batches(5, 1)),
            store.append("b", batches(1, 1)),
            store.append("a", batches(2, 1)),
            return_exceptions=True,
        )
        assert isinstance(results[0], StoreUnavailable)
        assert results[1:] == [None, None]
        la = await store.load("a")
        assert la is not None and la.batches == batches(1, 2)
    finally:
        await store.close()


async def test_sqlite_reopen_sees_everything(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path, retain=5)
    await store.append("a", batches(1, 20))
    await store.save_snapshot("a", 12, b"snap")
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.append("a", batches(21, 1))
    again = SQLiteStore(tmp_path, retain=5)
    try:
        loaded = await again.load("a")
        assert loaded is not None
        assert (loaded.snapshot_version, loaded.snapshot) == (12, b"snap")
        assert loaded.batches == batches(13, 8)
    finally:
        await again.close()


async def test_sqlite_error_is_store_unavailable(tmp_path: Path) -> None:
    (tmp_path / "backline.db").write_bytes(b"this is not a database" * 100)
    store = SQLiteStore(tmp_path)
    try:
        with pytest.raises(StoreUnavailable):
            await store.append("a", batches(1, 1))
        assert not await store.healthy()
    finally:
        await store.close()


def test_sqlite_rejects_unknown_synchronous_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(tmp_path, synchronous="OFF")


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from backline.server.sqlite_store import SQLiteStore
    from backline.server.store import StoredBatch

    async def main() -> None:
        store = SQLiteStore(Path(sys.argv[1]))
        v = 0
        while True:
            group = [StoredBatch(v + i + 1, b"%d" % (v + i + 1)) for i in range(3)]
            await store.append("s", group)
            v += 3
            print(v, flush=True)  # acknowledged: everything up to v is committed

    asyncio.run(main())
    """
)


async def test_sqlite_kill_9_loses_no_acknowledged_batch(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    acked = 0
    try:
        while acked < 300:
            line = await asyncio.to_thread(proc.stdout.readline)
            assert line, "writer exited early"
            acked = int(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
    store = SQLiteStore(tmp_path)
    try:
        loaded = await store.load("s")
        assert loaded is not None
        versions = [b.version for b in loaded.batches]
        assert versions == list(range(1, len(versions) + 1))  # gap-free
        assert len(versions) >= acked  # nothing acknowledged is missing
        assert all(b.data == b"%d" % b.version for b in loaded.batches)
    finally:
        await store.close()
