"""What the arrangement plays, and when: the one definition every player uses.

The browser's scheduler (``web/arrangement.js``), the drummer and other bots
(``client/drums.py``) and renders all read the document through these rules, so
what one participant hears is what another hears and what a bounce contains.
Positions are beats (quarter notes from bar 1); sounds come out with swing
applied (`swing_warp`), in beat order.

- A **free note** (``clip`` None) sounds at ``start`` for ``dur`` ticks.
- A note in a **notes clip** sounds at the clip's start plus its own ``start``;
  a note starting at or after the clip's end is silent, and one running past
  it is cut at the end.
- A **pattern clip** repeats its pattern from the clip's start: the steps that
  start before the clip's end sound, each one step long.
- A pattern **no clip places** loops from bar 1 for as long as the transport
  rolls, so a fresh pattern in the step sequencer is heard at once.

Every sound is on its entity's track. On a ``drums`` track pitches are General
MIDI drum notes. Which tracks are heard (mute, solo) is `audible_tracks`; the
sounds of silent tracks are still listed, so a player can keep its schedule
and only open or close a track's gain.

Windows partition: for adjacent ranges ``[a, b)`` and ``[b, c)`` every sound
is in exactly one, decided in straight (unswung) time from integers.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .model import PPQ, Document
from .timeline import BEAT_EPSILON, bar_length, swing_unwarp, swing_warp

__all__ = ["Sound", "audible_tracks", "song_end", "sounds_between"]


@dataclass(frozen=True, slots=True)
class Sound:
    """One thing to play: `pitch` (a GM drum note on a drums track) for `beats`."""

    beat: float  # when it starts, swing applied
    beats: float  # how long it lasts, swing applied
    track: str
    pitch: int
    velocity: int


def audible_tracks(doc: Document) -> set[str]:
    """The ids of the tracks heard now: not muted, and soloed when any track is."""
    tracks = [doc.tracks[t] for t in doc.track_order]
    soloing = any(t["solo"] for t in tracks)
    return {t["id"] for t in tracks if not t["mute"] and (t["solo"] or not soloing)}


def sounds_between(doc: Document, lo: float, hi: float) -> list[Sound]:
    """Every sound starting in beats ``[lo, hi)`` (swung time), in order of
    ``(beat, track, pitch, velocity, beats)``."""
    if hi <= lo:
        return []
    swing = float(doc.project["swing"])
    a, b = swing_unwarp(lo, swing), swing_unwarp(hi, swing)  # the straight window
    straight: list[tuple[float, float, str, int, int]] = []
    placed = {c["pattern"] for c in doc.clips.values() if c["pattern"] is not None}
    for pattern in doc.patterns.values():
        if pattern["id"] not in placed:
            straight.extend(_pattern_sounds(pattern, 0, None, a, b))
    for clip in doc.clips.values():
        start, end = clip["start"], clip["start"] + clip["length"]
        if end / PPQ <= a - BEAT_EPSILON or start / PPQ >= b:
            continue
        if clip["pattern"] is not None:
            straight.extend(_pattern_sounds(doc.patterns[clip["pattern"]], start, end, a, b))
        else:
            for note_id in doc.clip_notes.get(clip["id"], ()):
                note = doc.notes[note_id]
                if note["start"] < clip["length"]:
                    dur = min(note["dur"], clip["length"] - note["start"])
                    _add_note(straight, note, start + note["start"], dur, a, b)
    for note in doc.notes.values():
        if note["clip"] is None:
            _add_note(straight, note, note["start"], note["dur"], a, b)
    straight.sort(key=lambda s: (s[0], s[2], s[3], s[4], s[1]))  # a total order
    return [
        Sound(
            beat=swing_warp(at, swing),
            beats=swing_warp(at + length, swing) - swing_warp(at, swing),
            track=track,
            pitch=pitch,
            velocity=velocity,
        )
        for at, length, track, pitch, velocity in straight
    ]


def song_end(doc: Document) -> int:
    """The tick where the song ends: the last clip, section or free note's end (an
    unplaced pattern counts one pass from bar 1), rounded up to a bar line; 0 when
    the project is empty."""
    ends = [c["start"] + c["length"] for c in doc.clips.values()]
    ends += [s["start"] + s["length"] for s in doc.sections.values()]
    ends += [n["start"] + n["dur"] for n in doc.notes.values() if n["clip"] is None]
    placed = {c["pattern"] for c in doc.clips.values()}
    ends += [
        p["length"] * PPQ // p["steps_per_beat"]
        for p in doc.patterns.values()
        if p["id"] not in placed
    ]
    last = max(ends, default=0)
    bar = round(bar_length(doc.project["meter"]) * PPQ)
    return -(-last // bar) * bar


def _add_note(
    out: list[tuple[float, float, str, int, int]],
    note: dict[str, Any],
    start: int,
    dur: int,
    a: float,
    b: float,
) -> None:
    beat = start / PPQ
    if a - BEAT_EPSILON <= beat < b - BEAT_EPSILON:
        out.append((beat, dur / PPQ, note["track"], note["pitch"], note["vel"]))


def _pattern_sounds(
    pattern: dict[str, Any], start: int, end: int | None, a: float, b: float
) -> Iterator[tuple[float, float, str, int, int]]:
    """The pattern's steps in straight beats ``[a, b)``, repeating from tick `start`
    until tick `end` (None: forever)."""
    per_beat = pattern["steps_per_beat"]
    length = pattern["length"]
    lanes = [lane for lane in pattern["lanes"] if any(lane["steps"])]
    if not lanes:
        return
    origin = start / PPQ
    first = max(0, math.ceil((a - origin) * per_beat - BEAT_EPSILON))
    last = math.ceil((b - origin) * per_beat - BEAT_EPSILON)
    if end is not None:  # steps that start before the clip's end
        last = min(last, math.ceil((end - start) / PPQ * per_beat - BEAT_EPSILON))
    for n in range(first, last):
        step = n % length
        for lane in lanes:
            velocity = lane["steps"][step]
            if velocity > 0:
                yield origin + n / per_beat, 1 / per_beat, pattern["track"], lane["sound"], velocity
