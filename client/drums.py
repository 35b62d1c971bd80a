"""The project's drum parts as hits in time: which drum sounds when, and how loud.

Pure: reads a `Document`, returns `Hit`s with their beat (quarter notes from
the song's start, swing applied). Where patterns, clips and notes play is
`backline.protocol.arrangement`'s rule, the one the browser and renders use:
pattern clips repeat their pattern, a pattern no clip places loops from bar 1,
notes clips hold notes relative to their start. Notes on a drums track are
hits too: pitch is the drum, ``vel`` the velocity (their duration does not
matter to a one-shot drum).

Track `mute`, `solo` (when any track is soloed, only soloed tracks sound) and
`volume` decide a hit's gain; its lane's step velocity (1‥127) scales it too.
Instrument and audio tracks are not drums and make no hits here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backline.protocol import arrangement
from backline.protocol.arrangement import sounds_between
from backline.protocol.model import Document

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
    heard = arrangement.audible_tracks(doc)
    return [
        doc.tracks[t] for t in doc.track_order if t in heard and doc.tracks[t]["kind"] == "drums"
    ]


def hits_between(doc: Document, lo: float, hi: float) -> list[tuple[float, Hit]]:
    """Every drum hit with a beat in ``[lo, hi)``, as ``(beat, hit)`` in beat order.

    What sounds when is `backline.protocol.arrangement`'s (the browser's rule too);
    this keeps the drums tracks that are heard and gives each hit its gain.
    Adjacent ranges partition the hits.
    """
    audible = {t["id"]: t for t in audible_tracks(doc)}
    found: list[tuple[float, Hit]] = []
    for sound in sounds_between(doc, lo, hi):
        track = audible.get(sound.track)
        if track is not None:
            gain = float(track["volume"])
            hit = Hit(sound.beat, sound.pitch, sound.velocity, sound.track, gain)
            found.append((sound.beat, hit))
    return found
