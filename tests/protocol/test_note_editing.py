"""The editing commands on a selection of notes (`protocol/editing.py`): hand cases and
properties, every result applied to a real document through the op engine."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backline.protocol import editing
from backline.protocol.errors import BadField, ErrorCode, NothingSelected, OutOfRange, TooLarge
from backline.protocol.model import PPQ, Document
from backline.protocol.ops import apply_all


def note(
    note_id: str, start: int, pitch: int = 60, dur: int = 240, vel: int = 100, clip: Any = None
) -> dict[str, Any]:
    return {"id": note_id, "track": "t", "clip": clip, "pitch": pitch, "start": start,
            "dur": dur, "vel": vel}  # fmt: skip


def document(notes: list[dict[str, Any]], clips: dict[str, int] | None = None) -> Document:
    doc = Document()
    ops: list[dict[str, Any]] = [
        {"op": "insert", "kind": "track", "id": "t", "value": {"kind": "instrument"}}
    ]
    for cid, start in (clips or {}).items():
        ops.append({"op": "insert", "kind": "clip", "id": cid,
                    "value": {"track": "t", "pattern": None, "start": start, "length": 4 * PPQ}})  # fmt: skip
    for n in notes:
        value = {k: v for k, v in n.items() if k != "id"}
        ops.append({"op": "insert", "kind": "note", "id": n["id"], "value": value})
    apply_all(doc, ops)
    return doc


def apply_some(doc: Document, ops: list[dict[str, Any]]) -> None:
    if ops:  # an empty list is nothing to send (an empty batch is refused)
        apply_all(doc, ops)


def starts(ops: list[dict[str, Any]]) -> dict[str, int]:
    return {op["id"]: op["value"] for op in ops if op["field"] == "start"}


# -- hand cases ---------------------------------------------------------------------


def test_quantize_full_strength_moves_to_the_nearest_line_and_ties_go_later() -> None:
    notes = [note("a", 10), note("b", 130), note("c", 120), note("d", 240), note("e", 355)]
    ops = editing.quantize(notes, 240)
    # d already on the grid: no op for it; c is a tie (120 of 240) and goes to 240
    assert starts(ops) == {"a": 0, "b": 240, "c": 240, "e": 240}
    assert [op["id"] for op in ops] == ["a", "c", "b", "e"]  # selection order


def test_quantize_half_strength_rounds_half_up() -> None:
    ops = editing.quantize([note("a", 5), note("b", 101), note("c", 239)], 240, 0.5)
    # a: 5 -> 0 by 2.5 -> 3 (floor(-2.5 + .5) = -2); b: 101 -> 0, 50.5 -> 50 off; c: +0.5 -> 1
    assert starts(ops) == {"a": 3, "b": 51, "c": 240 - 0}


def test_quantize_strength_zero_changes_nothing_and_triplets_are_grids() -> None:
    assert editing.quantize([note("a", 17)], 240, 0.0) == []
    assert starts(editing.quantize([note("a", 330), note("b", 500)], 320)) == {
        "a": 320,
        "b": 640,
    }
    assert starts(editing.quantize([note("a", 170)], 160)) == {"a": 160}


def test_quantize_counts_the_grid_from_bar_1_inside_a_clip() -> None:
    # a clip at 100: a note at relative 50 sounds at 150, nearest 1/16 line 240 -> relative 140
    ops = editing.quantize([note("a", 50, clip="c")], 240, origins={"c": 100})
    assert starts(ops) == {"a": 140}
    # never below the clip's (or the song's) start
    assert starts(editing.quantize([note("b", 10, clip="c")], 240, origins={"c": 100})) == {"b": 0}


def test_transpose_refuses_out_of_range_and_changes_nothing() -> None:
    notes = [note("a", 0, pitch=120), note("b", 0, pitch=60)]
    with pytest.raises(OutOfRange):
        editing.transpose(notes, 12)
    ops = editing.transpose(notes, -12)
    assert ops == [
        {"op": "set", "id": "b", "field": "pitch", "value": 48},
        {"op": "set", "id": "a", "field": "pitch", "value": 108},
    ]
    assert editing.transpose(notes, 0) == []


def test_an_empty_selection_is_refused_with_its_own_code() -> None:
    for command in (
        lambda: editing.quantize([], 240),
        lambda: editing.transpose([], 1),
        lambda: editing.duplicate([], []),
        lambda: editing.delete([]),
        lambda: editing.set_velocity([], 10),
        lambda: editing.resize([], 10),
        lambda: editing.paste([], 0, "t", None, []),
    ):
        with pytest.raises(NothingSelected) as caught:
            command()
        assert caught.value.code == ErrorCode.NOTHING_SELECTED == "nothing_selected"


def test_duplicate_places_copies_after_the_span_rounded_up_to_the_grid() -> None:
    notes = [note("a", 0, dur=240), note("b", 960, pitch=64, dur=1000)]
    ops = editing.duplicate(notes, ["x", "y"], grid=4 * PPQ)  # span 1960 -> one bar
    assert [(op["id"], op["value"]["start"], op["value"]["pitch"]) for op in ops] == [
        ("x", 3840, 60),
        ("y", 4800, 64),
    ]
    assert ops[0]["value"] == {"track": "t", "clip": None, "pitch": 60, "start": 3840,
                               "dur": 240, "vel": 100}  # fmt: skip
    # by beats (the default): span 1960 -> 3 beats
    assert [op["value"]["start"] for op in editing.duplicate(notes, ["x", "y"])] == [2880, 3840]
    with pytest.raises(BadField):
        editing.duplicate(notes, ["x"])


def test_paste_keeps_relative_positions_on_the_target_track_and_clip() -> None:
    clipboard = [note("a", 1000, pitch=62), note("b", 1240, pitch=65, clip="old")]
    ops = editing.paste(clipboard, 480, "u", "c2", ["p", "q"])
    assert [op["value"] for op in ops] == [
        {"track": "u", "clip": "c2", "pitch": 62, "start": 480, "dur": 240, "vel": 100},
        {"track": "u", "clip": "c2", "pitch": 65, "start": 720, "dur": 240, "vel": 100},
    ]
    with pytest.raises(OutOfRange):
        editing.paste(clipboard, -1, "u", None, ["p", "q"])


def test_move_resize_velocity_delete() -> None:
    notes = [note("a", 0, dur=100), note("b", 480, vel=50)]
    with pytest.raises(OutOfRange):
        editing.move(notes, ticks=-1)
    assert editing.move(notes, 240, 2) == [
        {"op": "set", "id": "a", "field": "start", "value": 240},
        {"op": "set", "id": "a", "field": "pitch", "value": 62},
        {"op": "set", "id": "b", "field": "start", "value": 720},
        {"op": "set", "id": "b", "field": "pitch", "value": 62},
    ]
    assert editing.resize(notes, -200) == [
        {"op": "set", "id": "a", "field": "dur", "value": 1},
        {"op": "set", "id": "b", "field": "dur", "value": 40},
    ]
    assert editing.set_velocity(notes, 50) == [
        {"op": "set", "id": "a", "field": "vel", "value": 50}
    ]
    with pytest.raises(OutOfRange):
        editing.set_velocity(notes, 0)
    assert editing.delete(notes) == [{"op": "delete", "id": "a"}, {"op": "delete", "id": "b"}]


def test_more_ops_than_one_batch_carries_is_too_large() -> None:
    notes = [note(f"n{i}", i * 240 + 7) for i in range(1001)]
    with pytest.raises(TooLarge):
        editing.quantize(notes, 240)
    assert len(editing.quantize(notes[:1000], 240)) == 1000


def test_bad_grids_and_strengths_are_out_of_range() -> None:
    for grid in (0, -240, 1.5, True):
        with pytest.raises(OutOfRange):
            editing.quantize([note("a", 1)], grid)  # type: ignore[arg-type]
    for strength in (-0.1, 1.01, float("nan")):
        with pytest.raises(OutOfRange):
            editing.quantize([note("a", 1)], 240, strength)


# -- properties ---------------------------------------------------------------------

GRIDS = st.sampled_from([960, 480, 240, 120, 640, 320, 160, 80])
notes_st = st.lists(
    st.tuples(
        st.integers(0, 16 * PPQ),
        st.integers(0, 127),
        st.integers(1, 2 * PPQ),
        st.integers(1, 127),
        st.booleans(),
    ),
    min_size=1,
    max_size=30,
).map(
    lambda rows: [
        note(f"n{i}", s, pitch=p, dur=d, vel=v, clip="c" if in_clip else None)
        for i, (s, p, d, v, in_clip) in enumerate(rows)
    ]
)
CLIP_START = 3 * PPQ + 77


@settings(max_examples=150, deadline=None)
@given(notes_st, GRIDS, st.floats(0, 1))
def test_quantize_never_moves_a_note_away_from_the_grid(
    notes: list[dict[str, Any]], grid: int, strength: float
) -> None:
    origins = {"c": CLIP_START}
    doc = document(notes, origins)
    ops = editing.quantize(notes, grid, strength, origins)
    apply_some(doc, ops)
    for n in notes:
        origin = origins["c"] if n["clip"] else 0
        before = n["start"] + origin
        after = doc.notes[n["id"]]["start"] + origin
        line = editing.nearest_grid(before, grid)
        assert abs(line - after) <= abs(line - before) or after - origin == 0
        if strength == 1.0 and line - origin >= 0:
            assert after == line


@settings(max_examples=100, deadline=None)
@given(notes_st, st.integers(-130, 130))
def test_transpose_is_all_or_nothing_and_reversible(
    notes: list[dict[str, Any]], semitones: int
) -> None:
    origins = {"c": CLIP_START}
    doc = document(notes, origins)
    try:
        ops = editing.transpose(notes, semitones, origins)
    except OutOfRange:
        assert any(not 0 <= n["pitch"] + semitones <= 127 for n in notes)
        return
    apply_some(doc, ops)
    moved = [doc.notes[n["id"]] for n in notes]
    assert [m["pitch"] for m in moved] == [n["pitch"] + semitones for n in notes]
    back = editing.transpose(moved, -semitones, origins)
    apply_some(doc, back)
    assert [doc.notes[n["id"]]["pitch"] for n in notes] == [n["pitch"] for n in notes]


@settings(max_examples=100, deadline=None)
@given(notes_st, GRIDS)
def test_duplicate_copies_follow_the_selection_without_overlapping_it(
    notes: list[dict[str, Any]], grid: int
) -> None:
    origins = {"c": CLIP_START}
    doc = document(notes, origins)
    ids = [f"copy{i}" for i in range(len(notes))]
    ops = editing.duplicate(notes, ids, grid, origins)
    apply_all(doc, ops)
    first, last = editing.span(notes, origins)
    copies = [doc.notes[i] for i in ids]
    copy_first, _ = editing.span(copies, origins)
    assert copy_first >= last and (copy_first - first) % grid == 0
    by_order = editing.selection_order(notes, origins)
    for original, copy in zip(by_order, copies, strict=True):
        assert copy["start"] - original["start"] == copy_first - first
        assert {k: copy[k] for k in ("pitch", "dur", "vel", "clip", "track")} == {
            k: original[k] for k in ("pitch", "dur", "vel", "clip", "track")
        }


@settings(max_examples=100, deadline=None)
@given(notes_st, st.integers(0, 8 * PPQ))
def test_paste_keeps_the_shape_of_the_clipboard(notes: list[dict[str, Any]], at: int) -> None:
    doc = document([], {"c": 0})
    ids = [f"p{i}" for i in range(len(notes))]
    apply_all(doc, editing.paste(notes, at, "t", "c", ids))
    first = min(n["start"] for n in notes)
    pasted = [doc.notes[i] for i in ids]
    assert min(p["start"] for p in pasted) == at
    assert sorted((p["start"] - at, p["pitch"], p["dur"]) for p in pasted) == sorted(
        (n["start"] - first, n["pitch"], n["dur"]) for n in notes
    )
    assert all(p["clip"] == "c" for p in pasted)
