"""protocol/smf.py: the .mid file holds what the arrangement plays (read back with mido)."""

from __future__ import annotations

import io

import mido

from backline.protocol.model import PPQ, Document
from backline.protocol.ops import apply
from backline.protocol.smf import project_midi

BAR = 4 * PPQ


def test_the_file_holds_tempo_meter_programs_and_the_arranged_notes() -> None:
    doc = Document()
    for op in [
        {"op": "set", "id": "project", "field": "name", "value": "Sketch ♪"},
        {"op": "set", "id": "project", "field": "tempo", "value": 90.0},
        {"op": "set", "id": "project", "field": "meter", "value": [3, 4]},
        {"op": "insert", "kind": "track", "id": "d", "value": {"name": "Beat", "kind": "drums"}},
        {"op": "insert", "kind": "track", "id": "k",
         "value": {"name": "Keys", "instrument": 5, "volume": 0.125, "pan": -1.0}},
        {"op": "insert", "kind": "pattern", "id": "p", "value": {
            "track": "d", "length": 3, "steps_per_beat": 1,
            "lanes": [{"sound": 36, "steps": [120, 0, 90]}]}},
        {"op": "insert", "kind": "clip", "id": "c", "value": {
            "track": "d", "pattern": "p", "start": 3 * PPQ, "length": 6 * PPQ}},
        {"op": "insert", "kind": "clip", "id": "r", "value": {"track": "k", "start": 0, "length": PPQ}},
        {"op": "insert", "kind": "note", "id": "n1", "value": {
            "track": "k", "clip": "r", "pitch": 60, "start": 480, "dur": 960}},
        {"op": "insert", "kind": "note", "id": "n2", "value": {
            "track": "k", "pitch": 67, "start": 2 * PPQ, "dur": PPQ}},
    ]:  # fmt: skip
        apply(doc, op)
    midi = mido.MidiFile(file=io.BytesIO(project_midi(doc)), charset="utf-8")
    assert midi.type == 1 and midi.ticks_per_beat == PPQ and len(midi.tracks) == 3
    conductor = {m.type: m for m in midi.tracks[0] if m.is_meta}
    assert conductor["track_name"].name == "Sketch ♪"
    assert conductor["set_tempo"].tempo == 666_667
    assert (conductor["time_signature"].numerator, conductor["time_signature"].denominator) == (
        3,
        4,
    )

    def notes(track: mido.MidiTrack) -> list[tuple[int, int, int, int, int]]:
        at, opened, out = 0, {}, []
        for m in track:
            at += m.time
            if m.type == "note_on" and m.velocity:
                opened[m.note] = (at, m.velocity)
            elif m.type in ("note_off", "note_on"):
                start, velocity = opened.pop(m.note)
                out.append((start, at - start, m.note, velocity, m.channel))
        return sorted(out)

    # the clip repeats its one-bar pattern twice from beat 3; a step is one beat long
    assert notes(midi.tracks[1]) == [
        (3 * PPQ, PPQ, 36, 120, 9), (5 * PPQ, PPQ, 36, 90, 9),
        (6 * PPQ, PPQ, 36, 120, 9), (8 * PPQ, PPQ, 36, 90, 9),
    ]  # fmt: skip
    # the notes clip's note from its start, cut at its end; the free note as written
    assert notes(midi.tracks[2]) == [(480, 480, 60, 100, 0), (2 * PPQ, PPQ, 67, 100, 0)]
    keys = {m.type: m for m in midi.tracks[2] if not m.is_meta}
    assert keys["program_change"].program == 5
    volume, pan = (m for m in midi.tracks[2] if m.type == "control_change")
    assert (volume.control, volume.value) == (7, 13)  # 12.5 rounds up, as in the browser
    assert (pan.control, pan.value) == (10, 0)


def test_swing_moves_the_off_sixteenths_in_the_file() -> None:
    doc = Document()
    for op in [
        {"op": "insert", "kind": "track", "id": "d", "value": {"kind": "drums"}},
        {"op": "insert", "kind": "pattern", "id": "p", "value": {
            "track": "d", "length": 4, "lanes": [{"sound": 42, "steps": [100] * 4}]}},
        {"op": "set", "id": "project", "field": "swing", "value": 1.0},
    ]:  # fmt: skip
        apply(doc, op)
    midi = mido.MidiFile(file=io.BytesIO(project_midi(doc)))
    at, starts = 0, []
    for m in midi.tracks[1]:
        at += m.time
        if m.type == "note_on" and m.velocity:
            starts.append(at)
    assert starts[:4] == [0, 320, 480, 800]  # 240 + 80: the second sixteenth a triplet late
    assert len(starts) == 16  # one bar of sixteenths: the song ends at the bar line


def test_the_chord_track_is_in_the_file_as_markers_and_optionally_as_notes() -> None:
    doc = Document()
    apply(doc, {"op": "insert", "kind": "track", "id": "t", "value": {}})
    for cid, start, root, quality, inversion in (
        ("a", 0, "A", "m7", 0),
        ("b", 4 * PPQ, "F", "maj", 1),
    ):
        value = {"start": start, "root": root, "quality": quality, "inversion": inversion}
        apply(doc, {"op": "insert", "kind": "chord", "id": cid, "value": value})
    plain = mido.MidiFile(file=io.BytesIO(project_midi(doc)))
    assert len(plain.tracks) == 2
    at, markers = 0, []
    for message in plain.tracks[0]:
        at += message.time
        if message.type == "marker":
            markers.append((at, message.text))
    assert markers == [(0, "Am7"), (4 * PPQ, "F/A")]
    with_notes = mido.MidiFile(file=io.BytesIO(project_midi(doc, chord_notes=True)))
    chords = with_notes.tracks[-1]
    assert chords.name == "Chords"
    at, ons = 0, []
    for message in chords:
        at += message.time
        if message.type == "note_on" and message.velocity:
            ons.append((at, message.note))
    assert ons == [(0, 57), (0, 60), (0, 64), (0, 67), (4 * PPQ, 57), (4 * PPQ, 60), (4 * PPQ, 65)]
