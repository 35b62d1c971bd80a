"""On a single-writer store a session decides its own append as it returns.

No hub (so no follower) runs here: an edit is decided only through the fast path,
and only when the log's ids say nothing else came in between.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from backline.protocol.codec import encode
from backline.protocol.entry import EntryKind, LogEntry
from backline.protocol.messages import Role
from backline.protocol.sequencer import Sequencer
from backline.server.sessions.hub import _Positions
from backline.server.sessions.session import Member, Session
from backline.server.storage.base import Store
from backline.server.storage.bus import MemoryBus
from backline.server.storage.memory import MemoryStore
from backline.server.storage.sqlite import SQLiteStore


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    made: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path)
    yield made  # type: ignore[misc]
    await made.close()


def _session(store: Store, name: str = "s") -> tuple[Session, Member]:
    session = Session(
        name,
        store,
        MemoryBus("n1"),
        Sequencer(),
        None,
        snapshot_every=500,
        presence_interval=0.05,
        chat=[],
        chat_history=10,
        on_idle=lambda s: None,
    )
    member = Member(peer=None, client="c1", name="n", color="#ffffff", role=Role.EDITOR)  # type: ignore[arg-type]
    member.token_role = Role.EDITOR
    return session, member


def _tempo(seq: int, bpm: float) -> LogEntry:
    op = {"op": "set", "id": "project", "field": "tempo", "value": bpm}
    return LogEntry(EntryKind.OP, "c1", seq, ops=[op])


async def _stored(session: Session) -> None:
    """Propose now (what the scheduled callback would do) and await the store's answer:
    the append's own callback (`_appended`, the fast path) runs before this returns."""
    session._propose()
    appending = session._appending
    assert appending is not None
    await appending


async def _close(session: Session) -> None:
    session.roster.heartbeat.cancel()
    session._applier.cancel()
    await asyncio.gather(session.roster.heartbeat, session._applier, return_exceptions=True)


async def test_own_edits_are_decided_without_the_follower(store: Store) -> None:
    session, member = _session(store)
    try:
        session.submit(member, _tempo(1, 130.0))
        await _stored(session)
        assert session.seq.doc.to_data()["project"]["tempo"] == 130.0
        assert session.position == session.position_delivered == "1"
        session.submit(member, _tempo(2, 140.0))
        await _stored(session)
        assert session.seq.doc.to_data()["project"]["tempo"] == 140.0
        assert session.position == "2"
    finally:
        await _close(session)


async def test_an_unread_entry_in_between_leaves_the_order_to_the_follower(store: Store) -> None:
    session, member = _session(store)
    try:
        # someone else's entry (the hub's `create`, say) the follower has not delivered yet
        await store.append("s", [encode(LogEntry(EntryKind.CREATE, "", 0).to_wire())])
        session.submit(member, _tempo(1, 130.0))
        await _stored(session)
        assert session.position is None  # not decided ahead of entry 1
        assert session.position_delivered is None
        assert session.seq.doc.to_data()["project"]["tempo"] == 120.0
    finally:
        await _close(session)


async def test_a_shared_log_always_reads_back(store: Store) -> None:
    store.single_writer = False  # as on Redis: other processes append between ours
    session, member = _session(store)
    try:
        session.submit(member, _tempo(1, 130.0))
        await _stored(session)
        assert session.position is None
        assert session.seq.doc.to_data()["project"]["tempo"] == 120.0
    finally:
        await _close(session)


async def test_appends_of_one_loop_turn_are_all_decided_before_the_follower_wakes(
    store: Store,
) -> None:
    """Two sessions append in the same turn while a follower waits on the store (as
    `Hub._follow` does). Each decides its own edit; the follower, woken by their
    news, finds nothing left to read. (With one store callback per append, the
    follower woke between them and read the second session's entry first: that one
    took the slow way, read back and decoded.)"""
    made = [_session(store, name) for name in ("a", "b")]
    sessions = {session.name: session for session, _ in made}
    rounds: list[dict[str, object]] = []
    woke = asyncio.Event()

    async def follow() -> None:
        while True:
            found = await store.tail(_Positions(sessions), timeout=30.0)
            rounds.append({name: entries for name, entries in found.items() if entries})
            woke.set()

    follower = asyncio.ensure_future(follow())
    try:
        await asyncio.sleep(0)  # one turn: the follower's first step runs
        assert store._news._waiters, "the follower is not waiting for news"  # type: ignore[attr-defined]
        for n, (session, member) in enumerate(made):
            session.submit(member, _tempo(1, 130.0 + n))
        for session, _ in made:
            session._propose()  # both appends in this one loop turn
        await asyncio.gather(*(session._appending for session, _ in made if session._appending))
        await asyncio.wait_for(woke.wait(), 30)
        assert rounds == [{}] * len(rounds)  # nothing for the follower to hand out
        for n, (session, _) in enumerate(made):
            assert session.position == session.position_delivered == "1"
            assert session.seq.doc.to_data()["project"]["tempo"] == 130.0 + n
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        for session, _ in made:
            await _close(session)
