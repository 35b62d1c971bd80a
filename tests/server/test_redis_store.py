"""What only the Redis store has to show: key layout, AOF durability, outages, CLIENT UNBLOCK.

The contract every store meets is in test_store.py; these tests run real
``redis-server`` processes and kill or restart them. The tests on the shared Redis
(`any_redis`) run twice: on one redis-server and on a Redis Cluster of three
primaries, where `tail` sends one XREAD per followed slot.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from backline.server.storage.base import Entry, StoreUnavailable
from backline.server.storage.redis import RedisStore
from backline.testing import eventually
from backline.testing.redis import RedisCluster, RedisServer

AnyRedis = RedisServer | RedisCluster

WAIT = 10.0  # seconds: the bound on anything that should happen "at once"
PROMPT = 3.0  # seconds: how soon a failure must be reported


@pytest.fixture
async def admin(any_redis: AnyRedis) -> AsyncIterator[list[Redis]]:
    """Plain clients of the shared Redis (of each Cluster node), to look at keys and clients."""
    if isinstance(any_redis, RedisCluster):
        clients = [Redis(port=node.port) for node in any_redis.nodes]
    else:
        clients = [Redis.from_url(any_redis.url)]
    try:
        yield clients
    finally:
        for client in clients:
            await client.aclose()


async def all_keys(admin: list[Redis], pattern: str) -> list[str]:
    found = []
    for client in admin:
        found += [k.decode() for k in await client.keys(pattern)]
    return sorted(found)


@pytest.fixture
async def store(any_redis: AnyRedis, redis_prefix: str) -> AsyncIterator[RedisStore]:
    s = RedisStore(any_redis.url, node="n1", prefix=redis_prefix)
    try:
        yield s
    finally:
        await s.close()


async def until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = WAIT) -> None:
    """Until `condition` holds (for states Redis does not announce)."""
    await eventually(condition, timeout, what)


async def blocked(admin: list[Redis]) -> bool:
    """Whether a client of `admin`'s Redis (of any Cluster node) waits in a blocking command."""
    for client in admin:
        info = await client.info("clients")
        if int(info["blocked_clients"]) >= 1:
            return True
    return False


def hash_tag(key: str) -> str:
    """What Redis Cluster hashes: between the first '{' and the next '}'."""
    start = key.index("{") + 1
    return key[start : key.index("}", start)]


async def test_every_key_of_a_session_shares_its_hash_tag(
    redis_prefix: str, store: RedisStore, admin: list[Redis]
) -> None:
    """Log, snapshot, milestones and chat of a session all land in the session's slot."""
    sessions = ["plain", "with:colons", "sp ace*?[x]"]
    for session in sessions:
        ids = await store.append(session, [b"1", b"2", b"3"])
        await store.save_snapshot(session, ids[0], b"s", version=1, journal=b"j")
        await store.save_snapshot(session, ids[1], b"s", version=2, journal=b"j")
        await store.add_chat(session, {"text": "hi"}, keep=10)
    keys = await all_keys(admin, f"{redis_prefix}:*")
    assert len(keys) == 5 * len(sessions)
    for session in sessions:
        mine = [k for k in keys if hash_tag(k) == session]
        kinds = sorted(k.rsplit(":", 1)[1] for k in mine)
        assert kinds == ["chat", "log", "ms", "msd", "snap"]
    assert sorted(await store.sessions()) == sorted(sessions)
    for session in sessions:
        await store.delete(session)
    assert await all_keys(admin, f"{redis_prefix}:*") == []


async def test_sessions_keep_to_their_prefix(any_redis: AnyRedis, redis_prefix: str) -> None:
    """Stores with different prefixes (even one a prefix of the other) see only their own."""
    short = RedisStore(any_redis.url, node="n1", prefix=redis_prefix)
    longer = RedisStore(any_redis.url, node="n1", prefix=redis_prefix + "0")
    try:
        await short.append("s", [b"x"])
        await longer.append("l", [b"y"])
        assert await short.sessions() == ["s"]
        assert await longer.sessions() == ["l"]
    finally:
        await short.close()
        await longer.close()


async def test_nodes_appending_at_once_see_one_order(
    any_redis: AnyRedis, redis_prefix: str
) -> None:
    """Two nodes append to one session concurrently: one log, each batch whole, ids as returned."""
    nodes = [RedisStore(any_redis.url, node=f"n{i}", prefix=redis_prefix) for i in range(2)]
    try:

        async def writer(store: RedisStore, name: str) -> list[list[str]]:
            ids = []
            for n in range(30):
                ids.append(await store.append("s", [f"{name}{n}.{j}".encode() for j in range(3)]))
            return ids

        appended = await asyncio.gather(*(writer(s, f"n{i}-") for i, s in enumerate(nodes)))
        log = await nodes[0].read("s", None)
        assert log == await nodes[1].read("s", None)
        assert len(log) == 2 * 30 * 3
        position = {e.id: i for i, e in enumerate(log)}
        for batches in appended:
            for batch in batches:
                first = position[batch[0]]
                assert [e.id for e in log[first : first + 3]] == batch
    finally:
        for s in nodes:
            await s.close()


