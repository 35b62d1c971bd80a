"""The `Bus` contract, one suite for the in-process buses and for Redis; then Redis outages.

Each test runs two nodes, ``a`` and ``b``, on one medium (a `MemoryNetwork`, one
redis-server, or a Redis Cluster of three primaries, where the bus uses sharded
pub/sub).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from backline.server.storage.bus import Bus, BusUnavailable, MemoryNetwork
from backline.server.storage.redis_bus import RedisBus
from backline.testing import eventually
from backline.testing.redis import RedisCluster, RedisServer

WAIT = 10.0  # seconds: the bound on anything that should happen "at once"
PROMPT = 3.0  # seconds: how soon a failure must be reported

Inbox = asyncio.Queue[dict[str, Any]]


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Bus, Bus]]:
    a: Bus
    b: Bus
    if request.param == "memory":
        network = MemoryNetwork()
        a, b = network.bus("a"), network.bus("b")
    else:
        name = "redis_server" if request.param == "redis" else "redis_cluster"
        redis: RedisServer | RedisCluster = request.getfixturevalue(name)
        prefix: str = request.getfixturevalue("redis_prefix")
        a, b = (
            RedisBus(redis.url, node="a", prefix=prefix),
            RedisBus(redis.url, node="b", prefix=prefix),
        )
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def next_message(inbox: Inbox) -> dict[str, Any]:
    return await asyncio.wait_for(inbox.get(), WAIT)


async def test_a_message_reaches_the_other_node(nodes: tuple[Bus, Bus]) -> None:
    """What `a` publishes reaches `b`'s handler, tagged with its origin."""
    a, b = nodes
    inbox: Inbox = asyncio.Queue()
    await b.subscribe("s", inbox.put_nowait)
    await a.publish("s", {"type": "presence", "cursor": [1, 2]})
    assert await next_message(inbox) == {"type": "presence", "cursor": [1, 2], "o": "a"}


async def test_a_node_does_not_hear_its_own_messages(nodes: tuple[Bus, Bus]) -> None:
    """Both nodes subscribed: each one's handler gets only the other's message."""
    a, b = nodes
    inbox_a: Inbox = asyncio.Queue()
    inbox_b: Inbox = asyncio.Queue()
    await a.subscribe("s", inbox_a.put_nowait)
    await b.subscribe("s", inbox_b.put_nowait)
    await a.publish("s", {"n": 1})
    await b.publish("s", {"n": 2})
    # `a` would have received its own echo before `b`'s message
    assert await next_message(inbox_a) == {"n": 2, "o": "b"}
    assert await next_message(inbox_b) == {"n": 1, "o": "a"}
    await a.publish("s", {"n": 3})
    assert await next_message(inbox_b) == {"n": 3, "o": "a"}
    assert inbox_a.empty()


async def test_each_session_reaches_its_own_handler(nodes: tuple[Bus, Bus]) -> None:
    """Messages go to the handler of the session they were published to."""
    a, b = nodes
    inboxes: dict[str, Inbox] = {s: asyncio.Queue() for s in ("s1", "s2")}
    for session, inbox in inboxes.items():
        await b.subscribe(session, inbox.put_nowait)
    await a.publish("s2", {"to": "s2"})
    await a.publish("s1", {"to": "s1"})
    assert await next_message(inboxes["s1"]) == {"to": "s1", "o": "a"}
    assert await next_message(inboxes["s2"]) == {"to": "s2", "o": "a"}
    assert inboxes["s1"].empty() and inboxes["s2"].empty()


async def test_sessions_in_many_slots_each_reach_their_handler(nodes: tuple[Bus, Bus]) -> None:
    """Twenty sessions (on a Cluster: spread over every primary) deliver to their own
    handler, and a message published after `subscribe` returned is never missed."""
    a, b = nodes
    inboxes: dict[str, Inbox] = {f"s{i}": asyncio.Queue() for i in range(20)}
    for session, inbox in inboxes.items():
        await b.subscribe(session, inbox.put_nowait)
    for session in inboxes:
        await a.publish(session, {"to": session})
    for session, inbox in inboxes.items():
        assert await next_message(inbox) == {"to": session, "o": "a"}
    assert all(inbox.empty() for inbox in inboxes.values())


async def test_a_lease_has_one_holder_until_released_or_expired(nodes: tuple[Bus, Bus]) -> None:
    """claim/release/holder: the first claimer holds it; another node cannot take it
    while it lasts; the holder renews it; release or expiry frees it."""
    a, b = nodes
    assert await a.holder("s", "room") is None
    assert await a.claim("s", "room", 10.0) == "a"
    assert await b.claim("s", "room", 10.0) == "a"
    assert await a.claim("s", "room", 10.0) == "a"  # a renewal
    assert await b.holder("s", "room") == "a"
    assert await b.claim("t", "room", 10.0) == "b"  # another session's lease
    await b.release("s", "room")  # not b's: left alone
    assert await a.holder("s", "room") == "a"
    await a.release("s", "room")
    assert await b.holder("s", "room") is None
    assert await b.claim("s", "room", 0.2) == "b"
    await eventually(
        lambda: _expired(a, "s"), WAIT, "b's 0.2 s lease to expire"
    )  # expiry has no event to await
    assert await a.claim("s", "room", 10.0) == "a"


