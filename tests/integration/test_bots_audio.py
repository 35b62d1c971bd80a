"""Bots that play on the shared grid, heard through a real server by a real aiortc listener.

A listener records its personal mix and notes when each frame arrived (server
clock). The mix stream is continuous, so a sample's time is the arrival time
of the least delayed frame around it plus its distance from that frame in
samples (the least delayed arrival is the one nearest the server's send). An
onset's *ear time* is therefore the server time at which the listener got it:
mixed on the beat plus this listener's receive delay (encode, network, decode
and the decoder's look-ahead).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

import numpy as np

from backline.client import connect
from backline.client.audio import FRAME, SAMPLE_RATE
from backline.client.playback import codec_delay_samples
from backline.client.session import Session
from backline.client.synth import ACCENT_HZ, CLICK_HZ
from backline.client.testing import BotProcess, ServerProcess

SESSION = "jam"
# a listener gets a packet one packet late (aiortc's receiver releases it when the
# next one arrives) and decodes it the codec's look-ahead late
RECEIVE_US = (FRAME + codec_delay_samples()) * 1e6 / SAMPLE_RATE
MAX_PLAYOUT_MS = 330.0  # the room's jitter buffer holds 300 ms at most, plus its tick


@dataclass
class Heard:
    """What a listener got: the mix, and (first sample index, server µs) per frame."""

    samples: np.ndarray
    arrivals: list[tuple[int, float]]

    def ear_time(self, index: int, window: float = 1.0) -> float:
        """Server µs at which sample `index` reached the listener (least delayed frame
        within `window` seconds)."""
        near = [
            arrived - start * 1e6 / SAMPLE_RATE
            for start, arrived in self.arrivals
            if abs(start - index) <= window * SAMPLE_RATE
        ]
        return min(near) + index * 1e6 / SAMPLE_RATE

    def mix_time(self, index: int) -> float:
        """Server µs at which the room mixed sample `index`: its ear time less the
        receive path's known delays."""
        return self.ear_time(index) - RECEIVE_US


async def record(s: Session, seconds: float) -> Heard:
    frames: list[np.ndarray] = []
    arrivals: list[tuple[int, float]] = []
    count = 0

    async def collect() -> None:
        nonlocal count
        async for frame in s.audio.mix():
            arrivals.append((count, s.clock.now()))
            frames.append(frame)
            count += len(frame)
            if count >= seconds * SAMPLE_RATE:
                return

    await asyncio.wait_for(collect(), seconds + 30)
    return Heard(np.concatenate(frames), arrivals)


def onsets(signal: np.ndarray, threshold: float, quiet: float = 0.1) -> list[int]:
    """Sample indices where the level first rises above `threshold` after `quiet` s below it."""
    loud = np.flatnonzero(np.abs(signal) > threshold)
    gap = int(quiet * SAMPLE_RATE)
    return [int(i) for k, i in enumerate(loud) if k == 0 or i - loud[k - 1] > gap]


def dominant_hz(signal: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal)), n=1 << 15))
    return float(np.fft.rfftfreq(1 << 15, 1 / SAMPLE_RATE)[np.argmax(spectrum)])


def band_share(signal: np.ndarray, lo: float, hi: float) -> float:
    power = np.abs(np.fft.rfft(signal)) ** 2
    bins = np.fft.rfftfreq(len(signal), 1 / SAMPLE_RATE)
    return float(power[(bins >= lo) & (bins < hi)].sum() / max(power.sum(), 1e-12))


@dataclass(frozen=True)
class Counted:
    """An onset counted on the grid: grid units since the first onset, and how far its
    distance from the previous onset is off that many units, less whole room frames."""

    units: int
    off_ms: float


def count_on_grid(indices: list[int], unit_samples: float) -> list[Counted]:
    """Place onsets by counting grid units between them in the received stream.

    Every way the room's timing can move under load moves the stream by whole
    frames: the sender's jitter buffer growing (a silent frame) or shrinking (a
    frame dropped), a tick skipped, a late packet dropped. So the samples between
    two onsets are a whole number of grid units plus whole frames, and what is
    left (`off_ms`) says whether the bot put each sound on its exact sample.
    """
    counted = [Counted(0, 0.0)]
    for before, after in itertools.pairwise(indices):
        gap = after - before
        units = round(gap / unit_samples)
        extra = gap - units * unit_samples
        off = extra - round(extra / FRAME) * FRAME
        counted.append(Counted(counted[-1].units + units, off * 1000 / SAMPLE_RATE))
    return counted


