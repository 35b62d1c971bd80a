"""Pacing (`backline.client.pacing`): the client's buckets follow the server's rates."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from backline.client.connection import Connection
from backline.client.events import Event
from backline.client.mirror import Mirror
from backline.client.pacing import PRESENCE_HZ, EditPump, Pacing, margin
from backline.protocol.limits import DEFAULT_LIMITS
from backline.protocol.model import PROJECT_ID
from backline.protocol.ratelimit import Rate
from backline.testing import eventually


class Link:
    """Stands in for a `Connection`: records what would be sent."""

    def __init__(self) -> None:
        self.connected = True
        self.sent: list[dict[str, Any]] = []

    def send_soon(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


def test_the_margin_stays_a_little_under_the_servers_rate() -> None:
    assert margin(Rate(100, 20)) == Rate(90, 18)
    assert margin(Rate(1, 1)) == Rate(0.9, 1)  # a burst of one stays one
    assert margin(Rate(0, 5)) == Rate(0, 5)  # unlimited stays unlimited


async def test_announced_rates_replace_the_defaults_in_place() -> None:
    pacing = Pacing()
    rates = pacing.rates
    assert rates["edit"] == DEFAULT_LIMITS.edit
    pacing.adopt({"edit": [40, 10], "chat": [0, 1], "bogus": [1, 1]})
    assert rates["edit"] == Rate(40, 10) and rates["chat"] == Rate(0, 1)
    assert pacing.edit.rate == margin(Rate(40, 10)) and pacing.chat.rate.unlimited
    assert rates["presence"] == DEFAULT_LIMITS.presence  # not announced: kept
    pacing.adopt({"presence": [10, 1]})
    assert pacing.presence_interval == 1 / 10
    pacing.adopt({"presence": [0, 1]})
    assert pacing.presence_interval == 1 / PRESENCE_HZ


async def test_chat_waits_for_its_token() -> None:
    pacing = Pacing()
    pacing.adopt({"chat": [20, 1]})
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(3):
        await pacing.chat_turn()
    assert loop.time() - started >= 2 / (20 * 0.9) * 0.9  # the burst, then two refills


async def test_the_pump_sends_edits_in_order_at_the_edit_rate() -> None:
    events: list[Event] = []
    mirror = Mirror(events.append, lambda: None)
    mirror.welcomed({"client": "me", "batches": []})
    pacing = Pacing()
    pacing.adopt({"edit": [100, 5]})
    link = Link()
    pump = EditPump(mirror, pacing, cast(Connection, link))
    edits = []
    for i in range(10):
        op = {"op": "set", "id": PROJECT_ID, "field": "tempo", "value": 60.0 + i}
        edits.append(mirror.edit([op], _same, None))
        pump.post(edits[-1].seq)
    assert len(link.sent) == 4  # margin(burst 5): 4 at once, the rest paced
    await eventually(lambda: len(link.sent) == 10, 10, "the paced edits")
    assert [m["seq"] for m in link.sent] == [e.seq for e in edits]

    link.connected, link.sent = False, []
    late = mirror.edit(
        [{"op": "set", "id": PROJECT_ID, "field": "swing", "value": 0.1}], _same, None
    )
    pump.post(late.seq)
    assert link.sent == []  # waits for the reconnect
    link.connected = True
    pump.resend()  # everything unacknowledged, in order
    await eventually(lambda: len(link.sent) == 11, 10, "the resent edits")
    assert [m["seq"] for m in link.sent] == [e.seq for e in [*edits, late]]
    pump.cancel()


def _same(ops: list[Any]) -> list[Any]:
    return ops
