"""Bots that play on the shared grid, measured where the server has their audio.

The server's multitrack recording lays each participant's stem out on the
server clock by the sender's own RTP timeline, mapped through its fastest
path (`server/audio/stems.py`): the room's jitter and a loaded machine do not
move what is in a stem. A bot's stem therefore shows exactly where the bot put
each sound. By the stem's convention a frame ends when it arrives (a capturing
sender sends a frame once its last sample exists), while a `TimelineTrack`
aims its frames at the room's mix, which takes them half a frame (the average
wait for the mix tick) after they arrive: so in a stem, a bot's sounds sit
one and a half frames before their beats, and that is what is checked. (`python -m loadtest.bots` measures what a listener hears.)
"""

from __future__ import annotations

import asyncio
import io
import json
import wave
from typing import Any

import numpy as np

from backline.client import connect
from backline.client.audio import FRAME, SAMPLE_RATE
from backline.client.recordings import download, list_recordings
from backline.client.session import Session
from backline.client.synth import ACCENT_HZ, CLICK_HZ
from backline.protocol.timeline import Timeline
from backline.testing import BotProcess, ServerProcess
from backline.testing.audio import dominant_hz, drum_hits, onsets

SESSION = "jam"
FRAME_US = FRAME * 1e6 / SAMPLE_RATE
STEM_EARLY_US = 1.5 * FRAME_US  # see the module docstring
# the stem's aligner follows the bot's fastest path over 2 s windows; on a loaded
# machine that moves by a few ms (0.1 to 0.9 ms off measured at load average 22)
TOLERANCE_MS = 5.0


async def record_and_play(owner: Session) -> dict[str, Any]:
    """Start the recording, let a second of the bot's stream in (the stem's aligner
    learns the bot's fastest path from it), then play."""
    started = await owner.audio.record_start()
    await asyncio.sleep(1.0)  # a second of audio to record, not a wait for an event
    await owner.play()
    return started


async def recorded_stem(
    server: ServerProcess, owner: Session, started: dict[str, Any], name: str, stop_at: float
) -> tuple[np.ndarray, dict[str, Any]]:
    """Let the transport play up to beat `stop_at`, stop it, record a beat more, and
    return `name`'s stem and the recording's sidecar."""
    timeline = owner.timeline.current
    async for tick in owner.beats():
        if tick.beat >= stop_at:
            break
    await owner.stop()
    # what the bot sent before it learnt of the stop is still arriving: record on for
    # a beat (musical time on the shared clock; no event says "nothing more is coming")
    await asyncio.sleep(max(0.0, (timeline.time_at(stop_at + 1) - owner.clock.now()) / 1e6))
    await owner.audio.record_stop()
    token = server.token(SESSION, "owner")
    listed = await asyncio.to_thread(list_recordings, server.url, SESSION, token)
    [meta] = [r for r in listed if r["id"] == started["id"]]
    [stem] = [p["file"] for p in meta["participants"] if p["name"] == name]
    data = await asyncio.to_thread(download, server.url, SESSION, token, started["id"], stem)
    with wave.open(io.BytesIO(data), "rb") as wav:
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    sidecar = json.loads(
        await asyncio.to_thread(
            download, server.url, SESSION, token, started["id"], "recording.json"
        )
    )
    return pcm.astype(np.float32) / 32768.0, sidecar


def placed(
    index: int, sidecar: dict[str, Any], timeline: Timeline, unit: float
) -> tuple[float, float]:
    """The grid point (multiple of `unit` beats) of a stem sample, and how far (ms) it is
    from where a bot aims it (`STEM_EARLY_US` before the point)."""
    t = sidecar["start_time_us"] + index * 1e6 / SAMPLE_RATE + STEM_EARLY_US
    beat = round(timeline.beat_at(t) / unit) * unit
    return beat, (t - timeline.time_at(beat)) / 1000


