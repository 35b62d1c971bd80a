"""Stem alignment and the recorded mix: pure, no clock, no aiortc."""

from __future__ import annotations

import numpy as np
import pytest

from backline.media.chain import limit, true_peak_db
from backline.media.frames import to_int16
from backline.protocol.dsp import LIMITER_DELAY
from backline.server.audio.stems import Chunk, Multitrack, StemAligner

N = 480  # 10 ms frames at 48 kHz
FRAME_US = 10_000


def assemble(chunks: list[Chunk], track: str | None) -> np.ndarray:
    """One file's content from its chunks, as the writer would append them."""
    parts = [
        np.zeros(c.silent, dtype=np.int16) if c.pcm is None else c.pcm
        for c in chunks
        if c.track == track
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def ramp(k: int, n: int = N) -> np.ndarray:
    """Frame k of a signal whose every sample says where it belongs: sample i = (k*n + i)."""
    return ((np.arange(n) + k * n) % 30_000 / 32768).astype(np.float32)


def test_jittery_arrivals_are_placed_by_timestamp_not_arrival() -> None:
    aligner = StemAligner()
    rng = np.random.default_rng(1)
    errors = []
    for k in range(300):
        true_start = 1_000_000 + k * FRAME_US + 2_000  # sent on time, 2 ms of transit at best
        arrival = true_start + FRAME_US + int(rng.integers(0, 15_000))  # plus up to 15 ms jitter
        errors.append(aligner.place(k * N, arrival, N) - true_start)
    # after a few frames the fastest path is known: 15 ms of jitter, under 0.5 ms of error
    assert all(0 <= e <= 500 for e in errors[50:]), max(errors[50:])
    assert max(errors[:50]) > 500  # (the first frames could not know better)


def test_a_frame_ends_at_its_arrival_on_the_fastest_path() -> None:
    aligner = StemAligner()
    assert aligner.place(96_000, 5_000_000, N) == 5_000_000 - FRAME_US
    assert aligner.offset_us == 5_000_000 - 2_000_000


def test_timestamps_wrap_past_32_bits() -> None:
    aligner = StemAligner()
    start = 2**32 - 2 * N
    times = [aligner.place((start + k * N) % 2**32, 1_000_000 + k * FRAME_US, N) for k in range(5)]
    assert np.diff(times).tolist() == [FRAME_US] * 4


def test_a_new_timeline_resets_the_mapping() -> None:
    aligner = StemAligner()
    aligner.place(0, 1_000_000, N)
    aligner.place(N, 1_010_000, N)
    # the sender restarted: timestamps jump by hours
    placed = aligner.place(123_456_789, 1_020_000, N)
    assert placed == 1_020_000 - FRAME_US
    assert aligner.resets == 1


def test_the_offset_follows_drift_within_the_window() -> None:
    aligner = StemAligner(window_us=500_000)
    # the sender's clock is slow: each frame arrives 10 µs later than the last one's period
    for k in range(200):
        aligner.place(k * N, 1_000_000 + k * (FRAME_US + 10), N)
    offset = aligner.offset_us
    assert offset is not None
    # the minimum comes from frames at most 0.5 s old, not from the first frame
    assert offset >= 1_000_000 + 140 * 10


def feed(mt: Multitrack, track: str, k0: int, frames: int, arrive_at: int, jitter: int = 0) -> None:
    rng = np.random.default_rng(k0)
    for k in range(k0, k0 + frames):
        delay = int(rng.integers(0, jitter + 1))
        mt.add(track, ramp(k), k * N, arrive_at + (k - k0 + 1) * FRAME_US + delay)


def test_stems_start_at_the_recording_start_and_keep_every_sample() -> None:
    mt = Multitrack(start_us=1_000_000)
    # a joins 50 ms after the start; frames arrive with up to 8 ms of jitter
    feed(mt, "a", 0, 100, arrive_at=1_050_000, jitter=8_000)
    mt.finish(2_100_000)
    a = assemble(mt.take(), "a")
    assert len(a) == mt.position(2_100_000)
    lead = 50 * 48  # where a's first sample belongs: 50 ms in
    first = int(np.flatnonzero(a)[0]) - 1  # (the ramp's first sample is 0)
    assert abs(first - lead) <= 48  # within a millisecond, the tolerance
    # the warm-up knew the fastest path before placing: no sample lost or repeated
    expected = to_int16(np.concatenate([ramp(k) for k in range(100)]))
    np.testing.assert_array_equal(a[first : first + 100 * N], expected)
    assert not a[first + 100 * N :].any()


def test_two_senders_of_one_moment_line_up_whatever_their_transit() -> None:
    """Same audio, sent at the same time: one over a jittery path, one over a clean one."""
    mt = Multitrack(start_us=0)
    click = np.zeros(N, dtype=np.float32)
    click[100] = 0.5
    for k in range(200):
        frame = click if k == 150 else np.zeros(N, dtype=np.float32)
        sent = (k + 1) * FRAME_US
        mt.add("clean", frame, 7_000 + k * N, sent + 1_000)
        jitter = 0 if k % 17 == 0 else (k * 7919) % 25_000
        mt.add("jittery", frame, 99_000 + k * N, sent + 1_000 + jitter)
    mt.finish(2_100_000)
    chunks = mt.take()
    clean, jittery = assemble(chunks, "clean"), assemble(chunks, "jittery")
    assert int(np.argmax(clean)) == int(np.argmax(jittery)) == 150 * N + 100 + 48  # 1 ms transit
    mix = assemble(chunks, None)
    assert len(mix) == len(clean) == len(jittery)
    assert int(np.argmax(mix)) == int(np.argmax(clean))
    assert mix.max() > clean.max()  # both clicks, summed


def test_a_lost_frame_leaves_silence_of_its_length() -> None:
    mt = Multitrack(start_us=0)
    for k in range(20):
        if k != 7:
            mt.add("a", ramp(k), k * N, (k + 1) * FRAME_US)
    mt.finish(20 * FRAME_US)
    a = assemble(mt.take(), "a")
    assert not a[7 * N : 8 * N].any()
    assert a[8 * N + 1] != 0
    assert mt.padded == N


def test_a_faster_frame_later_trims_the_overlap_instead_of_shifting_the_stem() -> None:
    mt = Multitrack(start_us=0, tolerance_us=1_000, warmup_us=0)
    for k in range(10):
        mt.add("a", ramp(k), k * N, (k + 1) * FRAME_US + 5_000)
    # from frame 10 on the path is 5 ms faster: the stem moves back 5 ms, once
    for k in range(10, 20):
        mt.add("a", ramp(k), k * N, (k + 1) * FRAME_US)
    assert mt.trimmed == 240
    # and small moves within the tolerance are absorbed
    for k in range(20, 30):
        mt.add("a", ramp(k), k * N, (k + 1) * FRAME_US - 500)
    assert mt.trimmed == 240 and mt.padded == 0


def test_the_mix_is_made_behind_the_present_and_completed_at_the_end() -> None:
    mt = Multitrack(start_us=0, mix_lag_us=100_000, warmup_us=50_000)
    for k in range(50):
        t = (k + 1) * FRAME_US
        mt.add("a", ramp(k), k * N, t)
        mt.add("b", ramp(k), k * N, t)
        mt.advance(t)
    assert mt.length() == mt.position(50 * FRAME_US - 100_000)
    mt.finish(50 * FRAME_US)
    chunks = mt.take()
    mix, a = assemble(chunks, None), assemble(chunks, "a")
    assert len(mix) == len(a) == 50 * N
    # the sum through the master limiter (a's int16 samples are its floats exactly), aligned:
    # the mix is chain.limit of the whole take, the limiter's real-time delay dropped
    total = (a.astype(np.float32) * 2 / 32768).astype(np.float32)
    expected, _ = limit(np.pad(total, (0, LIMITER_DELAY))[None, :], -1.0)
    np.testing.assert_allclose(mix, to_int16(expected[0, : len(mix)]), atol=1)
    quiet = np.arange(len(a)) < 13_000  # the first ramp, before the sum nears the limit
    np.testing.assert_array_equal(mix[quiet], 2 * a[quiet].astype(np.int32))
    assert mix.max() > a.max() and true_peak_db((mix[None, :] / 32768).astype(np.float32)) <= -1.0


def test_a_frame_too_late_for_the_mix_is_still_in_its_stem() -> None:
    mt = Multitrack(start_us=0, mix_lag_us=50_000, warmup_us=0)
    for k in range(30):
        mt.add("a", ramp(k), k * N, (k + 1) * FRAME_US)
    mt.advance(400_000)  # the mix is made up to 350 ms; b's frame from 100 ms comes later
    mt.add("b", np.full(N, 0.5, dtype=np.float32), 0, 110_000)
    mt.add("b", np.full(N, 0.5, dtype=np.float32), 10 * N, 500_000)
    mt.finish(600_000)
    chunks = mt.take()
    b, mix, a = assemble(chunks, "b"), assemble(chunks, None), assemble(chunks, "a")
    assert b[4_800 : 4_800 + N].all()  # its stem has it, at 100 ms
    np.testing.assert_array_equal(mix[: 30 * N], a[: 30 * N])  # the mix could not wait


@pytest.mark.parametrize("end_us", [0, 5_000])
def test_finish_gives_every_file_the_same_length(end_us: int) -> None:
    mt = Multitrack(start_us=0)
    mt.add("a", ramp(0), 0, 20_000)
    mt.add("b", ramp(0), 0, 40_000)
    mt.finish(end_us)
    chunks = mt.take()
    lengths = {len(assemble(chunks, t)) for t in ("a", "b", None)}
    assert lengths == {mt.position(40_000)}
    mt.add("a", ramp(1), N, 50_000)  # after the end: ignored
    assert mt.take() == []


def test_restart_starts_a_new_timeline_for_that_sender() -> None:
    mt = Multitrack(start_us=0)
    for k in range(10):
        mt.add("a", ramp(k), k * N, (k + 1) * FRAME_US)
    mt.restart("a")
    # reconnected 50 ms later with a new timestamp origin close to the old one
    for k in range(5):
        mt.add("a", ramp(k), 300 + k * N, 150_000 + (k + 1) * FRAME_US)
    mt.finish(300_000)
    a = assemble(mt.take(), "a")
    assert not a[10 * N : 15 * N].any()  # the 50 ms the sender was away
    assert a[15 * N + 1] != 0


def test_a_stall_of_over_a_second_is_counted_per_stem() -> None:
    mt = Multitrack(0, warmup_us=0, mix_lag_us=0)
    frame = np.zeros(480, dtype=np.float32)
    for k in range(50):  # 0.5 s on time
        mt.add("steady", frame, k * 480, (k + 1) * 10_000)
        mt.add("stalled", frame, k * 480, (k + 1) * 10_000)
    for k in range(50, 60):  # then "stalled" arrives 1.5 s late: its timing is learnt afresh
        mt.add("steady", frame, k * 480, (k + 1) * 10_000)
        mt.add("stalled", frame, k * 480, (k + 1) * 10_000 + 1_500_000)
    assert (mt.resets("steady"), mt.resets("stalled"), mt.resets("nobody")) == (0, 1, 0)
