"""The frame scheduler: each event in exactly one frame, at the right sample."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from backline.client.scheduler import Scheduler, grid_events
from backline.protocol.timeline import Timeline

RATE = 48_000


def playing(tempo: float = 120.0, beat: float = 0.0, time: int = 0) -> Timeline:
    return Timeline(tempo, (4, 4), True, beat, time)


def retimed(timeline: Timeline, now: int, tempo: float) -> Timeline:
    """What the server makes of a tempo change at `now`: re-anchored in place."""
    anchor = timeline.anchored_at(now)
    return Timeline(tempo, timeline.meter, True, anchor["beat"], anchor["time"])


def test_grid_events_partition_adjacent_ranges() -> None:
    every = grid_events(0.25)
    edges = [0.0, 0.1, 0.25, 0.2500000001, 0.7, 1.0, 3.3]
    found = [beat for lo, hi in itertools.pairwise(edges) for beat, _ in every(lo, hi)]
    assert found == [n * 0.25 for n in range(14)]


def test_a_beat_starts_at_its_sample() -> None:
    scheduler: Scheduler[int] = Scheduler(RATE)
    timeline = playing(120.0, time=1_000_000)  # beat 0 at 1 s; a beat is 0.5 s
    frames = [scheduler.due(timeline, 990_000 + k * 10_000, 480, grid_events(1)) for k in range(4)]
    # the frame at 1.0 s holds beat 0 at its first sample; the count-in before it is silent
    assert [[(d.offset, d.beat) for d in f] for f in frames] == [[], [(0, 0.0)], [], []]
    late = scheduler.due(timeline, 1_495_000, 480, grid_events(1))
    assert [(d.offset, d.beat) for d in late] == [(240, 1.0)]  # 5 ms into the frame


def test_nothing_is_due_while_stopped() -> None:
    scheduler: Scheduler[int] = Scheduler(RATE)
    stopped = Timeline(120.0, (4, 4), False, 0.0, 0)
    assert scheduler.due(stopped, 0, 48_000, grid_events(1)) == []


def test_a_seek_replays_from_the_new_position_after_its_lead() -> None:
    scheduler: Scheduler[int] = Scheduler(RATE)
    timeline = playing()
    heard = []
    for k in range(100):  # 2 s at 20 ms frames: beats 0..3
        heard += [d.beat for d in scheduler.due(timeline, k * 20_000, 960, grid_events(1))]
    sought = Timeline(120.0, (4, 4), True, 1.0, 2_200_000)  # back to beat 1, 200 ms on
    for k in range(100, 150):
        heard += [d.beat for d in scheduler.due(sought, k * 20_000, 960, grid_events(1))]
    assert heard == [0.0, 1.0, 2.0, 3.0, 1.0, 2.0]


def test_a_tempo_fall_never_plays_a_beat_twice() -> None:
    """Frames ran 30 ms ahead of a change to half speed: beat 1 was already played."""
    scheduler: Scheduler[int] = Scheduler(RATE)
    fast = playing(120.0)
    heard = []
    for k in range(26):  # up to 520 ms: beat 1 (500 ms) is played
        heard += [d.beat for d in scheduler.due(fast, k * 20_000, 960, grid_events(1))]
    slow = retimed(fast, 490_000, 60.0)  # decided at 490 ms: beat 1 now lies at 1,000 ms...
    for k in range(26, 60):
        heard += [d.beat for d in scheduler.due(slow, k * 20_000, 960, grid_events(1))]
    assert heard == [0.0, 1.0]  # ... and is not played again; beat 2 is at 2,000 ms


def test_a_tempo_rise_plays_a_skipped_beat_at_once() -> None:
    scheduler: Scheduler[int] = Scheduler(RATE)
    slow = playing(60.0)
    for k in range(48):  # up to 960 ms; beat 1 is at 1,000 ms
        assert not scheduler.due(slow, k * 20_000, 960, grid_events(1))[1:]
    fast = retimed(slow, 940_000, 240.0)  # beat 1 now at 955 ms, before the next frame
    due = scheduler.due(fast, 960_000, 960, grid_events(1))
    assert [(d.offset, d.beat) for d in due] == [(0, 1.0)]


@st.composite
def motions(draw: st.DrawFn) -> tuple[list[int], list[tuple[int, float]]]:
    """Frame sizes, and tempo changes as (frame index, new tempo)."""
    sizes = draw(st.lists(st.sampled_from([240, 480, 960, 1024]), min_size=20, max_size=200))
    changes = draw(
        st.lists(
            st.tuples(st.integers(0, len(sizes) - 1), st.floats(20.0, 999.0)),
            max_size=8,
            unique_by=lambda change: change[0],
        )
    )
    return sizes, sorted(changes)


@settings(max_examples=300, deadline=None)
@given(
    motion=motions(),
    step=st.sampled_from([1.0, 0.5, 0.25, 1 / 3]),
    start_beat=st.floats(0, 64),
    decided_before=st.integers(0, 60_000),
)
def test_events_are_never_lost_or_doubled_across_frames_and_tempo_changes(
    motion: tuple[list[int], list[tuple[int, float]]],
    step: float,
    start_beat: float,
    decided_before: int,
) -> None:
    sizes, changes = motion
    scheduler: Scheduler[int] = Scheduler(RATE)
    timeline = Timeline(120.0, (4, 4), True, start_beat, 0)
    pending = dict(changes)
    heard: list[int] = []
    start = 0.0
    first_beat = timeline.beat_at(start)
    for k, size in enumerate(sizes):
        if k in pending:  # decided a little before this frame, as a server would
            timeline = retimed(timeline, max(0, int(start) - decided_before), pending[k])
        end = start + size * 1e6 / RATE
        for due in scheduler.due(timeline, start, size, grid_events(step)):
            heard.append(due.event)
            true_offset = (timeline.time_at(due.beat) - start) * RATE / 1e6
            if true_offset >= 0:
                assert abs(due.offset - true_offset) <= 1  # in its sample
            else:
                assert due.offset == 0 and true_offset > -decided_before * RATE / 1e6 - 1
        start = end
    expected = [n for _, n in grid_events(step)(first_beat, timeline.beat_at(start))]
    # each grid point once, in order, from the first; beyond the final position only
    # those already played before a tempo fall was known
    assert heard[: len(expected)] == expected
    assert all(b - a == 1 for a, b in itertools.pairwise(heard))


def test_a_loop_keeps_a_bots_events_inside_it_and_repeats_them() -> None:
    """Loop on beats 0-4: each pass plays the region's events again, none outside it."""
    timeline = Timeline(120.0, (4, 4), True, 0.0, 0, 0.0, (0.0, 4.0))
    scheduler: Scheduler[int] = Scheduler(48_000)
    beats = []
    for k in range(2000):  # 20 s of 10 ms frames
        beats += [d.beat for d in scheduler.due(timeline, k * 10_000, 480, grid_events(1.0))]
    assert beats == [0.0, 1.0, 2.0, 3.0] * 10
