"""The clock estimator, fed with exchanges whose truth is known."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backline.client.clock import Clock


class FakeLocal:
    """A settable local clock, so `now()` can be checked against a known server clock."""

    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def exchange(clock: Clock, local: FakeLocal, offset: float, up: float, down: float) -> None:
    """One ping/pong with one-way delays `up`/`down` (µs) and 50 µs in the server."""
    t0 = local.t
    t1 = t0 + up + offset
    t2 = t1 + 50
    local.t = t2 - offset + down
    clock.add(t0, t1, t2, local.t)


def test_symmetric_path_gives_the_exact_offset() -> None:
    local = FakeLocal()
    clock = Clock(local=local)
    assert not clock.synced and clock.offset == 0.0 and clock.error_bound == float("inf")
    for _ in range(Clock.SYNCED_AFTER):
        exchange(clock, local, offset=5_000_000, up=700, down=700)
    assert clock.synced
    assert clock.offset == 5_000_000
    assert clock.rtt == 1_400
    assert clock.now() == local.t + 5_000_000
    assert clock.to_local(clock.to_server(123.0)) == 123.0


def test_minimum_round_trip_sample_wins() -> None:
    local = FakeLocal()
    clock = Clock(local=local)
    exchange(clock, local, offset=-2_000, up=30_000, down=1_000)  # queued: very asymmetric
    assert clock.offset == pytest.approx(-2_000 + 14_500)
    exchange(clock, local, offset=-2_000, up=1_000, down=1_200)  # the clean one
    exchange(clock, local, offset=-2_000, up=9_000, down=1_000)
    assert clock.rtt == 2_200
    assert clock.offset == pytest.approx(-2_000 - 100)
    assert abs(clock.offset - -2_000) <= clock.error_bound


def test_old_samples_give_way_as_clocks_may_drift() -> None:
    local = FakeLocal()
    clock = Clock(window=64, local=local)
    exchange(clock, local, offset=0, up=500, down=500)  # excellent, but soon stale
    local.t += 60_000_000  # a minute later
    exchange(clock, local, offset=0, up=800, down=800)
    assert clock.rtt == 1_600  # 60 s x 100 ppm = 6 ms of possible drift outweighs 0.6 ms


def test_impossible_stamps_are_ignored_and_reset_forgets() -> None:
    local = FakeLocal()
    clock = Clock(local=local)
    assert clock.add(10, 5, 4, 20) is None  # server answered before receiving
    assert clock.add(10, 100, 200, 5) is None  # received before sent
    assert clock.samples == 0
    for _ in range(Clock.SYNCED_AFTER):
        exchange(clock, local, offset=77, up=10, down=10)
    assert clock.synced
    clock.reset()
    assert not clock.synced and clock.samples == 0 and clock.offset == 0.0


@settings(max_examples=200, deadline=None)
@given(
    st.floats(-1e12, 1e12, allow_nan=False),
    st.lists(st.tuples(st.floats(0, 200_000), st.floats(0, 200_000)), min_size=1, max_size=40),
)
def test_error_never_exceeds_half_the_chosen_round_trip(
    offset: float, delays: list[tuple[float, float]]
) -> None:
    """Whatever the path does, |estimate - truth| <= rtt/2 of the sample in use."""
    local = FakeLocal()
    clock = Clock(local=local)
    for up, down in delays:
        exchange(clock, local, offset, up, down)
    assert abs(clock.offset - offset) <= clock.rtt / 2 + 1e-3 * max(1.0, abs(offset)) * 1e-6


def test_window_is_sliding() -> None:
    local = FakeLocal()
    clock = Clock(window=4, local=local)
    exchange(clock, local, offset=0, up=100, down=100)
    rng = random.Random(1)
    for _ in range(4):
        exchange(clock, local, offset=0, up=5_000 + rng.random(), down=5_000)
    assert clock.rtt > 10_000  # the 200 µs sample fell out of the window