async def _expired(bus: Bus, session: str) -> bool:
    return await bus.holder(session, "room") is None


async def test_unsubscribe_stops_delivery(nodes: tuple[Bus, Bus]) -> None:
    """After `unsubscribe` a session's messages no longer reach the node."""
    a, b = nodes
    inbox: Inbox = asyncio.Queue()
    await b.subscribe("gone", inbox.put_nowait)
    await b.subscribe("kept", inbox.put_nowait)
    await b.unsubscribe("gone")
    await a.publish("gone", {"n": 1})
    await a.publish("kept", {"n": 2})
    assert await next_message(inbox) == {"n": 2, "o": "a"}  # not {"n": 1}, sent before it
    assert inbox.empty()


async def test_healthy(nodes: tuple[Bus, Bus]) -> None:
    """A working bus says it is healthy, with and without subscriptions."""
    a, b = nodes
    assert await a.healthy()
    await b.subscribe("s", lambda message: None)
    assert await b.healthy()


# -- Redis outages (each test has its own redis-server) -----------------------------------


def warnings_from_bus(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "backline.bus" and r.levelno == logging.WARNING]


async def test_redis_bus_subscribes_again_after_a_restart(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """After Redis restarts, a subscribed node hears messages again; one WARNING per outage."""
    a = RedisBus(own_redis.url, node="a")
    b = RedisBus(own_redis.url, node="b")
    inbox: Inbox = asyncio.Queue()
    try:
        await b.subscribe("s", inbox.put_nowait)
        for outage in (1, 2):
            own_redis.kill()
            own_redis.start()
            # returns once Redis confirmed it on the new connection, where "s" came first
            await b.subscribe(f"barrier{outage}", lambda message: None)
            await a.publish("s", {"outage": outage})
            assert await next_message(inbox) == {"outage": outage, "o": "a"}
            assert len(warnings_from_bus(caplog)) == outage
        assert await b.healthy()
    finally:
        await a.close()
        await b.close()


async def test_redis_bus_fails_fast_while_redis_is_down(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """While Redis is down, publishing fails promptly; a subscription is made when it is back."""
    a = RedisBus(own_redis.url, node="a")
    b = RedisBus(own_redis.url, node="b", confirm_timeout=0.5)
    inbox: Inbox = asyncio.Queue()
    try:
        await b.subscribe("before", inbox.put_nowait)
        own_redis.stop()
        started = time.monotonic()
        with pytest.raises(BusUnavailable, match=f"127.0.0.1:{own_redis.port}"):
            await a.publish("s", {"n": 1})
        with pytest.raises(BusUnavailable):
            await b.subscribe("during", inbox.put_nowait)
        assert not await b.healthy()
        assert time.monotonic() - started < PROMPT
        own_redis.start()
        b.confirm_timeout = WAIT  # the reconnection backs off for up to a second or two
        await b.subscribe("barrier", lambda message: None)
        await a.publish("during", {"n": 2})
        await a.publish("before", {"n": 3})
        assert await next_message(inbox) == {"n": 2, "o": "a"}
        assert await next_message(inbox) == {"n": 3, "o": "a"}
        assert len(warnings_from_bus(caplog)) == 1
    finally:
        await a.close()
        await b.close()


async def test_redis_bus_survives_a_failing_handler(
    redis_server: RedisServer, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler that raises is logged with its session; the next messages still arrive."""
    a = RedisBus(redis_server.url, node="a", prefix=redis_prefix)
    b = RedisBus(redis_server.url, node="b", prefix=redis_prefix)
    inbox: Inbox = asyncio.Queue()

    def handler(message: dict[str, Any]) -> None:
        if message.get("bad"):
            raise ValueError("handler bug")
        inbox.put_nowait(message)

    try:
        await b.subscribe("s", handler)
        with caplog.at_level(logging.ERROR, logger="backline.bus"):
            await a.publish("s", {"bad": True})
            await a.publish("s", {"bad": False})
            assert await next_message(inbox) == {"bad": False, "o": "a"}
        assert any("session s" in r.getMessage() and r.exc_info for r in caplog.records)
    finally:
        await a.close()
        await b.close()


async def test_redis_bus_notices_a_hung_redis_and_recovers(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A silent subscriber connection is given up after its keepalive; the node resubscribes."""
    a = RedisBus(own_redis.url, node="a")
    b = RedisBus(own_redis.url, node="b", keepalive=0.2, command_timeout=0.5)
    inbox: Inbox = asyncio.Queue()
    try:
        await b.subscribe("s", inbox.put_nowait)
        own_redis.pause()
        try:
            deadline = 2 * 0.2 + 0.5 + PROMPT  # a log line: nothing to await
            await eventually(lambda: warnings_from_bus(caplog), deadline, "a warning")
        finally:
            own_redis.resume()
        b.confirm_timeout = WAIT
        await b.subscribe("barrier", lambda message: None)
        await a.publish("s", {"n": 1})
        assert await next_message(inbox) == {"n": 1, "o": "a"}
    finally:
        await a.close()
        await b.close()
