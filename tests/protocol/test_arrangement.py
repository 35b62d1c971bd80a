"""protocol/arrangement.py: what the arrangement plays, and when."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from backline.protocol.arrangement import audible_tracks, song_end, sounds_between
from backline.protocol.model import PPQ, Document
from backline.protocol.ops import apply
from backline.protocol.timeline import swing_warp

BAR = 4 * PPQ


def build(*ops: dict[str, Any]) -> Document:
    doc = Document()
    for op in ops:
        apply(doc, op)
    return doc


def ins(entity: str, eid: str, **value: Any) -> dict[str, Any]:
    return {"op": "insert", "kind": entity, "id": eid, "value": value}


def track(eid: str, kind: str = "instrument") -> dict[str, Any]:
    return {"op": "insert", "kind": "track", "id": eid, "value": {"kind": kind}}


def starts(doc: Document, lo: float, hi: float) -> list[tuple[float, int]]:
    return [(round(s.beat, 9), s.pitch) for s in sounds_between(doc, lo, hi)]


def test_a_notes_clip_places_its_notes_from_its_start_and_cuts_them_at_its_end() -> None:
    doc = build(
        track("k"),
        ins("clip", "c", track="k", start=2 * BAR, length=BAR),
        ins("note", "a", track="k", clip="c", pitch=60, start=0, dur=PPQ),
        ins("note", "b", track="k", clip="c", pitch=62, start=3 * PPQ, dur=4 * PPQ),  # runs past
        ins("note", "late", track="k", clip="c", pitch=64, start=BAR, dur=PPQ),  # at the end
        ins("note", "free", track="k", pitch=48, start=PPQ, dur=PPQ),
    )
    sounds = sounds_between(doc, 0, 100)
    assert [(s.beat, s.pitch, s.beats) for s in sounds] == [
        (1.0, 48, 1.0),  # a free note: from bar 1
        (8.0, 60, 1.0),  # bar 3 + 0
        (11.0, 62, 1.0),  # bar 3 + 3 beats, cut at the clip's end (four beats asked)
    ]
    apply(doc, {"op": "set", "id": "c", "field": "start", "value": 0})  # moving the clip
    assert starts(doc, 0, 100) == [(0.0, 60), (1.0, 48), (3.0, 62)]  # moves its notes


def test_a_pattern_clip_repeats_its_pattern_until_its_end_and_an_unplaced_one_loops() -> None:
    steps = [100, 0, 0, 0]  # one hit per beat at 4 steps per beat
    doc = build(
        track("d", "drums"),
        ins("pattern", "loop", track="d", length=4, lanes=[{"sound": 36, "steps": steps}]),
        ins("pattern", "fill", track="d", length=4, lanes=[{"sound": 38, "steps": steps}]),
        ins("clip", "c", track="d", pattern="fill", start=BAR, length=2 * PPQ + PPQ // 2),
    )
    kicks = [b for b, p in starts(doc, 0, 12) if p == 36]
    snares = [b for b, p in starts(doc, 0, 12) if p == 38]
    assert kicks == [float(b) for b in range(12)]  # no clip: every beat from bar 1, forever
    assert snares == [4.0, 5.0, 6.0]  # from the clip's start; 6.0 starts before its end (6.5)
    assert doc.clips["c"]["length"] == 2 * PPQ + PPQ // 2


def test_swing_moves_the_second_sixteenth_of_every_eighth() -> None:
    doc = build(
        track("d", "drums"),
        ins("pattern", "hats", track="d", length=4, lanes=[{"sound": 42, "steps": [90] * 4}]),
        {"op": "set", "id": "project", "field": "swing", "value": 1.0},
    )
    got = [s.beat for s in sounds_between(doc, 0, 1)]
    assert got == [swing_warp(b, 1.0) for b in (0, 0.25, 0.5, 0.75)]
    assert got[0] == 0 and got[2] == 0.5  # eighths stay
    assert got[1] == pytest.approx(0.25 + 0.25 / 3)  # a triplet feel at 1.0
    assert sum(s.beats for s in sounds_between(doc, 0, 1)) == pytest.approx(1.0)


def test_windows_partition_the_sounds_with_swing() -> None:
    rng = random.Random(3)
    doc = build(
        track("d", "drums"),
        ins(
            "pattern",
            "p",
            track="d",
            length=16,
            steps_per_beat=4,
            lanes=[{"sound": 36, "steps": [rng.choice([0, 80]) for _ in range(16)]}],
        ),
        ins("clip", "n", track="d", start=BAR, length=BAR),
        *(ins("note", f"x{i}", track="d", clip="n", pitch=40, start=i * 120) for i in range(32)),
        {"op": "set", "id": "project", "field": "swing", "value": 0.6},
    )
    whole = sounds_between(doc, 0, 16)
    cuts = sorted({0.0, 16.0, *(rng.uniform(0, 16) for _ in range(30)), 4.25, 4.5, 8.0})
    parts = [s for lo, hi in itertools.pairwise(cuts) for s in sounds_between(doc, lo, hi)]
    assert parts == whole and len(whole) > 40


def test_audible_tracks_follow_mute_and_solo() -> None:
    doc = build(track("a"), track("b"), track("c"))
    assert audible_tracks(doc) == {"a", "b", "c"}
    apply(doc, {"op": "set", "id": "a", "field": "mute", "value": True})
    assert audible_tracks(doc) == {"b", "c"}
    apply(doc, {"op": "set", "id": "c", "field": "solo", "value": True})
    assert audible_tracks(doc) == {"c"}


def test_the_song_ends_on_the_bar_line_after_the_last_thing_in_it() -> None:
    assert song_end(Document()) == 0
    doc = build(track("k"), ins("note", "n", track="k", pitch=60, start=BAR + 1, dur=1))
    assert song_end(doc) == 2 * BAR
    apply(doc, ins("section", "s", start=2 * BAR, length=BAR + 5))  # a section counts
    assert song_end(doc) == 4 * BAR
    apply(doc, {"op": "set", "id": "project", "field": "meter", "value": [6, 8]})
    assert song_end(doc) == 5 * (3 * PPQ)  # 6/8 bars are three quarter notes: 11,525 -> 5 bars
    apply(doc, ins("pattern", "long", track="k", length=64, steps_per_beat=1))  # unplaced
    assert song_end(doc) == 66 * PPQ  # one pass: 64 beats, up to the bar line at 66
