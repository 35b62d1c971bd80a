"""Counts the shared grid out loud: an audible click on every beat, and bar:beat printed.

The click goes into the session's audio room as this bot's audio: a short
sine burst on every beat of the meter (quarter notes in 4/4, eighths in 6/8),
an octave higher and louder on each bar line. It is rendered against server
time (`TimelineTrack`), so it is mixed on the beat whatever the tempo, and it
follows tempo, meter, play, stop and seek from the next frame. Silent while
stopped.

It also prints ``bar:beat`` on every beat (``1:1`` accented as ``1:1 ●``);
every participant running it prints the same beat at the same moment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from backline.client.bot import Bot
from backline.client.musical_time import Tick
from backline.client.playback import Sound, TimelineTrack
from backline.client.scheduler import grid_events
from backline.client.session import Session
from backline.client.synth import ACCENT_HZ, CLICK_HZ, click
from backline.protocol.timeline import Timeline

__all__ = ["MetronomeBot", "metronome_score"]

log = logging.getLogger("backline.bots.metronome")

CLICK = click(CLICK_HZ, level=0.5)
ACCENT = click(ACCENT_HZ, level=0.9)


def metronome_score(timeline: Timeline, lo: float, hi: float) -> Iterable[tuple[float, Sound]]:
    """A click on every beat of the meter in ``[lo, hi)``; the accented one on bar lines."""
    unit = 4 / timeline.meter[1]  # one beat of the meter, in quarter notes
    for beat, _ in grid_events(unit)(lo, hi):
        position = timeline.bar_beat_of(beat)
        bar_line = position.beat == 1 and position.fraction == 0
        yield beat, (ACCENT if bar_line else CLICK, 1.0)


def _print(line: str) -> None:
    print(line, flush=True)


class MetronomeBot(Bot):
    name = "metronome"
    color = "#f58231"

    def __init__(
        self, out: Callable[[str], None] = _print, subdivision: int = 1, audible: bool = True
    ) -> None:
        self.out = out
        self.subdivision = subdivision
        self.audible = audible
        self.track: TimelineTrack | None = None
        self.ticks: list[Tick] = []  # the last ticks, for callers and tests
        self.late_us: list[float] = []  # how late each tick woke, by the local clock

    async def on_start(self, s: Session) -> None:
        await s.clock.wait_synced()
        if self.audible:  # connected before it says it is ready: counting never waits for it
            self.track = TimelineTrack(lambda: s.timeline.current, s.clock, metronome_score)
            await s.audio.publish(self.track)
            log.info("metronome clicking in the audio room of %s", s._o.session)
        log.info("clock synced: offset %.0f µs, rtt %.0f µs", s.clock.offset, s.clock.rtt)

    async def main(self, s: Session) -> None:
        await s.clock.wait_synced()
        async for tick in s.beats(self.subdivision):
            self.late_us.append(s.clock.local() - tick.local_time)
            self.ticks.append(tick)
            del self.ticks[:-64], self.late_us[:-64]
            accent = " ●" if tick.position.beat == 1 and tick.position.fraction == 0 else ""
            self.out(f"{tick}{accent}")
