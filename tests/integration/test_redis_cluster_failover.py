"""A Redis Cluster primary fails over during an edit storm: no acknowledged edit is lost.

The Cluster (three primaries, a replica each, AOF with ``appendfsync always``) is
this test's own. Two stores (two server processes' worth of connections) append
to sessions spread over every primary; meanwhile the primary serving one of them
is failed over, gracefully (``CLUSTER FAILOVER``) or by ``kill -9`` (its replica
is elected after ``cluster-node-timeout``). Appends fail while the slot has no
primary; every append that was acknowledged must be in the log afterwards, once
each (nothing retries an append behind the store's back), and a follower's `tail`
catches up with all of it. Then the same through two real server processes and
their clients: the primary of the session's slot is killed mid-storm, and every
edit a client saw acknowledged is in the project afterwards, on both processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from backline.client import Edit, connect
from backline.client.session import Session
from backline.protocol.codec import encode
from backline.protocol.errors import BacklineError
from backline.server.storage.base import Entry, StoreUnavailable
from backline.server.storage.redis import RedisStore
from backline.testing import ServerProcess, eventually
from backline.testing.redis import RedisCluster

SESSIONS = [f"storm{i}" for i in range(8)]
BEFORE = 150  # acknowledged appends before the failover ...
AFTER = 150  # ... and after it
WAIT = 60.0  # seconds: bound on the storm's phases on a loaded machine
RETRY = 0.02  # seconds between an append that failed and the next try


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    with RedisCluster(tmp_path / "cluster", replicas=1, node_timeout_ms=1000) as cluster:
        yield cluster


@pytest.mark.parametrize("how", ["failover", "kill"])
async def test_a_failover_during_an_edit_storm_loses_no_acknowledged_edit(
    cluster: RedisCluster, how: str
) -> None:
    stores = [RedisStore(cluster.url, node=f"n{i}", prefix="storm") for i in range(2)]
    acked: dict[str, dict[str, bytes]] = {s: {} for s in SESSIONS}
    failures = 0
    stop = asyncio.Event()

    async def writer(store: RedisStore, session: str) -> None:
        nonlocal failures
        n = 0
        while not stop.is_set():
            data = f"{store.node}-{session}-{n}".encode()
            try:
                (entry_id,) = await store.append(session, [data])
            except StoreUnavailable:
                # not acknowledged (it may be in the log or not); the next try has its own data
                failures += 1
                n += 1
                await asyncio.sleep(RETRY)  # a retry's pause, not a synchronisation
                continue
            acked[session][entry_id] = data
            n += 1

    def count() -> int:
        return sum(len(ids) for ids in acked.values())

    writers = [asyncio.create_task(writer(st, s)) for st in stores for s in SESSIONS]
    try:
        await eventually(lambda: count() >= BEFORE, WAIT, "appends before the failover")
        owner = await stores[0]._pools.owner(f"storm:{{{SESSIONS[0]}}}:log")
        primary = next(node for node in cluster.nodes if node.port == owner[1])
        if how == "kill":
            promoted = await asyncio.to_thread(cluster.kill_primary, primary)
        else:
            promoted = await asyncio.to_thread(cluster.failover, primary)
        assert promoted.port != primary.port
        at_failover = count()
        await eventually(lambda: count() >= at_failover + AFTER, WAIT, "appends after it")
    finally:
        stop.set()
        await asyncio.gather(*writers)
        for store in stores:
            await store.close()

    reader = RedisStore(cluster.url, node="reader", prefix="storm", tail_count=100_000)
    try:
        for session in SESSIONS:
            log = await reader.read(session, None, count=100_000)
            found = {e.id: e.data for e in log}
            missing = {i: d for i, d in acked[session].items() if found.get(i) != d}
            assert not missing, f"{session}: acknowledged but not in the log: {missing}"
            datas = [e.data for e in log]
            # nothing repeats a command by itself (a retried append would be in twice)
            assert len(datas) == len(set(datas)), f"{session}: an append is in the log twice"
        # a follower's tail (one XREAD per slot, on the new primary too) sees all of it
        positions: dict[str, str | None] = dict.fromkeys(SESSIONS)
        seen: dict[str, list[Entry]] = {s: [] for s in SESSIONS}
        async with asyncio.timeout(WAIT):
            while any(len(seen[s]) < len(acked[s]) for s in SESSIONS):
                found_now = await reader.tail(positions, timeout=1.0)
                for session, entries in found_now.items():
                    assert entries is not None
                    seen[session] += entries
                    positions[session] = entries[-1].id
        for session in SESSIONS:
            assert {e.id for e in seen[session]} >= set(acked[session])
    finally:
        await reader.close()
    print(f"{how}: {count()} acknowledged appends, {failures} failed during the failover")


SESSION = "band"


class Acked:
    """Note ids whose edits were acknowledged, awaitable by count."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def record(self, edit: Edit, future: asyncio.Future[int]) -> None:
        if not future.cancelled() and future.exception() is None:
            self.ids.add(edit.id or "")
            for count, waiter in self._waiters:
                if len(self.ids) >= count and not waiter.done():
                    waiter.set_result(None)

    async def reach(self, count: int) -> None:
        if len(self.ids) >= count:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((count, waiter))
        await asyncio.wait_for(waiter, WAIT)


