"""media/midi_import.py: a .mid file becomes tracks and notes, and hostile files are refused.

Real files nobody here wrote (Debian's openttd-openmsx) are checked note for
note against what mido itself reads; projects go through `protocol/smf.py` and
back; damaged and oversized files are refused with nothing returned.
"""

from __future__ import annotations

import io
import itertools
import math
import random
import struct
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import Any

import mido
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backline.media.midi_import import (
    MAX_BYTES,
    MidiImport,
    import_ops,
    midi_ops,
    read_midi,
)
from backline.protocol.arrangement import song_end, sounds_between
from backline.protocol.errors import BacklineError, BadField, BadImport, LimitExceeded
from backline.protocol.limits import Limits
from backline.protocol.model import METER_DENOMINATORS, PPQ, Document, check_id
from backline.protocol.ops import apply, apply_all
from backline.protocol.smf import project_midi

CORPUS = Path("/usr/share/games/openttd/baseset/openmsx")
CORPUS_FILES = sorted(CORPUS.glob("*.mid"))
INSTALL = (
    f"no MIDI files in {CORPUS}: install Debian's openttd-openmsx"
    " (as root: apt-get install -y openttd-openmsx; `scripts/bootstrap.sh test` does it)"
)

Note = tuple[int, int, int, int]  # pitch, start, dur, vel


# -- building files ---------------------------------------------------------------------


def vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.insert(0, (n & 0x7F) | 0x80)
        n >>= 7
    return bytes(out)


def chunk(name: bytes, body: bytes) -> bytes:
    return name + struct.pack(">L", len(body)) + body


def smf(*tracks: bytes, fmt: int = 1, ppq: int = 480, ntracks: int | None = None) -> bytes:
    """A file from raw MTrk bodies."""
    count = len(tracks) if ntracks is None else ntracks
    header = chunk(b"MThd", struct.pack(">HHH", fmt, count, ppq))
    return header + b"".join(chunk(b"MTrk", body) for body in tracks)


END = b"\x00\xff\x2f\x00"


def written(midi: mido.MidiFile) -> bytes:
    out = io.BytesIO()
    midi.save(file=out)
    return out.getvalue()


def track(*messages: mido.Message | mido.MetaMessage) -> mido.MidiTrack:
    return mido.MidiTrack(messages)


def on(note: int, vel: int = 100, time: int = 0, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=vel, time=time, channel=channel)


