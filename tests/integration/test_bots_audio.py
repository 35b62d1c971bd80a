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
from dataclasses import dataclass

import numpy as np

from backline.client import connect
from backline.client.audio import SAMPLE_RATE
from backline.client.session import Session
from backline.client.testing import BotProcess, ServerProcess
from backline.client.synth import ACCENT_HZ, CLICK_HZ

SESSION = "jam"


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


async def test_metronome_clicks_land_on_the_beat_with_accents_on_bar_lines(
    server: ServerProcess,
) -> None:
    token = server.token(SESSION)
    async with (
        BotProcess(server, "metronome", SESSION) as bot,
        connect(server.url, session=SESSION, token=token, name="ear") as ear,
    ):
        await bot.wait_for("clicking in the audio room")
        await ear.audio.publish(None)
        await ear.clock.wait_synced()
        await ear.set_meter(3, 4)
        await ear.set_tempo(150)  # 400 ms a beat, 1.2 s a bar
        await ear.play()
        timeline = ear.timeline.current
        heard = await record(ear, 6.0)
        await ear.stop()
    found = onsets(heard.samples, 0.1)
    errors, beats = [], []
    for index in found:
        t = heard.ear_time(index)
        beat = round(timeline.beat_at(t))
        errors.append((t - timeline.time_at(beat)) / 1000)
        beats.append(beat)
    print("errors ms", [round(e, 2) for e in errors])
    intervals = np.diff([heard.ear_time(i) for i in found]) / 1000
    print("intervals ms", [round(i, 2) for i in intervals])
    pitches = [dominant_hz(heard.samples[i : i + 960]) for i in found]
    print("pitches", [round(p) for p in pitches], beats)
    assert beats == list(range(beats[0], beats[0] + len(beats)))
    assert all(abs(e) <= 30 for e in errors)
    for beat, pitch in zip(beats, pitches, strict=True):
        assert abs(pitch - (ACCENT_HZ if beat % 3 == 0 else CLICK_HZ)) < 100
