"""The session's musical time, as a bot schedules on it: the shared timeline read
through this client's estimate of the server clock, and beat ticks that wake on
time without accumulating drift."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from backline.client.clock import Clock
from backline.protocol.model import Document
from backline.protocol.timeline import BEAT_EPSILON, BarBeat, Timeline

__all__ = ["SessionTimeline", "Tick"]


@dataclass(frozen=True, slots=True)
class Tick:
    """One grid point: ``beat`` plays at server time ``time`` (local clock: ``local_time``)."""

    beat: float
    time: float  # server µs
    local_time: float  # this machine's monotonic µs
    position: BarBeat

    def __str__(self) -> str:
        return str(self.position)


class SessionTimeline:
    """`s.timeline`: the project's transport evaluated with `s.clock`; times in server µs."""

    def __init__(self, project: Callable[[], Document], clock: Clock) -> None:
        self._project = project
        self.clock = clock
        self._changed = asyncio.Event()
        self._last: Timeline | None = None

    @property
    def current(self) -> Timeline:
        return Timeline.of(self._project().project)

    @property
    def playing(self) -> bool:
        return self.current.playing

    def beat_at(self, t: float | None = None) -> float:
        """Position at server time ``t`` (default: now)."""
        return self.current.beat_at(self.clock.now() if t is None else t)

    def time_at(self, beat: float) -> float:
        """Server time (µs) at which ``beat`` plays; raises ValueError while stopped."""
        return self.current.time_at(beat)

    def bar_beat_at(self, t: float | None = None) -> BarBeat:
        return self.current.bar_beat_at(self.clock.now() if t is None else t)

    def next_bar(self, t: float | None = None) -> float:
        """Beat of the next bar line at or after the position at ``t`` (default: now)."""
        return self.current.next_bar(self.clock.now() if t is None else t)

    def notice(self) -> None:
        """Called by the session after every change to the project: wakes schedulers
        when tempo, meter or transport moved."""
        timeline = self.current
        if timeline != self._last:
            self._last = timeline
            self._changed.set()
            self._changed = asyncio.Event()

    async def changed(self) -> None:
        """Wait for the next tempo, meter or transport change."""
        await self._changed.wait()

    async def beats(self, subdivision: int = 1, lookahead: float = 0.0) -> AsyncIterator[Tick]:
        """Every 1/``subdivision`` beat while the transport rolls, on time.

        Each wake-up target is computed from the shared timeline, never by
        adding intervals, so no error accumulates; tempo changes, stops and
        seeks take effect at once. ``lookahead`` (seconds) yields each tick that
        much early, for callers that schedule sound ahead. While stopped it waits.
        """
        if subdivision < 1:
            raise ValueError("subdivision must be at least 1")
        step = 1 / subdivision
        last: Tick | None = None
        while True:
            timeline = self.current
            if not timeline.playing:
                await self.changed()
                continue
            now = self.clock.now()
            # on the linear (unfolded) line, so a loop repeats the grid instead of ending it
            position = max(timeline.linear_at(now + lookahead * 1e6), timeline.beat)
            linear = math.ceil(position / step - BEAT_EPSILON) * step
            target = timeline.time_at(linear)
            beat = timeline.position(linear)
            if (
                last is not None
                and abs(beat - last.beat) < BEAT_EPSILON
                and abs(target - last.time) < step * timeline.us_per_beat / 2
            ):
                linear += step  # just yielded this one (a re-anchor landed on it)
                target = timeline.time_at(linear)
                beat = timeline.position(linear)
            delay = (target - lookahead * 1e6 - self.clock.now()) / 1e6
            if delay > 0:
                change = asyncio.ensure_future(self.changed())
                await asyncio.wait({change}, timeout=delay)
                change.cancel()
                if self.current != timeline:
                    continue  # the transport moved while waiting: recompute
            last = Tick(beat, target, self.clock.to_local(target), timeline.bar_beat_of(beat))
            yield last
