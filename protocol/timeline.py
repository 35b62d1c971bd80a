"""Musical time: where the shared transport is at a given server time, and back.

A beat is a quarter note. The transport in the document is an anchor: while
playing, beat ``beat`` happens at server time ``time`` (µs) and the position
advances at ``tempo`` beats per minute; while stopped, the position stays at
``beat``. The *linear* position is that straight line (`linear_at`); the
*musical* position (`beat_at`) is the linear one folded into the project's
loop region when the loop is on and the music was started (or re-anchored)
before the loop's end: reaching the loop's end, it continues from its start,
on the same sample for everyone. `segments` cuts a linear range into the
stretches where the musical position runs straight, for schedulers. Swing
(`swing_warp`) moves the second sixteenth of every eighth later; it is applied
where sounds are placed (``protocol/arrangement.py``). Every participant evaluates these same functions on the same
document with its estimate of the server clock, so all of them agree on which
beat it is now. The browser client carries the same math in
``web/timeline.js``; both are checked against ``timeline_vectors.json``.

Pure functions only: no clock is read here, ``now`` is always an argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .model import PPQ

__all__ = [  # each with vectors (tests/protocol_vectors); BEAT_EPSILON and MAX_LEAD_RTT_US too
    "DEFAULT_LEAD_US",
    "US_PER_MINUTE",
    "BarBeat",
    "Timeline",
    "bar_length",
    "lead_for",
    "next_bar_line",
    "swing_unwarp",
    "swing_warp",
]

US_PER_MINUTE = 60_000_000
DEFAULT_LEAD_US = 200_000  # a play request starts at least this far ahead
MAX_LEAD_RTT_US = 2_000_000  # the largest round trip a start waits for
BEAT_EPSILON = 1e-9  # beats: a position this close to a bar line is on it
MAX_COUNT_IN_BARS = 4  # the longest count-in a play may ask for
SWING_PAIR = 0.5  # beats: swing moves the second half of every eighth note ...
SWING_MAX_DELAY = 0.25 / 3  # ... by up to a third of a sixteenth (triplet feel at 1.0)


def bar_length(meter: tuple[int, int] | list[int]) -> float:
    """Beats (quarter notes) per bar: 4/4 -> 4, 6/8 -> 3, 7/8 -> 3.5."""
    numerator, denominator = meter
    return numerator * 4 / denominator


def next_bar_line(beat: float, meter: tuple[int, int] | list[int]) -> float:
    """The first bar line at or after ``beat`` (bars counted from beat 0)."""
    length = bar_length(meter)
    return math.ceil(beat / length - BEAT_EPSILON) * length


def swing_warp(beat: float, swing: float) -> float:
    """Where a straight position sounds with `swing` (0 straight, 1 a triplet feel).

    Within every eighth note (half a beat), the first sixteenth is stretched and
    the second squeezed, so the second sixteenth starts ``swing`` x a third of a
    sixteenth late and every eighth-note line stays where it is. Monotonic and
    continuous: durations between two positions warp the same way.
    """
    if swing <= 0:
        return beat
    pair = math.floor(beat / SWING_PAIR + BEAT_EPSILON) * SWING_PAIR
    x = beat - pair
    half = SWING_PAIR / 2
    middle = half + swing * SWING_MAX_DELAY
    if x < half:
        return pair + x * middle / half
    return pair + middle + (x - half) * (SWING_PAIR - middle) / half


def swing_unwarp(beat: float, swing: float) -> float:
    """The straight position that `swing_warp` moves to `beat` (its inverse)."""
    if swing <= 0:
        return beat
    pair = math.floor(beat / SWING_PAIR + BEAT_EPSILON) * SWING_PAIR
    y = beat - pair
    half = SWING_PAIR / 2
    middle = half + swing * SWING_MAX_DELAY
    if y < middle:
        return pair + y * half / middle
    return pair + half + (y - middle) * half / (SWING_PAIR - middle)


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
    start: float | None = None  # where this play began (a stop may return there)
    loop: tuple[float, float] | None = None  # the loop region in beats, when on

    @classmethod
    def of(cls, project: dict[str, Any]) -> Timeline:
        """The timeline of a project record (``Document.project``)."""
        transport = project["transport"]
        numerator, denominator = project["meter"]
        region = project.get("loop")
        loop = None
        if region is not None and region.get("on"):
            loop = (region["start"] / PPQ, region["end"] / PPQ)
        start = transport.get("start")
        return cls(
            float(project["tempo"]),
            (int(numerator), int(denominator)),
            bool(transport["playing"]),
            float(transport["beat"]),
            int(transport["time"]),
            None if start is None else float(start),
            loop,
        )

    @property
    def us_per_beat(self) -> float:
        return US_PER_MINUTE / self.tempo

    @property
    def bar_length(self) -> float:
        return bar_length(self.meter)

    @property
    def looping(self) -> bool:
        """Whether the musical position folds into the loop (entered before its end)."""
        return self._fold() is not None

    def _fold(self) -> tuple[float, float] | None:
        """The loop region the position folds into, if it does."""
        loop = self.loop
        if loop is None or self.beat >= loop[1] - BEAT_EPSILON:
            return None
        return loop

    def linear_at(self, t: float) -> float:
        """The unfolded position at server time ``t`` (µs): a straight line while playing.

        Linear in ``t`` everywhere, also before the anchor (a count-in:
        `rolling` says whether sound should be made yet).
        """
        if not self.playing:
            return self.beat
        return self.beat + (t - self.time) / self.us_per_beat

    def position(self, linear: float) -> float:
        """The musical position of a linear one (folded into the loop when looping)."""
        loop = self._fold()
        if loop is None or linear < loop[1] - BEAT_EPSILON:
            return linear
        lo, hi = loop  # within BEAT_EPSILON before the end is at the end: the loop's start
        return lo + max(0.0, linear - hi) % (hi - lo)

    def beat_at(self, t: float) -> float:
        """The musical position at server time ``t`` (µs)."""
        return self.position(self.linear_at(t))

    def time_at(self, linear: float) -> float:
        """The server time (µs) of a linear position; only while playing."""
        if not self.playing:
            raise ValueError("the transport is stopped: no beat has a time")
        return self.time + (linear - self.beat) * self.us_per_beat

    def segments(self, lo: float, hi: float) -> list[tuple[float, float, float]]:
        """The linear range ``[lo, hi)`` as ``(linear_lo, linear_hi, musical_lo)`` pieces,
        in each of which the musical position runs straight from ``musical_lo``."""
        if hi <= lo:
            return []
        loop = self._fold()
        if loop is None:
            return [(lo, hi, lo)]
        loop_hi = loop[1]
        out = []
        at = lo
        while at < hi - BEAT_EPSILON:
            musical = self.position(at)
            if at < loop_hi - BEAT_EPSILON:
                end = min(hi, loop_hi)
            else:
                end = min(hi, at + (loop_hi - musical))
            out.append((at, end, musical))
            at = end
        return out

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
        """The same motion, re-anchored at ``now``: used before a tempo, meter or loop change.

        Within the count-in (``now`` before the anchor) the anchor stays: the
        start has not happened yet and keeps its time.
        """
        if not self.playing or now < self.time:
            return self.transport()
        return self._record(True, self.beat_at(now), now, self.start)

    def started(
        self, now: int, lead_us: int, beat: float | None = None, count_in: int = 0
    ) -> dict[str, Any]:
        """Play from `beat` (default: where the transport stands), ``lead_us`` after ``now``,
        after `count_in` bars of count-in (the metronome's, silent otherwise)."""
        if self.playing:
            return self.transport()
        begin = self.beat if beat is None else beat
        count = count_in * self.bar_length * self.us_per_beat
        return self._record(True, begin, now + lead_us + int(count), begin)

    def stopped(self, now: int, back: bool = False) -> dict[str, Any]:
        """Stop where the music is at ``now`` (at the start beat if still counting in), or,
        with `back`, where this play began."""
        if not self.playing:
            return self.transport()
        if back:
            where = self.start if self.start is not None else self.beat
        else:
            where = self.beat_at(now) if now >= self.time else self.beat
        return self._record(False, where, now, None)

    def sought(self, beat: float, now: int, lead_us: int) -> dict[str, Any]:
        """Move to ``beat``; while playing, everyone continues from it ``lead_us`` after ``now``."""
        if self.playing:
            return self._record(True, beat, now + lead_us, beat)
        return self._record(False, beat, now, None)

    def transport(self) -> dict[str, Any]:
        return self._record(self.playing, self.beat, self.time, self.start)

    @staticmethod
    def _record(playing: bool, beat: float, time: int, start: float | None) -> dict[str, Any]:
        record: dict[str, Any] = {"playing": playing, "beat": beat, "time": time}
        if start is not None:
            record["start"] = start
        return record
