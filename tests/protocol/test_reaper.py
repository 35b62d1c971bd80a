"""protocol/reaper.py: the .rpp holds the tracks, their mixer settings, the notes of the .mid
export, the tempo, the regions and the stems.

REAPER itself cannot run here (it is proprietary, in neither Debian nor PyPI), so the
file is read back by a small reader written from the format's public descriptions
(nested ``<BLOCK`` … ``>``, one setting a line, REAPER's three quote characters) and
its MIDI is checked against the .mid file (read with mido), event for event.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from typing import Any

import mido
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backline.protocol.arrangement import song_end
from backline.protocol.errors import BacklineError
from backline.protocol.model import PPQ, Document
from backline.protocol.ops import apply
from backline.protocol.reaper import reaper_project, rpp_string
from backline.protocol.smf import project_midi

BAR = 4 * PPQ
QUOTES = "\"'`"


# -- a reader for .rpp text ------------------------------------------------------------


@dataclass
class Block:
    tag: str
    params: list[str]
    lines: list[list[str]] = field(default_factory=list)  # each line as tokens, in order
    blocks: list[Block] = field(default_factory=list)

    def all(self, key: str) -> list[list[str]]:
        return [line[1:] for line in self.lines if line[0] == key]

    def one(self, key: str) -> list[str]:
        (found,) = self.all(key)
        return found

    def children(self, tag: str) -> list[Block]:
        return [b for b in self.blocks if b.tag == tag]


def tokens(line: str) -> list[str]:
    """A line's fields: a field opening with a quote character runs to that character again."""
    out: list[str] = []
    i = 0
    while i < len(line):
        if line[i] == " ":
            i += 1
        elif line[i] in QUOTES:
            end = line.index(line[i], i + 1)
            assert end + 1 == len(line) or line[end + 1] == " ", f"stray quote in {line!r}"
            out.append(line[i + 1 : end])
            i = end + 1
        else:
            end = line.find(" ", i)
            end = len(line) if end < 0 else end
            out.append(line[i:end])
            i = end
    return out


def parse(text: str) -> Block:
    """The root block of .rpp text; every block closed, nothing after the root."""
    assert text.endswith(">\n")
    stack: list[Block] = []
    root: Block | None = None
    for raw in text.splitlines():
        line = raw.strip()
        assert line, "no blank lines"
        assert root is None or stack, "nothing after the root block"
        if line.startswith("<"):
            fields = tokens(line[1:])
            block = Block(fields[0], fields[1:])
            if stack:
                stack[-1].blocks.append(block)
            else:
                root = block
            stack.append(block)
        elif line == ">":
            stack.pop()
        elif line.startswith("|"):
            stack[-1].lines.append(["|", line[1:]])
        else:
            stack[-1].lines.append(tokens(line))
    assert root is not None and not stack
    return root


def midi_events(source: Block) -> tuple[list[tuple[int, int, int, int]], int]:
    """An inline MIDI source's events as (tick, status, data1, data2), and where it ends."""
    assert source.params == ["MIDI"] and source.one("HASDATA") == ["1", str(PPQ), "QN"]
    at, out = 0, []
    lines = source.all("E")
    for delta, *data in lines[:-1]:
        at += int(delta)
        status, d1, d2 = (int(b, 16) for b in data)
        out.append((at, status, d1, d2))
    end_delta, *end = lines[-1]
    assert end == ["b0", "7b", "00"]
    return out, at + int(end_delta)


def smf_events(doc: Document) -> list[list[tuple[int, int, int, int]]]:
    """Per project track, the program change and notes of the .mid export, as in `midi_events`."""
    midi = mido.MidiFile(file=io.BytesIO(project_midi(doc)), charset="utf-8")
    out = []
    for track in midi.tracks[1:]:
        at, events = 0, []
        for m in track:
            at += m.time
            if m.type == "program_change":
                events.append((at, 0xC0 | m.channel, m.program, 0))
            elif m.type in ("note_on", "note_off"):
                status = 0x90 if m.type == "note_on" else 0x80
                events.append((at, status | m.channel, m.note, m.velocity))
        out.append(events)
    return out


