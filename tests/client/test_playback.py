"""TimelineTrack renders each sound at the sample that maps to its beat's server time.

No network here: the frames the track would hand aiortc are taken directly,
with a clock whose local time the test sets, so every figure is exact.
"""

from __future__ import annotations

import numpy as np

from backline.client.audio import FRAME, SAMPLE_RATE
from backline.client.bots.drummer import drum_score
from backline.client.bots.metronome import ACCENT, metronome_score
from backline.client.clock import Clock
from backline.client.playback import SendLatency, TimelineTrack, codec_delay_samples
from backline.client.synth import ACCENT_HZ, CLICK_HZ
from backline.protocol.model import Document
from backline.protocol.ops import apply
from backline.protocol.timeline import Timeline

OFFSET_US = 5_000_000.0  # server clock minus this machine's
LATENCY = SendLatency(network_us=100, tick_wait_us=5_000, codec_us=2_500)


def clock_at(local: list[float]) -> Clock:
    clock = Clock(local=lambda: local[0])
    for _ in range(Clock.SYNCED_AFTER):  # exchanges with no round trip: offset exactly known
        clock.add(0.0, OFFSET_US, OFFSET_US, 0.0)
    return clock


def play(track: TimelineTrack, local: list[float], frames: int, first: int = 0) -> np.ndarray:
    out = []
    for k in range(first, first + frames):
        local[0] = 1_000_000 + k * FRAME * 1e6 / SAMPLE_RATE  # frame k leaves on time
        out.append(track.frame(k))
    return np.concatenate(out)


def onsets(signal: np.ndarray, quiet: int = 2_400) -> list[int]:
    loud = np.flatnonzero(np.abs(signal) > 1e-4)
    return [int(i) for k, i in enumerate(loud) if k == 0 or i - loud[k - 1] > quiet]


def server_time(index: int) -> float:
    """Server µs of sample `index` of the track, as the track maps it."""
    return 1_000_000 + OFFSET_US + LATENCY.total_us + index * 1e6 / SAMPLE_RATE


def test_clicks_start_at_the_sample_of_their_beat_accented_on_bar_lines() -> None:
    local = [0.0]
    start = 1_000_000 + OFFSET_US + 123_457  # a start that falls inside a frame
    timeline = Timeline(150.0, (3, 4), True, 0.0, int(start))
    track = TimelineTrack(lambda: timeline, clock_at(local), metronome_score, LATENCY)
    signal = play(track, local, 300)  # 3 s: beats 0..7, 0.4 s apart
    found = onsets(signal)
    assert len(found) == 8
    for beat, index in enumerate(found):
        assert abs(server_time(index) - timeline.time_at(beat)) < 1e6 / SAMPLE_RATE  # its sample
        burst = signal[index : index + 480]
        spectrum = np.abs(np.fft.rfft(burst, n=1 << 14))
        pitch = np.fft.rfftfreq(1 << 14, 1 / SAMPLE_RATE)[np.argmax(spectrum)]
        assert abs(pitch - (ACCENT_HZ if beat % 3 == 0 else CLICK_HZ)) < 50
        assert np.max(np.abs(burst)) > (0.5 if beat % 3 == 0 else 0.3)


def test_the_track_follows_tempo_and_stop_from_the_next_frame() -> None:
    local = [0.0]
    timelines = [Timeline(120.0, (4, 4), True, 0.0, int(1_000_000 + OFFSET_US + 100_000))]
    track = TimelineTrack(lambda: timelines[-1], clock_at(local), metronome_score, LATENCY)
    first = play(track, local, 100)  # 1 s: beats 0 and 1
    change = server_time(len(first))
    anchor = timelines[-1].anchored_at(int(change))
    timelines.append(Timeline(240.0, (4, 4), True, anchor["beat"], anchor["time"]))
    second = play(track, local, 100, first=100)  # 1 s at 240: beats 2, 3, 4, 5
    found = onsets(np.concatenate((first, second)))
    expected = [timelines[0].time_at(b) for b in (0, 1)] + [
        timelines[1].time_at(b) for b in (2, 3, 4, 5)
    ]
    assert [round(server_time(i) / 100) for i in found] == [round(t / 100) for t in expected]
    timelines.append(Timeline(240.0, (4, 4), False, 6.0, int(server_time(2 * 100 * FRAME))))
    silence = play(track, local, 100, first=200)
    assert not np.abs(
        silence[4_800:]
    ).any()  # a click started before the stop dies away, then nothing


def test_the_drummer_hears_an_edit_the_next_time_the_step_comes_round() -> None:
    doc = Document()
    apply(doc, {"op": "insert", "kind": "track", "id": "d", "value": {"kind": "drums"}})
    lanes = [{"sound": 42, "steps": [100, 0, 0, 0]}]  # a short hi-hat on every beat
    value = {"track": "d", "length": 4, "steps_per_beat": 4, "lanes": lanes}
    apply(doc, {"op": "insert", "kind": "pattern", "id": "p", "value": value})
    local = [0.0]
    timeline = Timeline(120.0, (4, 4), True, 0.0, int(1_000_000 + OFFSET_US + 100_000))
    track = TimelineTrack(lambda: timeline, clock_at(local), drum_score(lambda: doc), LATENCY)
    before = play(track, local, 75)  # 0.75 s: kicks at beats 0 and 1
    apply(doc, {"op": "set", "id": "p", "field": "steps", "at": [0, 2], "value": 127})
    after = play(track, local, 50, first=75)  # beat 1.5 (new step) at 0.75 s, beat 2 at 1 s
    found = [round(server_time(i) - timeline.time) for i in onsets(np.concatenate((before, after)))]
    assert [round(t / 1000) for t in found] == [0, 500, 750, 1000]


def test_the_default_latency_is_the_sum_of_its_measured_parts() -> None:
    local = [0.0]
    latency = SendLatency.estimate(clock_at(local), FRAME)
    frame_us = FRAME * 1e6 / SAMPLE_RATE
    assert latency.tick_wait_us == frame_us / 2 and latency.network_us == 0
    assert latency.codec_us == codec_delay_samples() * 1e6 / SAMPLE_RATE
    assert 0 < codec_delay_samples() < 400  # Opus look-ahead: 2.5 ms low-delay, 6.5 ms VoIP


def test_the_metronome_clicks_the_meters_unit_and_accents_its_bar_lines() -> None:
    def accents(meter: tuple[int, int], beats: float) -> list[tuple[float, bool]]:
        timeline = Timeline(120.0, meter, True, 0.0, 0)
        return [(b, s[0] is ACCENT) for b, s in metronome_score(timeline, 0, beats)]

    assert accents((4, 4), 8) == [(float(b), b % 4 == 0) for b in range(8)]
    # 6/8: a click every eighth (half a quarter), the accent every 3 quarters
    assert accents((6, 8), 6) == [(b / 2, b % 6 == 0) for b in range(12)]
    # 7/8: bars of 3.5 quarters, still on the eighth grid
    assert [b for b, accent in accents((7, 8), 7.5) if accent] == [0.0, 3.5, 7.0]