def off(note: int, time: int = 0, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", note=note, velocity=0, time=time, channel=channel)


def notes_of(imp: MidiImport) -> list[list[Note]]:
    return [[(n.pitch, n.start, n.dur, n.vel) for n in t.notes] for t in imp.tracks]


def doc_tracks(doc: Document) -> list[tuple[str, str, int, list[Note]]]:
    """Each track of `doc` in order: name, kind, program and its notes, sorted."""
    out = []
    for tid in doc.track_order:
        t = doc.tracks[tid]
        notes = sorted(
            (n["pitch"], n["start"], n["dur"], n["vel"])
            for n in doc.notes.values()
            if n["track"] == tid
        )
        out.append((t["name"], t["kind"], t["instrument"], notes))
    return out


def imported(data: bytes, doc: Document | None = None, prefix: str = "m") -> Document:
    doc = Document() if doc is None else doc
    apply_all(doc, midi_ops(doc, data, prefix=prefix))
    return doc


# -- the reference: what mido reads, paired the obvious way --------------------------------


def scaled(tick: int, ppq: int) -> int:
    """`tick` at 960 PPQ, rounded half up."""
    return math.floor(Fraction(tick * PPQ, ppq) + Fraction(1, 2))


def mido_notes(midi: mido.MidiFile) -> list[tuple[int, int, int, int, int, int]]:
    """(file track, channel, pitch, start, dur, vel) of every note, at 960 PPQ: a note-on
    ends at the first note-off of its channel and pitch not taken yet, else at its track's end."""
    ppq, out = midi.ticks_per_beat, []
    for index, trk in enumerate(midi.tracks):
        at, sounding = 0, {}
        for m in trk:
            at += m.time
            if m.type == "note_on" and m.velocity > 0:
                sounding.setdefault((m.channel, m.note), deque()).append((at, m.velocity))
            elif m.type in ("note_on", "note_off") and sounding.get((m.channel, m.note)):
                start, vel = sounding[(m.channel, m.note)].popleft()
                out.append((index, m.channel, m.note, start, at, vel))
        for (channel, pitch), left in sounding.items():
            out += [(index, channel, pitch, start, at, vel) for start, vel in left]
    return sorted(
        (i, c, p, scaled(s, ppq), max(1, scaled(e, ppq) - scaled(s, ppq)), v)
        for i, c, p, s, e, v in out
    )


def in_effect(changes: list[tuple[int, Any]], tick: int, default: Any) -> Any:
    """The value of the last change at or before `tick`."""
    value = default
    for at, v in sorted(changes, key=lambda c: c[0]):
        if at <= tick:
            value = v
    return value


def check_map(entries: list[tuple[int, Any]]) -> None:
    """A map starts at tick 0, is sorted, and never repeats the value before."""
    assert entries[0][0] == 0
    assert all(a[0] < b[0] and a[1] != b[1] for a, b in itertools.pairwise(entries))


# -- real files nobody here wrote ---------------------------------------------------------


def test_the_corpus_is_installed() -> None:
    assert CORPUS_FILES, INSTALL


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_a_real_file_imports_note_for_note_as_mido_reads_it(path: Path) -> None:
    data = path.read_bytes()
    midi = mido.MidiFile(file=io.BytesIO(data))
    imp = read_midi(data)
    assert (imp.format, imp.ppq) == (midi.type, midi.ticks_per_beat)
    got = sorted(
        (t.source, t.channel, n.pitch, n.start, n.dur, n.vel) for t in imp.tracks for n in t.notes
    )
    assert got == mido_notes(midi)
    for t in imp.tracks:
        assert t.is_drums == (t.channel == 9)
        programs = [
            m.program
            for m in midi.tracks[t.source]
            if m.type == "program_change" and m.channel == t.channel
        ]
        assert t.program == (programs[0] if programs else 0)
    # the tempo and meter in effect at every event of the file are the file's
    ppq = midi.ticks_per_beat
    tempos, meters, ticks = [], [], set()
    for trk in midi.tracks:
        at = 0
        for m in trk:
            at += m.time
            ticks.add(at)
            if m.type == "set_tempo":
                tempos.append((at, m.tempo))
            elif m.type == "time_signature":
                meters.append((at, (m.numerator, m.denominator)))
    tempo_map = [(c.tick, c.us_per_quarter) for c in imp.tempos]
    meter_map = [(c.tick, (c.numerator, c.denominator)) for c in imp.meters]
    check_map(tempo_map)
    check_map(meter_map)
    for tick in sorted(ticks):
        assert in_effect(tempo_map, scaled(tick, ppq), None) == in_effect(tempos, tick, 500_000)
        assert in_effect(meter_map, scaled(tick, ppq), None) == in_effect(meters, tick, (4, 4))
    # and the ops put exactly that into a project
    doc = Document()
    apply_all(doc, import_ops(doc, imp, prefix="m"))
    assert [t[3] for t in doc_tracks(doc)] == [sorted(n) for n in notes_of(imp)]
    assert doc.project["tempo"] == imp.tempo
    assert 60e6 / imp.tempo == pytest.approx(imp.tempos[0].us_per_quarter, abs=1)
    assert doc.project["meter"] == list(imp.meter)


def test_the_corpus_is_what_the_tests_claim() -> None:
    """Guards the corpus test: many files, notes, drums, tempo and meter changes."""
    assert len(CORPUS_FILES) >= 30, INSTALL
    imports = [read_midi(p.read_bytes()) for p in CORPUS_FILES]
    assert sum(i.note_count for i in imports) > 70_000
    assert sum(t.is_drums for i in imports for t in i.tracks) >= 25
    assert any(len(i.tempos) > 10 for i in imports)
    assert any(len(i.meters) > 1 for i in imports)
    assert any(len({t.source for t in i.tracks}) < len(i.tracks) for i in imports)  # split


# -- round trips through protocol/smf.py --------------------------------------------------


def build(ops: list[dict[str, Any]]) -> Document:
    doc = Document()
    for op in ops:
        apply(doc, op)
    return doc


def test_a_project_exported_and_imported_is_the_same_project() -> None:
    doc = build([
        {"op": "set", "id": "project", "field": "tempo", "value": 93.5},
        {"op": "set", "id": "project", "field": "meter", "value": [7, 8]},
        {"op": "insert", "kind": "track", "id": "d", "value": {"name": "Beat", "kind": "drums", "instrument": 25}},
        {"op": "insert", "kind": "track", "id": "k", "value": {"name": "Keys ♪", "instrument": 5}},
        {"op": "insert", "kind": "track", "id": "b", "value": {"name": "Bass", "instrument": 33}},
        {"op": "insert", "kind": "track", "id": "e", "value": {"name": "Empty", "instrument": 80}},
        {"op": "insert", "kind": "pattern", "id": "p", "value": {
            "track": "d", "length": 4, "steps_per_beat": 2,
            "lanes": [{"sound": 36, "steps": [120, 0, 90, 0]}, {"sound": 42, "steps": [60] * 4}]}},
        {"op": "insert", "kind": "clip", "id": "c", "value": {
            "track": "d", "pattern": "p", "start": 0, "length": 4 * PPQ}},
        {"op": "insert", "kind": "note", "id": "n1", "value": {
            "track": "k", "pitch": 60, "start": 0, "dur": 480, "vel": 90}},
        {"op": "insert", "kind": "note", "id": "n2", "value": {
            "track": "k", "pitch": 60, "start": 480, "dur": 480, "vel": 91}},
        {"op": "insert", "kind": "note", "id": "n3", "value": {
            "track": "k", "pitch": 64, "start": 1, "dur": 1, "vel": 1}},
        {"op": "insert", "kind": "note", "id": "n4", "value": {
            "track": "b", "pitch": 36, "start": 3 * PPQ, "dur": 5 * PPQ, "vel": 127}},
    ])  # fmt: skip
    back = imported(project_midi(doc))
    assert back.project["tempo"] == 93.5 and back.project["meter"] == [7, 8]
    heard: dict[str, list[Note]] = {t: [] for t in doc.track_order}
    for s in sounds_between(doc, 0, song_end(doc) / PPQ):
        start = round(s.beat * PPQ)
        heard[s.track].append((s.pitch, start, round((s.beat + s.beats) * PPQ) - start, s.velocity))
    assert doc_tracks(back) == [
        ("Beat", "drums", 25, sorted(heard["d"])),
        ("Keys ♪", "instrument", 5, sorted(heard["k"])),
        ("Bass", "instrument", 33, sorted(heard["b"])),
        ("Empty", "instrument", 80, []),
    ]
    assert len(heard["d"]) == 12  # two lanes: 2 + 4 hits a pass, two passes


NOTES = st.tuples(  # pitch, start, dur, vel
    st.integers(0, 127), st.integers(0, 16 * PPQ), st.integers(1, 4 * PPQ), st.integers(1, 127)
)
NAMES = st.text(min_size=1, max_size=64).filter(lambda s: s == s.strip() and "\x00" not in s)


@st.composite
def projects(draw: st.DrawFn) -> Document:
    """Small projects of free notes: no two notes of one pitch overlap on a track (a file
    cannot tell which of two overlapping notes of one key a note-off ends)."""
    ops: list[dict[str, Any]] = [
        {
            "op": "set",
            "id": "project",
            "field": "tempo",
            "value": draw(st.integers(200, 9990)) / 10,
        },
        {
            "op": "set",
            "id": "project",
            "field": "meter",
            "value": [draw(st.integers(1, 32)), draw(st.sampled_from(METER_DENOMINATORS))],
        },
    ]
    for t in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["drums", "instrument"]))
        value = {"name": draw(NAMES), "kind": kind, "instrument": draw(st.integers(0, 127))}
        ops.append({"op": "insert", "kind": "track", "id": f"t{t}", "value": value})
        taken: dict[int, list[tuple[int, int]]] = {}
        for i, (pitch, start, dur, vel) in enumerate(draw(st.lists(NOTES, max_size=12))):
            spans = taken.setdefault(pitch, [])
            if any(start < e and s < start + dur for s, e in spans):
                continue
            spans.append((start, start + dur))
            note = {"track": f"t{t}", "pitch": pitch, "start": start, "dur": dur, "vel": vel}
            ops.append({"op": "insert", "kind": "note", "id": f"n{t}.{i}", "value": note})
    return build(ops)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(projects())
