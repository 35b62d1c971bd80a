"""The mirror (`backline.client.mirror`): optimistic edits, acks, rejects, snapshots, waiters.

No sockets: frames are built by the server's own builders and handed over.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from backline.client.events import Event, Rejected, RemoteEdit
from backline.client.mirror import Mirror
from backline.protocol import frames
from backline.protocol.errors import Conflict, ErrorCode, NotFound, Unavailable
from backline.protocol.messages import Batch, ClientType
from backline.protocol.model import PROJECT_ID, Document

ME = "me"


def tempo(bpm: float) -> dict[str, Any]:
    return {"op": "set", "id": PROJECT_ID, "field": "tempo", "value": bpm}


def mirror() -> tuple[Mirror, list[Event], list[str]]:
    events: list[Event] = []
    changes: list[str] = []
    m = Mirror(events.append, lambda: changes.append("changed"))
    m.welcomed({"client": ME, "batches": []})
    return m, events, changes


async def test_an_edit_applies_at_once_and_its_ack_resolves_it() -> None:
    m, events, changes = mirror()
    edit = m.edit([tempo(100)], lambda ops: ops, None)
    assert m.replica.doc.project["tempo"] == 100.0 and changes
    assert m.unacked == {edit.seq: {"type": "op", "seq": edit.seq, "ops": [tempo(100)]}}
    assert not edit.done
    m.on_ops(frames.ops_frame([Batch(1, ME, edit.seq, [tempo(100)]).to_wire()]))
    assert await edit == 1 and not m.unacked and m.version == 1
    assert events == [RemoteEdit(Batch(1, ME, edit.seq, [tempo(100)]), mine=True)]


async def test_the_guess_applies_here_while_the_ops_go_to_the_server() -> None:
    """Transport intents get their times on the server; this client applies its guess."""
    m, _, _ = mirror()
    edit = m.edit([tempo(90)], lambda ops: [tempo(91)], None)
    assert m.replica.doc.project["tempo"] == 91.0
    assert m.unacked[edit.seq]["ops"] == [tempo(90)]


async def test_a_reject_rolls_back_and_raises_the_typed_error() -> None:
    m, events, _ = mirror()
    before = m.replica.doc.project["tempo"]
    edit = m.edit([tempo(100)], lambda ops: ops, None)
    m.on_reject(frames.reject(edit.seq, ErrorCode.CONFLICT.value, "no longer applies"))
    assert m.replica.doc.project["tempo"] == before and not m.unacked
    assert len(events) == 1 and isinstance(events[0], Rejected) and events[0].code == "conflict"
    with pytest.raises(Conflict):
        await edit
    m.on_reject(frames.reject(edit.seq, ErrorCode.CONFLICT.value, "again"))  # not mine any more
    assert len(events) == 1


async def test_an_edit_that_does_not_apply_here_keeps_nothing() -> None:
    m, _, _ = mirror()
    with pytest.raises(NotFound):
        m.edit([{"op": "delete", "id": "no-such-track"}], lambda ops: ops, None)
    assert not m.unacked and not m.replica.pending


async def test_undo_waits_for_the_server_and_is_queued_like_an_edit() -> None:
    m, _, _ = mirror()
    undo = m.history(ClientType.UNDO)
    assert m.unacked == {undo.seq: {"type": "undo", "seq": undo.seq}}
    m.on_ops(frames.ops_frame([Batch(1, ME, undo.seq, [tempo(80)]).to_wire()]))
    assert await undo == 1 and m.replica.doc.project["tempo"] == 80.0


async def test_a_snapshot_acknowledges_what_it_holds_and_replays_the_rest() -> None:
    m, _, _ = mirror()
    held = m.edit([tempo(100)], lambda ops: ops, None)
    swing = {"op": "set", "id": PROJECT_ID, "field": "swing", "value": 0.2}
    later = m.edit([swing], lambda ops: ops, None)
    doc = Document()
    doc.project["tempo"] = 100.0
    m.welcomed(
        {"client": ME, "batches": None, "snapshot": doc.to_data(), "version": 9, "seq": held.seq}
    )
    assert await held == 9  # the snapshot's version: an upper bound
    assert not later.done and list(m.unacked) == [later.seq]
    assert m.replica.doc.project["swing"] == 0.2  # still applied on top of the snapshot


async def test_wait_version_wakes_when_that_version_arrives() -> None:
    m, _, _ = mirror()
    waiting = asyncio.ensure_future(m.wait_version(2))
    m.on_ops(frames.ops_frame([Batch(1, "other", 1, [tempo(100)]).to_wire()]))
    await asyncio.sleep(0)
    assert not waiting.done()
    m.on_ops(frames.ops_frame([Batch(2, "other", 2, [tempo(101)]).to_wire()]))
    await asyncio.wait_for(waiting, 1)
    await m.wait_version(1)  # already there: returns at once


async def test_fail_raises_in_every_edit_still_waiting() -> None:
    m, _, _ = mirror()
    edit = m.edit([tempo(100)], lambda ops: ops, None)
    m.fail(Unavailable("session closed"))
    with pytest.raises(Unavailable):
        await edit
    await m.synced()  # nothing left to wait for
