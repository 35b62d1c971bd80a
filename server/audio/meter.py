"""Level meters: RMS and peak of each participant's frames, in dBFS, with PPM ballistics.

Levels are relative to digital full scale (1.0 in float samples): a
full-scale square wave is 0 dBFS RMS and peak; a full-scale sine is 0 dBFS
peak and -3.01 dBFS RMS. (AES17 instead calls the sine's RMS 0 dBFS; this
module does not add that 3 dB.) Peak is the largest sample magnitude, not an
inter-sample (true) peak.

Silence has no finite level. Rather than -inf, which neither JSON nor a
meter's scale can show, every level is floored at `FLOOR_DBFS` (-120 dBFS),
well below the quietest non-zero 16-bit sample (-90.3 dBFS), so the floor
only ever means silence.

A meter's display does not follow the raw per-frame levels, which flicker
with every frame; it follows them through `Ballistics`, as a peak programme
meter (PPM) does: it rises fast (an exponential approach with a short
time constant) and falls slowly at a fixed rate in dB per second. The
defaults follow the IEC 60268-10 type I PPM: 5 ms to rise, 20 dB in 1.5 s to
fall.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from backline.media.frames import DEFAULT_FRAME_MS, frame_us

__all__ = [
    "FLOOR_DBFS",
    "Ballistics",
    "LevelMeter",
    "Levels",
    "RoomMeter",
    "measure",
    "to_dbfs",
]

FLOOR_DBFS = -120.0


def to_dbfs(amplitude: float) -> float:
    """A linear amplitude (1.0 = full scale) in dBFS, floored at `FLOOR_DBFS`.

    Zero, negative and non-finite amplitudes give the floor.
    """
    if not (math.isfinite(amplitude) and amplitude > 0.0):
        return FLOOR_DBFS
    return max(FLOOR_DBFS, 20.0 * math.log10(amplitude))


@dataclass(frozen=True, slots=True)
class Levels:
    """The levels of one frame, or a meter's display, in dBFS (>= `FLOOR_DBFS`)."""

    rms_dbfs: float
    peak_dbfs: float


SILENT = Levels(FLOOR_DBFS, FLOOR_DBFS)


def measure(frame: NDArray[np.floating] | None) -> Levels:
    """RMS and peak of one frame; None, an empty frame or non-finite samples read as silence.

    The mean square is accumulated in float64, so long float32 frames keep
    their precision.
    """
    if frame is None or frame.size == 0:
        return SILENT
    peak = float(np.max(np.abs(frame)))
    if not math.isfinite(peak):
        return SILENT
    rms = math.sqrt(float(np.mean(np.square(frame, dtype=np.float64))))
    return Levels(to_dbfs(rms), to_dbfs(peak))


@dataclass(frozen=True, slots=True)
class Ballistics:
    """How a displayed level moves towards each new measurement.

    Rising, the display closes ``1 - exp(-dt / attack_ms)`` of the gap per
    step (0 ms: it jumps). Falling, it drops by ``release_db_per_s * dt`` but
    never below the new measurement. Either way it ends between its old value
    and the measurement: it never overshoots and never moves away from the
    input, so a rising input gives a non-decreasing display and a falling one
    a non-increasing display.
    """

    attack_ms: float = 5.0
    release_db_per_s: float = 20.0 / 1.5

    def __post_init__(self) -> None:
        if not (math.isfinite(self.attack_ms) and self.attack_ms >= 0.0):
            raise ValueError(f"attack_ms must be >= 0, got {self.attack_ms!r}")
        if not (math.isfinite(self.release_db_per_s) and self.release_db_per_s > 0.0):
            raise ValueError(f"release_db_per_s must be > 0, got {self.release_db_per_s!r}")

    def step(self, shown: float, measured: float, dt_ms: float) -> float:
        """The displayed level after ``dt_ms`` milliseconds with input ``measured`` (dBFS)."""
        if measured >= shown:
            if self.attack_ms == 0.0:
                return measured
            rise = (measured - shown) * -math.expm1(-dt_ms / self.attack_ms)
            return min(measured, shown + rise)  # min: rounding must not overshoot
        return max(measured, shown - self.release_db_per_s * dt_ms / 1000.0)


class LevelMeter:
    """One participant's meter: feed it every frame, read the smoothed levels.

    Args:
        frame_ms: the duration of one frame, the time step of the ballistics.
        ballistics: used for both the RMS and the peak display.
    """

    def __init__(
        self, frame_ms: int = DEFAULT_FRAME_MS, ballistics: Ballistics | None = None
    ) -> None:
        self.dt_ms = frame_us(frame_ms) / 1000.0
        self.ballistics = ballistics or Ballistics()
        self.levels = SILENT  # the display
        self.last = SILENT  # the raw levels of the latest frame

    def update(self, frame: NDArray[np.floating] | None) -> Levels:
        """Measure one frame (None: a frame of silence) and return the new display."""
        self.last = measure(frame)
        step = self.ballistics.step
        self.levels = Levels(
            step(self.levels.rms_dbfs, self.last.rms_dbfs, self.dt_ms),
            step(self.levels.peak_dbfs, self.last.peak_dbfs, self.dt_ms),
        )
        return self.levels


class RoomMeter:
    """A `LevelMeter` per participant, all stepped once per tick."""

    def __init__(
        self, frame_ms: int = DEFAULT_FRAME_MS, ballistics: Ballistics | None = None
    ) -> None:
        self.frame_ms = frame_ms
        self.ballistics = ballistics or Ballistics()
        self._meters: dict[str, LevelMeter] = {}

    def add(self, participant: str) -> None:
        """Start metering a participant (from silence)."""
        if participant in self._meters:
            raise ValueError(f"participant {participant!r} is already metered")
        self._meters[participant] = LevelMeter(self.frame_ms, self.ballistics)

    def remove(self, participant: str) -> None:
        """Stop metering a participant."""
        if self._meters.pop(participant, None) is None:
            raise KeyError(f"participant {participant!r} is not metered")

    @property
    def participants(self) -> Iterable[str]:
        return tuple(self._meters)

    def update(self, frames: Mapping[str, NDArray[np.floating] | None]) -> dict[str, Levels]:
        """One tick: every participant's display; a missing frame is a frame of silence.

        Frames of participants that are not metered are ignored.
        """
        return {p: meter.update(frames.get(p)) for p, meter in self._meters.items()}

    def levels(self) -> dict[str, Levels]:
        """The current display of every participant."""
        return {p: meter.levels for p, meter in self._meters.items()}
