"""Level meters: dBFS of known signals, the silence floor, and PPM ballistics."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

from backline.media.frames import SAMPLE_RATE, frame_samples
from backline.server.audio.meter import (
    FLOOR_DBFS,
    Ballistics,
    LevelMeter,
    Levels,
    RoomMeter,
    measure,
    to_dbfs,
)

N = frame_samples(10)
SINE_RMS_DB = 20 * math.log10(1 / math.sqrt(2))  # -3.0103


def sine(amplitude: float, hz: float = 1000.0) -> NDArray[np.float32]:
    """1 kHz: 48 samples a period, so the frame holds whole periods and the exact crest."""
    t = np.arange(N) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def square(amplitude: float, period: int = 48) -> NDArray[np.float32]:
    wave = np.where(np.arange(N) % period < period // 2, amplitude, -amplitude)
    return wave.astype(np.float32)


@pytest.mark.parametrize(
    ("amplitude", "peak_db"),
    [(1.0, 0.0), (0.5, -6.0206), (0.1, -20.0), (0.001, -60.0)],
)
def test_sine_levels(amplitude: float, peak_db: float) -> None:
    """A sine's RMS is 3.01 dB under its peak (full-scale sine: 0 dBFS peak, -3.01 RMS)."""
    levels = measure(sine(amplitude))
    assert levels.peak_dbfs == pytest.approx(peak_db, abs=1e-3)
    assert levels.rms_dbfs == pytest.approx(peak_db + SINE_RMS_DB, abs=1e-3)


@pytest.mark.parametrize(("amplitude", "db"), [(1.0, 0.0), (0.5, -6.0206), (1 / 32768, -90.309)])
def test_square_levels(amplitude: float, db: float) -> None:
    """A square wave's RMS equals its peak; full scale is 0 dBFS, one int16 LSB -90.3."""
    levels = measure(square(amplitude))
    assert levels.peak_dbfs == pytest.approx(db, abs=1e-3)
    assert levels.rms_dbfs == pytest.approx(db, abs=1e-3)


def test_silence_is_the_floor_not_minus_infinity() -> None:
    assert FLOOR_DBFS == -120.0
    silent = Levels(FLOOR_DBFS, FLOOR_DBFS)
    assert measure(np.zeros(N, dtype=np.float32)) == silent
    assert measure(None) == silent
    assert measure(np.zeros(0, dtype=np.float32)) == silent
    assert measure(square(1e-7)) == silent  # -140 dBFS reads as the floor
    assert measure(square(1e-5)).rms_dbfs == pytest.approx(-100.0, abs=1e-3)


def test_non_finite_frames_read_as_silence() -> None:
    frame = sine(0.5)
    frame[3] = np.nan
    assert measure(frame) == Levels(FLOOR_DBFS, FLOOR_DBFS)


@pytest.mark.parametrize("amplitude", [0.0, -1.0, math.nan, math.inf, -math.inf])
def test_to_dbfs_floor(amplitude: float) -> None:
    assert to_dbfs(amplitude) == FLOOR_DBFS


def test_to_dbfs_values() -> None:
    assert to_dbfs(1.0) == 0.0
    assert to_dbfs(10.0) == pytest.approx(20.0)  # over full scale is positive, not clamped
    assert to_dbfs(1e-6) == pytest.approx(-120.0)


# -- ballistics ------------------------------------------------------------------------------


def test_attack_is_fast_and_monotone() -> None:
    """From silence to a -6 dBFS square: rising every frame, within 0.5 dB after 30 ms."""
    meter = LevelMeter(10)
    shown = [meter.update(square(0.5)).peak_dbfs for _ in range(5)]
    assert all(b >= a for a, b in pairwise(shown))
    assert shown[0] > -30.0  # 86% of the way (10 ms at a 5 ms time constant)
    assert shown[2] == pytest.approx(-6.02, abs=0.5)
    assert all(s <= -6.02 + 1e-9 for s in shown)  # never above the input


