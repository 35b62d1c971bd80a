"""The chord bots' scores: each part's notes as tones of the right pitch and length."""

from __future__ import annotations

import numpy as np
import pytest

from backline.client.bots.chords import part_score, written_part_ops
from backline.client.synth import SAMPLE_RATE, midi_hz
from backline.protocol.model import PPQ, Document
from backline.protocol.ops import apply_all
from backline.protocol.timeline import Timeline
from backline.testing.audio import dominant_hz


def doc_with(*chords: tuple[int, str, str]) -> Document:
    doc = Document()
    apply_all(doc, [
        {"op": "insert", "kind": "chord", "id": f"h{i}",
         "value": {"start": start, "root": root, "quality": quality}}
        for i, (start, root, quality) in enumerate(chords)
    ])  # fmt: skip
    return doc


@pytest.mark.parametrize(
    ("part", "count", "lowest"), [("bass", 1, 36), ("arp", 8, 60), ("pad", 3, 48)]
)
def test_each_part_sounds_its_notes_held_at_the_tempo(part: str, count: int, lowest: int) -> None:
    doc = doc_with((0, "C", "maj"))
    timeline = Timeline(120.0, (4, 4), True, 0.0, 0)  # half a second a beat
    sounds = list(part_score(lambda: doc, part)(timeline, 0.0, 4.0))
    assert len(sounds) == count
    beats = [beat for beat, _ in sounds]
    assert beats == sorted(beats) and all(0 <= b < 4 for b in beats)
    pitches = []
    for _, (samples, gain) in sounds:
        assert 0 < gain <= 1 and np.abs(samples).max() <= 0.8 + 1e-6
        pitches.append(dominant_hz(samples[: SAMPLE_RATE // 5]))
    assert min(pitches) == pytest.approx(midi_hz(lowest), abs=2.5)
    held = len(sounds[0][1][0]) / SAMPLE_RATE  # the first note's tone, with its release
    expected = {"bass": 2.0, "arp": 0.25, "pad": 2.0}[part]  # a bar, an eighth, a bar
    assert held == pytest.approx(expected + 0.04, abs=0.02)


def test_a_window_after_the_chords_is_silent_and_the_written_part_is_a_diff() -> None:
    doc = doc_with((0, "A", "min"), (4 * PPQ, "D", "min"))
    timeline = Timeline(100.0, (4, 4), True, 0.0, 0)
    assert list(part_score(lambda: doc, "pad")(timeline, 8.0, 16.0)) == []
    apply_all(doc, [{"op": "insert", "kind": "track", "id": "b", "value": {"name": "Bass (bot)"}}])
    ops = written_part_ops(doc, "bass", "b")
    assert [op["op"] for op in ops] == ["insert", "insert"]
    apply_all(doc, ops)
    assert written_part_ops(doc, "bass", "b") == []  # written: nothing to do
    apply_all(doc, [{"op": "set", "id": "h1", "field": "root", "value": "E"}])
    assert written_part_ops(doc, "bass", "b") == [
        {"op": "set", "id": "b.h1.0", "field": "pitch", "value": 28}
    ]
