"""The project as a Standard MIDI File: what the arrangement plays, as notes.

Format 1 at 960 ticks per quarter note (the project's own resolution, so no
position is rounded but swing's). Track 0 holds the project name, tempo and
meter, and each chord of the chord track as a marker (FF 06, its symbol) at its
start; then one MIDI track per project track, in order, with its name, program,
volume (CC7) and pan (CC10), and the notes `arrangement.sounds_between` gives
from bar 1 to `arrangement.song_end`: the same notes the browser and the bots
play. Drum tracks use channel 10, the others channels 1-9 and 11-16 in turn.
With `chord_notes`, a last track "Chords" holds every chord's notes
(`harmony.chord_pitches`, root at C3) for its length, at velocity 80.

The browser's export (``web/ui/midi.js``) writes the same bytes; a test holds
the two together. Pure: bytes in memory, no I/O.
"""

from __future__ import annotations

import math
from typing import Any

from .arrangement import song_end, sounds_between
from .harmony import Chord, chord_pitches, chord_symbol
from .model import PPQ, Document
from .timeline import US_PER_MINUTE

__all__ = ["Event", "project_midi", "track_events"]

DRUM_CHANNEL = 9  # channel 10, counted from 1

Event = tuple[int, int, list[int]]
"""(tick, order, bytes): sorted by tick, then order (meta 0-3, note-off 4, note-on 5)."""


def _round(x: float) -> int:
    """Half away from zero for the positives here, as JavaScript's Math.round."""
    return math.floor(x + 0.5)


def _vlq(n: int) -> list[int]:
    out = [n & 0x7F]
    n >>= 7
    while n > 0:
        out.insert(0, (n & 0x7F) | 0x80)
        n >>= 7
    return out


def _meta(kind: int, data: list[int]) -> list[int]:
    return [0xFF, kind, *_vlq(len(data)), *data]


def _text(s: str) -> list[int]:
    return list(s.encode("utf-8"))


def _chunk(name: str, body: list[int]) -> list[int]:
    return [*_text(name), *len(body).to_bytes(4, "big"), *body]


def _track(events: list[Event]) -> list[int]:
    """Events (tick, order, bytes) as a track chunk: by tick, then note-offs (order 4)
    before note-ons (5) on one tick, then as added."""
    body: list[int] = []
    last = 0
    for tick, _, data in sorted(events, key=lambda e: (e[0], e[1])):
        body += [*_vlq(tick - last), *data]
        last = tick
    body += [*_vlq(0), *_meta(0x2F, [])]
    return _chunk("MTrk", body)


def _chord(entity: dict[str, Any]) -> Chord:
    return Chord(entity["root"], entity["quality"], entity["inversion"], entity["bass"])


def _melodic_channel(index: int) -> int:
    """The channel of the `index`-th non-drum track: 1-9 and 11-16 in turn (from 0)."""
    channel = index % 15
    return channel + (channel >= DRUM_CHANNEL)


def track_events(doc: Document) -> list[tuple[dict[str, Any], list[Event]]]:
    """Each project track, in order, with its channel messages: program, volume (CC7)
    and pan (CC10) at tick 0, then a note-on and a note-off per sound of the
    arrangement from bar 1 to `arrangement.song_end` (swing applied, rounded to ticks).

    What the .mid file holds per track (less its name); other exports reuse it.
    """
    tracks = [doc.tracks[t] for t in doc.track_order]
    by_track: dict[str, list[Any]] = {t["id"]: [] for t in tracks}
    for sound in sounds_between(doc, 0, song_end(doc) / PPQ):
        by_track[sound.track].append(sound)
    melodic = 0
    out = []
    for track in tracks:
        if track["kind"] == "drums":
            channel = DRUM_CHANNEL
        else:
            channel = _melodic_channel(melodic)
            melodic += 1
        events: list[Event] = [
            (0, 1, [0xC0 | channel, track["instrument"] & 0x7F]),
            (0, 2, [0xB0 | channel, 7, min(127, max(0, _round(track["volume"] * 100)))]),
            (0, 3, [0xB0 | channel, 10, min(127, max(0, _round((track["pan"] + 1) * 64)))]),
        ]
        for sound in by_track[track["id"]]:
            start = _round(sound.beat * PPQ)
            end = max(start + 1, _round((sound.beat + sound.beats) * PPQ))
            events.append((start, 5, [0x90 | channel, sound.pitch, sound.velocity]))
            events.append((end, 4, [0x80 | channel, sound.pitch, 0]))
        out.append((track, events))
    return out


def project_midi(doc: Document, chord_notes: bool = False) -> bytes:
    """The .mid file of the project (`chord_notes`: with the chord track as notes too)."""
    project = doc.project
    numerator, denominator = project["meter"]
    us_per_quarter = _round(US_PER_MINUTE / project["tempo"])
    chords = doc.ordered_chords()
    count = len(doc.track_order) + 1 + (chord_notes and bool(chords))
    chunks = _chunk("MThd", [0, 1, count >> 8, count & 255, PPQ >> 8, PPQ & 255])
    conductor = [
        (0, 0, _meta(0x03, _text(project["name"]))),
        (0, 1, _meta(0x51, list(us_per_quarter.to_bytes(3, "big")))),
        (0, 2, _meta(0x58, [numerator, denominator.bit_length() - 1, 24, 8])),
    ]
    conductor += [(c["start"], 3, _meta(0x06, _text(chord_symbol(_chord(c))))) for c in chords]
    chunks += _track(conductor)
    melodic = 0
    for track, events in track_events(doc):
        melodic += track["kind"] != "drums"
        chunks += _track([(0, 0, _meta(0x03, _text(track["name"]))), *events])
    if chord_notes and chords:
        channel = _melodic_channel(melodic)
        events = [(0, 0, _meta(0x03, _text("Chords"))), (0, 1, [0xC0 | channel, 0])]
        for c in chords:
            for pitch in chord_pitches(_chord(c), octave=3):
                events.append((c["start"], 5, [0x90 | channel, pitch, 80]))
                events.append((c["start"] + c["length"], 4, [0x80 | channel, pitch, 0]))
        chunks += _track(events)
    return bytes(chunks)
