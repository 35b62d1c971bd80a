"""Counts the shared grid out loud: bar:beat on every beat while the transport rolls.

Until the audio room exists it prints (``1:1`` accented as ``1:1 ●``); every
participant running it prints the same beat at the same moment, which is the
simplest way to see the shared clock working.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..bot import Bot
from ..musical_time import Tick
from ..session import Session

__all__ = ["MetronomeBot"]

log = logging.getLogger("backline.bots.metronome")


def _print(line: str) -> None:
    print(line, flush=True)


class MetronomeBot(Bot):
    name = "metronome"
    color = "#f58231"

    def __init__(self, out: Callable[[str], None] = _print, subdivision: int = 1) -> None:
        self.out = out
        self.subdivision = subdivision
        self.ticks: list[Tick] = []  # the last ticks, for callers and tests
        self.late_us: list[float] = []  # how late each tick woke, by the local clock

    async def on_start(self, s: Session) -> None:
        await s.clock.wait_synced()
        log.info("clock synced: offset %.0f µs, rtt %.0f µs", s.clock.offset, s.clock.rtt)

    async def main(self, s: Session) -> None:
        await s.clock.wait_synced()
        async for tick in s.beats(self.subdivision):
            self.late_us.append(s.clock.local() - tick.local_time)
            self.ticks.append(tick)
            del self.ticks[:-64], self.late_us[:-64]
            accent = " ●" if tick.position.beat == 1 and tick.position.fraction == 0 else ""
            self.out(f"{tick}{accent}")
