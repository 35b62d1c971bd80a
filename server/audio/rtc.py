"""The one server module that touches aiortc: a participant's peer connection.

Everything else in the audio room works on numpy frames (mono float32 at
48 kHz, one array per frame period); this adapter turns aiortc's decoded
`av.AudioFrame`s into such arrays and the room's mixes back into frames for
the outgoing Opus track.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket

from .opus import OpusDecoder, OpusEncoder, wanted_frame_ms

__all__ = ["SAMPLE_RATE", "MixTrack", "RtcPeer", "release_immediately", "to_frame", "to_mono"]

log = logging.getLogger("backline.audio.rtc")

SAMPLE_RATE = 48_000
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


class MixTrack(MediaStreamTrack):
    """The outgoing track: encodes whatever the room pushes, in order, without waiting.

    The room pushes one frame per tick; the track encodes them into Opus
    packets of the peer's packet duration (two 10 ms frames make one 20 ms
    packet for a peer that asked for those) and hands aiortc the packets, which
    it sends as they are. At most `depth` frames wait here: when the sender
    falls behind, the oldest are dropped, so a hiccup never turns into lasting
    delay.
    """

    kind = "audio"

    def __init__(self, frame_ms: int = 10, depth: int = 4) -> None:
        super().__init__()
        self.encoder = OpusEncoder(frame_ms)
        self._frames: deque[Samples | tuple[bytes, int]] = deque(maxlen=depth)
        self._ready = asyncio.Event()
        self._held: list[Samples] = []  # frames of a packet not complete yet

    def push(self, samples: Samples) -> None:
        self._frames.append(samples)
        self._ready.set()

    def forward(self, payload: bytes, samples: int) -> None:
        """Send an already encoded packet of `samples` as it is (pass-through)."""
        self._frames.append((payload, samples))
        self._ready.set()

    async def recv(self) -> av.Packet[Any]:
        while True:
            while not self._frames:
                if self.readyState != "live":
                    raise MediaStreamError
                self._ready.clear()
                await self._ready.wait()
            item = self._frames.popleft()
            if isinstance(item, tuple):
                self._held = []  # a mix cut short by the switch to pass-through
                return self.encoder.forward(*item)
            self._held.append(item)
            if sum(len(f) for f in self._held) >= self.encoder.samples:
                samples = np.concatenate(self._held) if len(self._held) > 1 else self._held[0]
                self._held = []
                return self.encoder.encode(samples[: self.encoder.samples])

    def stop(self) -> None:
        super().stop()
        self._ready.set()


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


class RtcPeer:
    """One participant's connection: its audio in, its personal mix out."""

    def __init__(
        self,
        label: str,
        on_frame: Callable[[Samples, int], None],
        on_packet: Callable[[bytes, int], None] | None = None,
    ) -> None:
        """`on_frame(samples, pts)` gets each decoded chunk with its RTP timestamp;
        `on_packet(payload, rtp_timestamp)` each encoded packet as it arrives."""
        self.label = label
        self._on_frame = on_frame
        self._on_packet = on_packet
        self._pc = RTCPeerConnection()
        self.mix: MixTrack | None = None  # made when the offer says which packets to send
        self.frame_ms = 10
        self._decoder = OpusDecoder()
        self._pc.on("connectionstatechange", self._on_state)

    @property
    def state(self) -> str:
        return str(self._pc.connectionState)

    async def answer(self, offer_sdp: str, receive: bool = True) -> str:
        """Take the participant's offer; return our answer (candidates included).

        With `receive` false the answer is send-only: the participant listens and
        its client sends no audio (and any that arrives is not used).
        """
        self.frame_ms = wanted_frame_ms(offer_sdp)
        self.mix = MixTrack(self.frame_ms)
        self._pc.addTrack(self.mix)
        await self._pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        if not receive:
            for transceiver in self._pc.getTransceivers():
                if transceiver.kind == "audio":
                    transceiver.direction = "sendonly"
        release_immediately(self._pc, self._arrived, decode=False)
        answer = await self._pc.createAnswer()
        await self._pc.setLocalDescription(answer)
        return str(self._pc.localDescription.sdp)

    def send(self, samples: Samples) -> None:
        if self.mix is not None:
            self.mix.push(samples)

    def forward(self, payload: bytes, samples: int) -> None:
        if self.mix is not None:
            self.mix.forward(payload, samples)

    async def close(self) -> None:
        if self.mix is not None:
            self.mix.stop()
        await self._pc.close()

    def _arrived(self, payload: bytes, rtp_timestamp: int) -> None:
        """Each packet, on the event loop as it arrives: forward it, then decode it."""
        if self._on_packet is not None:
            self._on_packet(payload, rtp_timestamp)
        try:
            samples = self._decoder.decode(payload)
        except av.FFmpegError as exc:  # a corrupt packet costs that packet only
            log.debug("%s: undecodable audio packet: %s", self.label, exc)
            return
        if len(samples):
            self._on_frame(samples, rtp_timestamp)

    async def _on_state(self) -> None:
        log.info("%s: peer connection %s", self.label, self._pc.connectionState)
