"""Shared fixtures: a real server process per test, tokens, raw websocket helpers."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from websockets.asyncio.client import ClientConnection

from backline.testing import RawClient, ServerProcess
from backline.testing.redis import RedisCluster, RedisServer

# Property tests check results, not speed: on a loaded shared machine one example can take
# longer than Hypothesis's 200 ms default deadline (a FlakyFailure that measures the machine).
settings.register_profile("backline", deadline=None)
settings.load_profile("backline")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real `backline serve` process with a SQLite store in a fresh data dir."""
    proc = ServerProcess(
        tmp_path / "data", store=os.environ.get("BACKLINE_TEST_STORE", "sqlite")
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def raw(server: ServerProcess) -> AsyncIterator[Any]:
    """Factory of raw protocol connections to `server`, all closed at the end."""
    opened: list[ClientConnection] = []

    async def open_raw() -> RawClient:
        client = await RawClient.open(server.url)
        opened.append(client.ws)
        return client

    yield open_raw
    for ws in opened:
        # a connection already lost needs no close, and must not get one: after a
        # close that waited for a full send buffer, CPython 3.11's transport drops
        # its loop without counting itself lost, and websockets' close aborts it again
        if not ws.connection_lost_waiter.done():
            await ws.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server (AOF, fsync always) for every test that only needs a Redis.

    Tests share it through distinct key prefixes (`redis_prefix`); a test that
    stops, kills or reconfigures Redis uses `own_redis` instead.
    """
    with RedisServer(tmp_path_factory.mktemp("redis")) as redis:
        yield redis


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """One real Redis Cluster (three primaries, no replicas; AOF, fsync always), shared
    like `redis_server` through distinct key prefixes. Its `url` is ``redis+cluster://``."""
    with RedisCluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture(params=["single", "cluster"])
def any_redis(request: pytest.FixtureRequest) -> RedisServer | RedisCluster:
    """`redis_server`, then `redis_cluster`: a test using it runs on both."""
    name = "redis_server" if request.param == "single" else "redis_cluster"
    found: RedisServer | RedisCluster = request.getfixturevalue(name)
    return found


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server for this test alone, to stop, kill and restart."""
    with RedisServer(tmp_path / "redis") as redis:
        yield redis
