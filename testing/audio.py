"""Testing helpers for audio: record a personal mix with timing, find onsets, place them.

Public so that tests and `loadtest/` measure the same way.

Time of a received sample: a listener notes when each mix frame arrived (server
clock). The stream is continuous, so a sample's *ear time* is the arrival of
the least delayed frame at or after it plus its distance from that frame in
samples (the least delayed arrival is the one nearest the server's send). Its *mix
time*, when the room mixed it, is the ear time less the receive path's known
delays (`receive_delay_us`): the room mixes a sample at a server time, or in a
room of two forwards it as its packet passes.

Placing onsets on a grid (`count_on_grid`): every way the room's timing moves
under load moves the received stream by whole frames: a sender's jitter
buffer growing (a silent frame) or shrinking (a frame dropped), ticks skipped
after a stall, a late packet dropped. So the samples between two onsets are
whole grid units plus whole frames, and the rest says whether the sender put
each sound on its exact sample; the number of units comes from the onsets'
times, which lost stretches do not fool.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from backline.client.audio import FRAME, SAMPLE_RATE
from backline.client.playback import codec_delay_samples
from backline.client.session import Session

__all__ = [
    "Counted",
    "MixRecording",
    "band_share",
    "count_on_grid",
    "dominant_hz",
    "drum_hits",
    "level_at",
    "listen",
    "onsets",
    "receive_delay_us",
    "record_mix",
]

Signal = npt.NDArray[np.float32]


def receive_delay_us(forwarded: bool) -> float:
    """What a listener's path adds to a sample after the room had it, besides the
    network: the look-ahead of the server's encoder when the room mixed it, nothing
    when it forwarded the sender's packets (a room of two, see `AudioRoom._route`)."""
    return 0.0 if forwarded else codec_delay_samples() * 1e6 / SAMPLE_RATE


@dataclass
class MixRecording:
    """A personal mix as received: its samples and, per frame, (first sample, server µs)."""

    samples: Signal
    arrivals: list[tuple[int, float]]
    forwarded: bool = False  # the room forwarded the sender's packets instead of mixing

    def ear_time(self, index: int, window: float = 0.5) -> float:
        """Server µs at which sample ``index`` reached the listener, from the least
        delayed frame among its own and those up to ``window`` seconds after it.

        Only later frames: where the stream lost a stretch (ticks a stalled server
        skipped), frames before the gap would put the samples after it too early,
        while frames after a gap only ever estimate a sample before it too late.
        """
        first = max(0, bisect.bisect_right(self.arrivals, (index, math.inf)) - 1)
        near = [
            arrived + (index - start) * 1e6 / SAMPLE_RATE
            for start, arrived in self.arrivals[first:]
            if start <= index + window * SAMPLE_RATE
        ]
        return min(near)

    def mix_time(self, index: int) -> float:
        """Server µs at which the room mixed sample ``index``."""
        return self.ear_time(index) - receive_delay_us(self.forwarded)


async def record_mix(
    s: Session, seconds: float, *, forwarded: bool = False, timeout: float = 30.0
) -> MixRecording:
    """The next ``seconds`` of ``s``'s personal mix (``s.audio`` must be connected);
    ``forwarded``: the room passes one sender's packets through rather than mixing."""
    frames: list[Signal] = []
    arrivals: list[tuple[int, float]] = []
    count = 0

    async def collect() -> None:
        nonlocal count
        async for arrived, frame in s.audio.mix_timed():
            arrivals.append((count, s.clock.to_server(arrived)))
            frames.append(frame)
            count += len(frame)
            if count >= seconds * SAMPLE_RATE:
                return

    await asyncio.wait_for(collect(), seconds + timeout)
    return MixRecording(np.concatenate(frames), arrivals, forwarded)


async def listen(s: Session, seconds: float, timeout: float = 30.0) -> Signal:
    """`seconds` of `s`'s personal mix, after the first half second has settled."""
    frames: list[Signal] = []
    needed, skip = int(seconds * SAMPLE_RATE), SAMPLE_RATE // 2

    async def collect() -> None:
        nonlocal needed, skip
        async for frame in s.audio.mix():
            if skip > 0:
                skip -= len(frame)
                continue
            frames.append(frame)
            needed -= len(frame)
            if needed <= 0:
                return

    await asyncio.wait_for(collect(), timeout)
    return np.concatenate(frames)


