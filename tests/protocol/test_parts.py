"""The chord-following parts: which notes a bass, an arpeggio and a pad play."""

from __future__ import annotations

import pytest

from backline.protocol.model import PPQ, Document
from backline.protocol.ops import apply_all
from backline.protocol.parts import part_notes

BAR = 4 * PPQ


def song(*chords: tuple[int, int, str, str, int, str | None]) -> Document:
    doc = Document()
    apply_all(doc, [
        {"op": "insert", "kind": "chord", "id": f"h{i}", "value": {
            "start": start, "length": length, "root": root, "quality": quality,
            "inversion": inversion, "bass": bass}}
        for i, (start, length, root, quality, inversion, bass) in enumerate(chords)
    ])  # fmt: skip
    return doc


def test_the_bass_plays_the_chords_bass_on_every_bar_line() -> None:
    doc = song((0, 2 * BAR, "C", "maj", 0, None), (2 * BAR, BAR + 2 * PPQ, "F", "maj", 1, None),
               (3 * BAR + 2 * PPQ, 2 * PPQ, "G", "7", 0, "B"))  # fmt: skip
    notes = [(n.start, n.pitch, n.chord) for n in part_notes(doc, "bass")]
    assert notes == [
        (0, 36, "h0"), (BAR, 36, "h0"),  # C on both bars of its two
        (2 * BAR, 33, "h1"), (3 * BAR, 33, "h1"),  # F/A: its lowest tone, A1
        (3 * BAR + 2 * PPQ, 35, "h2"),  # G7/B starting mid-bar: at its start, the B
    ]  # fmt: skip
    assert all(28 <= n.pitch <= 39 for n in part_notes(doc, "bass"))
    held = part_notes(doc, "bass")
    assert held[0].dur == BAR - 10 and held[-1].dur == 2 * PPQ - 10


def test_the_arpeggio_goes_up_the_tones_in_eighths_and_the_pad_holds_the_chord() -> None:
    doc = song((0, BAR, "A", "m7", 0, None))
    arp = part_notes(doc, "arp")
    assert [n.start for n in arp] == list(range(0, BAR, PPQ // 2))
    assert [n.pitch for n in arp] == [69, 72, 76, 79, 69, 72, 76, 79]
    pad = part_notes(doc, "pad")
    assert [(n.start, n.dur, n.pitch) for n in pad] == [(0, BAR - 10, p) for p in (57, 60, 64, 67)]


def test_a_window_holds_the_notes_that_start_in_it_and_meters_count() -> None:
    doc = song((0, 4 * BAR, "D", "min", 0, None))
    assert [n.start for n in part_notes(doc, "bass", BAR, 3 * BAR)] == [BAR, 2 * BAR]
    apply_all(doc, [{"op": "set", "id": "project", "field": "meter", "value": [3, 4]}])
    assert [n.start for n in part_notes(doc, "bass")] == list(range(0, 4 * BAR, 3 * PPQ))
    assert part_notes(Document(), "pad") == []
    with pytest.raises(ValueError):
        part_notes(doc, "lead")
