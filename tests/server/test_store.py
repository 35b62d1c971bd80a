"""The `Store` contract, one suite run against every implementation.

Entry ids are opaque: the tests only compare them for equality and use them as
positions, never parse or order them themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backline.server.storage.base import Entry, Store, StoreUnavailable, Trimmed
from backline.server.storage.memory import MemoryStore
from backline.testing.redis import RedisServer

WAIT = 10.0  # seconds: the bound on anything that should happen "at once"


def _open(request: pytest.FixtureRequest, tmp_path: Path, keep_history: bool) -> Store:
    if request.param == "memory":
        return MemoryStore(keep_history=keep_history)
    if request.param == "sqlite":
        from backline.server.storage.sqlite import SQLiteStore

        return SQLiteStore(tmp_path, keep_history=keep_history)
    from backline.server.storage.redis import RedisStore

    name = "redis_cluster" if request.param == "redis-cluster" else "redis_server"
    redis: RedisServer = request.getfixturevalue(name)  # a Cluster has `url` too
    prefix = request.getfixturevalue("redis_prefix")
    return RedisStore(redis.url, node="test", prefix=prefix, keep_history=keep_history)


@pytest.fixture(params=["memory", "sqlite", "redis", "redis-cluster"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A store as the server opens it by default: it keeps the whole history."""
    s = _open(request, tmp_path, keep_history=True)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture(params=["memory", "sqlite", "redis", "redis-cluster"])