def test_release_falls_at_the_ppm_rate() -> None:
    """After a full-scale tone stops, the display falls 20 dB in 1.5 s, linearly, to the floor."""
    meter = LevelMeter(10)
    for _ in range(20):
        meter.update(square(1.0))
    assert meter.levels.peak_dbfs == pytest.approx(0.0, abs=1e-6)
    shown = [meter.update(None).peak_dbfs for _ in range(1000)]  # 10 s of silence
    assert all(b <= a for a, b in pairwise(shown))
    assert shown[149] == pytest.approx(-20.0, abs=1e-9)  # 150 frames = 1.5 s
    assert shown[0] == pytest.approx(-20.0 / 150, abs=1e-9)
    assert shown[-1] == FLOOR_DBFS
    assert meter.last == Levels(FLOOR_DBFS, FLOOR_DBFS)  # the raw reading is silence


def test_rms_display_follows_the_same_ballistics() -> None:
    meter = LevelMeter(10)
    for _ in range(10):
        meter.update(sine(1.0))
    assert meter.levels.rms_dbfs == pytest.approx(SINE_RMS_DB, abs=1e-6)
    before = meter.levels.rms_dbfs
    meter.update(None)
    assert meter.levels.rms_dbfs == pytest.approx(before - 20.0 / 150, abs=1e-9)


def test_zero_attack_jumps() -> None:
    meter = LevelMeter(5, Ballistics(attack_ms=0.0))
    assert meter.update(square(0.5)).peak_dbfs == pytest.approx(-6.0206, abs=1e-3)
    assert meter.dt_ms == 5.0


@given(
    st.floats(FLOOR_DBFS, 20.0),
    st.lists(st.floats(FLOOR_DBFS, 20.0), min_size=1, max_size=50),
    st.floats(0.0, 100.0),
    st.floats(0.5, 100.0),
    st.sampled_from([5.0, 10.0, 20.0]),
)
def test_ballistics_never_overshoot(
    start: float, inputs: list[float], attack_ms: float, release: float, dt_ms: float
) -> None:
    """Each step lands between the shown level and the input: no overshoot, no wrong way."""
    ballistics = Ballistics(attack_ms=attack_ms, release_db_per_s=release)
    shown = start
    for measured in inputs:
        new = ballistics.step(shown, measured, dt_ms)
        assert min(shown, measured) <= new <= max(shown, measured)
        shown = new


@given(st.lists(st.floats(FLOOR_DBFS, 0.0), min_size=2, max_size=50))
def test_ballistics_are_monotone_for_monotone_input(levels: list[float]) -> None:
    ballistics = Ballistics()
    for ordered in (sorted(levels), sorted(levels, reverse=True)):
        shown = [ordered[0]]
        for measured in ordered[1:]:
            shown.append(ballistics.step(shown[-1], measured, 10.0))
        steps = np.diff(shown)
        rising = ordered[-1] >= ordered[0]
        assert np.all(steps >= 0) if rising else np.all(steps <= 0)


@pytest.mark.parametrize(
    ("attack_ms", "release"), [(-1.0, 10.0), (math.nan, 10.0), (5.0, 0.0), (5.0, math.inf)]
)
def test_ballistics_are_validated(attack_ms: float, release: float) -> None:
    with pytest.raises(ValueError):
        Ballistics(attack_ms=attack_ms, release_db_per_s=release)


# -- the room --------------------------------------------------------------------------------


def test_room_meter_meters_everyone_and_missing_frames_are_silence() -> None:
    meters = RoomMeter(10, Ballistics(attack_ms=0.0))
    meters.add("a")
    meters.add("b")
    readings = meters.update({"a": square(0.5), "stranger": square(1.0)})
    assert set(readings) == {"a", "b"}
    assert readings["a"].peak_dbfs == pytest.approx(-6.0206, abs=1e-3)
    assert readings["b"] == Levels(FLOOR_DBFS, FLOOR_DBFS)
    readings = meters.update({})
    assert readings["a"].peak_dbfs == pytest.approx(-6.0206 - 20 / 150, abs=1e-3)
    assert meters.levels() == readings
    assert tuple(meters.participants) == ("a", "b")
    meters.remove("a")
    assert set(meters.levels()) == {"b"}
    with pytest.raises(KeyError):
        meters.remove("a")
    with pytest.raises(ValueError, match="already"):
        meters.add("b")
