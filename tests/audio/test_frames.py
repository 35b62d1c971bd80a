"""Frame length math and int16 <-> float32 conversion: exact, saturating, ties to even."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray

from backline.media.frames import (
    FRAME_DURATIONS_MS,
    SAMPLE_RATE,
    frame_bytes,
    frame_samples,
    frame_us,
    frames_per_second,
    silence,
    to_float32,
    to_int16,
)


@pytest.mark.parametrize(
    ("ms", "samples", "us", "per_second"),
    [(5, 240, 5_000, 200), (10, 480, 10_000, 100), (20, 960, 20_000, 50)],
)
def test_frame_lengths_at_48k(ms: int, samples: int, us: int, per_second: int) -> None:
    assert SAMPLE_RATE == 48_000
    assert frame_samples(ms) == samples
    assert frame_us(ms) == us
    assert frames_per_second(ms) == per_second
    assert frame_bytes(ms) == 2 * samples
    assert frame_bytes(ms, channels=2) == 4 * samples
    assert samples * per_second == SAMPLE_RATE


def test_the_default_frame_is_10_ms() -> None:
    assert frame_samples() == 480
    assert frame_us() == 10_000


@pytest.mark.parametrize("ms", [0, 1, 2, 15, 40, 60, -10])
def test_other_durations_are_rejected(ms: int) -> None:
    """Only the Opus frame sizes the room uses are accepted, with a clear message."""
    assert ms not in FRAME_DURATIONS_MS
    with pytest.raises(ValueError, match="frame duration"):
        frame_samples(ms)
    with pytest.raises(ValueError, match="frame duration"):
        frame_us(ms)
    with pytest.raises(ValueError, match="frame duration"):
        frames_per_second(ms)


def test_a_frame_must_be_whole_samples() -> None:
    with pytest.raises(ValueError, match="whole number of samples"):
        frame_samples(5, sample_rate=44_100)  # 220.5 samples
    assert frame_samples(10, sample_rate=44_100) == 441


def test_frame_bytes_needs_a_channel() -> None:
    with pytest.raises(ValueError, match="channels"):
        frame_bytes(10, channels=0)


def test_silence_is_float32_zeros_interleaved() -> None:
    frame = silence(480, channels=2)
    assert frame.dtype == np.float32
    assert frame.shape == (960,)
    assert not frame.any()


def test_int16_to_float_known_values() -> None:
    pcm = np.array([-32768, -16384, -1, 0, 1, 16384, 32767], dtype=np.int16)
    expected = np.array([-1.0, -0.5, -1 / 32768, 0.0, 1 / 32768, 0.5, 32767 / 32768])
    out = to_float32(pcm)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected.astype(np.float32))


def test_float_to_int16_saturates_instead_of_wrapping() -> None:
    samples = np.array([1.0, -1.0, 1.5, -1.5, 1e30, -1e30, 0.999999], dtype=np.float32)
    np.testing.assert_array_equal(
        to_int16(samples), np.array([32767, -32768, 32767, -32768, 32767, -32768, 32767])
    )


def test_float_to_int16_non_finite() -> None:
    """NaN is silence; infinities saturate."""
    samples = np.array([np.nan, np.inf, -np.inf], dtype=np.float32)
    np.testing.assert_array_equal(to_int16(samples), np.array([0, 32767, -32768]))


def test_float_to_int16_rounds_to_nearest_ties_to_even() -> None:
    lsb = 1 / 32768
    samples = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 0.49, 0.51], dtype=np.float64) * lsb
    np.testing.assert_array_equal(to_int16(samples), np.array([0, 2, 2, 0, -2, 0, 1]))


def test_float64_input_is_accepted() -> None:
    np.testing.assert_array_equal(to_int16(np.array([0.25, -0.25])), np.array([8192, -8192]))


def test_wrong_dtypes_are_rejected() -> None:
    with pytest.raises(ValueError, match="int16"):
        to_float32(np.zeros(4, dtype=np.int32))
    with pytest.raises(ValueError, match="float"):
        to_int16(np.zeros(4, dtype=np.int16))


@given(hnp.arrays(np.int16, st.integers(0, 64)))
def test_int16_round_trip_is_exact(pcm: NDArray[np.int16]) -> None:
    np.testing.assert_array_equal(to_int16(to_float32(pcm)), pcm)


@given(hnp.arrays(np.float32, st.integers(0, 64)))
def test_any_float_gives_the_nearest_valid_pcm(samples: NDArray[np.float32]) -> None:
    """Whatever the input (NaN, inf, huge), no warning, and the result is the clipped value."""
    pcm = to_int16(samples)
    assert pcm.dtype == np.int16
    finite = np.nan_to_num(samples.astype(np.float64), nan=0.0, posinf=1.0, neginf=-1.0)
    ideal = np.clip(np.clip(finite, -1.0, 1.0) * 32768, -32768, 32767)
    assert np.all(np.abs(pcm - ideal) <= 0.5)