# -- documents ------------------------------------------------------------------------


def build(ops: list[dict[str, Any]]) -> Document:
    doc = Document()
    for op in ops:
        apply(doc, op)
    return doc


def ins(entity: str, eid: str, **value: Any) -> dict[str, Any]:
    return {"op": "insert", "kind": entity, "id": eid, "value": value}


def put(eid: str, name: str, value: Any) -> dict[str, Any]:
    return {"op": "set", "id": eid, "field": name, "value": value}


def sketch() -> Document:
    """Drums on a pattern clip, keys with a notes clip and a free note, in 3/4 at 90 BPM."""
    return build([
        put("project", "name", "Sketch"),
        put("project", "tempo", 90.0),
        put("project", "meter", [3, 4]),
        ins("track", "d", name="Beat", kind="drums", color="#ff8000", volume=0.5, pan=-0.25,
            mute=True),
        ins("track", "k", name="Keys", instrument=5, solo=True),
        ins("pattern", "p", track="d", length=3, steps_per_beat=1,
            lanes=[{"sound": 36, "steps": [120, 0, 90]}]),
        ins("clip", "c", track="d", pattern="p", start=3 * PPQ, length=6 * PPQ),
        ins("clip", "r", track="k", start=0, length=PPQ),
        ins("note", "n1", track="k", clip="r", pitch=60, start=480, dur=960),
        ins("note", "n2", track="k", pitch=67, start=2 * PPQ, dur=PPQ, vel=90),
        ins("section", "s1", name="Verse", color="#102030", start=0, length=3 * PPQ),
        ins("section", "s2", name="Chorus", start=6 * PPQ, length=3 * PPQ),
        ins("chord", "ch", start=3 * PPQ, length=3 * PPQ, root="F", quality="maj", inversion=1),
    ])  # fmt: skip


def seconds(ticks: int, tempo: float) -> float:
    return ticks / PPQ * 60 / tempo


# -- tests ------------------------------------------------------------------------------


def test_one_track_per_track_with_its_name_colour_volume_pan_mute_and_solo() -> None:
    rpp = parse(reaper_project(sketch(), name="jam"))
    assert rpp.tag == "REAPER_PROJECT"
    beat, keys = rpp.children("TRACK")
    assert beat.one("NAME") == ["Beat"] and keys.one("NAME") == ["Keys"]
    assert beat.one("VOLPAN")[:2] == ["0.5", "-0.25"] and keys.one("VOLPAN")[:2] == ["1", "0"]
    assert beat.one("MUTESOLO") == ["1", "0", "0"]
    assert keys.one("MUTESOLO")[:2] == ["0", "2"]  # soloed (in place)
    # #ff8000 as REAPER's 0x00bbggrr, flagged as set
    assert int(beat.one("PEAKCOL")[0]) == 0x1000000 | 0x0080FF
    assert ["|", "Backline session jam: Sketch"] in rpp.children("NOTES")[0].lines
    assert rpp.one("TITLE") == ["Sketch"]


def test_each_midi_item_holds_the_notes_of_the_midi_export() -> None:
    doc = sketch()
    rpp = parse(reaper_project(doc, name="jam"))
    tracks = rpp.children("TRACK")
    expected = smf_events(doc)
    song = 9 * PPQ  # three bars of 3/4: the clip ends at beat 9
    for track, want in zip(tracks, expected, strict=True):
        (item,) = track.children("ITEM")
        assert item.one("POSITION") == ["0"]
        assert float(item.one("LENGTH")[0]) == seconds(song, 90.0)
        events, end = midi_events(item.children("SOURCE")[0])
        assert events == want and end == song
    drums, keys = (midi_events(t.children("ITEM")[0].children("SOURCE")[0])[0] for t in tracks)
    assert drums[0] == (0, 0xC9, 0, 0)  # the drums on channel 10
    assert keys[0] == (0, 0xC0, 5, 0)  # the GM program at the start
    assert (480, 0x90, 60, 100) in keys and (2 * PPQ, 0x90, 67, 90) in keys
    assert all(status & 0xF0 != 0xB0 for _, status, _, _ in drums + keys)  # no CC7/CC10


