"""Which musical events fall in which audio frame, and at which sample.

A bot that plays on the shared grid renders its audio one frame at a time; each
outgoing frame covers a known span of server time (see `client/playback.py`).
`Scheduler.due` takes that span and the timeline in force and returns the
events whose time lies in it, each with the sample offset where it starts. It
is pure: no clock is read, no I/O, the timeline and the span are arguments.

Events are found in *beat* space: an event source answers "what happens
between beat ``lo`` and beat ``hi``" (half-open), and the scheduler asks it for
contiguous beat ranges, so nothing is played twice or skipped, even when the
timeline changes between frames:

- While the timeline continues the same motion (nothing changed, or a tempo or
  meter change that re-anchored where the music was), the next range starts
  where the previous one ended. A tempo rise can make an event's time fall
  before the new frame: it is played at the frame's first sample, late by
  less than a frame, rather than lost. A tempo fall can put an already played
  event after the frame start again: it is not played twice.
- Any other change (play, stop, seek) starts afresh from the position at the
  frame's start; nothing sounds before the transport's start (a count-in).
- Frame spans need not be contiguous: a span that overlaps or leaves a gap
  after the previous one (the clock estimate moved) is absorbed the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from backline.protocol.timeline import BEAT_EPSILON, Timeline

__all__ = ["Due", "EventSource", "Scheduler", "grid_events"]

E = TypeVar("E")

EventSource = Callable[[float, float], Iterable[tuple[float, E]]]
"""``source(lo, hi)``: the events with a beat in ``[lo, hi)``, as ``(beat, event)``."""


@dataclass(frozen=True, slots=True)
class Due(Generic[E]):
    """An event to start in this frame, ``offset`` samples after its first one."""

    offset: int
    beat: float
    event: E


def grid_events(step: float) -> EventSource[int]:
    """Every multiple of ``step`` beats, the event being its index (beat / step).

    ``step = 1`` is every beat; ``0.25`` every sixteenth. Exact at the range
    edges: the index range depends only on ``lo`` and ``hi``, so adjacent
    ranges partition the grid.
    """
    if step <= 0:
        raise ValueError(f"step must be positive, got {step!r}")

    def source(lo: float, hi: float) -> Iterable[tuple[float, int]]:
        first = math.ceil(lo / step - BEAT_EPSILON)
        last = math.ceil(hi / step - BEAT_EPSILON)
        return ((n * step, n) for n in range(first, last))

    return source


class Scheduler(Generic[E]):
    """Turns frame spans into due events; keeps only what continuity needs.

    Args:
        sample_rate: samples per second of the frames.
        max_late_us: the most an event may be late and still be played (at a
            frame's first sample) after a tempo rise; older ones are dropped,
            so a long stall never ends in a pile of simultaneous hits.
    """

    def __init__(self, sample_rate: int, max_late_us: float = 100_000) -> None:
        if sample_rate < 1:
            raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
        self.sample_rate = sample_rate
        self.max_late_us = max_late_us
        self._timeline: Timeline | None = None  # the one the previous frame used
        self._done: float | None = None  # beats below this were handled (same motion)

    def due(
        self, timeline: Timeline, start_us: float, samples: int, source: EventSource[E]
    ) -> list[Due[E]]:
        """The events of ``source`` that start in the frame of ``samples`` samples at
        ``start_us`` (server µs) under ``timeline``, in beat order."""
        end_us = start_us + samples * 1e6 / self.sample_rate
        previous, done = self._timeline, self._done
        self._timeline = timeline
        if not timeline.playing:
            self._done = None
            return []
        # linear (unfolded) positions: within a loop each pass is a new stretch of the line
        hi = timeline.linear_at(end_us)
        if done is not None and previous is not None and _continues(previous, timeline):
            lo = max(done, timeline.linear_at(start_us - self.max_late_us))
        else:
            lo = timeline.linear_at(start_us)
        self._done = max(hi, lo)
        if hi <= lo:
            return []
        found: list[tuple[float, Due[E]]] = []
        for linear_lo, linear_hi, musical_lo in timeline.segments(lo, hi):
            for beat, event in source(musical_lo, musical_lo + (linear_hi - linear_lo)):
                linear = linear_lo + (beat - musical_lo)
                if linear < timeline.beat - BEAT_EPSILON:
                    continue  # before the start: a count-in is silent
                at = (timeline.time_at(linear) - start_us) * self.sample_rate / 1e6
                offset = min(max(0, math.floor(at + 1e-6)), samples - 1)  # the sample it lies in
                found.append((linear, Due(offset, beat, event)))
        found.sort(key=lambda pair: pair[0])
        return [due for _, due in found]


def _continues(previous: Timeline, current: Timeline) -> bool:
    """Whether ``current`` carries on ``previous``'s motion (same, or re-anchored in place)."""
    if not (previous.playing and current.playing) or previous.loop != current.loop:
        return False
    if previous == current:
        return True
    # re-anchored where the music was: the same linear line (a re-anchor inside a loop
    # starts a new line from the folded position, so it counts as a new motion)
    return abs(previous.linear_at(current.time) - current.beat) < 1e-6
