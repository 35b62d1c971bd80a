"""The project's drum parts as hits in time: which step of which lane sounds when.

Pure: reads a `Document`, returns `Hit`s with their beat (quarter notes from
the song's start). Where patterns play (the same rule as the browser's
`web/sound/playback.js`):

- A pattern that clips place plays only inside its clips: from each clip's
  start, repeating while the clip lasts.
- A pattern that no clip places loops from beat 0 (bar 1), forever: the
  quickest way to hear a beat while building it.

Either way it sounds on its own track (the pattern's ``track``). Notes on a
drums track are hits too: pitch is the drum, ``start`` the time, ``vel`` the
velocity (their duration does not matter to a one-shot drum).

Track `mute`, `solo` (when any track is soloed, only soloed tracks sound) and
`volume` decide a hit's gain; its lane's step velocity (1‥127) scales it too.
Instrument and audio tracks are not drums and make no hits here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from backline.protocol.model import PPQ, Document
from backline.protocol.timeline import BEAT_EPSILON

__all__ = ["Hit", "audible_tracks", "hits_between"]


@dataclass(frozen=True, slots=True)
class Hit:
    """One drum hit: ``sound`` (GM drum note) at ``velocity`` on ``track``, times ``gain``."""

    beat: float
    sound: int
    velocity: int
    track: str
    gain: float  # the track's volume

    @property
    def level(self) -> float:
        """Linear level of this hit: velocity (of 127) times the track's volume."""
        return self.velocity / 127 * self.gain


def audible_tracks(doc: Document) -> list[dict[str, Any]]:
    """The drums tracks that sound now, given mute and solo."""
    drums = [doc.tracks[t] for t in doc.track_order if doc.tracks[t]["kind"] == "drums"]
    soloed = any(doc.tracks[t]["solo"] for t in doc.track_order)
    return [t for t in drums if not t["mute"] and (t["solo"] or not soloed)]


def hits_between(doc: Document, lo: float, hi: float) -> list[tuple[float, Hit]]:
    """Every hit with a beat in ``[lo, hi)``, as ``(beat, hit)`` in beat order.

    Adjacent ranges partition the hits: a step's beat is computed from integers
    (step index, steps per beat, ticks), compared against ``lo`` and ``hi`` the
    same way on both sides of an edge.
    """
    if hi <= lo:
        return []
    found: list[tuple[float, Hit]] = []
    audible = {t["id"]: t for t in audible_tracks(doc)}
    placed: dict[str, list[dict[str, Any]]] = {}
    for clip in doc.clips.values():
        placed.setdefault(clip["pattern"], []).append(clip)
    for pattern in doc.patterns.values():
        clips = placed.get(pattern["id"])
        spans = (
            [(pattern["track"], c["start"], c["start"] + c["length"]) for c in clips]
            if clips
            else [(pattern["track"], 0, None)]
        )
        for track_id, start, end in spans:
            track = audible.get(track_id)
            if track is None:
                continue
            gain = float(track["volume"])
            for beat, step in _steps(pattern, start, end, lo, hi):
                for lane in pattern["lanes"]:
                    velocity = lane["steps"][step]
                    if velocity > 0:
                        found.append((beat, Hit(beat, lane["sound"], velocity, track_id, gain)))
    for note in doc.notes.values():  # notes on a drums track are hits too (GM drum notes)
        track = audible.get(note["track"])
        beat = note["start"] / PPQ
        if track is not None and lo - BEAT_EPSILON <= beat < hi - BEAT_EPSILON:
            hit = Hit(beat, note["pitch"], note["vel"], note["track"], float(track["volume"]))
            found.append((beat, hit))
    found.sort(key=lambda pair: (pair[0], pair[1].track, pair[1].sound))
    return found


def _steps(
    pattern: dict[str, Any], start: int, end: int | None, lo: float, hi: float
) -> Iterator[tuple[float, int]]:
    """(beat, step index) of the pattern's steps in ``[lo, hi)``, the pattern repeating
    from tick ``start`` until tick ``end`` (None: forever)."""
    per_beat = pattern["steps_per_beat"]
    length = pattern["length"]
    origin = start / PPQ
    first = max(0, math.ceil((lo - origin) * per_beat - BEAT_EPSILON))
    last = math.ceil((hi - origin) * per_beat - BEAT_EPSILON)
    if end is not None:  # steps that start before the clip's end
        last = min(last, math.ceil((end - start) / PPQ * per_beat - BEAT_EPSILON))
    for n in range(first, last):
        yield origin + n / per_beat, n % length