def test_any_small_project_survives_export_and_import(doc: Document) -> None:
    back = imported(project_midi(doc))
    assert back.project["tempo"] == doc.project["tempo"]
    assert back.project["meter"] == doc.project["meter"]
    assert doc_tracks(back) == doc_tracks(doc)


def test_the_import_adds_to_a_project_and_never_reuses_an_id() -> None:
    doc = build([
        {"op": "insert", "kind": "track", "id": "m1", "value": {"name": "Mine"}},
        {"op": "insert", "kind": "note", "id": "m3", "value": {"track": "m1", "pitch": 1, "start": 0}},
    ])  # fmt: skip
    source = build([
        {"op": "insert", "kind": "track", "id": "a", "value": {"name": "A"}},
        {"op": "insert", "kind": "note", "id": "x", "value": {"track": "a", "pitch": 60, "start": 0}},
        {"op": "insert", "kind": "note", "id": "y", "value": {"track": "a", "pitch": 62, "start": 9}},
    ])  # fmt: skip
    ops = midi_ops(doc, project_midi(source), prefix="m")
    ids = [op["id"] for op in ops if op["op"] == "insert"]
    assert ids == ["m2", "m4", "m5"] and all(check_id(i) == i for i in ids)
    apply_all(doc, ops)
    assert [t[0] for t in doc_tracks(doc)] == ["Mine", "A"]
    with pytest.raises(BadField):
        midi_ops(doc, project_midi(source), prefix="bad id ")


