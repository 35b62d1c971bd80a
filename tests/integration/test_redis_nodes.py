"""Several server processes on one real Redis serve one session: one project, one order.

The tests that do not restart Redis run twice: on one redis-server and on a Redis
Cluster of three primaries (``redis+cluster://``), each the test's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster as RedisClusterClient

from backline.client import Edit, connect
from backline.client.session import Session
from backline.protocol.codec import encode
from backline.protocol.errors import BacklineError, ErrorCode, Unavailable
from backline.testing import ServerProcess, eventually, random_edit
from backline.testing.redis import RedisCluster, RedisServer

SESSION = "band"


@pytest.fixture(params=["single", "cluster"])
def redis(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RedisServer | RedisCluster]:
    if request.param == "cluster":
        with RedisCluster(tmp_path / "cluster") as cluster:
            yield cluster
    else:
        with RedisServer(tmp_path / "redis") as server:
            yield server


def start_nodes(
    tmp_path: Path, redis: RedisServer | RedisCluster, count: int, *extra: str
) -> list[ServerProcess]:
    nodes = []
    for i in range(count):
        node = ServerProcess(
            tmp_path / f"node{i}",
            extra_args=["--redis", redis.url, "--node-id", f"n{i}", *extra],
        )
        nodes.append(node.start())
    return nodes


@pytest.fixture
def nodes(tmp_path: Path, redis: RedisServer | RedisCluster) -> Iterator[list[ServerProcess]]:
    started = start_nodes(tmp_path, redis, 3)
    try:
        yield started
    finally:
        for node in started:
            node.stop()


def canonical(s: Session) -> bytes:
    return encode(s.project.to_data())


@contextlib.asynccontextmanager
async def clients_on(
    nodes: list[ServerProcess], per_node: int, token: str
) -> AsyncIterator[list[Session]]:
    """`per_node` clients on each node; each knows every node, its own first."""
    async with contextlib.AsyncExitStack() as stack:
        sessions = []
        for i, _node in enumerate(nodes):
            urls = [n.url for n in nodes[i:] + nodes[:i]]
            for j in range(per_node):
                sessions.append(
                    await stack.enter_async_context(
                        connect(urls, session=SESSION, token=token, name=f"n{i}c{j}")
                    )
                )
        yield sessions


async def settle(clients: list[Session]) -> int:
    for s in clients:
        await s.synced()
    final = max(s.version for s in clients)
    await asyncio.gather(*(asyncio.wait_for(s.wait_version(final), 30) for s in clients))
    return final


async def test_three_nodes_six_clients_converge(nodes: list[ServerProcess]) -> None:
    token = nodes[0].token(SESSION)
    rng = random.Random(11)
    async with clients_on(nodes, 2, token) as clients:
        tracks: list[str] = []
        sent = 0
        while sent < 2000:
            for s in clients:
                for _ in range(rng.randrange(1, 5)):
                    random_edit(s, rng, tracks)
                    sent += 1
            await asyncio.sleep(0)  # let frames flow both ways while editing
        final = await settle(clients)
        assert final > 1000  # a real storm, most edits accepted
        assert all(not s.replica.pending for s in clients)
        first = canonical(clients[0])
        assert all(canonical(s) == first for s in clients)
        # and every process holds exactly that project at that version
        for node in nodes:
            async with connect(node.url, session=SESSION, token=token, name="check") as check:
                assert check.version == final
                assert canonical(check) == first


async def test_presence_and_chat_cross_nodes(nodes: list[ServerProcess]) -> None:
    token = nodes[0].token(SESSION)
    async with (
        connect(nodes[0].url, session=SESSION, token=token, name="ann") as ann,
        connect(nodes[1].url, session=SESSION, token=token, name="bob") as bob,
    ):
        events = bob.events()
        ann.set_presence(cursor={"x": 7})
        async for _ in events:
            peer = bob.peers.get(ann.client_id)
            if peer is not None and peer.get("cursor", {}).get("x") == 7:
                break
        await ann.chat("over the bus")
        async for event in events:
            if getattr(event, "text", None) == "over the bus":
                break
        async with connect(nodes[2].url, session=SESSION, token=token, name="cy") as cy:
            assert [c.text for c in cy.chat_history] == ["over the bus"]
            async with cy.events() as seen:  # a fresh process learns who is on the others
                if {p["name"] for p in cy.peers.values()} != {"ann", "bob"}:
                    async for _ in seen:
                        if {p["name"] for p in cy.peers.values()} == {"ann", "bob"}:
                            break
            assert {p["name"] for p in cy.peers.values()} == {"ann", "bob"}


class Acked:
    """Acknowledged note ids (and their versions), awaitable by count."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def record(self, edit: Edit, future: asyncio.Future[int]) -> None:
        if not future.cancelled() and future.exception() is None:
            self.ids[edit.id or ""] = future.result()
            for count, waiter in self._waiters:
                if len(self.ids) >= count and not waiter.done():
                    waiter.set_result(None)

    async def reach(self, count: int) -> None:
        if len(self.ids) >= count:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((count, waiter))
        await asyncio.wait_for(waiter, 60)


