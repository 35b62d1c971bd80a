"""Closing a session ends its background loops even when a bus call swallows a cancel."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from backline.protocol.messages import Role
from backline.protocol.sequencer import Sequencer
from backline.server.sessions import roster as roster_module
from backline.server.sessions.session import Member, Session
from backline.server.storage.bus import BusUnavailable, MemoryBus
from backline.server.storage.memory import MemoryStore


class SwallowingBus(MemoryBus):
    """Publishes hang, and a cancelled publish ends as a bus failure, not a cancellation
    (what a Redis client does when a cancel lands mid-command: it drops the connection
    and reports a connection error)."""

    def __init__(self) -> None:
        super().__init__("n1")
        self.entered = asyncio.Event()

    async def publish(self, session: str, message: dict[str, Any]) -> None:
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise BusUnavailable("connection dropped") from None


async def test_close_returns_while_the_heartbeat_is_stuck_in_a_publish(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(roster_module, "HEARTBEAT", 0.01)
    bus = SwallowingBus()
    session = Session(
        "s",
        MemoryStore(),
        bus,
        Sequencer(),
        None,
        snapshot_every=500,
        presence_interval=0.05,
        chat=[],
        chat_history=10,
        on_idle=lambda s: None,
    )
    member = Member(peer=None, client="c1", name="n", color="#ffffff", role=Role.EDITOR)  # type: ignore[arg-type]
    session.members["c1"] = member
    try:
        await asyncio.wait_for(bus.entered.wait(), 10)  # the heartbeat is inside a publish
        await asyncio.wait_for(session.close(timeout=1.0), 10)
        assert session.roster.heartbeat.done()
    finally:  # if that failed: end the loop for good, or the test's event loop hangs
        monkeypatch.setattr(bus, "publish", MemoryBus.publish.__get__(bus))
        session.roster.heartbeat.cancel()
        session._applier.cancel()