def test_a_long_import_is_one_batch_of_many_ops() -> None:
    source = Document()
    apply(source, {"op": "insert", "kind": "track", "id": "t", "value": {}})
    for i in range(1500):
        note = {"track": "t", "pitch": 40 + i % 40, "start": i * 120, "dur": 120}
        apply(source, {"op": "insert", "kind": "note", "id": f"n{i}", "value": note})
    doc = Document()
    ops = midi_ops(doc, project_midi(source), prefix="imp.")
    assert len(ops) > 1000
    apply_all(doc, ops)
    assert doc_tracks(doc) == doc_tracks(source)


# -- types, pairing, scaling, tempo and meter maps -------------------------------------------


def test_a_type_0_file_splits_its_channels_into_tracks() -> None:
    midi = mido.MidiFile(type=0, ticks_per_beat=96)
    midi.tracks.append(track(
        mido.MetaMessage("track_name", name="Song"),
        mido.Message("program_change", program=33, channel=3),
        on(36, channel=9), on(40, channel=3), on(60, channel=0),
        off(36, time=48, channel=9), off(40, channel=3),
        off(60, time=48, channel=0),
    ))  # fmt: skip
    imp = read_midi(written(midi))
    assert imp.format == 0
    assert [(t.name, t.channel, t.is_drums, t.program) for t in imp.tracks] == [
        ("Song (ch 1)", 0, False, 0),
        ("Song (ch 4)", 3, False, 33),
        ("Song (ch 10)", 9, True, 0),
    ]
    assert notes_of(imp) == [[(60, 0, 960, 100)], [(40, 0, 480, 100)], [(36, 0, 480, 100)]]
    doc = imported(written(midi))
    assert [(t["kind"], t["instrument"]) for t in doc.tracks.values()] == [
        ("instrument", 0),
        ("instrument", 33),
        ("drums", 0),
    ]


def test_a_type_1_track_with_several_channels_becomes_several_tracks() -> None:
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    midi.tracks.append(track(mido.MetaMessage("set_tempo", tempo=400_000)))
    midi.tracks.append(track(
        mido.MetaMessage("track_name", name="Band"),
        mido.Message("program_change", program=4, channel=1),
        mido.Message("program_change", program=48, channel=2),
        on(50, channel=1), on(55, channel=2), off(50, time=480, channel=1), off(55, channel=2),
    ))  # fmt: skip
    midi.tracks.append(track(on(70, channel=5), off(70, time=240, channel=5)))
    imp = read_midi(written(midi))
    assert [(t.name, t.source, t.channel, t.program) for t in imp.tracks] == [
        ("Band (ch 2)", 1, 1, 4),
        ("Band (ch 3)", 1, 2, 48),
        ("Track 3", 2, 5, 0),
    ]
    assert notes_of(imp) == [[(50, 0, 960, 100)], [(55, 0, 960, 100)], [(70, 0, 480, 100)]]
    assert imp.tempo == 150.0