async def storm(
    clients: list[Session], acked: Acked, rng: random.Random, stop: asyncio.Event
) -> None:
    """Notes from every client until `stop`; records every acknowledged note id."""
    track = clients[0].add_track("storm")
    await track
    await asyncio.gather(*(s.wait_version(clients[0].version) for s in clients))
    i = 0
    while not stop.is_set():
        for s in clients:
            with contextlib.suppress(BacklineError):
                edit = s.add_note(track.id or "", rng.randrange(128), i)
                edit._future.add_done_callback(functools.partial(acked.record, edit))
            i += 1
        await asyncio.sleep(0.002)  # pacing the storm, not synchronisation


async def test_node_killed_mid_storm_loses_and_duplicates_nothing(
    nodes: list[ServerProcess],
) -> None:
    token = nodes[0].token(SESSION)
    acked = Acked()
    stop = asyncio.Event()
    async with clients_on(nodes, 2, token) as clients:
        task = asyncio.create_task(storm(clients, acked, random.Random(5), stop))
        await acked.reach(200)
        nodes[1].kill()  # clients 2 and 3 lose their node
        await acked.reach(len(acked.ids) + 300)
        stop.set()
        await task
        final = await settle(clients)
        assert all(s.url != nodes[1].url for s in clients[2:4])  # they moved
        first = canonical(clients[0])
        assert all(canonical(s) == first for s in clients)
        notes = clients[0].project.notes
        assert all(nid in notes for nid in acked.ids)  # nothing acknowledged is lost
        starts = [n["start"] for n in notes.values()]
        assert len(starts) == len(set(starts))  # nothing applied twice
        async with connect(nodes[2].url, session=SESSION, token=token, name="after") as after:
            assert after.version == final and canonical(after) == first


@pytest.mark.parametrize("redis", ["single"], indirect=True)  # a Cluster: the failover test
async def test_redis_restart_mid_storm_keeps_every_acknowledged_edit(
    nodes: list[ServerProcess], redis: RedisServer
) -> None:
    token = nodes[0].token(SESSION)
    acked = Acked()
    stop = asyncio.Event()
    async with (
        clients_on(nodes, 1, token) as clients,
        connect(nodes[0].url, session=SESSION, token=token, name="watcher") as watcher,
    ):
        task = asyncio.create_task(storm(clients, acked, random.Random(9), stop))
        await acked.reach(200)
        await asyncio.to_thread(redis.kill)  # kill -9: only the AOF survives
        health = await asyncio.to_thread(_health, nodes[0])
        # while Redis is down: edits are refused with a clear code ...
        with pytest.raises(Unavailable) as refused:
            await asyncio.wait_for(clients[0].set_swing(0.5), 30)
        assert refused.value.code == ErrorCode.UNAVAILABLE
        # ... and presence still works between members of one process
        async with watcher.events() as seen:
            clients[0].set_presence(cursor={"during": "outage"})
            async for _ in seen:
                peer = watcher.peers.get(clients[0].client_id, {})
                if peer.get("cursor") == {"during": "outage"}:
                    break
        await asyncio.to_thread(redis.restart)
        await acked.reach(len(acked.ids) + 200)  # edits flow again, no node restarted
        stop.set()
        await task
        final = await settle(clients)
        first = canonical(clients[0])
        assert all(canonical(s) == first for s in clients)
        assert all(nid in clients[0].project.notes for nid in acked.ids)
        for node in nodes:
            async with connect(node.url, session=SESSION, token=token, name="check") as check:
                assert check.version == final and canonical(check) == first
    assert health["status"] == "degraded" and health["store"] is False