async def storm(clients: list[Session], acked: Acked, stop: asyncio.Event) -> None:
    rng = random.Random(20)
    track = clients[0].add_track("storm")
    await track
    await asyncio.gather(*(s.wait_version(clients[0].version) for s in clients))
    i = 0
    while not stop.is_set():
        for s in clients:
            with contextlib.suppress(BacklineError):  # refused while the slot has no primary
                edit = s.add_note(track.id or "", rng.randrange(128), i)
                edit._future.add_done_callback(functools.partial(acked.record, edit))
            i += 1
        await asyncio.sleep(0.002)  # pacing the storm, not synchronisation


async def test_two_processes_lose_no_acknowledged_edit_when_a_primary_is_killed(
    cluster: RedisCluster, tmp_path: Path
) -> None:
    nodes = [
        ServerProcess(
            tmp_path / f"node{i}", extra_args=["--redis", cluster.url, "--node-id", f"n{i}"]
        ).start()
        for i in range(2)
    ]
    try:
        token = nodes[0].token(SESSION)
        acked = Acked()
        stop = asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            clients = []
            for i in range(2):
                urls = [n.url for n in nodes[i:] + nodes[:i]]
                for j in range(2):
                    clients.append(
                        await stack.enter_async_context(
                            connect(urls, session=SESSION, token=token, name=f"n{i}c{j}")
                        )
                    )
            task = asyncio.create_task(storm(clients, acked, stop))
            await acked.reach(200)
            probe = RedisStore(cluster.url, node="probe", prefix="bl")
            try:
                owner = await probe._pools.owner(f"bl:{{{SESSION}}}:log")
            finally:
                await probe.close()
            primary = next(node for node in cluster.nodes if node.port == owner[1])
            await asyncio.to_thread(cluster.kill_primary, primary)
            await acked.reach(len(acked.ids) + 200)  # edits flow again, no process restarted
            stop.set()
            await task
            for s in clients:
                await s.synced()
            final = max(s.version for s in clients)
            await asyncio.gather(*(asyncio.wait_for(s.wait_version(final), WAIT) for s in clients))
            first = encode(clients[0].project.to_data())
            assert all(encode(s.project.to_data()) == first for s in clients)
            assert acked.ids <= set(clients[0].project.notes)  # nothing acknowledged is lost
        for node in nodes:
            async with connect(node.url, session=SESSION, token=token, name="check") as check:
                assert check.version == final and encode(check.project.to_data()) == first
    finally:
        for node in nodes:
            node.stop()