def test_notes_pair_first_in_first_out_and_the_odd_ones_are_kept_sane() -> None:
    midi = mido.MidiFile(ticks_per_beat=480)
    midi.tracks.append(track(
        on(60, vel=10), on(60, vel=20, time=100),  # two of one key: first on, first off
        off(60, time=100), on(60, vel=0, time=100),  # note_on at velocity 0 is a note-off
        on(62, vel=30), off(62),  # zero length: one tick
        off(64, time=10),  # a note-off with nothing sounding: ignored
        on(65, vel=40, time=90),  # never released: ends with the track
        mido.MetaMessage("end_of_track", time=200),
    ))  # fmt: skip
    imp = read_midi(written(midi))
    assert notes_of(imp) == [
        [(60, 0, 400, 10), (60, 200, 400, 20), (62, 600, 1, 30), (65, 800, 400, 40)]
    ]
    assert any("never released" in w for w in imp.warnings)
    assert any("without a sounding note" in w for w in imp.warnings)


def test_ticks_scale_to_960_ppq_rounding_half_up() -> None:
    midi = mido.MidiFile(ticks_per_beat=384)  # 2.5 project ticks per file tick
    midi.tracks.append(track(on(60, time=1), off(60, time=2), on(61, time=1), off(61, time=384)))
    assert notes_of(read_midi(written(midi))) == [[(60, 3, 5, 100), (61, 10, 960, 100)]]
    fine = mido.MidiFile(ticks_per_beat=1920)  # half a project tick per file tick
    fine.tracks.append(track(on(60, time=1), off(60, time=1), on(62, time=5), off(62, time=1)))
    assert notes_of(read_midi(written(fine))) == [[(60, 1, 1, 100), (62, 4, 1, 100)]]


def test_the_tempo_and_meter_maps_and_what_the_project_keeps_of_them() -> None:
    midi = mido.MidiFile(ticks_per_beat=480)
    midi.tracks.append(track(
        mido.MetaMessage("set_tempo", tempo=500_000),
        mido.MetaMessage("set_tempo", tempo=600_000),  # the last at a tick wins
        mido.MetaMessage("time_signature", numerator=3, denominator=4),
        mido.MetaMessage("set_tempo", tempo=600_000, time=480),  # no change: not in the map
        mido.MetaMessage("set_tempo", tempo=447_761, time=480),
        mido.MetaMessage("time_signature", numerator=6, denominator=8),
        mido.MetaMessage("time_signature", numerator=0, denominator=4, time=480),  # not a meter
    ))  # fmt: skip
    midi.tracks.append(
        track(mido.MetaMessage("set_tempo", tempo=550_458, time=1440), on(60), off(60, time=1))
    )
    imp = read_midi(written(midi))
    assert [(c.tick, c.us_per_quarter, c.bpm) for c in imp.tempos] == [
        (0, 600_000, 100.0),
        (1920, 447_761, 134.0),
        (2880, 550_458, 109.0),  # a truncating writer's 109 BPM
    ]
    assert [(c.tick, c.numerator, c.denominator) for c in imp.meters] == [(0, 3, 4), (1920, 6, 8)]
    assert (imp.tempo, imp.meter) == (100.0, (3, 4))
    assert any("0/4 is ignored" in w for w in imp.warnings)
    assert any("tempo changes 2 times" in w for w in imp.warnings)
    assert any("meter changes 1 time after" in w for w in imp.warnings)
    doc = imported(written(midi))
    assert (doc.project["tempo"], doc.project["meter"]) == (100.0, [3, 4])


def test_a_file_without_tempo_or_meter_is_120_bpm_in_4_4() -> None:
    imp = read_midi(smf(b"\x00\x90\x3c\x40\x60\x80\x3c\x00" + END))
    assert [(c.tick, c.bpm) for c in imp.tempos] == [(0, 120.0)]
    assert imp.meter == (4, 4) and imp.warnings == ()


