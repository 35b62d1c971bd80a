"""Drum hits from the project: patterns looped or placed by clips, mute/solo/volume."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from backline.client.drums import hits_between
from backline.protocol.model import PPQ, Document
from backline.protocol.ops import apply

KICK, SNARE, HAT = 36, 38, 42


def project(*ops: dict[str, Any]) -> Document:
    doc = Document()
    for op in ops:
        apply(doc, op)
    return doc


def track(tid: str, kind: str = "drums", **fields: Any) -> dict[str, Any]:
    return {"op": "insert", "kind": "track", "id": tid, "value": {"kind": kind, **fields}}


def pattern(pid: str, tid: str, lanes: dict[int, list[int]], **fields: Any) -> dict[str, Any]:
    length = fields.pop("length", 16)
    rows = [
        {"sound": sound, "steps": [100 if i in on else 0 for i in range(length)]}
        for sound, on in lanes.items()
    ]
    value = {"track": tid, "length": length, "lanes": rows, **fields}
    return {"op": "insert", "kind": "pattern", "id": pid, "value": value}


BEAT = [
    track("d"),
    pattern("p", "d", {KICK: [0, 8], SNARE: [4, 12]}),  # kick on 1 and 3, snare on 2 and 4
]


def sounds(doc: Document, lo: float, hi: float) -> list[tuple[float, int]]:
    return [(beat, hit.sound) for beat, hit in hits_between(doc, lo, hi)]


def test_without_clips_a_pattern_loops_from_bar_one() -> None:
    doc = project(*BEAT)
    assert sounds(doc, 0, 8) == [
        (0.0, KICK), (1.0, SNARE), (2.0, KICK), (3.0, SNARE),
        (4.0, KICK), (5.0, SNARE), (6.0, KICK), (7.0, SNARE),
    ]  # fmt: skip
    assert sounds(doc, 2.5, 3.0) == [] and sounds(doc, 3.0, 3.01) == [(3.0, SNARE)]


def test_clips_place_the_pattern_and_repeat_it_within_the_clip() -> None:
    clip = {"track": "d", "pattern": "p", "start": 4 * PPQ, "length": 6 * PPQ}
    doc = project(*BEAT, {"op": "insert", "kind": "clip", "id": "c", "value": clip})
    # silent before the clip (beat 4); the 4-beat pattern restarts at beat 8; ends at beat 10
    assert sounds(doc, 0, 20) == [
        (4.0, KICK), (5.0, SNARE), (6.0, KICK), (7.0, SNARE), (8.0, KICK), (9.0, SNARE),
    ]  # fmt: skip


def test_steps_per_beat_and_length_set_the_step_grid() -> None:
    doc = project(track("d"), pattern("p", "d", {HAT: [0, 1, 2]}, length=3, steps_per_beat=2))
    assert [b for b, _ in sounds(doc, 0, 3)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]


def test_velocity_and_volume_scale_the_level() -> None:
    doc = project(*BEAT, {"op": "set", "id": "d", "field": "volume", "value": 0.5})
    apply(doc, {"op": "set", "id": "p", "field": "steps", "at": [0, 0], "value": 127})
    (_, hit), *_ = hits_between(doc, 0, 0.1)
    assert hit.velocity == 127 and hit.level == 0.5


def test_mute_silences_and_solo_isolates() -> None:
    doc = project(*BEAT, track("e"), pattern("q", "e", {HAT: [2]}), track("i", kind="instrument"))
    assert {s for _, s in sounds(doc, 0, 4)} == {KICK, SNARE, HAT}
    apply(doc, {"op": "set", "id": "e", "field": "solo", "value": True})
    assert {s for _, s in sounds(doc, 0, 4)} == {HAT}
    apply(doc, {"op": "set", "id": "i", "field": "solo", "value": True})  # solo a non-drum track
    assert {s for _, s in sounds(doc, 0, 4)} == {HAT}
    apply(doc, {"op": "set", "id": "e", "field": "mute", "value": True})
    assert sounds(doc, 0, 4) == []  # muted wins over solo


@given(edges=st.lists(st.floats(0, 64), min_size=2, max_size=20).map(sorted))
def test_adjacent_ranges_partition_the_hits(edges: list[float]) -> None:
    doc = project(
        *BEAT, track("e"), pattern("q", "e", {HAT: [0, 1, 2]}, length=5, steps_per_beat=3)
    )
    pieces = [hit for lo, hi in itertools.pairwise(edges) for hit in sounds(doc, lo, hi)]
    assert pieces == sounds(doc, edges[0], edges[-1])


def test_only_patterns_that_clips_place_are_confined_to_clips() -> None:
    """A clip confines its own pattern; the track's other patterns keep looping."""
    clip = {"track": "d", "pattern": "p", "start": 4 * PPQ, "length": 4 * PPQ}
    doc = project(
        *BEAT,
        pattern("h", "d", {HAT: [2]}, length=4),  # a hat on every beat's second sixteenth
        {"op": "insert", "kind": "clip", "id": "c", "value": clip},
    )
    assert sounds(doc, 0, 9) == [
        (0.5, HAT), (1.5, HAT), (2.5, HAT), (3.5, HAT),
        (4.0, KICK), (4.5, HAT), (5.0, SNARE), (5.5, HAT), (6.0, KICK), (6.5, HAT),
        (7.0, SNARE), (7.5, HAT), (8.5, HAT),
    ]  # fmt: skip


def test_notes_on_a_drums_track_are_hits_too() -> None:
    note = {"track": "d", "pitch": 39, "start": PPQ // 2, "vel": 64}
    doc = project(
        track("d"),
        {"op": "insert", "kind": "note", "id": "n", "value": note},
        track("i", kind="instrument"),
        {"op": "insert", "kind": "note", "id": "m", "value": {**note, "track": "i"}},
    )
    [(beat, hit)] = hits_between(doc, 0, 4)
    assert (beat, hit.sound, hit.velocity, hit.track) == (0.5, 39, 64, "d")
    assert hits_between(doc, 0, 0.5) == [] and len(hits_between(doc, 0.5, 0.6)) == 1