@pytest.mark.parametrize("how", ["failover", "kill"])
async def test_the_bus_subscribes_on_the_new_primary_after_a_failover(
    cluster: RedisCluster, how: str
) -> None:
    """Sharded pub/sub: when the slot of a followed session moves, the bus subscribes on
    the node serving it now, and messages flow again without a new `subscribe`."""
    from backline.server.storage.bus import BusUnavailable
    from backline.server.storage.redis_bus import RedisBus

    a = RedisBus(cluster.url, node="a", prefix="busfail")
    b = RedisBus(cluster.url, node="b", prefix="busfail")
    inbox: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    try:
        await b.subscribe("s", inbox.put_nowait)
        await a.publish("s", {"n": 0})
        assert await asyncio.wait_for(inbox.get(), WAIT) == {"n": 0, "o": "a"}
        owner = await a._pools.owner("busfail:{s}:bus")
        primary = next(node for node in cluster.nodes if node.port == owner[1])
        if how == "kill":
            await asyncio.to_thread(cluster.kill_primary, primary)
        else:
            await asyncio.to_thread(cluster.failover, primary)
        # pub/sub keeps nothing for a subscriber that is not there yet: publish until heard
        n = 0
        async with asyncio.timeout(WAIT):
            while True:
                n += 1
                with contextlib.suppress(BusUnavailable):
                    await a.publish("s", {"n": n})
                with contextlib.suppress(TimeoutError):
                    message = await asyncio.wait_for(inbox.get(), 0.2)
                    if message.get("n", 0) != 0:
                        break
        await eventually(b.healthy, WAIT, "the bus healthy again")
    finally:
        await a.close()
        await b.close()


async def test_a_follower_hands_out_an_entry_only_once_a_replica_has_it(
    cluster: RedisCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blocked XREAD gets an entry as soon as the primary has it, before its replica
    does; had the primary been killed then, the process would have applied an entry the
    promoted replica never had (its versions ahead of every other process's for good).
    With the replica stopped, the entry is on the primary but the tail waits in its
    fence (``WAIT``); once the replica runs again, the entry is handed out."""
    import signal

    from backline.server.storage import redis as redis_store

    monkeypatch.setattr(redis_store, "REPLICA_WAIT_MS", 60_000)  # no give-up in this test
    writer = RedisStore(cluster.url, node="w", prefix="fence")
    reader = RedisStore(cluster.url, node="r", prefix="fence")
    replica = None
    try:
        (first,) = await writer.append("s", [b"replicated"])  # acknowledged after its WAIT
        owner = await writer._pools.owner("fence:{s}:log")
        primary = next(node for node in cluster.nodes if node.port == owner[1])
        replica = cluster.replica_of(primary)
        assert replica.proc is not None
        tail = asyncio.ensure_future(reader.tail({"s": first}, timeout=WAIT))
        replica.proc.send_signal(signal.SIGSTOP)
        append = asyncio.ensure_future(writer.append("s", [b"on the primary only"]))

        def fenced() -> bool:
            clients = cluster.cli(primary.port, "CLIENT", "LIST", timeout=5.0).splitlines()
            return any("name=backline-tail-r" in c and "cmd=wait" in c for c in clients)

        async def fenced_soon() -> bool:
            return await asyncio.to_thread(fenced)

        deadline = asyncio.get_running_loop().time() + WAIT
        while not await fenced_soon():  # polling another process's state
            assert asyncio.get_running_loop().time() < deadline, "the tail never fenced"
            assert not tail.done(), f"handed out before a replica had it: {tail.result()}"
        entries = await reader.read("s", first)
        assert [e.data for e in entries] == [b"on the primary only"]  # there, on the primary
        assert not tail.done()  # ... and not handed out
        replica.proc.send_signal(signal.SIGCONT)
        replica = None
        found = await asyncio.wait_for(tail, WAIT)
        assert [e.data for e in found["s"] or []] == [b"on the primary only"]
        await asyncio.wait_for(append, WAIT)
    finally:
        if replica is not None and replica.proc is not None:
            replica.proc.send_signal(signal.SIGCONT)
        await writer.close()
        await reader.close()
