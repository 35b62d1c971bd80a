"""Opus packet durations read from the TOC byte, checked against real libopus packets."""

from __future__ import annotations

import fractions

import av
import numpy as np
import pytest

from backline.media.packets import FRAME_SAMPLES, packet_samples


def _encode(frame_ms: float, application: str) -> bytes:
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = 48_000
    codec.layout = "mono"
    codec.format = "s16"
    codec.bit_rate = 64_000
    codec.time_base = fractions.Fraction(1, 48_000)
    codec.options = {"application": application, "frame_duration": str(frame_ms)}
    codec.open()
    samples = int(48 * frame_ms)
    t = np.arange(samples) / 48_000
    pcm = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
    frame.sample_rate = 48_000
    frame.pts = 0
    frame.time_base = codec.time_base
    (packet,) = codec.encode(frame)
    return bytes(packet)


@pytest.mark.parametrize("frame_ms", [2.5, 5, 10, 20, 40, 60])
@pytest.mark.parametrize("application", ["lowdelay", "voip", "audio"])
def test_duration_of_real_packets(frame_ms: float, application: str) -> None:
    if application == "lowdelay" and frame_ms > 20:
        frame_ms = 20  # CELT frames stop at 20 ms; longer packets carry several
    assert packet_samples(_encode(frame_ms, application)) == int(48 * frame_ms)


def test_the_table_covers_every_mode() -> None:
    assert FRAME_SAMPLES[0:4] == (480, 960, 1920, 2880)  # SILK narrowband
    assert FRAME_SAMPLES[12:16] == (480, 960, 480, 960)  # hybrid
    assert FRAME_SAMPLES[28:32] == (120, 240, 480, 960)  # CELT fullband


def test_frame_count_codes() -> None:
    celt_10ms = 30 << 3  # config 30: CELT fullband 10 ms
    assert packet_samples(bytes([celt_10ms | 0, 0])) == 480  # one frame
    assert packet_samples(bytes([celt_10ms | 1, 0])) == 960  # two equal frames
    assert packet_samples(bytes([celt_10ms | 2, 0])) == 960  # two frames of different size
    assert packet_samples(bytes([celt_10ms | 3, 5])) == 2400  # code 3: five frames
    assert packet_samples(bytes([celt_10ms | 3, 0x80 | 5])) == 2400  # VBR flag ignored


@pytest.mark.parametrize(
    "packet",
    [
        b"",  # nothing
        bytes([(30 << 3) | 3]),  # code 3 without its count byte
        bytes([(30 << 3) | 3, 0]),  # zero frames
        bytes([(3 << 3) | 3, 3]),  # 3 x 60 ms: over the 120 ms limit
    ],
)
def test_invalid_packets_have_no_duration(packet: bytes) -> None:
    assert packet_samples(packet) is None
