"""The session authority without any I/O: versions, duplicates, undo, snapshots, catch-up."""

from __future__ import annotations

import contextlib

import pytest

from backline.protocol.codec import decode_record
from backline.protocol.errors import (
    BacklineError,
    Conflict,
    Duplicate,
    Forbidden,
    Locked,
    NotFound,
    NothingToUndo,
)
from backline.protocol.limits import Limits
from backline.protocol.messages import Role
from backline.protocol.sequencer import Control, Sequencer


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
    assert [b.version for b in seq.recent] == [1, 2]


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


def test_rejects_change_nothing_and_seqs_stay_usable() -> None:
    """A rejected edit consumes no version and its seq can be used again."""
    seq = Sequencer()
    seq.submit("a", 1, track("t1"))
    doc, version = seq.doc.to_data(), seq.version
    with pytest.raises(NotFound):
        seq.submit("a", 2, [{"op": "delete", "id": "zz"}])
    assert seq.doc.to_data() == doc and seq.version == version
    assert seq.last_seq == {"a": 1}
    assert seq.submit("a", 2, tempo(91)).version == 2


def test_since_serves_recent_batches_or_asks_for_snapshot() -> None:
    """Catch-up returns the missing batches while memory holds them, else None."""
    seq = Sequencer()
    for i in range(1, 6):
        seq.submit("a", i, tempo(100 + i))
    assert [decode_record(b)["v"] for b in seq.since(2) or []] == [3, 4, 5]
    assert seq.since(5) == []
    assert seq.since(9) is None  # a client from another timeline gets a snapshot
    assert decode_record(seq.last_record) == seq.recent[-1].to_wire()


def test_since_asks_for_a_snapshot_once_the_window_moved_on() -> None:
    """With a catch-up window of 3, versions older than the window get None."""
    seq = Sequencer(catch_up=3)
    for i in range(1, 8):
        seq.submit("a", i, tempo(100 + i))
    assert seq.since(3) is None
    assert [decode_record(b)["v"] for b in seq.since(4) or []] == [5, 6, 7]
    assert [b.version for b in seq.recent] == [5, 6, 7]


def test_snapshot_and_entries_rebuild_identical_state() -> None:
    """Snapshot (with undo stacks) + the entries after it decide exactly as the original did."""
    entries = [
        {"k": "op", "by": "a", "seq": 1, "ops": track("t1"), "now": 0, "lead": 0},
        {"k": "op", "by": "a", "seq": 2, "ops": tempo(140), "now": 0, "lead": 0},
        {"k": "op", "by": "b", "seq": 1, "ops": [{"op": "play"}], "now": 5, "lead": 7},
        {"k": "op", "by": "b", "seq": 1, "ops": tempo(1), "now": 0, "lead": 0},  # duplicate
        {"k": "undo", "by": "a", "seq": 3, "now": 9, "lead": 0},
        {"k": "redo", "by": "a", "seq": 4, "now": 11, "lead": 0},
        {"k": "undo", "by": "a", "seq": 5, "now": 12, "lead": 0},
    ]
    original = Sequencer()
    outcomes = []
    snapshot = None
    for i, entry in enumerate(entries):
        if i == 3:
            snapshot = original.snapshot()
        try:
            outcomes.append(original.apply_entry(entry).version)
        except BacklineError as exc:
            outcomes.append(type(exc).__name__)
    assert outcomes == [1, 2, 3, "Duplicate", 4, 5, 6]
    assert snapshot is not None
    copy = Sequencer()
    copy.restore(encode_roundtrip(snapshot))
    for entry in entries[3:]:
        with contextlib.suppress(BacklineError):
            copy.apply_entry(entry)
    assert copy.doc.to_data() == original.doc.to_data()
    assert copy.version == original.version and copy.last_seq == original.last_seq
    assert copy.snapshot() == original.snapshot()


def encode_roundtrip(data: dict[str, object]) -> dict[str, object]:
    """As a snapshot travels through a store."""
    from backline.protocol.codec import decode_record, encode

    result: dict[str, object] = decode_record(encode(data))
    return result


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
            "value": {"playing": True, "beat": 0.0, "time": 1_300_000, "start": 0.0},
        }
    ]
    with pytest.raises(NothingToUndo):
        seq.undo("b", 2, now=2_000_000)  # b only pressed play
    # a's tempo change is undone while playing: re-anchored, the position stays continuous
    undone = seq.undo("a", 2, now=1_900_000)
    assert [op["field"] for op in undone.ops] == ["transport", "tempo"]
    assert undone.ops[0]["value"] == {"playing": True, "beat": 1.0, "time": 1_900_000, "start": 0.0}
    assert seq.doc.project["tempo"] == 120.0
    assert seq.doc.project["transport"]["playing"] is True
    # the stored batches are plain: applying them needs no clock
    from backline.protocol.model import Document
    from backline.protocol.ops import apply_all

    replica = Document()
    for batch in seq.recent:
        apply_all(replica, batch.ops)
    assert replica.to_data() == seq.doc.to_data()


