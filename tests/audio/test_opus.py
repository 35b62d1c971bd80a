"""Our Opus encoder: 10 ms low-delay packets that decode back to the signal, on a continuous timeline."""

from __future__ import annotations

import av
import numpy as np
import pytest

from backline.media.opus import OpusEncoder, wanted_frame_ms
from backline.media.packets import packet_samples


def tone(n: int, start: int = 0, hz: float = 440.0) -> np.ndarray:
    t = (np.arange(n) + start) / 48_000
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.mark.parametrize("frame_ms", [10, 20])
def test_packets_decode_back_to_the_tone(frame_ms: int) -> None:
    encoder = OpusEncoder(frame_ms)
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate = 48_000
    decoder.layout = "mono"
    decoder.format = "s16"
    out = []
    n = encoder.samples
    for k in range(50):
        packet = encoder.encode(tone(n, k * n))
        assert packet.pts == k * n  # continuous timeline, no encoder padding offset
        assert packet_samples(bytes(packet)) == n
        for frame in decoder.decode(packet):
            out.append(frame.to_ndarray().reshape(-1).astype(np.float32) / 32768)
    heard = np.concatenate(out)[4800:]  # past the codec's start-up
    spectrum = np.abs(np.fft.rfft(heard * np.hanning(len(heard))))
    peak_hz = np.argmax(spectrum) * 48_000 / len(heard)
    assert abs(peak_hz - 440) < 10
    assert 0.15 < np.sqrt(np.mean(heard**2)) < 0.3  # 0.3 peak sine: RMS 0.21


def test_forwarded_packets_keep_the_timeline_continuous() -> None:
    encoder = OpusEncoder(10)
    first = encoder.encode(tone(480))
    forwarded = encoder.forward(b"\xf0\x00", 960)
    after = encoder.encode(tone(480))
    assert (first.pts, forwarded.pts, after.pts) == (0, 480, 1440)


def test_wrong_frame_length_or_duration_is_refused() -> None:
    with pytest.raises(ValueError):
        OpusEncoder(10).encode(tone(960))
    with pytest.raises(ValueError):
        OpusEncoder(5)


@pytest.mark.parametrize(
    ("sdp", "ms"),
    [
        ("v=0\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n", 10),  # what Chrome and aiortc offer
        ("v=0\r\na=rtpmap:111 opus/48000/2\r\n", 10),
        ("v=0\r\na=ptime:20\r\n", 20),
        ("v=0\r\na=fmtp:111 minptime=20;useinbandfec=1\r\n", 20),
        ("v=0\r\na=ptime:40\r\n", 20),  # longer than we send: 20, the longest we do
        ("v=0\r\na=ptime:junk\r\n", 10),
    ],
)
def test_packet_duration_follows_the_offer(sdp: str, ms: int) -> None:
    assert wanted_frame_ms(sdp) == ms