async def test_metronome_clicks_on_every_beat_accented_on_bar_lines_silent_when_stopped(
    server: ServerProcess,
) -> None:
    owner_token = server.token(SESSION, "owner")
    async with (
        connect(server.url, session=SESSION, token=owner_token, name="owner") as owner,
        BotProcess(server, "metronome", SESSION) as bot,
    ):
        await bot.wait_for("clicking in the audio room")
        await owner.clock.wait_synced()
        await owner.set_meter(3, 4)
        await owner.set_tempo(150)  # 400 ms a beat, 1.2 s a bar
        started = await record_and_play(owner)
        timeline = owner.timeline.current
        stem, sidecar = await recorded_stem(server, owner, started, "metronome", 7.0)
    found = onsets(stem, 0.1)
    at = [placed(i, sidecar, timeline, 1.0) for i in found]
    print("clicks (beat, ms off)", [(b, round(off, 2)) for b, off in at])
    beats = [b for b, _ in at]
    # a click on every beat from the first downbeat until the stop (at beat 7, which
    # the bot may have sent before it heard of the stop), then silence
    assert beats[:7] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0] and beats[7:] in ([], [7.0])
    # each where the bot aimed it
    assert all(abs(off) <= TOLERANCE_MS for _, off in at), at
    # the octave-up, louder accent exactly on the bar lines of 3/4
    for beat, index in zip(beats, found, strict=True):
        burst = stem[index : index + 960]
        pitch = dominant_hz(burst)
        assert abs(pitch - (ACCENT_HZ if beat % 3 == 0 else CLICK_HZ)) < 100, (beat, pitch)
        assert np.abs(burst).max() > (0.6 if beat % 3 == 0 else 0.3)
    # silent before the start
    assert np.abs(stem[: max(0, found[0] - 480)]).max() < 0.01


async def test_drummer_plays_the_pattern_on_the_grid_and_hears_a_toggled_step_next_time_round(
    server: ServerProcess,
) -> None:
    owner_token = server.token(SESSION, "owner")
    async with (
        connect(server.url, session=SESSION, token=owner_token, name="owner") as owner,
        BotProcess(server, "drummer", SESSION) as bot,
    ):
        drums = owner.add_track("Drums", kind="drums")
        beat = owner.add_pattern(drums.id or "", sounds=[36, 38, 42])  # kick, snare, hi-hat
        for lane, steps in ((0, (0, 8)), (1, (4, 12))):  # kick on 1 and 9, snare on 5 and 13
            for step in steps:
                owner.set_step(beat.id or "", lane=lane, step=step, velocity=120)
        # 750 ms a beat, 3 s a bar: the toggle below reaches the bot processes with
        # over 2 s to spare before bar 2's hi-hat step, even on a loaded machine
        await owner.set_tempo(80)
        await bot.wait_for("drummer playing")
        await owner.clock.wait_synced()
        started = await record_and_play(owner)
        timeline = owner.timeline.current

        async def toggle() -> float:
            async for tick in owner.beats():
                if tick.beat >= 1:  # bar 1's hi-hat step (its beat 0.5) has gone by
                    break
            await owner.set_step(beat.id or "", lane=2, step=2, velocity=120)
            return owner.clock.now()

        toggling = asyncio.ensure_future(toggle())
        stem, sidecar = await recorded_stem(server, owner, started, "drummer", 12.0)
        toggled_at = await toggling
    found = drum_hits(stem)
    at = [(placed(i, sidecar, timeline, 0.5), kind) for i, kind in found]
    print("hits (beat, ms off, kind)", [(b, round(off, 2), k) for (b, off), k in at])
    played = [(b, kind) for (b, _), kind in at]
    expected = sorted(
        [(float(b), "kick") for b in range(0, 12, 2)]
        + [(float(b), "snare") for b in range(1, 12, 2)]
        + [(b + 0.5, "hat") for b in range(4, 12, 4)]  # from the bar after the edit
    )
    assert timeline.beat_at(toggled_at) < 4.5 - 1  # the edit was well before bar 2's step
    # every hit of the pattern, none extra: kick on 1 and 3, snare on 2 and 4; the hi-hat
    # step toggled during bar 1 is heard from bar 2 on, not before; the stop at beat 12
    # may come after the bot sent beat 12's kick (on a loaded machine, a step or two more:
    # what follows is the pattern going on, in order)
    going_on = [(12.0, "kick"), (12.5, "hat"), (13.0, "snare")]
    tail = played[len(expected) :]
    assert played[: len(expected)] == expected and tail == going_on[: len(tail)], tail
    assert all(abs(off) <= TOLERANCE_MS for (_, off), _ in at), at