def test_tempo_and_meter_are_the_project_tempo_and_an_envelope_point_at_bar_1() -> None:
    rpp = parse(reaper_project(sketch(), name="jam"))
    assert rpp.one("TEMPO") == ["90", "3", "4"]
    (envelope,) = rpp.children("TEMPOENVEX")
    ((at, bpm, shape, meter, *_),) = envelope.all("PT")
    assert (float(at), float(bpm), shape) == (0.0, 90.0, "1")
    assert int(meter) == 4 << 16 | 3


def test_sections_become_regions_and_chords_markers() -> None:
    rpp = parse(reaper_project(sketch(), name="jam"))
    markers = rpp.all("MARKER")
    assert [(int(m[0]), float(m[1]), m[2], m[3]) for m in markers] == [
        (1, 0.0, "Verse", "1"),  # a region: its start and its end, flag 1
        (1, seconds(3 * PPQ, 90.0), "", "1"),
        (2, seconds(3 * PPQ, 90.0), "F/A", "0"),  # a marker
        (3, seconds(6 * PPQ, 90.0), "Chorus", "1"),
        (3, seconds(9 * PPQ, 90.0), "", "1"),
    ]
    assert int(markers[0][4]) == 0x1000000 | 0x302010


def test_stems_are_audio_items_on_tracks_of_their_own() -> None:
    doc = sketch()
    text = reaper_project(doc, name="jam", stems={"k": "stems/stem-02-Keys.wav", "gone": "x.wav"},
                          mix="mix.wav", audio_seconds=7.25)  # fmt: skip
    tracks = parse(text).children("TRACK")
    assert [t.one("NAME")[0] for t in tracks] == ["Beat", "Keys", "Keys (stem)", "Mix (render)"]
    stem, mixed = tracks[2:]
    # post-fader already: unity and centre, the track's own mute and solo
    assert stem.one("VOLPAN")[:2] == ["1", "0"] and stem.one("MUTESOLO")[:2] == ["0", "2"]
    (item,) = stem.children("ITEM")
    assert item.one("LENGTH") == ["7.25"]
    (source,) = item.children("SOURCE")
    assert source.params == ["WAVE"] and source.one("FILE") == ["stems/stem-02-Keys.wav"]
    assert mixed.one("MUTESOLO")[0] == "1"  # the stems already add up to it
    assert mixed.children("ITEM")[0].children("SOURCE")[0].one("FILE") == ["mix.wav"]
    assert "WAVE" not in reaper_project(doc, name="jam")
    alone = parse(reaper_project(doc, name="jam", mix="mix.wav")).children("TRACK")[-1]
    assert alone.one("NAME") == ["Mix (render)"] and alone.one("MUTESOLO")[0] == "0"


def test_names_keep_their_quotes_as_reaper_quotes_them() -> None:
    names = ['say "hi"', "it's", "both ' and \"", "all ' \" `", "two\nlines", "", "`tick`"]
    doc = build([ins("track", f"t{i}", name=n) for i, n in enumerate(names)])
    tracks = parse(reaper_project(doc, name="jam")).children("TRACK")
    read = [t.one("NAME")[0] for t in tracks]
    assert read == ['say "hi"', "it's", "both ' and \"", "all ' \" '", "two lines", "", "`tick`"]
    assert rpp_string('a "b"') == "'a \"b\"'" and rpp_string("a'\"") == "`a'\"`"


