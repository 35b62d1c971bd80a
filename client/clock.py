"""The client's estimate of the server clock, from ping/pong exchanges.

Each exchange gives four stamps: t0 (client sends), t1 (server receives), t2
(server answers), t3 (client receives). Its round trip is
``(t3 - t0) - (t2 - t1)`` and its offset estimate ``((t1 - t0) + (t2 - t3)) / 2``,
whose error is at most half the round trip. Queueing only ever adds delay, so
the sample with the smallest round trip in a sliding window is the most
trustworthy one (aged by a worst-case drift, so a stale sample gives way); the
clock uses it (the idea behind NTP's clock filter and
Ableton Link's ghost time). A burst of exchanges at connect makes the clock
usable within a few tens of milliseconds; periodic ones follow drift.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Clock", "ClockSample", "monotonic_us"]

DRIFT = 100e-6  # worst relative drift assumed between two crystal clocks (100 ppm)


def monotonic_us() -> float:
    return time.monotonic_ns() / 1000


@dataclass(frozen=True, slots=True)
class ClockSample:
    rtt: float  # µs, network only (server time excluded)
    offset: float  # µs, server minus client
    at: float  # client time it was taken (t3)


class Clock:
    """Server time as this client best knows it. All times are in microseconds."""

    SYNCED_AFTER = 8  # samples before the estimate is trusted

    def __init__(self, window: int = 32, local: Callable[[], float] = monotonic_us) -> None:
        self.local = local
        self._samples: deque[ClockSample] = deque(maxlen=window)
        self._best: ClockSample | None = None
        self._synced = asyncio.Event()

    def now(self) -> float:
        """The server's clock now (µs), as estimated; the local clock until a sample exists."""
        return self.local() + self.offset

    def to_server(self, local_time: float) -> float:
        return local_time + self.offset

    def to_local(self, server_time: float) -> float:
        return server_time - self.offset

    @property
    def offset(self) -> float:
        """Server minus client clock (µs)."""
        return 0.0 if self._best is None else self._best.offset

    @property
    def rtt(self) -> float:
        """Round trip (µs) of the sample in use; 0 before the first."""
        return 0.0 if self._best is None else self._best.rtt

    @property
    def error_bound(self) -> float:
        """The estimate is within this many µs of the truth (half the best round trip)."""
        return float("inf") if self._best is None else self._best.rtt / 2

    @property
    def synced(self) -> bool:
        """False while too few exchanges have completed to trust `now()`."""
        return self._synced.is_set()

    @property
    def latest(self) -> ClockSample | None:
        """The newest exchange (what a naive estimator would use)."""
        return self._samples[-1] if self._samples else None

    @property
    def samples(self) -> int:
        return len(self._samples)

    async def wait_synced(self) -> None:
        await self._synced.wait()

    def add(self, t0: float, t1: float, t2: float, t3: float) -> ClockSample | None:
        """Take one exchange; returns the sample, or None if its stamps are impossible."""
        rtt = (t3 - t0) - (t2 - t1)
        if rtt < -1.0 or t3 < t0 or t2 < t1:
            return None  # impossible stamps (beyond float rounding)
        rtt = max(rtt, 0.0)
        sample = ClockSample(rtt, ((t1 - t0) + (t2 - t3)) / 2, t3)
        self._samples.append(sample)
        # an old sample also loses trust as the two clocks may drift apart
        self._best = min(self._samples, key=lambda s: s.rtt / 2 + (t3 - s.at) * DRIFT)
        if len(self._samples) >= self.SYNCED_AFTER:
            self._synced.set()
        return sample

    def reset(self) -> None:
        """Forget every sample: a new connection may reach a server with another clock."""
        self._samples.clear()
        self._best = None
        self._synced.clear()
