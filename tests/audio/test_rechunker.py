"""`Rechunker`: any sender's packet sizes become the room's whole frames on the sender's timeline."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backline.media.frames import Rechunker

FRAME = 480


def ramp(start: int, n: int) -> np.ndarray:
    """Samples whose value is their RTP time, so any misplacement shows."""
    return np.arange(start, start + n, dtype=np.float32)


def test_a_20ms_packet_becomes_two_frames_with_consecutive_indexes() -> None:
    r = Rechunker(FRAME)
    out = r.push(ramp(1000, 960), 1000)
    first = out[0][0]  # indexes count frames on the RTP timeline: (1000 - 40) // 480
    assert [i for i, _ in out] == [first, first + 1] and first == 2
    assert out[0][1][0] == 1000 and out[1][1][0] == 1480
    out = r.push(ramp(1960, 960), 1960)
    assert [i for i, _ in out] == [first + 2, first + 3]


def test_short_packets_are_joined() -> None:
    r = Rechunker(FRAME)
    assert r.push(ramp(0, 240), 0) == []
    ((index, frame),) = r.push(ramp(240, 240), 240)
    assert index == 0 and np.array_equal(frame, ramp(0, 480))


def test_a_gap_drops_the_partial_frame_and_realigns_on_the_grid() -> None:
    r = Rechunker(FRAME)
    assert r.push(ramp(0, 240), 0) == []
    # 240..480 lost; the next packet starts mid-frame: its head is dropped up to the grid
    out = r.push(ramp(720, 480), 720)
    assert out == []  # 720..960 is half of frame 1, which lost its first half
    ((index, frame),) = r.push(ramp(1200, 480), 1200)
    assert index == 2 and frame[0] == 960


def test_frame_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Rechunker(0)


@given(
    start=st.integers(0, 2**31),
    sizes=st.lists(st.sampled_from([120, 240, 480, 960, 1920, 2880]), min_size=1, max_size=40),
)
def test_contiguous_packets_of_any_size_give_exact_consecutive_frames(
    start: int, sizes: list[int]
) -> None:
    r = Rechunker(FRAME)
    frames: list[tuple[int, np.ndarray]] = []
    pts = start
    for size in sizes:
        frames += r.push(np.arange(size, dtype=np.float64).astype(np.float32) + (pts - start), pts)
        pts += size
    assert len(frames) == sum(sizes) // FRAME
    for k, (index, frame) in enumerate(frames):
        assert index == frames[0][0] + k  # never lost, doubled or reordered
        assert len(frame) == FRAME
        assert frame[0] == k * FRAME and frame[-1] == k * FRAME + FRAME - 1
