"""The adaptive jitter buffer: order, lateness, adaptation, wraparound, and its invariants.

Most tests simulate a sender emitting frame ``s`` at ``s * T``, a network adding
some delay, and the server's frame clock popping once per ``T`` at a phase of
its own; every arrival up to a tick is pushed before that tick's pop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backline.media.jitter import Arrival, JitterBuffer

T = 10_000  # µs
PHASE = 3_000  # the pops' offset from the sender's frame grid


@dataclass
class Run:
    """What a simulation produced, tick by tick."""

    buffer: JitterBuffer[int]
    played: list[int | None] = field(default_factory=list)  # per tick
    depths: list[int] = field(default_factory=list)  # after each tick
    lags: list[int] = field(default_factory=list)  # tick - frame, for each frame played
    arrivals: list[tuple[int, int, Arrival]] = field(default_factory=list)  # (frame, time, what)

    def frames(self) -> list[int]:
        return [f for f in self.played if f is not None]

    def late_after(self, time_us: int) -> float:
        after = [what for _, t, what in self.arrivals if t >= time_us]
        return sum(what is Arrival.LATE for what in after) / len(after)


def simulate(
    arrival_times: Sequence[int],
    *,
    frame_us: int = T,
    seq0: int = 0,
    ticks: int | None = None,
    buffer: JitterBuffer[int] | None = None,
) -> Run:
    """Frame ``s`` (payload ``s``, sequence ``(seq0 + s) % 2**16``) arrives at ``arrival_times[s]``."""
    jb = buffer if buffer is not None else JitterBuffer[int](frame_us)
    run = Run(jb)
    order = sorted(range(len(arrival_times)), key=lambda s: (arrival_times[s], s))
    i = 0
    for k in range(ticks if ticks is not None else len(arrival_times)):
        now = PHASE + k * frame_us
        while i < len(order) and arrival_times[order[i]] <= now:
            s = order[i]
            what = jb.push((seq0 + s) % 65536, arrival_times[s], s)
            run.arrivals.append((s, arrival_times[s], what))
            i += 1
        frame = jb.pop(now)
        run.played.append(frame)
        run.depths.append(jb.depth)
        if frame is not None:
            run.lags.append(k - frame)
    return run


def steady(n: int, delay: int = 500, frame_us: int = T) -> list[int]:
    return [s * frame_us + delay for s in range(n)]


def assert_in_order(frames: list[int]) -> None:
    assert all(b > a for a, b in pairwise(frames)), "out of order or repeated"


# -- in order ------------------------------------------------------------------------------


def test_in_order_arrivals_play_in_order_at_depth_1() -> None:
    """No jitter, start_depth 1: every tick plays the frame that just arrived."""
    run = simulate(steady(500), buffer=JitterBuffer[int](T, start_depth=1))
    assert run.played[:500] == list(range(500))
    assert set(run.depths[:500]) == {1}
    stats = run.buffer.stats()
    assert (stats.played, stats.late, stats.lost, stats.concealed, stats.dropped) == (
        500,
        0,
        0,
        0,
        0,
    )
    assert stats.delay_us == PHASE - 500  # the frame waits only for the tick's phase


def test_default_start_prefetches_then_settles_at_depth_1() -> None:
    """The default starts one frame deeper, to be safe, and gives it back after 0.5 s."""
    run = simulate(steady(1000))
    frames = run.frames()
    assert_in_order(frames)
    assert run.depths[1:40] == [2] * 39
    assert set(run.depths[200:1000]) == {1}
    stats = run.buffer.stats()
    assert (stats.late, stats.concealed, stats.dropped) == (0, 0, 1)  # one frame given back
    assert stats.played == 999
    assert stats.window_late_rate == 0.0


def test_nothing_plays_before_the_first_frame() -> None:
    jb = JitterBuffer[int](T)
    assert jb.pop(0) is None
    assert not jb.playing
    assert jb.next_seq is None and jb.last_played is None
    assert jb.stats().concealed == 0  # not playing yet: nothing concealed
    assert jb.depth == 0


# -- adaptation ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("frame_us", "mean_jitter"), [(5_000, 5_000), (10_000, 8_000)])
def test_random_jitter_keeps_late_frames_under_target(
    seed: int, frame_us: int, mean_jitter: int
) -> None:
    """Exponential jitter: after 5 s of adaptation fewer than 1% of frames are late, and the
    playout lags the sender by at most one frame more than the offline optimum."""
    n = 30_000_000 // frame_us  # 30 s
    rng = np.random.default_rng(seed)
    delay = 20_000 + rng.exponential(mean_jitter, n)
    arrivals = [int(s * frame_us + d) for s, d in enumerate(delay)]
    run = simulate(arrivals, frame_us=frame_us)
    assert_in_order(run.frames())
    assert run.late_after(5_000_000) < 0.01
    # The oracle: knowing every arrival in advance, the smallest lag (in frames, frame s
    # played at tick s + lag) that leaves at most 1% of the whole trace late.
    deviation = np.array(arrivals) - np.arange(n) * frame_us
    best = 0
    while np.mean(deviation > PHASE + best * frame_us) > 0.01:
        best += 1
    settled = run.lags[5_000_000 // frame_us :]
    assert max(settled) <= best + 1
    assert np.mean(settled) >= best - 1.5  # not shallow at the price of late frames either
    assert run.buffer.stats().concealed < 0.02 * n


def _spike_run() -> tuple[Run, int]:
    """Steady for 5 s, then a 100 ms stall (frames 500-509 arrive at once), then calm."""
    arrivals = steady(2000)
    for s in range(500, 510):
        arrivals[s] = arrivals[510]
    return simulate(arrivals), 510 * T


def test_a_jitter_spike_grows_the_depth_quickly() -> None:
    run, burst = _spike_run()
    assert run.depths[499] == 1
    tick_of_burst = (burst - PHASE) // T + 1
    assert max(run.depths[tick_of_burst : tick_of_burst + 8]) >= 6  # grown within 80 ms
    stats = run.buffer.stats()
    assert stats.late == 10  # the stalled frames missed their turn
    assert stats.lost == 0  # ... but did arrive: not lost
    assert_in_order(run.frames())


def test_calm_shrinks_the_depth_slowly_one_frame_at_a_time() -> None:
    run, burst = _spike_run()
    tick_of_burst = (burst - PHASE) // T + 1
    after = run.depths[tick_of_burst + 8 :]
    peak = after[0]
    changes = [i for i in range(1, len(after)) if after[i] != after[i - 1]]
    assert all(after[i] == after[i - 1] - 1 for i in changes)  # down by one frame each time
    assert changes[0] * T >= 3_500_000  # not before the spike has left the 4 s window
    gaps = np.diff(changes) * T
    assert np.all(gaps >= 500_000)  # at least 0.5 s apart
    assert len(changes) == peak - 1 and after[-1] == 1  # all the way back to 1


def test_a_single_late_frame_does_not_grow_the_buffer() -> None:
    """One straggler in hundreds is under the 1% target: it is dropped, the depth stays."""
    arrivals = steady(1000)
    arrivals[600] += 50_000
    run = simulate(arrivals)
    assert run.buffer.stats().late == 1
    assert set(run.depths[200:1000]) == {1}


def test_depth_is_capped_at_max_depth() -> None:
    """A 150 ms stall every 600 ms asks for more than 8 frames: the buffer stops at 8."""
    arrivals = steady(1000)
    for start in range(100, 1000, 60):
        for s in range(start, min(start + 15, 1000)):
            arrivals[s] = arrivals[min(start + 15, 999)]
    run = simulate(arrivals, buffer=JitterBuffer[int](T, max_depth=8))
    assert max(run.depths) == 8
    assert max(run.lags) <= 8
    assert_in_order(run.frames())


def test_a_backlog_beyond_max_depth_is_dropped_oldest_first() -> None:
    jb = JitterBuffer[int](T, start_depth=1, max_depth=4)
    jb.push(0, 0, 0)
    assert jb.pop(0) == 0
    for s in range(1, 11):  # ten frames at once
        jb.push(s, T, s)
    assert jb.pop(T) == 7  # 1-6 dropped: 7, 8, 9, 10 left, 4 frames of delay
    assert jb.stats().dropped == 6
    assert [jb.pop(T * k) for k in range(2, 5)] == [8, 9, 10]


# -- order, duplicates, lateness -----------------------------------------------------------


def test_reordered_frames_are_put_back_in_order() -> None:
    """Every tenth pair arrives swapped (a frame overtakes its predecessor)."""
    arrivals = steady(1000)
    swaps = list(range(2, 998, 10))
    for s in swaps:
        arrivals[s], arrivals[s + 1] = arrivals[s + 1], arrivals[s]
    run = simulate(arrivals, ticks=1001)
    assert run.frames() == list(range(1000))
    stats = run.buffer.stats()
    assert stats.reordered == len(swaps)
    assert (stats.late, stats.lost, stats.dropped) == (0, 0, 0)


def test_duplicates_are_dropped_before_and_after_playing() -> None:
    jb = JitterBuffer[int](T, start_depth=1)
    assert jb.push(7, 0, 7) is Arrival.IN_ORDER
    assert jb.push(7, 10, 7) is Arrival.DUPLICATE  # while buffered
    assert jb.pop(100) == 7
    assert jb.push(7, 200, 7) is Arrival.DUPLICATE  # after playing
    assert jb.pop(T + 100) is None
    assert jb.stats().duplicates == 2
    assert jb.stats().played == 1


def test_a_late_frame_is_dropped_and_its_slot_is_late_not_lost() -> None:
    jb = JitterBuffer[int](T, start_depth=1)
    jb.push(0, 0, 0)
    assert jb.pop(0) == 0
    assert jb.pop(T) is None  # frame 1 is missing: concealed, counted lost for now
    assert jb.stats().lost == 1
    jb.push(2, 2 * T, 2)
    assert jb.push(1, 2 * T + 1, 1) is Arrival.LATE  # too late: its turn has passed
    assert jb.push(1, 2 * T + 2, 1) is Arrival.DUPLICATE  # and a copy of it is a duplicate
    stats = jb.stats()
    assert (stats.late, stats.lost, stats.concealed, stats.duplicates) == (1, 0, 1, 1)
    # One late frame out of three is far over 1%: the buffer grows (holds) before playing 2.
    assert [jb.pop(k * T) for k in range(2, 5)] == [None, None, 2]
    assert jb.depth == 3


def test_a_lost_frame_is_concealed_and_playout_goes_on() -> None:
    order = [s for s in range(300) if s != 150]  # frame 150 never arrives
    times = [s * T + 500 for s in order]
    jb = JitterBuffer[int](T)
    played: list[int | None] = []
    i = 0
    for k in range(300):
        now = PHASE + k * T
        while i < len(order) and times[i] <= now:
            jb.push(order[i], times[i], order[i])
            i += 1
        played.append(jb.pop(now))
    frames = [f for f in played if f is not None]
    assert 150 not in frames
    assert frames[-1] == 299
    assert jb.stats().lost == 1
    assert played[played.index(149) + 1] is None  # one concealed tick where 150 was due


def test_sequence_numbers_wrap_around_at_2_16() -> None:
    run = simulate(steady(200), seq0=65_500, buffer=JitterBuffer[int](T, start_depth=1))
    assert run.frames() == list(range(200))
    assert run.buffer.next_seq is not None and run.buffer.next_seq > 65_536
    assert run.buffer.stats().late == 0


def test_reordering_across_the_wrap() -> None:
    jb = JitterBuffer[str](T, start_depth=3)
    assert jb.push(65_534, 0, "a") is Arrival.IN_ORDER
    assert jb.push(0, T, "c") is Arrival.IN_ORDER
    assert jb.push(65_535, T + 1, "b") is Arrival.REORDERED
    assert jb.push(1, 2 * T, "d") is Arrival.IN_ORDER
    played = [jb.pop(2 * T + k * T) for k in range(4)]
    assert played == ["a", "b", "c", "d"]
    assert jb.last_played == 65_537


def test_a_long_gap_in_sequence_numbers_jumps_instead_of_concealing_it() -> None:
    """A sender that skips 1000 sequence numbers: the buffer jumps to the frames it holds."""
    jb = JitterBuffer[int](T, start_depth=1)
    jb.push(0, 0, 0)
    assert jb.pop(0) == 0
    jb.push(1000, T, 1000)
    assert jb.pop(T) == 1000
    assert jb.stats().lost == 999
    jb.push(1001, 2 * T, 1001)
    assert jb.pop(2 * T) == 1001


def test_a_silent_sender_goes_idle_and_restarts_cleanly() -> None:
    """A 2 s pause with sequence numbers continuing after it (as with DTX): after 500 ms the
    buffer idles, takes back the empty slots, and plays the next frames from the first."""
    times = steady(100) + [s * T + 500 + 2_000_000 for s in range(100, 200)]
    run = simulate(times, ticks=500)
    frames = run.frames()
    assert_in_order(frames)
    # 50 and 150 are given back when settling after each (re)start at depth 2
    assert frames == [s for s in range(200) if s not in (50, 150)]
    stats = run.buffer.stats()
    assert (stats.late, stats.lost) == (0, 0)
    assert not run.buffer.playing  # the stream ended: idle again
    assert stats.concealed == 2 * 50  # two pauses of 500 ms before idling


def test_seq_must_be_16_bit() -> None:
    jb = JitterBuffer[int](T)
    for bad in (-1, 65_536):
        with pytest.raises(ValueError, match=r"0\.\.65535"):
            jb.push(bad, 0, 0)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: JitterBuffer[int](0), "frame_us"),
        (lambda: JitterBuffer[int](T, target_late_rate=0.0), "target_late_rate"),
        (lambda: JitterBuffer[int](T, target_late_rate=0.5), "target_late_rate"),
        (lambda: JitterBuffer[int](T, start_depth=0), "start_depth"),
        (lambda: JitterBuffer[int](T, start_depth=5, max_depth=4), "start_depth"),
        (lambda: JitterBuffer[int](T, window_us=10), "window_us"),
        (lambda: JitterBuffer[int](T, shrink_interval_us=-1), "intervals"),
        (lambda: JitterBuffer[int](T, idle_after_us=-1), "intervals"),
    ],
)
def test_parameters_are_validated(make: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


# -- properties ----------------------------------------------------------------------------

events = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(-40, 40), st.integers(0, 3 * T)),
        st.tuples(st.just("pop"), st.just(0), st.integers(0, 3 * T)),
    ),
    max_size=300,
)


@settings(max_examples=150, deadline=None)
@given(events, st.integers(0, 65_535), st.integers(1, 4))
def test_never_plays_twice_or_out_of_order(
    script: list[tuple[str, int, int]], seq0: int, start_depth: int
) -> None:
    """Whatever arrives when (reordered, repeated, late, across the wrap): each frame is
    played at most once, in increasing sequence order, and every frame is accounted for."""
    jb = JitterBuffer[int](T, start_depth=start_depth, max_depth=max(start_depth, 6))
    now = 0
    cursor = 0  # the sender's newest frame number
    pushed: set[int] = set()
    played: list[int] = []
    numbering: set[int] = set()  # unwrapped sequence number minus frame number
    accepted = 0
    for kind, offset, dt in script:
        now += dt
        if kind == "push":
            frame = max(0, cursor + offset)
            cursor = max(cursor, frame)
            what = jb.push((seq0 + frame) % 65_536, now, frame)
            pushed.add(frame)
            accepted += what in (Arrival.IN_ORDER, Arrival.REORDERED)
        else:
            got = jb.pop(now)
            if got is not None:
                assert jb.last_played is not None
                numbering.add(jb.last_played - got)
                played.append(got)
    assert_in_order(played)
    assert len(numbering) <= 1  # the buffer's unwrapping agrees with the sender's numbering
    assert set(played) <= pushed
    stats = jb.stats()
    assert stats.played == len(played)
    assert accepted == stats.played + stats.dropped + jb.buffered
    assert stats.received == accepted + stats.late + stats.duplicates
    assert stats.lost >= 0 and stats.late >= 0


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 12 * T), min_size=1, max_size=400),
    st.integers(0, 65_535),
    st.integers(0, T - 1),
)
def test_every_frame_delivered_once_is_accounted_for(
    delays: list[int], seq0: int, phase: int
) -> None:
    """Each frame sent once, with any delay up to 120 ms: once all have arrived and the
    buffer has run dry, each one was played, judged late or dropped, and nothing is lost."""
    jb = JitterBuffer[int](T)
    arrivals = sorted((s * T + d, s) for s, d in enumerate(delays))
    i = 0
    played: list[int] = []
    for k in range(len(delays) + 100):
        now = phase + k * T
        while i < len(arrivals) and arrivals[i][0] <= now:
            jb.push((seq0 + arrivals[i][1]) % 65_536, *arrivals[i])
            i += 1
        got = jb.pop(now)
        if got is not None:
            played.append(got)
    assert_in_order(played)
    stats = jb.stats()
    assert jb.buffered == 0
    assert stats.duplicates == 0
    assert stats.played + stats.late + stats.dropped == len(delays)
    assert stats.lost == 0
