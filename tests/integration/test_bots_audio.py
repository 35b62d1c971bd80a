"""Bots that play on the shared grid, heard through a real server by a real aiortc listener.

The listener records its personal mix with each frame's arrival time
(`backline.client.testing_audio`). Onsets are placed on the grid by counting
grid units between them in the received stream, which survives the room's
playout delay moving in whole frames under load; the rest, below a frame,
shows whether the bot placed each sound on its exact sample. The absolute
check is on the first sound, whose mix time comes from its arrival time.
"""

from __future__ import annotations

import asyncio

from backline.client import connect
from backline.client.audio import SAMPLE_RATE
from backline.client.synth import ACCENT_HZ, CLICK_HZ
from backline.client.testing import BotProcess, ServerProcess
from backline.client.testing_audio import (
    Counted,
    count_on_grid,
    dominant_hz,
    drum_hits,
    onsets,
    record_mix,
)

SESSION = "jam"
MAX_PLAYOUT_MS = 330.0  # the room's jitter buffer holds 300 ms at most, plus its tick


def sample_accurate(counted: list[Counted]) -> bool:
    """Most onsets within half a millisecond of their exact sample (modulo whole room
    frames), none off by more than 5 ms (a packet lost next to an onset can blur it
    by the codec's overlap)."""
    offs = sorted(abs(c.off_ms) for c in counted[1:])
    return offs[-1] <= 5.0 and offs[len(offs) // 2] <= 0.5


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
        await record_mix(ear, 1.0)  # the room has settled on the bot's stream
        await ear.clock.wait_synced()
        await ear.set_meter(3, 4)
        await ear.set_tempo(100)  # 600 ms a beat, 1.8 s a bar
        await ear.play()
        timeline = ear.timeline.current
        heard = await record_mix(ear, 7.0)
        await ear.stop()
    found = onsets(heard.samples, 0.1)
    counted = count_on_grid(found, timeline.us_per_beat * SAMPLE_RATE / 1e6)
    late_ms = (heard.mix_time(found[0]) - timeline.time_at(0)) / 1000
    print("first click late ms", late_ms, "off ms", [round(c.off_ms, 2) for c in counted])
    beats = [c.units for c in counted]
    # one click per beat: none doubled, hardly any lost (a late packet is dropped whole)
    assert len(set(beats)) == len(beats) and len(beats) >= 0.8 * (beats[-1] + 1) >= 8
    # the octave-up accent exactly on the bar lines of 3/4, from the first click on
    for beat, index in zip(beats, found, strict=True):
        pitch = dominant_hz(heard.samples[index : index + 960])
        assert abs(pitch - (ACCENT_HZ if beat % 3 == 0 else CLICK_HZ)) < 100, (beat, pitch)
    # sample-accurate: between two clicks, whole beats plus whole room frames
    assert sample_accurate(counted), counted
    # the first click, beat 1 of bar 1, is mixed on time: not early (the send latency
    # is not over-compensated), late only by the room's playout delay
    assert -10.0 <= late_ms <= MAX_PLAYOUT_MS


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
        await ear.set_tempo(100)  # 600 ms a beat, 2.4 s a bar
        await bot.wait_for("drummer playing")
        await record_mix(ear, 1.0)  # the room has settled on the bot's stream
        await ear.clock.wait_synced()
        await ear.play()
        timeline = ear.timeline.current
        recording = asyncio.ensure_future(record_mix(ear, 7.5))
        async for tick in ear.beats():
            if tick.beat >= 1:  # bar 1's hi-hat step (its beat 0.5) has gone by
                break
        toggled_at = ear.clock.now()
        await ear.set_step(beat.id or "", lane=2, step=2, velocity=120)
        heard = await recording
        await ear.stop()
    found = drum_hits(heard.samples)
    counted = count_on_grid([i for i, _ in found], timeline.us_per_beat * SAMPLE_RATE / 2e6)
    played = [(c.units / 2, kind) for c, (_, kind) in zip(counted, found, strict=True)]
    late_ms = (heard.mix_time(found[0][0]) - timeline.time_at(0)) / 1000
    print("played", played, "first hit late ms", late_ms)
    print("off ms", [round(c.off_ms, 2) for c in counted])
    last = int(played[-1][0])
    expected = sorted(
        [(float(b), "kick") for b in range(0, last + 1, 2)]
        + [(float(b), "snare") for b in range(1, last + 1, 2)]
        + [(b + 0.5, "hat") for b in range(4, last, 4)],  # from the bar after the edit
    )
    assert timeline.beat_at(toggled_at) < 4.5 - 1  # the edit was well before bar 2's step
    assert last >= 10
    # every hit of the pattern, none extra: kick on 1 and 3, snare on 2 and 4, and the
    # hi-hat step toggled during bar 1 is heard from bar 2 on, not before
    assert played == expected
    assert sample_accurate(counted), counted
    assert -10.0 <= late_ms <= MAX_PLAYOUT_MS
