"""What only the embedded SQLite store promises: group commit, durability, clear failures."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from backline.server.storage.base import StoreUnavailable
from backline.server.storage.sqlite import SQLiteStore


async def test_concurrent_appends_of_many_sessions_share_one_commit(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path)
    try:
        ids = await asyncio.gather(*(store.append(f"s{i}", [b"x", b"y"]) for i in range(200)))
        assert all(these == ["1", "2"] for these in ids)
        assert store.commits <= 2  # all arrived in one loop turn: one fsync, not 200
        assert len(await store.sessions()) == 200
    finally:
        await store.close()


async def test_appends_within_the_commit_interval_share_the_next_commit(tmp_path: Path) -> None:
    """After a commit, appends arriving over several loop turns within the interval wait
    and go into one commit together (instead of one fsync each)."""
    store = SQLiteStore(tmp_path, commit_interval=0.5)
    try:
        await store.append("a", [b"first"])
        assert store.commits == 1
        pending = []
        for i in range(5):  # five loop turns, well within the half second
            pending.append(asyncio.ensure_future(store.append(f"s{i}", [b"x"])))
            await asyncio.sleep(0)
        assert not any(p.done() for p in pending)  # none went out alone
        assert await asyncio.gather(*pending) == [["1"]] * 5
        assert store.commits == 2
    finally:
        await store.close()


async def test_reopen_sees_everything_and_continues_the_ids(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path, keep_history=False)
    first = await store.append("a", [b"%d" % i for i in range(20)])
    await store.save_snapshot("a", first[9], b"snap-10")
    await store.save_snapshot("a", first[14], b"snap-15")  # trims what snap-10 covered
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.append("a", [b"late"])
    again = SQLiteStore(tmp_path, keep_history=False)
    try:
        loaded = await again.load("a")
        assert loaded is not None
        assert (loaded.after, loaded.snapshot) == (first[14], b"snap-15")
        assert [e.data for e in loaded.entries] == [b"%d" % i for i in range(15, 20)]
        assert await again.append("a", [b"next"]) == ["21"]  # ids never reused
        assert (await again.tail({"a": first[3]}, 0.1))["a"] is None  # trimmed away
    finally:
        await again.close()


async def test_corrupt_file_is_store_unavailable(tmp_path: Path) -> None:
    (tmp_path / "backline.db").write_bytes(b"this is not a database" * 100)
    store = SQLiteStore(tmp_path)
    try:
        with pytest.raises(StoreUnavailable):
            await store.append("a", [b"x"])
        assert not await store.healthy()
    finally:
        await store.close()


def test_unknown_synchronous_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(tmp_path, synchronous="OFF")


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from backline.server.storage.sqlite import SQLiteStore

    async def main() -> None:
        store = SQLiteStore(Path(sys.argv[1]))
        n = 0
        while True:
            ids = await store.append("s", [b"%d" % (n + i) for i in range(3)])
            n += 3
            print(ids[-1], flush=True)  # acknowledged: everything up to here is committed

    asyncio.run(main())
    """
)


async def test_kill_9_loses_no_acknowledged_entry(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    acked = 0
    try:
        while acked < 300:
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
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
        ids = [int(e.id) for e in loaded.entries]
        assert ids == list(range(1, len(ids) + 1))  # gap-free
        assert len(ids) >= acked  # nothing acknowledged is missing
        assert len(ids) % 3 == 0  # a group is committed whole or not at all
        assert all(e.data == b"%d" % (int(e.id) - 1) for e in loaded.entries)
    finally:
        await store.close()