def test_tempos_outside_the_projects_range_are_clamped_and_said() -> None:
    fast = b"\x00\xff\x51\x03" + (60_000).to_bytes(3, "big")  # 1000 BPM
    slow = b"\x00\xff\x51\x03" + (0xFFFFFF).to_bytes(3, "big")  # 3.6 BPM
    imp = read_midi(smf(fast + END))
    assert imp.tempo == 999.0 and imp.tempos[0].us_per_quarter == 60_000
    assert any("taken as 999 BPM" in w for w in imp.warnings)
    assert read_midi(smf(slow + END)).tempo == 20.0


def test_names_are_utf8_or_latin1_trimmed_to_the_limit() -> None:
    def named(raw: bytes) -> str:
        body = b"\x00\xff\x03" + vlq(len(raw)) + raw + b"\x00\x90\x3c\x40\x10\x3c\x00" + END
        return read_midi(smf(body)).tracks[0].name

    assert named("Ünïcødé ♪".encode()) == "Ünïcødé ♪"
    assert named(b"Caf\xe9 ") == "Café"
    assert named(b"x" * 100) == "x" * 64
    assert named(b"  \x00 ") == "Track 1"


def test_chunks_of_unknown_types_are_skipped() -> None:
    body = b"\x00\x90\x3c\x40\x10\x3c\x00" + END
    plain = smf(body)
    header = plain[:14]
    alien = header + chunk(b"XFIH", b"\x01\x02\x03") + chunk(b"MTrk", body)
    assert notes_of(read_midi(alien)) == notes_of(read_midi(plain)) == [[(60, 0, 32, 64)]]


def test_what_nothing_reads_cannot_break_or_slow_an_import() -> None:
    """A malformed key signature (mido refuses it) and megabytes of sysex and text."""
    bad_key = b"\x00\xff\x59\x02\x09\x00"  # nine sharps
    sysex = b"\x00\xf0" + vlq(1_000_000) + b"\x01" * 1_000_000
    text = b"\x00\xff\x01" + vlq(1_000_000) + b"a" * 1_000_000
    note = b"\x00\x90\x3c\x40\x10\x3c\x00"
    imp = read_midi(smf(bad_key + sysex + text + sysex + note + END))
    assert notes_of(imp) == [[(60, 0, 32, 64)]]


# -- hostile and damaged files: refused, nothing returned ------------------------------------