async def test_more_appends_at_once_than_pooled_connections_all_succeed(
    store: RedisStore,
) -> None:
    """A thousand sessions appending in the same instant wait for a pooled connection
    instead of failing ("Too many connections" with redis-py's default pool)."""
    from backline.server.storage.redis_client import POOL_SIZE

    count = POOL_SIZE * 4
    ids = await asyncio.gather(*(store.append(f"s{i}", [b"x"]) for i in range(count)))
    assert len(ids) == count and all(len(these) == 1 for these in ids)
    assert len(await store.sessions()) == count


async def test_tail_rounds_with_news_are_paced_by_the_number_of_followed_sessions(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each round names every followed stream, so back-to-back rounds with news are
    spaced by ROUND_GAP_PER_SESSION per session (they would take a whole core with a
    thousand sessions). The gap is raised here to make it unmistakable."""
    from backline.server.storage import redis as redis_store

    monkeypatch.setattr(redis_store, "ROUND_GAP_PER_SESSION", 1e-3)  # 0.5 s for 500
    positions: dict[str, str | None] = {f"s{i}": None for i in range(500)}
    first = await store.append("s0", [b"a"])
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await store.tail(positions, timeout=WAIT) == {"s0": [Entry(first[0], b"a")]}
    positions["s0"] = first[0]
    second = await store.append("s1", [b"b"])
    assert await store.tail(positions, timeout=WAIT) == {"s1": [Entry(second[0], b"b")]}
    assert loop.time() - started >= 0.5


async def test_tail_returns_at_most_tail_count_entries_per_session(
    any_redis: AnyRedis, redis_prefix: str
) -> None:
    """`tail_count` bounds what one `tail` returns for a session."""
    store = RedisStore(any_redis.url, node="n1", prefix=redis_prefix, tail_count=5)
    try:
        ids = await store.append("s", [b"%d" % i for i in range(12)])
        found = await store.tail({"s": None}, timeout=WAIT)
        assert [e.id for e in found["s"] or []] == ids[:5]
    finally:
        await store.close()


async def test_wake_tail_unblocks_a_blocked_xread(store: RedisStore, admin: list[Redis]) -> None:
    """`wake_tail` ends a tail that Redis holds blocked in XREAD, in milliseconds."""
    ids = await store.append("s", [b"x"])
    waiting = asyncio.create_task(store.tail({"s": ids[-1]}, timeout=60))
    await until(lambda: blocked(admin), "blocked in XREAD")
    started = time.monotonic()
    store.wake_tail()
    assert await asyncio.wait_for(waiting, WAIT) == {}
    assert time.monotonic() - started < 0.5
    # the store's connections are fine afterwards
    more = await store.append("s", [b"y"])
    assert await store.tail({"s": ids[-1]}, timeout=WAIT) == {"s": [Entry(more[0], b"y")]}


async def test_persistence_reports_the_aof_settings(store: RedisStore) -> None:
    """`persistence` reads appendonly, appendfsync and save from CONFIG."""
    assert await store.persistence() == {"appendonly": "yes", "appendfsync": "always", "save": ""}


async def test_persistence_without_config_reports_what_info_says(tmp_path: Path) -> None:
    """With CONFIG disabled, `persistence` still says whether the AOF is on."""
    with RedisServer(tmp_path / "redis", extra_args=["--rename-command", "CONFIG", ""]) as redis:
        store = RedisStore(redis.url, node="n1")
        try:
            assert await store.persistence() == {"appendonly": "yes"}
        finally:
            await store.close()


async def test_errors_name_the_url_but_not_its_password() -> None:
    """A failure says which Redis failed, without leaking the password in the URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        store = RedisStore(f"redis://:s3cret@127.0.0.1:{port}/0", node="n1")
        try:
            with pytest.raises(StoreUnavailable) as failure:
                await store.append("s", [b"x"])
            assert f"127.0.0.1:{port}" in failure.value.message
            assert "s3cret" not in failure.value.message
            assert "s3cret" not in repr(store)
        finally:
            await store.close()


# -- durability and outages (each test has its own redis-server) -----------------------


async def test_kill_9_loses_no_acknowledged_append(own_redis: RedisServer) -> None:
    """With appendfsync always, every append that returned survives a kill -9 of Redis."""
    store = RedisStore(own_redis.url, node="n1")
    acked: list[Entry] = []
    enough = asyncio.Event()

    async def writer() -> None:
        n = 0
        while True:
            batch = [b"%d.%d" % (n, j) for j in range(3)]
            try:
                ids = await store.append("s", batch)
            except StoreUnavailable:
                return
            acked.extend(Entry(i, d) for i, d in zip(ids, batch, strict=True))
            n += 1
            if n == 200:
                enough.set()

    try:
        writing = asyncio.create_task(writer())
        await asyncio.wait_for(enough.wait(), 60)
        own_redis.kill()  # while appends are in flight
        await asyncio.wait_for(writing, WAIT)
        own_redis.start()
        loaded = await store.load("s")
        assert loaded is not None
        assert loaded.entries[: len(acked)] == acked
        # an append in flight at the kill is there whole or not at all
        assert len(loaded.entries) - len(acked) in (0, 3)
    finally:
        await store.close()


async def test_appends_fail_fast_while_redis_is_down_then_work_again(
    own_redis: RedisServer,
) -> None:
    """While Redis is down every call fails promptly; after restart the same store works."""
    store = RedisStore(own_redis.url, node="n1")
    try:
        before = await store.append("s", [b"before"])
        own_redis.stop()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{own_redis.port}"):
            await store.append("s", [b"lost"])
        with pytest.raises(StoreUnavailable):
            await store.read("s", None)
        with pytest.raises(StoreUnavailable):
            await store.tail({"s": before[0]}, timeout=30)
        assert not await store.healthy()
        assert time.monotonic() - started < PROMPT
        own_redis.start()
        after = await store.append("s", [b"after"])
        assert await store.read("s", None) == [
            Entry(before[0], b"before"),
            Entry(after[0], b"after"),
        ]
        assert await store.healthy()
    finally:
        await store.close()


async def test_tail_survives_a_redis_restart(own_redis: RedisServer) -> None:
    """A tail blocked when Redis dies returns or fails promptly; the next one works."""
    store = RedisStore(own_redis.url, node="n1")
    try:
        ids = await store.append("s", [b"x"])
        waiting = asyncio.create_task(store.tail({"s": ids[-1]}, timeout=60))
        admin = Redis.from_url(own_redis.url)
        try:
            await until(lambda: blocked([admin]), "blocked in XREAD")
        finally:
            await admin.aclose()
        own_redis.kill()
        started = time.monotonic()
        try:
            outcome: object = await asyncio.wait_for(waiting, PROMPT)
        except StoreUnavailable as exc:
            outcome = exc
        assert outcome == {} or isinstance(outcome, StoreUnavailable)
        assert time.monotonic() - started < PROMPT
        own_redis.start()
        more = await store.append("s", [b"y"])
        assert await store.tail({"s": ids[-1]}, timeout=WAIT) == {"s": [Entry(more[0], b"y")]}
    finally:
        await store.close()


async def test_a_hung_redis_cannot_wedge_the_store(own_redis: RedisServer) -> None:
    """Redis alive but silent (SIGSTOP): calls fail after their bounds; all work once it resumes."""
    store = RedisStore(own_redis.url, node="n1", command_timeout=0.5)
    try:
        ids = await store.append("s", [b"x"])
        waiting = asyncio.create_task(store.tail({"s": ids[-1]}, timeout=1.0))
        await asyncio.sleep(0)  # the tail has started
        own_redis.pause()
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match=r"no reply|Timeout"):
                await asyncio.wait_for(waiting, WAIT)
            assert time.monotonic() - started < 1.0 + 0.5 + PROMPT
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await asyncio.wait_for(store.append("s", [b"unknown"]), WAIT)
            assert not await store.healthy()
            assert time.monotonic() - started < 0.5 + 1.0 + PROMPT
        finally:
            own_redis.resume()
        more = await store.append("s", [b"y"])
        found = await store.tail({"s": more[0]}, timeout=0)
        assert found == {}
        assert (await store.read("s", None))[-1] == Entry(more[0], b"y")
    finally:
        await store.close()


async def test_a_wake_before_the_tail_starts_is_not_lost(store: RedisStore) -> None:
    """`wake_tail` between creating a tail task and its first step still ends that tail."""
    ids = await store.append("s", [b"x"])
    waiting = asyncio.create_task(store.tail({"s": ids[-1]}, timeout=60))
    store.wake_tail()  # the task has not run yet
    assert await asyncio.wait_for(waiting, WAIT) == {}
