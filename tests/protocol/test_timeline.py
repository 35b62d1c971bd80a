"""Musical-time math and transport intents, directly and by property."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backline.protocol.errors import BacklineError, BadField, OutOfRange
from backline.protocol.model import Document
from backline.protocol.ops import apply_all
from backline.protocol.timeline import (
    DEFAULT_LEAD_US,
    US_PER_MINUTE,
    BarBeat,
    Timeline,
    bar_length,
    lead_for,
    next_bar_line,
    swing_unwarp,
    swing_warp,
)
from backline.protocol.transport import resolve, without_transport

METERS = [(4, 4), (3, 4), (6, 8), (7, 8), (5, 4), (12, 8), (2, 2), (9, 16), (1, 1)]

tempos = st.floats(20.0, 999.0, allow_nan=False)
meters = st.sampled_from(METERS)
beats = st.floats(0.0, 100_000.0, allow_nan=False)
times = st.integers(0, 10**13)


def playing(tempo: float, meter: tuple[int, int], beat: float, time: int) -> Timeline:
    return Timeline(tempo, meter, True, beat, time)


def test_bar_lengths_follow_the_meter() -> None:
    assert [bar_length(m) for m in [(4, 4), (3, 4), (6, 8), (7, 8), (12, 8), (2, 2)]] == [
        4.0, 3.0, 3.0, 3.5, 6.0, 4.0,
    ]  # fmt: skip


def test_beat_and_time_at_a_known_tempo() -> None:
    tl = playing(120.0, (4, 4), 8.0, 1_000_000)
    assert tl.beat_at(1_000_000) == 8.0
    assert tl.beat_at(1_500_000) == 9.0  # 120 BPM: a beat every 500 ms
    assert tl.beat_at(500_000) == 7.0  # before the anchor: the count-in
    assert tl.time_at(12.0) == 3_000_000
    assert not tl.rolling(999_999) and tl.rolling(1_000_000)
    assert tl.bar_beat_at(1_500_000) == BarBeat(3, 2, 0.0)  # beat 9 = bar 3, beat 2
    assert str(tl.bar_beat_at(1_500_000)) == "3:2"


def test_stopped_timeline_holds_its_position() -> None:
    tl = Timeline(120.0, (4, 4), False, 5.5, 1_000)
    assert tl.beat_at(10**12) == 5.5
    with pytest.raises(ValueError, match="stopped"):
        tl.time_at(6.0)


def test_bar_beat_counts_in_the_meter_unit() -> None:
    six_eight = Timeline(120.0, (6, 8), False, 0.0, 0)
    # 6/8: a bar is 3 quarter notes; the counted beat is the eighth
    assert six_eight.bar_beat_of(0.0) == BarBeat(1, 1, 0.0)
    assert six_eight.bar_beat_of(0.5) == BarBeat(1, 2, 0.0)
    assert six_eight.bar_beat_of(2.75) == BarBeat(1, 6, 0.5)
    assert six_eight.bar_beat_of(3.0) == BarBeat(2, 1, 0.0)
    # a hair below a bar line because of float arithmetic still counts as the line
    assert Timeline(120.0, (4, 4), False, 0.0, 0).bar_beat_of(3.9999999999999) == BarBeat(2, 1, 0.0)


def test_next_bar_line() -> None:
    assert next_bar_line(0.0, (4, 4)) == 0.0
    assert next_bar_line(0.1, (4, 4)) == 4.0
    assert next_bar_line(4.0, (4, 4)) == 4.0
    assert next_bar_line(3.9999999999999, (4, 4)) == 4.0
    assert next_bar_line(3.6, (7, 8)) == 7.0


def test_lead_grows_with_the_slowest_round_trip() -> None:
    assert lead_for(0) == DEFAULT_LEAD_US
    assert lead_for(50_000) == DEFAULT_LEAD_US  # 125 ms < 200 ms
    assert lead_for(300_000) == 500_000
    assert lead_for(0, minimum_us=50_000) == 50_000


@settings(max_examples=300, deadline=None)
@given(tempos, meters, beats, times, st.integers(-(10**9), 10**10))
def test_time_at_inverts_beat_at(
    tempo: float, meter: tuple[int, int], beat: float, anchor: int, dt: int
) -> None:
    tl = playing(tempo, meter, beat, anchor)
    t = anchor + dt
    assert math.isclose(tl.time_at(tl.beat_at(t)), t, rel_tol=1e-12, abs_tol=1e-3)


@settings(max_examples=300, deadline=None)
@given(tempos, tempos, meters, beats, times, st.integers(0, 10**10))
def test_reanchoring_keeps_the_position_continuous(
    tempo: float, new_tempo: float, meter: tuple[int, int], beat: float, anchor: int, dt: int
) -> None:
    """A tempo change at `now` re-anchors there: the position at `now` is unchanged."""
    tl = playing(tempo, meter, beat, anchor)
    now = anchor + dt
    moved = tl.anchored_at(now)
    after = Timeline(new_tempo, meter, True, moved["beat"], moved["time"])
    assert math.isclose(after.beat_at(now), tl.beat_at(now), rel_tol=1e-12, abs_tol=1e-9)
    # and from then on it moves at the new tempo
    assert math.isclose(
        after.beat_at(now + 60_000_000) - after.beat_at(now), new_tempo, rel_tol=1e-9
    )


@settings(max_examples=300, deadline=None)
@given(tempos, meters, beats, times, st.integers(0, 5_000_000))
def test_a_start_plays_from_the_cursor_after_the_lead(
    tempo: float, meter: tuple[int, int], beat: float, now: int, lead: int
) -> None:
    """Play resumes exactly where the transport stands (a DAW's cursor), for everyone
    at the same moment, ``lead`` after the request."""
    stopped = Timeline(tempo, meter, False, beat, 0)
    start = stopped.started(now, lead)
    assert start == {"playing": True, "beat": beat, "time": now + lead, "start": beat}
    rolled = Timeline.of({"tempo": tempo, "meter": list(meter), "transport": start})
    assert rolled.beat_at(now + lead) == beat
    assert not rolled.rolling(now + lead - 1) and rolled.rolling(now + lead)


@settings(max_examples=100, deadline=None)
@given(tempos, meters, beats, st.integers(0, 4))
def test_a_count_in_starts_that_many_bars_later_on_the_asked_beat(
    tempo: float, meter: tuple[int, int], beat: float, bars: int
) -> None:
    stopped = Timeline(tempo, meter, False, 0.0, 0)
    start = stopped.started(1_000_000, 200_000, beat=beat, count_in=bars)
    counted = bars * bar_length(meter) * US_PER_MINUTE / tempo
    assert start["beat"] == start["start"] == beat
    assert 0 <= 1_200_000 + counted - start["time"] < 1  # whole µs, truncated
    rolled = Timeline.of({"tempo": tempo, "meter": list(meter), "transport": start})
    # the count-in runs as bars before the start, silent but for a metronome
    assert math.isclose(rolled.beat_at(1_200_000), beat - bars * bar_length(meter), abs_tol=1e-4)


def project_doc(**fields: Any) -> Document:
    doc = Document()
    for key, value in fields.items():
        apply_all(doc, [{"op": "set", "id": "project", "field": key, "value": value}])
    return doc


def transport_after(doc: Document, ops: list[Any], now: int, lead: int = 200_000) -> Any:
    apply_all(doc, resolve(doc, ops, now, lead))
    return doc.project["transport"]


def test_play_stop_seek_resolve_to_plain_sets() -> None:
    doc = project_doc(tempo=120.0)
    started = transport_after(doc, [{"op": "play"}], now=1_000_000)
    assert started == {"playing": True, "beat": 0.0, "time": 1_200_000, "start": 0.0}
    # play while playing changes nothing (but is acknowledged)
    assert transport_after(doc, [{"op": "play"}], now=2_000_000) == started
    stopped = transport_after(doc, [{"op": "stop"}], now=2_200_000)
    assert stopped == {"playing": False, "beat": 2.0, "time": 2_200_000}
    # play again resumes where it stopped
    assert transport_after(doc, [{"op": "play"}], now=3_000_000)["beat"] == 2.0
    sought = transport_after(doc, [{"op": "seek", "beat": 16.0}], now=4_000_000, lead=300_000)
    assert sought == {"playing": True, "beat": 16.0, "time": 4_300_000, "start": 16.0}
    transport_after(doc, [{"op": "stop"}], now=5_000_000)
    assert transport_after(doc, [{"op": "seek", "beat": 2.5}], now=6_000_000) == {
        "playing": False, "beat": 2.5, "time": 6_000_000,
    }  # fmt: skip


def test_stop_during_the_count_in_stays_at_the_start() -> None:
    doc = project_doc()
    transport_after(doc, [{"op": "seek", "beat": 8.0}], now=0)
    transport_after(doc, [{"op": "play"}], now=1_000_000)  # starts at 1.2 s
    assert transport_after(doc, [{"op": "stop"}], now=1_100_000)["beat"] == 8.0


def test_tempo_change_while_playing_reanchors_first() -> None:
    doc = project_doc(tempo=120.0)
    transport_after(doc, [{"op": "play"}], now=0)  # beat 0 at 0.2 s
    ops = resolve(
        doc, [{"op": "set", "id": "project", "field": "tempo", "value": 60}], 2_200_000, 0
    )
    assert [op["field"] for op in ops] == ["transport", "tempo"]
    assert ops[0]["value"] == {"playing": True, "beat": 4.0, "time": 2_200_000, "start": 0.0}
    apply_all(doc, ops)
    tl = Timeline.of(doc.project)
    assert tl.beat_at(3_200_000) == 5.0  # one beat per second from there
    # and a meter change too; a stopped transport needs no anchor
    ops = resolve(
        doc, [{"op": "set", "id": "project", "field": "meter", "value": [3, 4]}], 3_200_000, 0
    )
    assert [op["field"] for op in ops] == ["transport", "meter"]
    apply_all(doc, resolve(doc, [{"op": "stop"}], 3_200_000, 0))
    ops = resolve(
        doc, [{"op": "set", "id": "project", "field": "tempo", "value": 90}], 4_000_000, 0
    )
    assert [op["field"] for op in ops] == ["tempo"]


def test_intents_in_one_batch_resolve_in_order() -> None:
    """[tempo, play, stop] in one edit: each sees the state the previous one left."""
    doc = project_doc(tempo=120.0)
    ops = resolve(
        doc,
        [
            {"op": "play"},
            {"op": "set", "id": "project", "field": "tempo", "value": 240},
            {"op": "stop"},
        ],
        1_000_000,
        0,
    )
    apply_all(doc, ops)
    # played at 1 s, re-anchored at 1 s (beat 0), stopped at 1 s: still beat 0
    assert doc.project["transport"] == {"playing": False, "beat": 0.0, "time": 1_000_000}
    assert doc.project["tempo"] == 240.0


def test_concurrent_requests_resolve_deterministically_in_server_order() -> None:
    requests = [
        [{"op": "play"}],
        [{"op": "set", "id": "project", "field": "tempo", "value": 90}],
        [{"op": "stop"}],
        [{"op": "play"}],
    ]
    results = []
    for _ in range(2):
        doc = project_doc()
        for i, ops in enumerate(requests):
            apply_all(doc, resolve(doc, ops, 1_000_000 + i * 700_000, 200_000))
        results.append(doc.to_data())
    assert results[0] == results[1]
    assert results[0]["project"]["transport"]["playing"] is True


@pytest.mark.parametrize(
    ("op", "error", "code"),
    [
        ({"op": "play", "at": 1}, BadField, "bad_field"),
        ({"op": "stop", "now": 1}, BadField, "bad_field"),
        ({"op": "seek"}, BadField, "bad_field"),
        ({"op": "seek", "beat": -1}, OutOfRange, "out_of_range"),
        ({"op": "seek", "beat": "one"}, BadField, "bad_field"),
        ({"op": "seek", "beat": float("nan")}, OutOfRange, "out_of_range"),
        ({"op": "seek", "beat": 1e12}, OutOfRange, "out_of_range"),
        ({"op": "set", "id": "project", "field": "transport", "value": {}}, BadField, "bad_field"),
        (
            {"op": "set", "id": "project", "field": "tempo", "value": 19.9},
            OutOfRange,
            "out_of_range",
        ),
        (
            {"op": "set", "id": "project", "field": "tempo", "value": 1000},
            OutOfRange,
            "out_of_range",
        ),
        ({"op": "set", "id": "project", "field": "meter", "value": [4, 5]}, BacklineError, None),
        ({"op": "set", "id": "project", "field": "meter", "value": [0, 4]}, BacklineError, None),
    ],
)
def test_bad_transport_requests_change_nothing(
    op: dict[str, Any], error: type[BacklineError], code: str | None
) -> None:
    doc = project_doc()
    transport_after(doc, [{"op": "play"}], now=0)  # playing: tempo/meter would re-anchor
    before = doc.to_data()
    with pytest.raises(error) as info:
        apply_all(doc, resolve(doc, [op], 5_000_000, 200_000))
    if code is not None:
        assert info.value.code.value == code
    assert doc.to_data() == before


def test_undo_never_moves_the_playhead() -> None:
    doc = project_doc()
    inverse = apply_all(doc, resolve(doc, [{"op": "play"}], 0, 0))
    assert without_transport(inverse) is None
    tempo = resolve(doc, [{"op": "set", "id": "project", "field": "tempo", "value": 90}], 10, 0)
    inverse = apply_all(doc, tempo)
    assert without_transport(inverse) == {
        "op": "set", "id": "project", "field": "tempo", "value": 120.0,
    }  # fmt: skip


# -- play from a beat, stop back, loops, swing ----------------------------------


def test_play_from_a_beat_and_stop_back_where_it_began() -> None:
    doc = project_doc(tempo=120.0)
    started = transport_after(doc, [{"op": "play", "beat": 8.0, "count_in": 1}], now=0)
    assert started == {"playing": True, "beat": 8.0, "time": 2_200_000, "start": 8.0}
    stayed = transport_after(doc, [{"op": "stop"}], now=3_200_000)
    assert stayed["beat"] == 10.0 and "start" not in stayed
    transport_after(doc, [{"op": "play"}], now=4_000_000)
    back = transport_after(doc, [{"op": "stop", "back": True}], now=6_000_000)
    assert back == {"playing": False, "beat": 10.0, "time": 6_000_000}


@pytest.mark.parametrize(
    ("op", "code"),
    [
        ({"op": "play", "count_in": 5}, "out_of_range"),
        ({"op": "play", "count_in": "1"}, "bad_field"),
        ({"op": "play", "beat": -1}, "out_of_range"),
        ({"op": "stop", "back": 1}, "bad_field"),
        ({"op": "play", "from": 1}, "bad_field"),
    ],
)
def test_bad_intents_change_nothing(op: dict[str, Any], code: str) -> None:
    doc = project_doc()
    before = dict(doc.project["transport"])
    with pytest.raises(BacklineError) as refused:
        resolve(doc, [op], 0, 0)
    assert refused.value.code == code
    assert doc.project["transport"] == before


def looping(start: float, end: float, beat: float = 0.0) -> Timeline:
    return Timeline(120.0, (4, 4), True, beat, 0, beat, (start, end))


def test_the_position_folds_into_the_loop_for_everyone() -> None:
    tl = looping(0.0, 4.0)
    per_beat = US_PER_MINUTE / 120
    assert tl.beat_at(3.5 * per_beat) == 3.5
    assert tl.beat_at(4 * per_beat) == 0.0  # the loop's end is its start again
    assert math.isclose(tl.beat_at(21 * per_beat), 1.0)
    assert math.isclose(tl.linear_at(21 * per_beat), 21.0)
    for k in range(2000):  # 20 s of positions, each inside the loop
        assert 0.0 <= tl.beat_at(k * 10_000) < 4.0
    # started after the loop's end: it plays on past it
    assert looping(0.0, 4.0, beat=6.0).beat_at(0.5 * per_beat) == 6.5


def test_segments_cut_a_linear_range_at_each_wrap() -> None:
    tl = looping(2.0, 4.0)
    assert tl.segments(1.0, 9.0) == [
        (1.0, 4.0, 1.0),
        (4.0, 6.0, 2.0),
        (6.0, 8.0, 2.0),
        (8.0, 9.0, 2.0),
    ]
    assert Timeline(120.0, (4, 4), True, 0.0, 0).segments(1.0, 9.0) == [(1.0, 9.0, 1.0)]


def test_a_loop_change_while_playing_reanchors_where_the_music_is() -> None:
    doc = project_doc(tempo=120.0)
    transport_after(doc, [{"op": "play"}], now=0)  # beat 0 at 0.2 s
    loop = {"start": 0, "end": 4 * 960, "on": True}
    ops = resolve(
        doc, [{"op": "set", "id": "project", "field": "loop", "value": loop}], 1_200_000, 0
    )
    assert [op["field"] for op in ops] == ["transport", "loop"]
    apply_all(doc, ops)
    tl = Timeline.of(doc.project)
    assert tl.beat_at(1_200_000) == 2.0 and tl.beat_at(2_200_000) == 0.0


@settings(max_examples=300, deadline=None)
@given(st.floats(0.0, 1000.0), st.floats(0.0, 1.0))
def test_swing_moves_off_sixteenths_only_and_unwarps_exactly(beat: float, swing: float) -> None:
    warped = swing_warp(beat, swing)
    assert math.isclose(swing_unwarp(warped, swing), beat, abs_tol=1e-9)
    assert beat - 1e-9 <= warped <= beat + swing * 0.25 / 3 + 1e-9
    eighth = round(beat * 2) / 2
    assert math.isclose(swing_warp(eighth, swing), eighth, abs_tol=1e-9)


def test_full_swing_is_a_triplet_feel() -> None:
    assert math.isclose(swing_warp(0.25, 1.0), 1 / 3)
    assert math.isclose(swing_warp(1.75, 0.5), 1.5 + 0.25 + 0.25 / 6)
    assert swing_warp(0.25, 0.0) == 0.25