async def test_metronome_clicks_land_on_the_beat_with_accents_on_bar_lines(
    server: ServerProcess,
) -> None:
    token = server.token(SESSION)
    async with (
        connect(server.url, session=SESSION, token=token, name="ear") as ear,
        BotProcess(server, "metronome", SESSION) as bot,
    ):
        await ear.audio.publish(None)
        await bot.wait_for("clicking in the audio room")
        await ear.clock.wait_synced()
        await ear.set_meter(3, 4)
        await ear.set_tempo(100)  # 600 ms a beat, 1.8 s a bar
        await ear.play()
        timeline = ear.timeline.current
        heard = await record(ear, 7.0)
        await ear.stop()
    found = onsets(heard.samples, 0.1)
    counted = count_on_grid(found, timeline.us_per_beat * SAMPLE_RATE / 1e6)
    late = [
        (heard.mix_time(i) - timeline.time_at(c.units)) / 1000
        for i, c in zip(found, counted, strict=True)
    ]
    print("late ms", [round(x, 1) for x in late], "off ms", [round(c.off_ms, 2) for c in counted])
    beats = [c.units for c in counted]
    # one click per beat: none doubled, hardly any lost (a late packet is dropped whole)
    assert len(set(beats)) == len(beats) and len(beats) >= 0.8 * (beats[-1] + 1) >= 8
    # the octave-up accent exactly on the bar lines of 3/4, starting with the first click
    accented = [abs(dominant_hz(heard.samples[i : i + 960]) - ACCENT_HZ) < 100 for i in found]
    normal = [abs(dominant_hz(heard.samples[i : i + 960]) - CLICK_HZ) < 100 for i in found]
    assert accented == [b % 3 == 0 for b in beats] and all(
        a != n for a, n in zip(accented, normal, strict=True)
    )
    # sample-accurate: between two clicks, whole beats plus whole room frames
    assert all(abs(c.off_ms) <= 2.0 for c in counted)
    # the first click is beat 1 of bar 1, mixed on time: not early (the send latency is
    # not over-compensated), late only by the room's playout delay
    assert -10.0 <= late[0] <= MAX_PLAYOUT_MS


def hits(signal: np.ndarray, quiet: float = 0.06) -> list[tuple[int, str]]:
    """Drum onsets (sample index, "kick" / "snare" / "hat"): where the short-time energy
    jumps, told apart by where the new energy lies in the spectrum."""
    hop = 240  # 5 ms
    frames = signal[: len(signal) // hop * hop].reshape(-1, hop)
    energy = (frames.astype(np.float64) ** 2).sum(axis=1)
    found: list[tuple[int, str]] = []
    last = -(10**9)
    for k in range(4, len(energy) - 6):
        before = energy[k - 4 : k].max()
        if energy[k] > 0.05 and energy[k] > 6 * before and (k - last) * hop > quiet * SAMPLE_RATE:
            last = k
            # the onset to the sample: the first one above a third of the new peak
            window = np.abs(signal[(k - 1) * hop : (k + 2) * hop])
            start = (k - 1) * hop + int(np.flatnonzero(window >= window.max() / 3)[0])
            after = signal[start : start + 1440]
            low = band_share(after, 20, 250)  # kick: most of it; snare: its body; hat: none
            kind = "kick" if low > 0.6 else ("snare" if low > 0.08 else "hat")
            found.append((start, kind))
    return found


async def test_drummer_plays_the_pattern_on_the_grid_and_hears_a_toggled_step_next_time_round(
    server: ServerProcess,
) -> None:
    token = server.token(SESSION)
    async with (
        connect(server.url, session=SESSION, token=token, name="ear") as ear,
        BotProcess(server, "drummer", SESSION) as bot,
    ):
        await ear.audio.publish(None)
        drums = ear.add_track("Drums", kind="drums")
        beat = ear.add_pattern(drums.id or "", sounds=[36, 38, 42])  # kick, snare, hi-hat
        for lane, steps in ((0, (0, 8)), (1, (4, 12))):  # kick on 1 and 9, snare on 5 and 13
            for step in steps:
                ear.set_step(beat.id or "", lane=lane, step=step, velocity=120)
        await ear.set_tempo(120)  # 500 ms a beat, 2 s a bar
        await bot.wait_for("drummer playing")
        await ear.clock.wait_synced()
        await ear.play()
        timeline = ear.timeline.current
        recording = asyncio.ensure_future(record(ear, 7.5))
        async for tick in ear.beats(2):
            if tick.beat >= 4.5:  # bar 2's hi-hat step (beat 0.5 of the bar) has gone by
                break
        toggled_at = ear.clock.now()
        await ear.set_step(beat.id or "", lane=2, step=2, velocity=120)
        heard = await recording
        await ear.stop()
    found = hits(heard.samples)
    counted = count_on_grid([i for i, _ in found], timeline.us_per_beat * SAMPLE_RATE / 2e6)
    played = [(c.units / 2, kind) for c, (_, kind) in zip(counted, found, strict=True)]
    first = heard.mix_time(found[0][0])
    print("played", played, "first late ms", (first - timeline.time_at(0)) / 1000)
    print(
        "off ms", [round(c.off_ms, 2) for c in counted], "toggled at", timeline.beat_at(toggled_at)
    )
    last = int(played[-1][0])
    expected = sorted(
        [(float(b), "kick") for b in range(0, last + 1, 2)]
        + [(float(b), "snare") for b in range(1, last + 1, 2)]
        + [(b + 0.5, "hat") for b in range(8, last, 4)],  # from the bar after the edit
    )
    assert timeline.beat_at(toggled_at) < 8.5 - 0.5  # the edit was well before that bar
    assert last >= 12
    # every hit of the pattern, none extra: kick on 1 and 3, snare on 2 and 4, and the
    # hi-hat step toggled during bar 2 is heard from bar 3 on, not before
    assert played == expected
    assert all(abs(c.off_ms) <= 2.0 for c in counted)
    assert -10.0 <= (first - timeline.time_at(0)) / 1000 <= MAX_PLAYOUT_MS
