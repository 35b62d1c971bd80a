"""The MIDI clock generator: every pulse where the timeline puts its beat, exactly."""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from backline.protocol.midi_clock import (
    PPQN,
    ClockEvent,
    ClockKind,
    changes,
    encode,
    pulses,
)
from backline.protocol.timeline import Timeline

MINUTE = 60_000_000

timelines = st.builds(
    lambda tempo, beat, time, loop: Timeline(tempo, (4, 4), True, beat, time, beat, loop),
    st.floats(40, 240),
    st.sampled_from([0.0, 1.0, 3.25, 4.0, 7.3, 16.0]),
    st.integers(0, 10**9),
    st.sampled_from([None, (0.0, 4.0), (2.0, 6.5), (4.0, 8.0), (8.0, 9.0)]),
)


def clocks(events: list[ClockEvent]) -> list[ClockEvent]:
    return [e for e in events if e.kind is ClockKind.CLOCK]


@settings(max_examples=200, deadline=None)
@given(timelines, st.floats(0, 30_000_000), st.floats(0, 1))
def test_every_pulse_is_at_the_time_of_its_beat_and_windows_compose(
    timeline: Timeline, span: float, cut: float
) -> None:
    lo = timeline.time - 1_000_000
    hi = timeline.time + span
    whole = pulses(timeline, lo, hi)
    mid = lo + (hi - lo) * cut
    assert pulses(timeline, lo, mid) + pulses(timeline, mid, hi) == whole  # however cut
    ticks = clocks(whole)
    for event in ticks:
        assert lo <= event.time < hi and event.time >= timeline.time  # never in a count-in
        # on the grid of 24 per beat, at the musical position the timeline gives that time
        assert math.isclose(event.beat * PPQN, round(event.beat * PPQN), abs_tol=1e-9)
        assert event.time == timeline.time_at(event.linear)  # computed from the anchor
        assert abs(timeline.position(event.linear) - event.beat) < 1e-6 or (
            timeline.loop is not None  # at a wrap's very sample, the end is the start
            and abs(timeline.position(event.linear) - timeline.loop[1]) < 1e-6
            and event.beat == timeline.loop[0]
        )
    times = [e.time for e in whole]
    assert times == sorted(times)
    per_pulse = MINUTE / timeline.tempo / PPQN
    for a, b in itertools.pairwise(ticks):
        # one pulse apart, or a wrap back to the loop start
        if b.beat > a.beat:
            assert math.isclose(b.time - a.time, per_pulse, rel_tol=1e-9, abs_tol=1e-3)
            assert math.isclose(b.beat - a.beat, 1 / PPQN, abs_tol=1e-12)


def test_an_hour_at_120_bpm_does_not_drift() -> None:
    timeline = Timeline(120.0, (4, 4), True, 0.0, 5_000, 0.0)
    hour = 3_600_000_000
    ticks = clocks(pulses(timeline, hour - 10_000_000, hour))
    assert len(ticks) == 10 * 2 * PPQN  # 2 beats per second
    for event in ticks:
        assert event.time == timeline.time_at(event.beat)  # from the anchor, exactly


def test_a_loop_wrap_tells_the_device_the_new_position() -> None:
    # loop bars 2-3 (beats 4..12); playing from beat 4 at t = 0, 120 bpm: the wrap at 4 s
    timeline = Timeline(120.0, (4, 4), True, 4.0, 0, 4.0, (4.0, 12.0))
    events = pulses(timeline, 3_900_000, 4_100_000)
    kinds = [e.kind for e in events]
    wrap = kinds.index(ClockKind.STOP)
    assert kinds[wrap : wrap + 4] == [
        ClockKind.STOP, ClockKind.POSITION, ClockKind.CONTINUE, ClockKind.CLOCK,
    ]  # fmt: skip
    assert events[wrap + 1].position == 16  # beat 4 = sixteenth 16
    assert events[wrap].time == events[wrap + 3].time == 4_000_000
    assert clocks(events)[-1].beat < 4.2 and clocks(events)[0].beat > 11.8


def test_starts_stops_and_seeks() -> None:
    stopped = Timeline(100.0, (4, 4), False, 0.0, 0)
    playing = Timeline(100.0, (4, 4), True, 0.0, 500_000, 0.0)
    play = changes(stopped, playing, 400_000)
    assert [(e.kind, e.time) for e in play] == [
        (ClockKind.POSITION, 400_000), (ClockKind.START, 500_000),
    ]  # fmt: skip
    assert play[0].position == 0
    # from beat 2.1: position and Continue at the next sixteenth (beat 2.25)
    later = Timeline(100.0, (4, 4), True, 2.1, 500_000, 2.1)
    go = changes(stopped, later, 400_000)
    assert [e.kind for e in go] == [ClockKind.POSITION, ClockKind.CONTINUE]
    assert go[0].position == 9 and go[1].time == later.time_at(2.25)
    assert clocks(pulses(later, 0, later.time_at(2.5)))[0].beat == 2.25
    # stop at beat 5.6: Stop, then where (sixteenth 22)
    halt = changes(playing, Timeline(100.0, (4, 4), False, 5.6, 3_860_000), 3_860_000)
    assert [(e.kind, e.position) for e in halt] == [(ClockKind.STOP, 0), (ClockKind.POSITION, 22)]
    # a tempo change re-anchored in place: nothing to say
    now = 2_000_000
    faster = Timeline(140.0, (4, 4), True, playing.beat_at(now), now, 0.0)
    assert changes(playing, faster, now) == []
    # a seek while playing: Stop, the new position, Continue when it sounds
    seek = Timeline(100.0, (4, 4), True, 16.0, now + 100_000, 16.0)
    moved = changes(playing, seek, now)
    assert [e.kind for e in moved] == [ClockKind.STOP, ClockKind.POSITION, ClockKind.CONTINUE]
    assert moved[1].position == 64 and moved[2].time == now + 100_000


def test_the_bytes() -> None:
    assert encode(ClockEvent(0, ClockKind.CLOCK)) == b"\xf8"
    assert encode(ClockEvent(0, ClockKind.START)) == b"\xfa"
    assert encode(ClockEvent(0, ClockKind.CONTINUE)) == b"\xfb"
    assert encode(ClockEvent(0, ClockKind.STOP)) == b"\xfc"
    assert encode(ClockEvent(0, ClockKind.POSITION, 200)) == bytes((0xF2, 200 & 0x7F, 200 >> 7))
    assert encode(ClockEvent(0, ClockKind.POSITION, 10**6)) == b"\xf2\x7f\x7f"  # 14 bits at most
