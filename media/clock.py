"""Frame timing: when each frame of the room is due, without drift.

A loop that sleeps one frame period after each tick drifts: every wake-up is a
little late and the lateness adds up (a millisecond per tick is ten seconds an
hour at 10 ms frames). `FrameClock` computes the due time of frame ``k`` from
the start and ``k`` alone, in integer microseconds,

    due(k) = start + floor(k * samples * 1_000_000 / sample_rate)

so frame 1,000,000 is due exactly where it should be whatever happened to the
ticks before it, and frames whose length is not a whole number of µs (1024
samples at 48 kHz) keep an exact long-run rate. The caller sleeps until
`FrameClock.next_due`, then asks `FrameClock.tick` which frames to produce now.

After a stall (a GC pause, a blocked event loop) several frames are overdue
at once. What happens then is the catch-up policy:

- `CatchUp.BURST` (default): produce the overdue frames back to back, at most
  ``max_burst`` of them (the newest ones); older ones are skipped. The
  stream stays continuous through short stalls: listeners' jitter buffers
  absorb the burst and nothing is concealed. Past ``max_burst`` frames, the
  audio is too old to be worth sending.
- `CatchUp.SKIP`: produce only the newest due frame and skip the rest. Latency
  comes back at once; listeners conceal the skipped frames.

Either way frame indices keep their meaning (frame ``k`` is always the audio of
``[due(k), due(k + 1))``), so an RTP timestamp derived from the index jumps
across a skip, as it should for a gap, and the clock never drifts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from backline.media.frames import SAMPLE_RATE, US_PER_SECOND, frame_samples

__all__ = ["CatchUp", "ClockStats", "FrameClock"]


class CatchUp(Enum):
    """What `FrameClock.tick` does when more than one frame is due."""

    BURST = "burst"  # produce up to max_burst overdue frames now, skip older ones
    SKIP = "skip"  # produce only the newest due frame


@dataclass(frozen=True, slots=True)
class ClockStats:
    """What the clock has handed out so far."""

    produced: int  # frames returned by tick
    skipped: int  # due frames never returned (catch-up policy)
    stalls: int  # ticks that found more than one frame due
    max_late_us: int  # the worst lateness of a tick behind its oldest due frame


class FrameClock:
    """Due times of the frames of one stream, and which of them to produce when.

    Args:
        start_us: when frame 0 is due (server clock, µs).
        samples: samples per frame (per channel), 480 for 10 ms.
        sample_rate: samples per second.
        catch_up: the policy after a stall (see the module docstring).
        max_burst: with `CatchUp.BURST`, the most frames one tick returns.

    Raises:
        ValueError: a parameter is out of range.
    """

    def __init__(
        self,
        start_us: int,
        samples: int = frame_samples(),
        sample_rate: int = SAMPLE_RATE,
        *,
        catch_up: CatchUp = CatchUp.BURST,
        max_burst: int = 4,
    ) -> None:
        if samples < 1 or sample_rate < 1:
            raise ValueError(f"samples and sample_rate must be positive: {samples}, {sample_rate}")
        if max_burst < 1:
            raise ValueError(f"max_burst must be at least 1, got {max_burst!r}")
        self.start_us = start_us
        self.samples = samples
        self.sample_rate = sample_rate
        self.catch_up = catch_up
        self.max_burst = max_burst
        # due(k) - start = floor(k * _num / _den) µs
        self._num = samples * US_PER_SECOND
        self._den = sample_rate
        self.next_frame = 0  # the first frame not yet produced or skipped
        self._produced = 0
        self._skipped = 0
        self._stalls = 0
        self._max_late = 0

    @property
    def frame_us(self) -> float:
        """The exact frame period in µs (a float only for display)."""
        return self._num / self._den

    def due(self, frame: int) -> int:
        """When frame ``frame`` is due, in µs (exact integer arithmetic)."""
        return self.start_us + frame * self._num // self._den

    def due_count(self, now_us: int) -> int:
        """How many frames are due by ``now_us``: those with ``due(k) <= now_us``."""
        elapsed = now_us - self.start_us
        if elapsed < 0:
            return 0
        # floor(k * num / den) <= e  <=>  k * num < (e + 1) * den  <=>  k < (e + 1) * den / num
        return -(-(elapsed + 1) * self._den // self._num)

    @property
    def next_due(self) -> int:
        """When the next frame is due: sleep until then, then call `tick`."""
        return self.due(self.next_frame)

    def tick(self, now_us: int) -> range:
        """The frames to produce now, oldest first (often one, empty if none is due yet).

        Frames that the catch-up policy gives up on are skipped for good; the
        next tick continues after the newest frame returned here.
        """
        due = self.due_count(now_us)
        pending = due - self.next_frame
        if pending <= 0:
            return range(0)
        self._max_late = max(self._max_late, now_us - self.due(self.next_frame))
        if pending > 1:
            self._stalls += 1
        keep = 1 if self.catch_up is CatchUp.SKIP else min(pending, self.max_burst)
        self._skipped += pending - keep
        self._produced += keep
        self.next_frame = due
        return range(due - keep, due)

    def stats(self) -> ClockStats:
        """Counters since the start."""
        return ClockStats(self._produced, self._skipped, self._stalls, self._max_late)
