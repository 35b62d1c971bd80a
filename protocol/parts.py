"""What the chord-following bots play over the chord track: bass, arpeggio and pad parts.

A part is a list of `PartNote`s (ticks from bar 1, like notes) computed from the
project's chord track and meter alone, so a bot that plays it into the audio
room and one that writes it into the project as notes play the same notes, and
a test can say what must be heard:

- **bass**: the chord's bass (its slash bass, else the lowest tone of its
  inversion, else the root) in the octave from E1 to D#2 (MIDI 28-39), on beat 1
  of every bar the chord sounds in, and at the chord's start when it does not
  begin on a bar line; held to the next such note or the chord's end;
- **arp**: the chord's tones (`harmony.chord_pitches` at octave 4) going up,
  one per eighth note, round and round, for as long as the chord lasts;
- **pad**: the whole chord at octave 3, held for the chord's length.

Pure: the caller passes the document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .harmony import Chord, chord_pitches, pitch_class
from .model import PPQ, Document

__all__ = ["PARTS", "PartNote", "part_notes"]

PARTS = ("bass", "arp", "pad")
_GAP = 10  # ticks of silence before the next note of the same part (a re-attack)


@dataclass(frozen=True, slots=True)
class PartNote:
    start: int  # ticks from bar 1
    dur: int
    pitch: int
    vel: int
    chord: str  # the chord entity's id it comes from


def _chord(entity: dict[str, Any]) -> Chord:
    return Chord(entity["root"], entity["quality"], entity["inversion"], entity["bass"])


def _bar_ticks(doc: Document) -> int:
    numerator, denominator = doc.project["meter"]
    return int(numerator * PPQ * 4 // denominator)


def part_notes(doc: Document, part: str, lo: int = 0, hi: int | None = None) -> list[PartNote]:
    """The part's notes that start in ticks ``[lo, hi)`` (all of them without `hi`)."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}")
    out: list[PartNote] = []
    bar = _bar_ticks(doc)
    for entity in doc.ordered_chords():
        start, end = entity["start"], entity["start"] + entity["length"]
        if hi is not None and start >= hi:
            break
        if end <= lo:
            continue
        chord = _chord(entity)
        cid = entity["id"]
        if part == "bass":
            lowest = chord_pitches(chord)[0] % 12 if chord.bass is None else pitch_class(chord.bass)
            pitch = 28 + (lowest - 4) % 12  # E1 .. D#2
            onsets = sorted({start, *range(-(-start // bar) * bar, end, bar)})
            for i, at in enumerate(onsets):
                until = onsets[i + 1] if i + 1 < len(onsets) else end
                out.append(PartNote(at, max(1, until - at - _GAP), pitch, 100, cid))
        elif part == "arp":
            tones = chord_pitches(chord, octave=4)
            step = PPQ // 2
            for n, at in enumerate(range(start, end, step)):
                dur = min(step, end - at) - _GAP
                out.append(PartNote(at, max(1, dur), tones[n % len(tones)], 84, cid))
        else:
            for pitch in chord_pitches(chord, octave=3):
                out.append(PartNote(start, max(1, end - start - _GAP), pitch, 64, cid))
    return [n for n in out if n.start >= lo and (hi is None or n.start < hi)]
