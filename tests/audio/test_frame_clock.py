"""The frame clock: exact due times over a million frames, and the catch-up policy after a stall."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backline.media.clock import CatchUp, ClockStats, FrameClock

START = 1_234_567_890  # an arbitrary server-clock time, µs
T = 10_000  # 10 ms


@pytest.mark.parametrize(
    ("samples", "rate", "million_us"),
    [
        (480, 48_000, 10**10),  # 10 ms
        (240, 48_000, 5 * 10**9),  # 5 ms
        (960, 48_000, 2 * 10**10),  # 20 ms
        (441, 44_100, 10**10),  # 10 ms at 44.1 kHz
        (1024, 48_000, 21_333_333_333),  # 21.333… ms: not a whole number of µs
    ],
)
def test_due_times_do_not_drift_over_a_million_frames(
    samples: int, rate: int, million_us: int
) -> None:
    clock = FrameClock(START, samples, rate)
    assert clock.due(0) == START
    assert clock.due(10**6) == START + million_us
    # Every due time is the exact floor, so the error is always under 1 µs.
    k = np.arange(0, 10**6 + 1, 997, dtype=np.int64)
    exact_us = k * samples * 1_000_000 / rate
    dues = np.array([clock.due(int(i)) for i in k]) - START
    assert np.all((exact_us - dues >= 0) & (exact_us - dues < 1))


def test_a_million_late_wakeups_still_tick_on_the_grid() -> None:
    """Waking up to 3 ms late every tick neither delays nor skips a single frame.

    A loop that sleeps one period after each (late) wake-up would be behind by
    the sum of all lateness; the clock is behind by nothing.
    """
    frames = 10**6
    clock = FrameClock(START)
    lateness = np.random.default_rng(1).integers(0, 3_000, frames).tolist()
    naive_wake = START
    for expected, late in enumerate(lateness):
        produced = clock.tick(clock.next_due + late)
        assert produced.start == expected and len(produced) == 1
        naive_wake += T + late
    assert clock.next_frame == frames
    assert clock.next_due == START + frames * T
    assert clock.stats() == ClockStats(
        produced=frames, skipped=0, stalls=0, max_late_us=max(lateness)
    )
    assert naive_wake - clock.next_due == sum(lateness)  # what the naive loop would drift


def test_due_count_boundaries() -> None:
    clock = FrameClock(START)
    assert clock.due_count(START - 1) == 0
    assert clock.due_count(START) == 1
    assert clock.due_count(START + T - 1) == 1
    assert clock.due_count(START + T) == 2
    assert clock.frame_us == 10_000.0


@given(
    st.integers(1, 10**7),
    st.sampled_from([(480, 48_000), (1024, 48_000), (441, 44_100), (7, 3)]),
    st.integers(-(10**12), 10**12),
)
def test_due_count_inverts_due(frame: int, geometry: tuple[int, int], start: int) -> None:
    samples, rate = geometry
    clock = FrameClock(start, samples, rate)
    assert clock.due_count(clock.due(frame)) == frame + 1
    assert clock.due_count(clock.due(frame) - 1) == frame


def test_nothing_is_produced_early_or_twice() -> None:
    clock = FrameClock(START)
    assert clock.tick(START - 5) == range(0)
    assert clock.tick(START) == range(0, 1)
    assert clock.tick(START) == range(0)
    assert clock.tick(START + T - 1) == range(0)
    assert clock.tick(START + T) == range(1, 2)
    assert clock.tick(START) == range(0)  # time going backwards produces nothing
    assert clock.next_due == START + 2 * T


def test_burst_catches_up_after_a_short_stall() -> None:
    """A 30 ms stall: the three overdue frames come out at once, none lost."""
    clock = FrameClock(START, catch_up=CatchUp.BURST, max_burst=4)
    assert clock.tick(START) == range(0, 1)
    assert clock.tick(START + 3 * T + 200) == range(1, 4)
    assert clock.tick(START + 4 * T) == range(4, 5)
    assert clock.stats() == ClockStats(produced=5, skipped=0, stalls=1, max_late_us=2 * T + 200)


def test_burst_skips_what_is_older_than_max_burst() -> None:
    """A 100 ms stall with max_burst 4: the newest four frames, the six before them skipped."""
    clock = FrameClock(START, catch_up=CatchUp.BURST, max_burst=4)
    clock.tick(START)
    assert clock.tick(START + 10 * T) == range(7, 11)
    assert clock.tick(START + 11 * T) == range(11, 12)
    stats = clock.stats()
    assert (stats.produced, stats.skipped, stats.stalls) == (6, 6, 1)


def test_skip_produces_only_the_newest_frame() -> None:
    clock = FrameClock(START, catch_up=CatchUp.SKIP)
    clock.tick(START)
    assert clock.tick(START + 3 * T + 200) == range(3, 4)
    assert clock.tick(START + 4 * T) == range(4, 5)
    stats = clock.stats()
    assert (stats.produced, stats.skipped, stats.stalls) == (3, 2, 1)
    assert clock.due(4) == START + 4 * T  # the grid did not move


def test_a_late_first_tick_follows_the_policy_too() -> None:
    clock = FrameClock(START, catch_up=CatchUp.SKIP)
    assert clock.tick(START + 5 * T) == range(5, 6)


@pytest.mark.parametrize(
    ("samples", "rate", "max_burst", "match"),
    [(0, 48_000, 4, "positive"), (480, 0, 4, "positive"), (480, 48_000, 0, "max_burst")],
)
def test_parameters_are_validated(samples: int, rate: int, max_burst: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FrameClock(START, samples, rate, max_burst=max_burst)