VALID = smf(b"\x00\xff\x51\x03\x07\xa1\x20\x00\x90\x3c\x40\x60\x80\x3c\x00" + END)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "not a MIDI file"),
        (bytes(random.Random(7).randrange(256) for _ in range(5000)), "not a MIDI file"),
        (b"MThd\x00\x00\x00\x06\x00", "header is truncated"),
        (VALID[:-6], "claims"),  # the track chunk cut short
        (VALID[:14], "ends after 0 of its 1 tracks"),
        (VALID[:18] + b"\x7f\xff\xff\xff" + VALID[22:], "claims"),  # length past the end
        (smf(b"\x00\x3c\x40" + END), "bad running status"),  # data bytes, no status
        (smf(b"\x00\xf0\x01\xf7\x00\x3c\x40" + END), "bad running status"),  # sysex cancels it
        (smf(b"\x00\x90\x3c\x40\x81\x80\x80\x80\x00\x3c\x00" + END), "over 4 bytes"),
        (smf(b"\x00\x90\x3c\xc0" + END), "value 0-127"),
        (smf(b"\x00\xf8" + END), "does not belong"),
        (smf(b"\x00\x90\x3c"), "middle of an event"),
        (smf(b"\x00\xff\x01\x10abc"), "runs past"),
        (smf(b"\x00\xff\x51\x03\x00\x00\x00" + END), "tempo of 0"),
        (smf(b"\x00\xff\x51\x02\x07\xa1" + END), "cannot be read"),  # mido's own refusal
        (smf(END, fmt=2), "type 2"),
        (smf(END, fmt=7), "unknown MIDI file type"),
        (smf(END, ppq=0xE728), "SMPTE"),  # 25 fps, 40 ticks a frame
        (smf(END, ppq=0), "division is 0"),
        (smf(END, ntracks=40_000), "40000 tracks"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_damaged_file_is_refused_with_a_reason(data: bytes, says: str) -> None:
    with pytest.raises(BadImport, match=says):
        read_midi(data)


def test_too_many_events_are_refused_while_counting() -> None:
    many = b"\x00\xb0\x07\x64" + b"\x00\x07\x64" * 200_000  # running status: 3 bytes an event
    with pytest.raises(BadImport, match="more than 200000 events"):
        read_midi(smf(many + END))
    with pytest.raises(BadImport, match="more than 1000 events"):
        read_midi(smf(many[: 4 + 3 * 1500] + END), max_events=1000)
    assert read_midi(smf(many[: 4 + 3 * 999] + END), max_events=1001).tracks == ()  # no notes


def test_a_file_over_the_size_cap_is_refused_unread() -> None:
    huge = smf(b"\x00\xb0\x07\x64" + b"\x00\x07\x64" * 10_000_000 + END)  # ten million events
    assert len(huge) > MAX_BYTES
    with pytest.raises(BadImport, match="at most"):
        read_midi(huge)


def test_more_notes_or_tracks_than_the_limits_allow_are_refused() -> None:
    notes = b"\x00\x90\x3c\x40" + b"\x00\x3c\x40" * 50_000  # 50,001 notes
    with pytest.raises(LimitExceeded, match="max_notes"):
        read_midi(smf(notes + END))
    with pytest.raises(LimitExceeded, match="max_notes"):
        read_midi(smf(notes[: 4 + 3 * 150] + END), Limits(max_notes=99))
    per_channel = b"".join(bytes([0x00, 0x90 | c, 60, 64]) for c in range(16)) + END
    with pytest.raises(LimitExceeded, match="max_tracks"):
        read_midi(smf(per_channel), Limits(max_tracks=15))
    late = b"\x00\x90\x3c\x40" + vlq(0x0FFFFFFF) + b"\x80\x3c\x00" + END
    with pytest.raises(LimitExceeded, match="max_tick"):
        read_midi(smf(late, ppq=1))


def test_an_import_the_project_has_no_room_for_is_refused_and_changes_nothing() -> None:
    two_notes = smf(b"\x00\x90\x3c\x40\x10\x3c\x00\x00\x3e\x40\x10\x3e\x00" + END)
    doc = Document(Limits(max_tracks=2, max_notes=2))
    apply(doc, {"op": "insert", "kind": "track", "id": "t", "value": {}})
    apply(
        doc,
        {
            "op": "insert",
            "kind": "note",
            "id": "n",
            "value": {"track": "t", "pitch": 1, "start": 0},
        },
    )
    before = doc.to_data()
    with pytest.raises(LimitExceeded, match="max_notes"):
        midi_ops(doc, two_notes, prefix="m")
    assert doc.to_data() == before
    apply(doc, {"op": "delete", "id": "n"})
    apply(doc, {"op": "insert", "kind": "track", "id": "u", "value": {}})
    before = doc.to_data()
    with pytest.raises(LimitExceeded, match="max_tracks"):
        midi_ops(doc, two_notes, prefix="m")
    assert doc.to_data() == before


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_mangled_file_is_read_or_refused_never_anything_else(data: st.DataObject) -> None:
    """Truncated, overwritten or padded bytes of a real export: a MidiImport or a
    BacklineError, never another exception."""
    doc = build([
        {"op": "insert", "kind": "track", "id": "a", "value": {"name": "A", "kind": "drums"}},
        {"op": "insert", "kind": "note", "id": "x", "value": {"track": "a", "pitch": 36, "start": 0}},
        {"op": "insert", "kind": "note", "id": "y", "value": {"track": "a", "pitch": 38, "start": 480}},
    ])  # fmt: skip
    raw = bytearray(project_midi(doc))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw)))
        how = data.draw(st.sampled_from(["cut", "set", "insert"]))
        if how == "cut":
            del raw[at:]
        elif how == "set" and at < len(raw):
            raw[at] = data.draw(st.integers(0, 255))
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=4))
    try:
        imp = read_midi(bytes(raw))
    except BacklineError:
        return
    target = Document()
    try:
        ops = import_ops(target, imp, prefix="m")
    except LimitExceeded:
        return
    apply_all(target, ops)