def test_the_same_document_gives_the_same_text() -> None:
    doc = sketch()
    first = reaper_project(doc, name="jam", stems={"k": "a.wav"}, mix="m.wav")
    assert reaper_project(doc.copy(), name="jam", stems={"k": "a.wav"}, mix="m.wav") == first
    assert "{" not in first  # no GUIDs: REAPER makes its own


def test_an_empty_project_has_tracks_but_no_items() -> None:
    doc = build([ins("track", "t", name="Empty")])
    rpp = parse(reaper_project(doc, name="jam"))
    (track,) = rpp.children("TRACK")
    assert track.children("ITEM") == [] and rpp.all("MARKER") == []


# -- a property: any small project reads back to the notes of the .mid ------------------


@st.composite
def projects(draw: Any) -> Document:
    doc = Document()
    ops: list[dict[str, Any]] = [
        put("project", "tempo", draw(st.sampled_from([60.0, 97.5, 120.0, 174.0]))),
        put("project", "meter", draw(st.sampled_from([[4, 4], [3, 4], [6, 8], [7, 8]]))),
        put("project", "swing", draw(st.sampled_from([0.0, 0.5, 1.0]))),
    ]
    for t in range(draw(st.integers(1, 4))):
        tid = f"t{t}"
        kind = draw(st.sampled_from(["drums", "instrument"]))
        ops.append(ins("track", tid, kind=kind, instrument=draw(st.integers(0, 127)),
                       name=draw(st.text(max_size=5))))  # fmt: skip
        for n in range(draw(st.integers(0, 4))):
            ops.append(ins("note", f"{tid}n{n}", track=tid, pitch=draw(st.integers(0, 127)),
                           start=draw(st.integers(0, 4 * BAR)), dur=draw(st.integers(1, BAR)),
                           vel=draw(st.integers(1, 127))))  # fmt: skip
        if draw(st.booleans()):
            length = draw(st.integers(1, 8))
            steps = draw(st.lists(st.integers(0, 127), min_size=length, max_size=length))
            ops.append(ins("pattern", f"{tid}p", track=tid, length=length,
                           steps_per_beat=draw(st.sampled_from([1, 2, 3, 4])),
                           lanes=[{"sound": draw(st.integers(0, 127)), "steps": steps}]))  # fmt: skip
            if draw(st.booleans()):
                ops.append(ins("clip", f"{tid}c", track=tid, pattern=f"{tid}p",
                               start=draw(st.integers(0, 2 * BAR)),
                               length=draw(st.integers(1, 2 * BAR))))  # fmt: skip
    for op in ops:
        with contextlib.suppress(BacklineError):  # e.g. two clips overlap: do without one
            apply(doc, op)
    return doc


@settings(max_examples=100, deadline=None)
@given(projects())
def test_any_small_project_reads_back_to_the_notes_of_the_midi_export(doc: Document) -> None:
    text = reaper_project(doc, name="prop")
    assert text == reaper_project(doc.copy(), name="prop")
    tracks = parse(text).children("TRACK")
    assert [t.one("NAME")[0] for t in tracks] == [
        rpp_string(doc.tracks[t]["name"])[1:-1] for t in doc.track_order
    ]
    expected = smf_events(doc)
    # every item runs to the song's end, or to the last note-off if one rings past it
    last = max([song_end(doc), *(e[0] for want in expected for e in want)])
    for track, want in zip(tracks, expected, strict=True):
        items = track.children("ITEM")
        if last == 0:  # nothing to play: no items, and no notes in the .mid
            assert items == [] and [e[1] & 0xF0 for e in want] == [0xC0]
            continue
        (item,) = items
        assert float(item.one("LENGTH")[0]) == pytest.approx(seconds(last, doc.project["tempo"]))
        events, end = midi_events(item.children("SOURCE")[0])
        assert events == want and end == last