def level_at(signal: Signal, hz: float) -> float:
    """Amplitude of the `hz` component (Hann window, so neighbouring tones don't leak)."""
    window = np.hanning(len(signal))
    spectrum = np.abs(np.fft.rfft(signal * window)) / (window.sum() / 2)
    bins = np.fft.rfftfreq(len(signal), 1 / SAMPLE_RATE)
    near = np.abs(bins - hz) <= 5
    return float(spectrum[near].max())


def onsets(signal: Signal, threshold: float, quiet: float = 0.1) -> list[int]:
    """Sample indices where the level first exceeds ``threshold`` after ``quiet`` seconds
    below it (for short sounds such as clicks)."""
    loud = np.flatnonzero(np.abs(signal) > threshold)
    gap = int(quiet * SAMPLE_RATE)
    return [int(i) for k, i in enumerate(loud) if k == 0 or i - loud[k - 1] > gap]


def dominant_hz(signal: Signal) -> float:
    """The strongest frequency (Hann window, zero-padded FFT)."""
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal)), n=1 << 15))
    return float(np.fft.rfftfreq(1 << 15, 1 / SAMPLE_RATE)[np.argmax(spectrum)])


def band_share(signal: Signal, lo: float, hi: float) -> float:
    """Share of the energy between ``lo`` and ``hi`` Hz."""
    power = np.abs(np.fft.rfft(signal)) ** 2
    bins = np.fft.rfftfreq(len(signal), 1 / SAMPLE_RATE)
    return float(power[(bins >= lo) & (bins < hi)].sum() / max(float(power.sum()), 1e-12))


def drum_hits(signal: Signal, quiet: float = 0.06, loud: float = 0.08) -> list[tuple[int, str]]:
    """Drum onsets as (sample index, "kick" / "snare" / "hat"): where the short-time
    energy (over `loud`, summed over 5 ms) jumps above anything in the previous 60 ms,
    told apart by where the new sound's energy lies: a hi-hat almost all above 2 kHz,
    a kick a good share under 120 Hz, a snare neither (true of the SoundFont kit the
    server renders and of the built-in synth's alike)."""
    hop = 240  # 5 ms
    frames = signal[: len(signal) // hop * hop].reshape(-1, hop)
    energy = (frames.astype(np.float64) ** 2).sum(axis=1)
    found: list[tuple[int, str]] = []
    last = -(10**9)
    for k in range(12, len(energy) - 6):
        # louder than the last 60 ms: a sound resuming after a lost (concealed) frame
        # is quieter than before the gap, so it is no new hit
        before = energy[k - 12 : k].max()
        if energy[k] > loud and energy[k] > 6 * before and (k - last) * hop > quiet * SAMPLE_RATE:
            last = k
            window = np.abs(signal[(k - 1) * hop : (k + 2) * hop])
            start = (k - 1) * hop + int(np.flatnonzero(window >= window.max() / 3)[0])
            sound = signal[start : start + 1440]
            if band_share(sound, 2000, 20_000) > 0.8:
                kind = "hat"
            elif band_share(sound, 20, 120) > 0.2:
                kind = "kick"
            else:
                kind = "snare"
            found.append((start, kind))
    return found


@dataclass(frozen=True)
class Counted:
    """An onset counted on a grid: grid units since the first onset, and how far its
    distance from the previous onset is off that many units, less whole room frames."""

    units: int
    off_ms: float


def count_on_grid(recording: MixRecording, indices: list[int], unit_us: float) -> list[Counted]:
    """Count grid units of ``unit_us`` between consecutive onsets of ``recording``.

    How many units lie between two onsets comes from their times (the stream
    may have lost whole stretches in between: a stalled server skips ticks);
    how far each is off its exact sample comes from the samples between them,
    less whole frames.
    """
    unit_samples = unit_us * SAMPLE_RATE / 1e6
    counted = [Counted(0, 0.0)]
    for before, after in itertools.pairwise(indices):
        elapsed = recording.ear_time(after) - recording.ear_time(before)
        units = round(elapsed / unit_us)
        extra = (after - before) - units * unit_samples
        off = extra - round(extra / FRAME) * FRAME
        counted.append(Counted(counted[-1].units + units, off * 1000 / SAMPLE_RATE))
    return counted
