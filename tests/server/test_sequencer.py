"""The session authority without any I/O: versions, duplicates, undo, rollback, catch-up."""

from __future__ import annotations

import pytest

from backline.protocol.errors import Conflict, Duplicate, NotFound, NothingToUndo
from backline.server.sequencer import Sequencer


def track(tid: str) -> list[dict[str, object]]:
    return [{"op": "insert", "kind": "track", "id": tid, "value": {"name": tid}}]


def tempo(bpm: float) -> list[dict[str, object]]:
    return [{"op": "set", "id": "project", "field": "tempo", "value": bpm}]


def test_versions_are_gap_free_and_rejects_take_none() -> None:
    """Accepted edits get consecutive versions; a rejected edit consumes no version."""
    seq = Sequencer()
    assert seq.submit("a", 1, track("t1")).version == 1
    with pytest.raises(NotFound):
        seq.submit("a", 2, [{"op": "delete", "id": "nope"}])
    assert seq.submit("b", 1, tempo(99)).version == 2
    assert [b.version for b in seq.commit()] == [1, 2]


def test_duplicate_seq_is_refused() -> None:
    """A resent op (same client, seq not above the last accepted) is a duplicate."""
    seq = Sequencer()
    seq.submit("a", 5, tempo(100))
    with pytest.raises(Duplicate):
        seq.submit("a", 5, tempo(101))
    with pytest.raises(Duplicate):
        seq.submit("a", 4, tempo(101))
    assert seq.doc.project["tempo"] == 100.0


def test_undo_redo_only_touch_my_edits() -> None:
    """Undo reverts the caller's last edit even when others edited after it; redo re-applies."""
    seq = Sequencer()
    seq.submit("a", 1, tempo(100))
    seq.submit("b", 1, [{"op": "set", "id": "project", "field": "swing", "value": 0.5}])
    seq.undo("a", 2)
    assert seq.doc.project["tempo"] == 120.0 and seq.doc.project["swing"] == 0.5
    seq.redo("a", 3)
    assert seq.doc.project["tempo"] == 100.0
    seq.undo("a", 4)
    with pytest.raises(NothingToUndo):
        seq.undo("a", 5)
    with pytest.raises(NothingToUndo):
        seq.undo("c", 1)


def test_new_edit_clears_redo() -> None:
    """After undo, a fresh edit makes redo impossible, as in every editor."""
    seq = Sequencer()
    seq.submit("a", 1, tempo(100))
    seq.undo("a", 2)
    seq.submit("a", 3, tempo(110))
    with pytest.raises(NothingToUndo):
        seq.redo("a", 4)


def test_undo_skipped_when_target_was_deleted() -> None:
    """An undo whose inverse no longer applies is skipped with `conflict` and dropped."""
    seq = Sequencer()
    seq.submit("a", 1, track("t1"))
    seq.submit("a", 2, [{"op": "set", "id": "t1", "field": "name", "value": "renamed"}])
    seq.submit("b", 1, [{"op": "delete", "id": "t1"}])
    before = seq.doc.to_data()
    with pytest.raises(Conflict, match="skipped"):
        seq.undo("a", 3)
    assert seq.doc.to_data() == before
    with pytest.raises(Conflict, match="undo of v1 skipped"):
        seq.undo("a", 4)  # the insert's inverse (delete t1) no longer applies either
    with pytest.raises(NothingToUndo):
        seq.undo("a", 5)


def test_rollback_restores_everything() -> None:
    """A round the store refused is undone exactly: document, version, seqs and undo stacks."""
    seq = Sequencer()
    seq.submit("a", 1, track("t1"))
    seq.commit()
    doc, version = seq.doc.to_data(), seq.version
    seq.submit("a", 2, tempo(90))
    seq.submit("b", 1, [{"op": "delete", "id": "t1"}])
    seq.undo("a", 3)
    undone = seq.rollback()
    assert [b.version for b in undone] == [2, 3, 4]
    assert seq.doc.to_data() == doc and seq.version == version
    assert seq.last_seq == {"a": 1}
    seq.submit("a", 2, tempo(91))  # seq 2 is usable again: it was never accepted
    seq.undo("a", 3)  # and undo history is the committed one
    assert seq.doc.project["tempo"] == 120.0


def test_since_serves_recent_batches_or_asks_for_snapshot() -> None:
    """Catch-up returns the missing batches while memory holds them, else None."""
    seq = Sequencer()
    for i in range(1, 6):
        seq.submit("a", i, tempo(100 + i))
    seq.commit()
    assert [b.version for b in seq.since(2) or []] == [3, 4, 5]
    assert seq.since(5) == []
    assert seq.since(9) is None  # a client from another timeline gets a snapshot


def test_restore_and_replay_rebuild_state() -> None:
    """Snapshot + replayed batches give the same document, version and seqs."""
    seq = Sequencer()
    seq.submit("a", 1, track("t1"))
    seq.submit("a", 2, tempo(140))
    snap, snap_version = seq.snapshot(), 1
    batches = seq.commit()
    other = Sequencer()
    first = Sequencer()
    first.submit("a", 1, track("t1"))
    other.restore(first.snapshot(), snap_version)
    other.replay(batches[1])
    assert other.doc.to_data() == seq.doc.to_data()
    assert other.version == 2 and other.last_seq == {"a": 2}
    with pytest.raises(ValueError, match="gap"):
        other.replay(batches[1])
    del snap


def test_transport_is_resolved_in_server_order_and_not_undoable() -> None:
    """Play is stored as a plain transport set; undo skips it and never moves the playhead."""
    seq = Sequencer()
    seq.submit("a", 1, tempo(100))
    played = seq.submit("b", 1, [{"op": "play"}], now=1_000_000, lead_us=300_000)
    assert played.ops == [
        {
            "op": "set",
            "id": "project",
            "field": "transport",
            "value": {"playing": True, "beat": 0.0, "time": 1_300_000},
        }
    ]
    with pytest.raises(NothingToUndo):
        seq.undo("b", 2, now=2_000_000)  # b only pressed play
    # a's tempo change is undone while playing: re-anchored, the position stays continuous
    undone = seq.undo("a", 2, now=1_900_000)
    assert [op["field"] for op in undone.ops] == ["transport", "tempo"]
    assert undone.ops[0]["value"] == {"playing": True, "beat": 1.0, "time": 1_900_000}
    assert seq.doc.project["tempo"] == 120.0
    assert seq.doc.project["transport"]["playing"] is True
    # a replica replaying the stored batches gets the same document without any clock
    replay = Sequencer()
    for batch in seq.commit():
        replay.replay(batch)
    assert replay.doc.to_data() == seq.doc.to_data()


def test_rollback_restores_the_transport_too() -> None:
    seq = Sequencer()
    seq.submit("a", 1, [{"op": "play"}], now=10, lead_us=5)
    seq.rollback()
    assert seq.doc.project["transport"] == {"playing": False, "beat": 0.0, "time": 0}
    assert seq.version == 0