def test_an_entry_that_trips_a_validation_bug_is_rejected_not_fatal() -> None:
    """A bug while deciding one entry rejects it as `internal`; the next entries still apply."""
    seq = Sequencer()

    def entry(n: int, ops: object) -> dict[str, object]:
        return {"k": "op", "by": "a", "seq": n, "ops": ops, "now": 0, "lead": 0}

    with pytest.raises(BacklineError) as info:
        seq.apply_entry({**entry(1, []), "k": "nope"})
    assert info.value.code == "internal"
    with pytest.raises(BacklineError):  # an unhashable op name: bad_field, no TypeError
        seq.apply_entry(entry(1, [{"op": {"a": 1}}]))
    batch = seq.apply_entry(entry(2, [{"op": "insert", "kind": "track", "id": "t", "value": {}}]))
    assert batch.version == 1


def entry(kind: str, by: str, seq: int, token: str, **fields: object) -> dict[str, object]:
    """A log entry by `by`, whose token grants `token`."""
    return {"k": kind, "by": by, "seq": seq, "now": 0, "lead": 0, "r": token, **fields}


def test_admin_entries_decide_roles_and_lock_in_log_order() -> None:
    """Role changes and locks apply between edits exactly where the log puts them."""
    seq = Sequencer()
    assert seq.apply_entry(entry("op", "ed", 1, "editor", ops=track("t1"))).version == 1
    control = seq.apply_entry(entry("role", "boss", 1, "owner", t="ed", role="viewer"))
    assert control == Control("role", "boss", 1, target="ed", role=Role.VIEWER)
    with pytest.raises(Forbidden):
        seq.apply_entry(entry("op", "ed", 2, "editor", ops=tempo(90)))
    seq.apply_entry(entry("role", "boss", 2, "owner", t="ed", role="editor"))
    assert seq.apply_entry(entry("op", "ed", 3, "editor", ops=tempo(91))).version == 2
    assert seq.apply_entry(entry("lock", "boss", 3, "owner", locked=True)) == Control(
        "lock", "boss", 3, locked=True
    )
    with pytest.raises(Locked):
        seq.apply_entry(entry("op", "ed", 4, "editor", ops=tempo(92)))
    with pytest.raises(Locked):
        seq.apply_entry(entry("undo", "ed", 5, "editor"))
    assert seq.apply_entry(entry("op", "boss", 4, "owner", ops=tempo(93))).version == 3
    seq.apply_entry(entry("lock", "boss", 5, "owner", locked=False))
    assert seq.apply_entry(entry("op", "ed", 6, "editor", ops=tempo(94))).version == 4
    assert seq.doc.project["tempo"] == 94


def test_only_owners_in_effect_may_administer() -> None:
    seq = Sequencer()
    for kind, fields in (
        ("lock", {"locked": True}),
        ("kick", {"t": "x"}),
        ("delete", {}),
        ("role", {"t": "ed", "role": "owner"}),
    ):
        with pytest.raises(Forbidden):
            seq.apply_entry(entry(kind, "ed", 1, "editor", **fields))
    assert not seq.locked and not seq.roles
    seq.apply_entry(entry("role", "boss", 1, "owner", t="ed", role="owner"))  # promoted
    assert seq.apply_entry(entry("lock", "ed", 1, "editor", locked=True)).locked is True
    seq.apply_entry(entry("role", "ed", 2, "editor", t="boss", role="viewer"))  # and back
    with pytest.raises(Forbidden):
        seq.apply_entry(entry("lock", "boss", 3, "owner", locked=False))
    assert seq.role_of("boss", Role.OWNER) is Role.VIEWER
    assert seq.role_of("someone", Role.EDITOR) is Role.EDITOR


def test_roles_and_lock_survive_a_snapshot() -> None:
    seq = Sequencer()
    seq.apply_entry(entry("role", "boss", 1, "owner", t="ed", role="viewer"))
    seq.apply_entry(entry("lock", "boss", 2, "owner", locked=True))
    copy = Sequencer()
    copy.restore(seq.snapshot())
    assert copy.locked and copy.roles == {"ed": Role.VIEWER}
    old = seq.snapshot()
    del old["roles"], old["locked"]  # a snapshot from before admin controls
    copy.restore(old)
    assert not copy.locked and not copy.roles


