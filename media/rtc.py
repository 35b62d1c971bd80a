"""The aiortc adapter the server and the SDK share: frames in and out, receive buffers.

Everything else works on numpy frames (mono float32 at 48 kHz, one array per
frame period); this adapter turns aiortc's decoded `av.AudioFrame`s into such
arrays and arrays back into frames, and gives receivers a buffer that releases
each packet at once (the caller owns jitter handling: `backline.media.jitter`).
"""

from __future__ import annotations

import fractions
import logging
from collections.abc import Callable

import av
import numpy as np
import numpy.typing as npt
from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

from backline.media.frames import SAMPLE_RATE

__all__ = ["TIME_BASE", "PassThroughBuffer", "release_immediately", "to_frame", "to_mono"]

log = logging.getLogger("backline.audio.rtc")

TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
Samples = npt.NDArray[np.float32]


def to_mono(frame: av.AudioFrame) -> Samples:
    """A decoded frame as mono float32 in [-1, 1)."""
    data = frame.to_ndarray()
    if frame.format.name != "s16":
        raise ValueError(f"expected s16 audio, got {frame.format.name}")
    channels = len(frame.layout.channels)
    if data.shape[0] == 1:  # packed (interleaved), what Opus decoders give
        interleaved = data.reshape(-1)
        if channels == 1:
            return interleaved.astype(np.float32) * np.float32(1 / 32768)
        if channels == 2:  # the common case: the cheapest exact average
            left = interleaved[0::2].astype(np.float32)
            left += interleaved[1::2]
            left *= np.float32(0.5 / 32768)
            return left
        samples = interleaved.reshape(-1, channels)
    else:
        samples = data.T
    mono: Samples = samples.astype(np.float32).mean(axis=1) / 32768.0
    return mono


def to_frame(samples: Samples, pts: int) -> av.AudioFrame:
    pcm = np.clip(np.rint(samples * 32767.0), -32768, 32767).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    frame.time_base = TIME_BASE
    return frame


class PassThroughBuffer(JitterBuffer):
    """aiortc's receive buffer, replaced: every audio packet goes to the decoder at once.

    Stock aiortc holds 4 frames (80 ms at 20 ms frames) before it releases any,
    and even with no prefetch it releases a frame only when the *next* one
    arrives (it waits for a new RTP timestamp to know the frame is complete):
    a whole frame of delay per hop. An Opus frame is always exactly one RTP
    packet, so nothing needs assembling: each packet is handed over as it
    arrives. Reordering, loss and playout delay are handled after decoding by
    the room's own adaptive buffer, which is the one place that knows the
    mix's timing. A packet older than the newest one already handed over (a
    repeat, or overtaken on the way) is dropped: Opus decoders carry state from
    frame to frame, so decoding out of order would damage the next frames too.

    `on_packet(payload, rtp_timestamp)` sees each new encoded packet first. With
    `decode=False` the packet goes no further: the caller decodes it itself (the
    server does, on the event loop: cheaper than aiortc's decoder thread and its
    two thread hops per packet, and no later).
    """

    def __init__(
        self, on_packet: Callable[[bytes, int], None] | None = None, decode: bool = True
    ) -> None:
        super().__init__(capacity=16, prefetch=0)
        self.on_packet = on_packet
        self.decode = decode
        self._newest: int | None = None  # highest sequence number handed over

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        seq = packet.sequence_number
        if self._newest is not None and 0 < ((self._newest - seq) & 0xFFFF) < 0x8000:
            return False, None  # older than one already decoded: too late, and
            # decoding it now would corrupt the decoder's inter-frame state
        self._newest = seq
        data: bytes = getattr(packet, "_data", packet.payload)
        if self.on_packet is not None and data:
            self.on_packet(data, packet.timestamp)
        if not self.decode:
            return False, None
        return False, JitterFrame(data=data, timestamp=packet.timestamp)


def release_immediately(
    pc: RTCPeerConnection,
    on_packet: Callable[[bytes, int], None] | None = None,
    decode: bool = True,
) -> None:
    """Give every audio receiver of `pc` a `PassThroughBuffer`.

    aiortc has no public option for its receive buffer: the receiver's private
    buffer is replaced, here and only here, right after the receivers exist and
    before any packet arrives.
    """
    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        if transceiver.kind == "audio" and hasattr(receiver, _JITTER_ATTRIBUTE):
            setattr(receiver, _JITTER_ATTRIBUTE, PassThroughBuffer(on_packet, decode))


_JITTER_ATTRIBUTE = "_RTCRtpReceiver__jitter_buffer"
