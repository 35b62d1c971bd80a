"""Token buckets with an injected clock: bursts, refill, and never more than the rate allows."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backline.protocol.limits import DEFAULT_LIMITS, Limits
from backline.protocol.ratelimit import Rate, TokenBucket


def test_a_full_bucket_allows_a_burst_then_refuses() -> None:
    bucket = TokenBucket(Rate(10, 5), now=100.0)
    assert [bucket.take(100.0) for _ in range(6)] == [True] * 5 + [False]
    assert bucket.wait(100.0) == pytest.approx(0.1)


def test_tokens_refill_at_the_rate_up_to_the_burst() -> None:
    bucket = TokenBucket(Rate(10, 5), now=0.0)
    for _ in range(5):
        assert bucket.take(0.0)
    assert not bucket.take(0.05)  # half a token
    assert bucket.take(0.1)
    assert bucket.tokens(1000.0) == 5  # a long pause refills to the burst, no more
    assert bucket.take(1000.0, 5) and not bucket.take(1000.0)


def test_a_refused_take_spends_nothing() -> None:
    bucket = TokenBucket(Rate(1, 3), now=0.0)
    assert not bucket.take(0.0, 4)
    assert bucket.tokens(0.0) == 3
    assert bucket.wait(0.0, 4) == math.inf  # more than the burst can never be taken at once


def test_a_clock_stepping_back_changes_nothing() -> None:
    bucket = TokenBucket(Rate(10, 2), now=50.0)
    assert bucket.take(50.0) and bucket.take(50.0)
    assert not bucket.take(40.0)
    assert bucket.tokens(50.0) == 0
    assert bucket.take(50.1)


def test_rate_zero_is_no_limit() -> None:
    bucket = TokenBucket(Rate(0, 1), now=0.0)
    assert all(bucket.take(0.0) for _ in range(10_000))
    assert bucket.wait(0.0) == 0.0


def test_bad_rates_are_refused() -> None:
    with pytest.raises(ValueError):
        Rate(-1, 5)
    with pytest.raises(ValueError):
        Rate(1, 0)


def test_default_limits_give_every_kind_its_bucket() -> None:
    assert DEFAULT_LIMITS.edit == Rate(200, 1000)
    assert DEFAULT_LIMITS.presence == Rate(60, 120)
    assert DEFAULT_LIMITS.chat == Rate(10, 30)
    # abuse: this many refusals at once, or a steady stream above this many per window
    abuse = Limits(abuse_refusals=50, abuse_window=10).abuse
    assert abuse == Rate(5, 50)


@given(
    per_second=st.floats(0.5, 1000),
    burst=st.integers(1, 500),
    steps=st.lists(
        st.tuples(st.floats(0, 2), st.integers(1, 5)), min_size=1, max_size=200
    ),  # (seconds since the last attempt, tokens asked)
)
def test_never_more_than_burst_plus_rate_times_elapsed(
    per_second: float, burst: int, steps: list[tuple[float, int]]
) -> None:
    """Over any run, what was granted is at most the burst plus what flowed in."""
    bucket = TokenBucket(Rate(per_second, burst), now=0.0)
    now, granted = 0.0, 0
    for gap, n in steps:
        now += gap
        if bucket.take(now, n):
            granted += n
        assert 0 <= bucket.tokens(now) <= burst
    assert granted <= burst + per_second * now + 1e-6


@given(per_second=st.floats(0.5, 1000), burst=st.integers(1, 100), n=st.integers(1, 100))
def test_wait_says_exactly_when_a_take_succeeds(per_second: float, burst: int, n: int) -> None:
    bucket = TokenBucket(Rate(per_second, burst), now=0.0)
    while bucket.take(0.0):
        pass
    wait = bucket.wait(0.0, n)
    if n > burst:
        assert wait == math.inf
        return
    assert wait > 0
    assert bucket.take(wait * (1 + 1e-9) + 1e-12, n)
