"""An outgoing audio track that plays events on the shared timeline, on time.

`TimelineTrack` is what the metronome and drummer bots publish. It renders one
frame at a time, just before aiortc sends it, and knows which span of *server*
time each frame will occupy in the room's mix:

    frame k covers  [to_server(t0 + k·T) + L,  … + T)

where ``t0`` is when frame 0 left (this machine's clock), ``T`` the frame
duration and ``L`` the send latency: how long a sample takes from leaving here
to being mixed by the server. The `Scheduler` places each event due in that
span at its sample; `Voices` carries sounds over frame edges. So a click is
mixed at the beat's server time, and every listener hears it in the same mix
frame: on the beat, plus only their own receive delay.

The send latency ``L`` (`SendLatency`) is the sum of

- the network one way, half the clock's measured round trip;
- the Opus codec's delay (its look-ahead: the decoded audio comes out later
  than it went in), measured here once by running the SDK's encoder and
  aiortc's decoder over a click (120 samples, 2.5 ms, in low-delay mode);
- the server's wait for its next mix tick: the room mixes every ``T`` on its
  own clock, so a frame waits between 0 and ``T`` (the phase between the two
  frame clocks is not known to a sender): ``T / 2`` on average. In a room of
  two the server forwards packets without mixing (pass-through) and this wait
  does not happen: the sound then reaches the other participant ``T / 2``
  earlier, which is within the same ±``T / 2`` as the unknown phase.

Packets reach the decoder as they arrive on both sides (`rtc.PassThroughBuffer`),
so no frame-assembly delay is added. What a sender cannot see is the room's
adaptive jitter buffer holding its stream more than one frame (one on a calm
network and machine; more under jitter).

Rendering happens inside aiortc's `recv()`, on the event loop; it is a few
numpy operations per frame.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from backline.client import audio
from backline.client.audio import SAMPLE_RATE, ArrayTrack, Samples
from backline.client.clock import Clock
from backline.client.scheduler import Scheduler
from backline.client.synth import Voices
from backline.protocol.timeline import Timeline

__all__ = ["Score", "SendLatency", "Sound", "TimelineTrack", "codec_delay_samples"]

log = logging.getLogger("backline.playback")

Sound = tuple[Samples, float]
"""A one-shot sound and the gain to play it at."""

Score = Callable[[Timeline, float, float], Iterable[tuple[float, Sound]]]
"""``score(timeline, lo, hi)``: the sounds with a beat in ``[lo, hi)``, as ``(beat, sound)``."""


@functools.cache
def codec_delay_samples() -> int:
    """How many samples later a sound comes out of the Opus encoder the SDK publishes
    with (`EncodingTrack`) and aiortc's decoder than it went in, measured on a click."""
    import av
    from aiortc.codecs.opus import OpusDecoder
    from aiortc.jitterbuffer import JitterFrame

    from backline.client.synth import click
    from backline.media.opus import OpusEncoder
    from backline.media.rtc import to_mono

    frame = audio.FRAME
    signal = np.zeros(frame * 24, dtype=np.float32)
    at = frame * 6 + 17
    burst = click(level=0.5)
    signal[at : at + len(burst)] = burst
    encoder, decoder = OpusEncoder(audio.FRAME_MS), OpusDecoder()
    out: list[Samples] = []
    for k in range(len(signal) // frame):
        packet = encoder.encode(signal[k * frame : (k + 1) * frame])
        for decoded in decoder.decode(JitterFrame(bytes(packet), k * frame)):
            assert isinstance(decoded, av.AudioFrame)
            out.append(to_mono(decoded))
    return onset(np.concatenate(out)) - onset(signal)


def onset(signal: Samples, fraction: float = 0.3) -> int:
    """Index of the first sample above ``fraction`` of the signal's peak."""
    magnitude = np.abs(signal)
    return int(np.flatnonzero(magnitude >= fraction * magnitude.max())[0])


@dataclass(frozen=True, slots=True)
class SendLatency:
    """The parts of the send latency, in µs (see the module docstring)."""

    network_us: float
    tick_wait_us: float
    codec_us: float

    @property
    def total_us(self) -> float:
        return self.network_us + self.tick_wait_us + self.codec_us

    def __str__(self) -> str:
        parts = (self.network_us, self.tick_wait_us, self.codec_us)
        network, wait, codec = (f"{p / 1000:.2f}" for p in parts)
        return (
            f"network {network} + tick wait {wait} + codec {codec} = {self.total_us / 1000:.2f} ms"
        )

    @classmethod
    def estimate(cls, clock: Clock, frame_samples: int) -> SendLatency:
        frame_us = frame_samples * 1e6 / SAMPLE_RATE
        codec_us = codec_delay_samples() * 1e6 / SAMPLE_RATE
        return cls(clock.rtt / 2, frame_us / 2, codec_us)


class TimelineTrack(ArrayTrack):
    """Plays ``score`` on the shared timeline: silent while stopped, live to every change.

    Args:
        timeline: the current timeline (read once per frame, so tempo, meter and
            transport changes apply from the next frame).
        clock: the session's server clock estimate; it must be synced before the
            track starts.
        score: what sounds in a beat range (see `Score`); also read once per
            frame, so edits are heard the next time their beat comes round.
        latency: the send latency; by default `SendLatency.estimate` when the
            first frame is made.
    """

    def __init__(
        self,
        timeline: Callable[[], Timeline],
        clock: Clock,
        score: Score,
        latency: SendLatency | None = None,
    ) -> None:
        self._timeline = timeline
        self._clock = clock
        self._score = score
        self.latency = latency
        self.frame_samples = audio.FRAME
        self.scheduler: Scheduler[Sound] = Scheduler(SAMPLE_RATE)
        self.voices = Voices()
        self._first_local: float | None = None  # t0: when frame 0 left, local µs
        self.played = 0  # sounds started so far
        super().__init__(self.frame)

    def span(self, k: int) -> tuple[float, float]:
        """The server-time span (µs) that frame ``k`` occupies in the room's mix."""
        assert self._first_local is not None and self.latency is not None
        frame_us = self.frame_samples * 1e6 / SAMPLE_RATE
        start = self._clock.to_server(self._first_local + k * frame_us) + self.latency.total_us
        return start, start + frame_us

    def frame(self, k: int) -> Samples:
        """Frame ``k``, rendered now (aiortc calls this as frame ``k`` is due to leave)."""
        if self._first_local is None:
            self._first_local = self._clock.local()
            if self.latency is None:
                self.latency = SendLatency.estimate(self._clock, self.frame_samples)
            log.info("send latency %s", self.latency)
        timeline = self._timeline()
        start, _ = self.span(k)

        def source(lo: float, hi: float) -> Iterable[tuple[float, Sound]]:
            return self._score(timeline, lo, hi)

        due = self.scheduler.due(timeline, start, self.frame_samples, source)
        self.played += len(due)
        return self.voices.render(
            self.frame_samples, [(d.offset, d.event[0], d.event[1]) for d in due]
        )
