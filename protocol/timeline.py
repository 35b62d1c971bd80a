"""Musical time: where the shared transport is at a given server time, and back.

A beat is a quarter note. The transport in the document is an anchor: while
playing, beat ``beat`` happens at server time ``time`` (µs) and the position
advances at ``tempo`` beats per minute; while stopped, the position stays at
``beat``. Every participant evaluates these same functions on the same
document with its estimate of the server clock, so all of them agree on which
beat it is now. The browser client carries the same math in
``web/timeline.js``; both are checked against ``timeline_vectors.json``.

Pure functions only: no clock is read here, ``now`` is always an argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = [  # each with vectors (tests/protocol_vectors); BEAT_EPSILON and MAX_LEAD_RTT_US too
    "DEFAULT_LEAD_US",
    "US_PER_MINUTE",
    "BarBeat",
    "Timeline",
    "bar_length",
    "lead_for",
    "next_bar_line",
]

US_PER_MINUTE = 60_000_000
DEFAULT_LEAD_US = 200_000  # a play request starts at least this far ahead
MAX_LEAD_RTT_US = 2_000_000  # the largest round trip a start waits for
BEAT_EPSILON = 1e-9  # beats: a position this close to a bar line is on it


def bar_length(meter: tuple[int, int] | list[int]) -> float:
    """Beats (quarter notes) per bar: 4/4 -> 4, 6/8 -> 3, 7/8 -> 3.5."""
    numerator, denominator = meter
    return numerator * 4 / denominator


def next_bar_line(beat: float, meter: tuple[int, int] | list[int]) -> float:
    """The first bar line at or after ``beat`` (bars counted from beat 0)."""
    length = bar_length(meter)
    return math.ceil(beat / length - BEAT_EPSILON) * length


def lead_for(max_rtt_us: float, minimum_us: int = DEFAULT_LEAD_US) -> int:
    """How far ahead a start must be so that the slowest participant hears of it in time.

    The start reaches a participant about half an RTT after the server decides
    it; one more RTT covers jitter, and 50 ms leaves room to schedule audio.
    A round trip counts up to `MAX_LEAD_RTT_US`: nobody's report can hold a
    start back by more than about three seconds.
    """
    return max(minimum_us, int(1.5 * min(max_rtt_us, MAX_LEAD_RTT_US)) + 50_000)


@dataclass(frozen=True, slots=True)
class BarBeat:
    """A position as musicians count it: bar and beat both from 1."""

    bar: int
    beat: int
    fraction: float  # of the beat, 0 <= fraction < 1

    def __str__(self) -> str:
        return f"{self.bar}:{self.beat}"


@dataclass(frozen=True, slots=True)
class Timeline:
    tempo: float  # beats per minute
    meter: tuple[int, int]
    playing: bool
    beat: float  # anchor: this beat ...
    time: int  # ... happens at this server time (µs)

    @classmethod
    def of(cls, project: dict[str, Any]) -> Timeline:
        """The timeline of a project record (``Document.project``)."""
        transport = project["transport"]
        numerator, denominator = project["meter"]
        return cls(
            float(project["tempo"]),
            (int(numerator), int(denominator)),
            bool(transport["playing"]),
            float(transport["beat"]),
            int(transport["time"]),
        )

    @property
    def us_per_beat(self) -> float:
        return US_PER_MINUTE / self.tempo

    @property
    def bar_length(self) -> float:
        return bar_length(self.meter)

    def beat_at(self, t: float) -> float:
        """The position at server time ``t`` (µs).

        While playing this is linear in ``t`` everywhere, also before the anchor
        (a count-in: `rolling` says whether sound should be made yet).
        """
        if not self.playing:
            return self.beat
        return self.beat + (t - self.time) / self.us_per_beat

    def time_at(self, beat: float) -> float:
        """The server time (µs) at which ``beat`` plays; only while playing."""
        if not self.playing:
            raise ValueError("the transport is stopped: no beat has a time")
        return self.time + (beat - self.beat) * self.us_per_beat

    def rolling(self, t: float) -> bool:
        """Playing and past the start: sound is being made at ``t``."""
        return self.playing and t >= self.time

    def bar_beat_at(self, t: float) -> BarBeat:
        """Bar and beat (from 1) at ``t``; beats of the bar follow the meter's unit."""
        return self.bar_beat_of(self.beat_at(t))

    def bar_beat_of(self, position: float) -> BarBeat:
        length = self.bar_length
        bar = math.floor(position / length + BEAT_EPSILON)
        in_bar = max(0.0, position - bar * length)
        unit = 4 / self.meter[1]  # one beat of the meter, in quarter notes
        index = math.floor(in_bar / unit + BEAT_EPSILON)
        fraction = max(0.0, in_bar / unit - index)
        return BarBeat(bar + 1, index + 1, fraction if fraction > BEAT_EPSILON else 0.0)

    def next_bar(self, t: float) -> float:
        """The beat of the first bar line at or after the position at ``t``."""
        return next_bar_line(self.beat_at(t), self.meter)

    # -- transport changes, as the server decides them -----------------------

    def anchored_at(self, now: int) -> dict[str, Any]:
        """The same motion, re-anchored at ``now``: used before a tempo or meter change.

        Within the count-in (``now`` before the anchor) the anchor stays: the
        start has not happened yet and keeps its time.
        """
        if not self.playing or now < self.time:
            return self.transport()
        return {"playing": True, "beat": self.beat_at(now), "time": now}

    def started(self, now: int, lead_us: int) -> dict[str, Any]:
        """Play: from the next bar line of the current position, ``lead_us`` after ``now``."""
        if self.playing:
            return self.transport()
        return {
            "playing": True,
            "beat": next_bar_line(self.beat, self.meter),
            "time": now + lead_us,
        }

    def stopped(self, now: int) -> dict[str, Any]:
        """Stop where the music is at ``now`` (at the start beat if still counting in)."""
        if not self.playing:
            return self.transport()
        return {"playing": False, "beat": max(self.beat, self.beat_at(now)), "time": now}

    def sought(self, beat: float, now: int, lead_us: int) -> dict[str, Any]:
        """Move to ``beat``; while playing, everyone continues from it ``lead_us`` after ``now``."""
        if self.playing:
            return {"playing": True, "beat": beat, "time": now + lead_us}
        return {"playing": False, "beat": beat, "time": now}

    def transport(self) -> dict[str, Any]:
        return {"playing": self.playing, "beat": self.beat, "time": self.time}