def test_entries_without_a_role_are_decided_as_before() -> None:
    """Logs written before roles travelled in entries replay unchanged."""
    seq = Sequencer()
    seq.apply_entry(entry("lock", "boss", 1, "owner", locked=True))
    legacy = {"k": "op", "by": "ed", "seq": 1, "ops": tempo(90), "now": 0, "lead": 0}
    assert seq.apply_entry(legacy).version == 1


# -- identities, demotions and memory caps (docs/OPERATIONS.md#memory) --------


def test_a_demotion_binds_to_the_targets_token_until_an_owner_changes_it() -> None:
    seq = Sequencer()
    seq.apply_entry(entry("role", "boss", 1, "owner", t="ed", role="viewer", ti="tok-ed"))
    # a new identity holding the same token gets no more than the demotion
    assert seq.role_of("ed-again", Role.EDITOR, "tok-ed") is Role.VIEWER
    assert seq.role_of("other", Role.EDITOR, "tok-other") is Role.EDITOR
    fresh = {**entry("op", "ed-again", 1, "editor"), "ops": tempo(90), "i": "tok-ed"}
    with pytest.raises(Forbidden):
        seq.apply_entry(fresh)
    # the cap never raises a token: promoting the identity to owner leaves the token editor
    seq.apply_entry(entry("role", "boss", 2, "owner", t="ed", role="owner"))  # token remembered
    assert seq.role_of("ed", Role.EDITOR, "tok-ed") is Role.OWNER
    assert seq.role_of("ed-again", Role.EDITOR, "tok-ed") is Role.EDITOR
    copy = Sequencer()
    copy.restore(seq.snapshot())
    assert copy.token_caps == seq.token_caps and copy.target_tokens == {"ed": "tok-ed"}


def test_viewer_audio_is_an_owners_switch_kept_in_snapshots() -> None:
    seq = Sequencer()
    with pytest.raises(Forbidden):
        seq.apply_entry(entry("viewer_audio", "ed", 1, "editor", allowed=True))
    control = seq.apply_entry(entry("viewer_audio", "boss", 1, "owner", allowed=True))
    assert isinstance(control, Control) and control.allowed is True and seq.viewer_audio
    copy = Sequencer()
    copy.restore(seq.snapshot())
    assert copy.viewer_audio


def big_edit(seq: int, size: int) -> list[dict[str, object]]:
    """An edit of about `size` encoded bytes (its inverse is as large)."""
    op = {"op": "set", "id": "project", "field": "key", "value": "C major"}
    return [op] * (size // 50)


def test_the_catch_up_window_is_capped_by_bytes() -> None:
    limits = Limits(catch_up_bytes=100_000)
    seq = Sequencer(limits)
    for n in range(1, 31):
        seq.submit("a", n, big_edit(n, 10_000))
    assert seq.catch_up_bytes <= 100_000 < seq.catch_up_bytes + 11_000
    kept = seq.since(seq.version - len(seq.recent))
    assert kept is not None and len(kept) == len(seq.recent) < 30
    assert seq.since(1) is None  # trimmed: a joiner from v1 gets a snapshot


def test_undo_history_is_capped_by_bytes_per_identity_and_per_session() -> None:
    limits = Limits(undo_bytes=60_000, session_undo_bytes=100_000)
    seq = Sequencer(limits)
    for n in range(1, 21):
        seq.submit("a", n, big_edit(n, 10_000))
    assert 0 < seq.undo_bytes <= 60_000
    undone = 0
    with contextlib.suppress(NothingToUndo):
        for n in range(21, 60):
            seq.undo("a", n)
            undone += 1
    assert 1 <= undone < 20  # the oldest were dropped, the newest kept
    seq2 = Sequencer(limits)
    for client in ("a", "b", "c"):
        for n in range(1, 6):
            seq2.submit(client, n, big_edit(n, 10_000))
    assert seq2.undo_bytes <= 100_000
    with pytest.raises(NothingToUndo):  # the least recently active lost its history first
        seq2.undo("a", 6)
    assert seq2.undo("c", 6).by == "c"


def test_identities_beyond_the_cap_are_forgotten_least_recent_first() -> None:
    seq = Sequencer(Limits(max_identities=3))
    for client in ("a", "b", "c"):
        seq.submit(client, 1, tempo(100))
    seq.submit("a", 2, tempo(101))  # a is active again: b is now the least recent
    seq.submit("d", 1, tempo(102))
    assert seq.identities == 3 and set(seq.last_seq) == {"a", "c", "d"}
    with pytest.raises(NothingToUndo):
        seq.undo("b", 2)
    copy = Sequencer(Limits(max_identities=3))
    copy.restore(seq.snapshot())  # the order (who is least recent) survives a snapshot
    copy.submit("e", 1, tempo(103))
    assert set(copy.last_seq) == {"a", "d", "e"}