async def trimming(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A store with ``--history trim``: each snapshot drops the log behind the previous one."""
    s = _open(request, tmp_path, keep_history=False)
    try:
        yield s
    finally:
        await s.close()


def data(count: int, tag: str = "e") -> list[bytes]:
    return [f"{tag}{i}".encode() for i in range(count)]


async def filled(store: Store, session: str, count: int, tag: str = "e") -> list[Entry]:
    """Append `count` entries to `session` in one call; return them as stored."""
    items = data(count, tag)
    ids = await store.append(session, items)
    return [Entry(i, d) for i, d in zip(ids, items, strict=True)]


# -- chat history -----------------------------------------------------------------


async def test_chat_history_keeps_the_last_entries(store: Store) -> None:
    """`add_chat` keeps the last `keep` entries, oldest first; `delete` forgets them."""
    for n in range(5):
        await store.add_chat("s", {"text": f"m{n}", "n": n}, keep=3)
    expected = [{"text": f"m{n}", "n": n} for n in (2, 3, 4)]
    assert await store.chat_history("s", 10) == expected
    assert await store.chat_history("s", 2) == expected[1:]
    assert await store.chat_history("s", 0) == []
    assert await store.chat_history("other", 10) == []
    assert await store.sessions() == []  # chat alone makes no session
    await store.delete("s")
    assert await store.chat_history("s", 10) == []


async def test_chat_history_outlives_a_restart(tmp_path: Path) -> None:
    from backline.server.storage.sqlite import SQLiteStore

    first = SQLiteStore(tmp_path)
    await first.add_chat("s", {"text": "still here"}, keep=50)
    await first.close()
    second = SQLiteStore(tmp_path)
    try:
        assert await second.chat_history("s", 50) == [{"text": "still here"}]
    finally:
        await second.close()


# -- append and read ---------------------------------------------------------------


async def test_an_unknown_session_has_nothing(store: Store) -> None:
    """A session nobody appended to loads as None, reads as empty and is not listed."""
    assert await store.load("nope") is None
    assert await store.read("nope", None) == []
    assert await store.sessions() == []


async def test_append_returns_one_id_per_entry_in_log_order(store: Store) -> None:
    """`append` returns an id per entry; `read` gives the entries back in append order."""
    first = await filled(store, "a", 3, "x")
    second = await filled(store, "a", 2, "y")
    assert await store.read("a", None) == first + second
    assert len({e.id for e in first + second}) == 5


async def test_ids_are_positions_in_the_log(store: Store) -> None:
    """Reading after an entry's id gives exactly the entries appended after it."""
    entries = await filled(store, "a", 3) + await filled(store, "a", 3, "f")
    for i, entry in enumerate(entries):
        assert await store.read("a", entry.id) == entries[i + 1 :]


async def test_read_count_bounds_the_result(store: Store) -> None:
    """`read` returns at most `count` entries, the oldest first."""
    entries = await filled(store, "a", 7)
    assert await store.read("a", None, count=2) == entries[:2]
    assert await store.read("a", entries[1].id, count=3) == entries[2:5]
    assert await store.read("a", entries[4].id, count=100) == entries[5:]


async def test_entry_data_round_trips_any_bytes(store: Store) -> None:
    """Empty, binary and large entries come back byte for byte."""
    items = [b"", bytes(range(256)), b"\r\n*1\r\n$3\r\nSET", b"\x00" * 300_000]
    ids = await store.append("a", items)
    assert [e.data for e in await store.read("a", None)] == items
    assert [e.id for e in await store.read("a", None)] == ids


async def test_sessions_are_independent_and_listed(store: Store) -> None:
    """Each session has its own log; `sessions` lists every session with entries."""
    a = await filled(store, "a", 2, "a")
    b = await filled(store, "b", 3, "b")
    assert await store.read("a", None) == a
    assert await store.read("b", None) == b
    assert sorted(await store.sessions()) == ["a", "b"]


async def test_concurrent_appends_each_stay_in_one_piece(store: Store) -> None:
    """The entries of one `append` call are contiguous in the log, whatever runs beside it."""
    batches = [data(4, f"b{n}-") for n in range(20)]
    await asyncio.gather(*(store.append("a", batch) for batch in batches))
    log = [e.data for e in await store.read("a", None)]
    assert sorted(log) == sorted(item for batch in batches for item in batch)
    for batch in batches:
        start = log.index(batch[0])
        assert log[start : start + 4] == batch


async def test_concurrent_appends_land_in_call_order(store: Store) -> None:
    """Appends to one session made at once by one process enter the log in call order."""
    batches = [data(2, f"b{n}-") for n in range(30)]
    await asyncio.gather(*(store.append("a", batch) for batch in batches))
    log = [e.data for e in await store.read("a", None)]
    assert log == [item for batch in batches for item in batch]


# -- tail --------------------------------------------------------------------------------


async def test_tail_returns_news_of_several_sessions_at_once(store: Store) -> None:
    """One `tail` reports every followed session with entries after its position."""
    a = await filled(store, "a", 3, "a")
    b = await filled(store, "b", 2, "b")
    found = await asyncio.wait_for(
        store.tail({"a": a[0].id, "b": None, "c": None}, timeout=WAIT), WAIT
    )
    assert found == {"a": a[1:], "b": b}


async def test_tail_returns_at_once_when_news_is_there(store: Store) -> None:
    """`tail` does not wait when a session already has entries after its position."""
    a = await filled(store, "a", 2)
    started = time.monotonic()
    assert await store.tail({"a": None}, timeout=30) == {"a": a}
    assert time.monotonic() - started < WAIT


async def test_tail_times_out_empty(store: Store) -> None:
    """With nothing after any position, `tail` returns {} after about `timeout` seconds."""
    a = await filled(store, "a", 1)
    started = time.monotonic()
    assert await store.tail({"a": a[-1].id, "b": None}, timeout=0.3) == {}
    assert 0.25 <= time.monotonic() - started < WAIT


async def test_tail_wakes_up_for_an_append(store: Store) -> None:
    """A waiting `tail` returns the entries appended while it waits."""
    a = await filled(store, "a", 1)
    waiting = asyncio.create_task(store.tail({"a": a[-1].id}, timeout=30))
    await asyncio.sleep(0)  # the tail starts waiting
    more = await filled(store, "a", 2, "more")
    assert await asyncio.wait_for(waiting, WAIT) == {"a": more}


async def test_wake_tail_ends_a_waiting_tail_promptly(store: Store) -> None:
    """`wake_tail` makes a `tail` in progress return now, with whatever it has."""
    a = await filled(store, "a", 1)
    waiting = asyncio.create_task(store.tail({"a": a[-1].id}, timeout=30))
    await asyncio.sleep(0)  # the tail has started
    started = time.monotonic()
    store.wake_tail()
    assert await asyncio.wait_for(waiting, WAIT) == {}
    assert time.monotonic() - started < 2.0


async def test_tail_reports_a_trimmed_position_as_none(trimming: Store) -> None:
    store = trimming
    """A position before the trim point maps to None; a later one gets its entries."""
    a = await filled(store, "a", 4)
    await store.save_snapshot("a", a[0].id, b"s0")
    await store.save_snapshot("a", a[1].id, b"s1")  # drops a[0]
    found = await asyncio.wait_for(store.tail({"a": None}, timeout=WAIT), WAIT)
    assert found == {"a": None}
    found = await asyncio.wait_for(store.tail({"a": a[0].id}, timeout=WAIT), WAIT)
    assert found == {"a": a[1:]}


async def test_tail_of_no_session_waits_for_its_timeout(store: Store) -> None:
    """Following nothing, `tail` still waits (up to `timeout`) and returns {}."""
    started = time.monotonic()
    assert await store.tail({}, timeout=0.2) == {}
    assert 0.15 <= time.monotonic() - started < WAIT


# -- snapshots and trimming --------------------------------------------------------------


async def test_load_without_a_snapshot_gives_every_entry(store: Store) -> None:
    """Before any snapshot, `load` returns no snapshot and the whole log."""
    a = await filled(store, "a", 3)
    loaded = await store.load("a")
    assert loaded is not None
    assert (loaded.snapshot, loaded.after, loaded.entries) == (None, None, a)


async def test_load_gives_the_snapshot_and_the_entries_after_it(store: Store) -> None:
    """`load` returns the latest snapshot, the id it covers, and every later entry."""
    a = await filled(store, "a", 5)
    await store.save_snapshot("a", a[2].id, b"snap")
    loaded = await store.load("a")
    assert loaded is not None
    assert (loaded.snapshot, loaded.after, loaded.entries) == (b"snap", a[2].id, a[3:])


async def test_an_older_or_equal_snapshot_is_ignored(store: Store) -> None:
    """A snapshot covering no more than the kept one changes nothing."""
    a = await filled(store, "a", 4)
    await store.save_snapshot("a", a[2].id, b"s2")
    await store.save_snapshot("a", a[1].id, b"s1")
    await store.save_snapshot("a", a[2].id, b"s2 again")
    loaded = await store.load("a")
    assert loaded is not None
    assert (loaded.snapshot, loaded.after, loaded.entries) == (b"s2", a[2].id, a[3:])
    assert await store.read("a", None) == a  # nothing was trimmed either


async def test_a_snapshot_drops_only_what_the_previous_one_covered(trimming: Store) -> None:
    store = trimming
    """Saving a snapshot trims up to the previous snapshot; readers behind it get `Trimmed`."""
    a = await filled(store, "a", 6)
    await store.save_snapshot("a", a[1].id, b"s1")
    assert await store.read("a", None) == a  # the first snapshot trims nothing
    await store.save_snapshot("a", a[3].id, b"s3")
    # a reader at the previous snapshot still has every entry it needs
    assert await store.read("a", a[1].id) == a[2:]
    with pytest.raises(Trimmed):
        await store.read("a", a[0].id)
    with pytest.raises(Trimmed):
        await store.read("a", None)
    loaded = await store.load("a")
    assert loaded is not None
    assert (loaded.snapshot, loaded.after, loaded.entries) == (b"s3", a[3].id, a[4:])
    more = await filled(store, "a", 1, "more")
    assert await store.read("a", a[5].id) == more


async def test_concurrent_snapshots_take_effect_in_call_order(trimming: Store) -> None:
    store = trimming
    """Snapshots saved at once by one process apply in call order, each trimming in turn."""
    a = await filled(store, "a", 12)
    await asyncio.gather(*(store.save_snapshot("a", e.id, b"s" + e.data) for e in a[1::2]))
    loaded = await store.load("a")
    assert loaded is not None
    assert (loaded.snapshot, loaded.after, loaded.entries) == (b"s" + a[11].data, a[11].id, [])
    assert await store.read("a", a[9].id) == a[10:]  # trimmed up to the second newest
    with pytest.raises(Trimmed):
        await store.read("a", a[8].id)


def test_trimmed_is_a_kind_of_store_unavailable() -> None:
    """Code that handles `StoreUnavailable` also handles `Trimmed`."""
    assert issubclass(Trimmed, StoreUnavailable)


# -- the rest --------------------------------------------------------------------------------


async def test_delete_forgets_the_session_entirely(store: Store) -> None:
    """After `delete` the session is new again: no entries, no snapshot, no trim point."""
    a = await filled(store, "a", 3)
    await store.save_snapshot("a", a[0].id, b"s0")
    await store.save_snapshot("a", a[1].id, b"s1")
    await filled(store, "b", 1)
    await store.delete("a")
    assert await store.load("a") is None
    assert await store.read("a", None) == []
    assert await store.sessions() == ["b"]
    again = await filled(store, "a", 2, "again")
    assert await store.read("a", None) == again
    loaded = await store.load("a")
    assert loaded is not None and (loaded.snapshot, loaded.entries) == (None, again)


async def test_healthy(store: Store) -> None:
    """A working store says it is healthy."""
    assert await store.healthy()


class _CountingPositions(dict[str, "str | None"]):
    """Positions that record which sessions a `tail` looked up."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.looked_up: set[str] = set()

    def __getitem__(self, key: str) -> str | None:
        self.looked_up.add(key)
        return super().__getitem__(key)

    def items(self):  # type: ignore[override]
        self.looked_up.update(self)
        return super().items()

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.looked_up.add(key)
        return super().get(key, default)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_single_writer_tail_looks_only_at_changed_logs(kind: str, tmp_path: Path) -> None:
    """With a thousand idle sessions followed, a round looks up the one that changed.

    (A follower round that scanned every session made 1,000 sessions of two
    clients ten times slower than a server holding one.)
    """
    store: Store
    if kind == "memory":
        store = MemoryStore()
    else:
        from backline.server.storage.sqlite import SQLiteStore

        store = SQLiteStore(tmp_path)
    try:
        ends = {}
        for i in range(1000):
            ends[f"s{i}"] = (await filled(store, f"s{i}", 1))[-1].id
        positions = _CountingPositions({name: None for name in ends})
        first = await store.tail(positions, timeout=WAIT)
        assert set(first) == set(ends)  # every log has news at first
        caught_up = _CountingPositions(ends)
        assert await store.tail(caught_up, timeout=0.05) == {}
        more = await filled(store, "s7", 2, "more")
        again = _CountingPositions(ends)
        assert await store.tail(again, timeout=WAIT) == {"s7": more}
        assert again.looked_up == {"s7"}
        ends["s7"] = more[-1].id
        # a session followed from a position it never reported: announced, then read
        store.wake_tail("s9")
        back = _CountingPositions({**ends, "s9": None})
        assert await store.tail(back, timeout=WAIT) == {"s9": [Entry(ends["s9"], b"e0")]}
    finally:
        await store.close()


# -- history: everything kept, milestones -----------------------------------------------


async def test_snapshots_keep_every_entry_and_every_milestone(store: Store) -> None:
    """With history kept, snapshots drop nothing: the log reads whole from the start, each
    snapshot stays as a milestone, and `load` still starts at the latest snapshot."""
    entries = await filled(store, "s", 30)
    for n in (10, 20, 30):
        await store.save_snapshot(
            "s", entries[n - 1].id, b"snap%d" % n, version=n, journal=b"j%d" % n
        )
    assert [e.data for e in await store.read("s", None, 100)] == [e.data for e in entries]
    loaded = await store.load("s")
    assert loaded is not None and loaded.snapshot == b"snap30" and loaded.entries == []
    listed = await store.milestones("s")
    assert [(m.version, m.after, m.journal, m.snapshot) for m in listed] == [
        (n, entries[n - 1].id, b"j%d" % n, None) for n in (10, 20, 30)
    ]
    for asked, expected in ((9, None), (10, 10), (19, 10), (25, 20), (10**9, 30)):
        found = await store.milestone("s", asked)
        if expected is None:
            assert found is None
        else:
            assert found is not None
            assert (found.version, found.snapshot) == (expected, b"snap%d" % expected)
            assert found.after == entries[expected - 1].id
    # a second save of a milestone (another process's) changes nothing
    await store.save_snapshot("s", entries[19].id, b"other", version=20, journal=b"x")
    again = await store.milestone("s", 20)
    assert again is not None and again.snapshot == b"snap20"
    assert await store.milestone("other", 100) is None and await store.milestones("other") == []
    await store.delete("s")
    assert await store.milestones("s") == [] and await store.milestone("s", 100) is None


async def test_a_trimming_store_keeps_no_milestones(trimming: Store) -> None:
    entries = await filled(trimming, "s", 4)
    await trimming.save_snapshot("s", entries[1].id, b"a", version=2, journal=b"j")
    assert await trimming.milestones("s") == []
    assert await trimming.milestone("s", 2) is None
