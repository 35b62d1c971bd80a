"""The audio room's lease between processes, over the in-process bus (Redis: test_bus.py)."""

from __future__ import annotations

import asyncio

from backline.server.sessions.context import SessionContext
from backline.server.sessions.room_lease import LEASE, RoomLease
from backline.server.storage.bus import MemoryNetwork
from backline.testing import eventually

TTL = 0.2


def lease_of(network: MemoryNetwork, node: str, events: list[tuple[str, object]]) -> RoomLease:
    context = SessionContext("s", network.bus(node), None)
    return RoomLease(
        context,
        TTL,
        on_lost=lambda: events.append((node, "lost")),
        on_moved=lambda now: events.append((node, now)),
    )


async def test_the_first_claim_wins_and_others_see_the_holder() -> None:
    network = MemoryNetwork()
    a = lease_of(network, "a", [])
    b = lease_of(network, "b", [])
    assert await a.claim() == "a"
    assert await b.claim() == "a"
    assert await b.holder() == "a"
    await a.release()
    assert await b.holder() is None
    assert await b.claim() == "b"


async def test_a_held_lease_is_renewed_and_a_dead_hosts_lease_expires() -> None:
    network = MemoryNetwork()
    events: list[tuple[str, object]] = []
    a = lease_of(network, "a", events)
    b = lease_of(network, "b", events)
    assert await a.claim() == "a"
    a.hold()
    moved = asyncio.Event()

    def on_moved(now: str | None) -> None:
        events.append(("b", now))
        moved.set()

    b._on_moved = on_moved
    b.watch("a")
    await asyncio.sleep(TTL * 3)  # three lifetimes: renewals keep it
    assert await b.holder() == "a" and not moved.is_set()
    assert a.holding
    # the host dies: nothing renews; the watcher hears of it within a lifetime and a check
    assert a._holding is not None
    a._holding.cancel()
    await asyncio.wait_for(moved.wait(), TTL * 3)
    assert events == [("b", None)]
    assert await b.claim() == "b"


async def test_a_host_that_lost_its_lease_is_told_once() -> None:
    network = MemoryNetwork()
    events: list[tuple[str, object]] = []
    a = lease_of(network, "a", events)
    assert await a.claim() == "a"
    a.hold()
    network.leases[("s", LEASE)] = ("b", asyncio.get_running_loop().time() + 60)  # taken over
    await eventually(lambda: ("a", "lost") in events, timeout=TTL * 10)
    assert not a.holding
    await asyncio.sleep(TTL)
    assert events == [("a", "lost")]
    await a.close()
    assert network.leases[("s", LEASE)][0] == "b"  # releasing never drops another's lease