def _health(node: ServerProcess) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(node.http_url + "/healthz", timeout=10) as response:
            result: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as error:  # 503 while degraded
        result = json.loads(error.read())
    return result


@pytest.mark.parametrize("history", ["trim", "keep", "archive"])
async def test_snapshots_and_late_joiners_get_the_exact_project(
    tmp_path: Path, redis: RedisServer | RedisCluster, history: str
) -> None:
    """`trim`: snapshots trim the stream; `keep` (the default): the whole stream stays and
    each snapshot is a milestone; `archive` (`--archive-dir`, shared by both processes):
    old segments move to files. Either way late joiners on any process agree, and with
    history kept every version is still there."""
    args: tuple[str, ...] = ("--snapshot-every", "25", "--history", history)
    if history == "archive":
        args = ("--snapshot-every", "25", "--archive-dir", str(tmp_path / "archive"))
    nodes = start_nodes(tmp_path, redis, 2, *args)
    try:
        token = nodes[0].token(SESSION)
        async with connect(nodes[0].url, session=SESSION, token=token, name="a") as a:
            track = a.add_track("long")
            for i in range(300):
                a.add_note(track.id or "", 40 + i % 40, i * 10)
            await a.synced()
            assert a.version == 301
            expected = canonical(a)
        client: Redis | RedisClusterClient = (
            RedisClusterClient(host="127.0.0.1", port=redis.nodes[0].port)
            if isinstance(redis, RedisCluster)
            else Redis.from_url(redis.url)
        )
        try:
            # snapshots are saved in the background: Redis announces nothing
            async def log_length() -> int:
                return int(await client.xlen(f"bl:{{{SESSION}}}:log"))

            async def milestones() -> int:
                return int(await client.hlen(f"bl:{{{SESSION}}}:ms"))

            if history == "trim":
                await eventually(lambda: _below(log_length(), 100), 30, "the log trimmed")
                assert await log_length() < 100 and await milestones() == 0
            else:
                await eventually(
                    lambda: _at_least(milestones(), 12), 30, "a milestone per 25 versions"
                )
                if history == "keep":
                    assert await log_length() == 302  # create + 301 edits: nothing dropped
                else:
                    assert await log_length() <= 2 * 25 + 2  # the rest is in the archive
                    assert list((tmp_path / "archive").glob("*/log-*.seg"))
        finally:
            await client.aclose()
        async with connect(nodes[1].url, session=SESSION, token=token, name="late") as late:
            assert late.version == 301 and canonical(late) == expected
            if history != "trim":
                early = await late.history.at(30)
                assert len(early.project.notes) == 29  # the track, then 29 notes
        # a process starting now loads snapshot + tail and agrees too
        nodes.append(
            ServerProcess(
                tmp_path / "node-late",
                extra_args=["--redis", redis.url, "--node-id", "late", *args],
            ).start()
        )
        async with connect(nodes[2].url, session=SESSION, token=token, name="late2") as late2:
            assert late2.version == 301 and canonical(late2) == expected
    finally:
        for node in nodes:
            node.stop()


async def test_start_logs_persistence_and_warns_without_aof(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis", appendonly=False) as redis:
        node = ServerProcess(tmp_path / "node", extra_args=["--redis", redis.url]).start()
        try:
            token = node.token(SESSION)
            async with connect(node.url, session=SESSION, token=token, name="a") as a:
                await a.set_tempo(99)  # it works, it just is not durable across restarts
        finally:
            node.stop()
        log = node.log_path.read_text()
        assert "redis persistence: appendfsync=" in log
        assert "AOF is off" in log


async def _below(value: Awaitable[int], limit: int) -> bool:
    return await value < limit


async def _at_least(value: Awaitable[int], limit: int) -> bool:
    return await value >= limit
