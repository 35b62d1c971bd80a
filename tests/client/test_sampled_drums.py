"""A drummer bot sounds like the browser's drums: the server's samples, fetched over HTTP,
through each track's strip, sample for sample what the server's render makes of them.

A real server process (FluidSynth, TimGM6mb); the bot's frames are taken directly, with
a clock whose local time the test sets (as tests/client/test_playback.py does).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from backline.client import connect
from backline.client.audio import FRAME, SAMPLE_RATE
from backline.client.clock import Clock
from backline.client.playback import SendLatency
from backline.client.sampled import SampledTrack, SampleSet, drum_keys, sampled_drum_score
from backline.media.render import render
from backline.media.soundfont import SampleBank, find_soundfont
from backline.protocol import dsp
from backline.protocol.model import Document
from backline.protocol.timeline import Timeline
from backline.testing import ServerProcess

SESSION = "drums"
OFFSET_US = 5_000_000.0
LATENCY = SendLatency(network_us=100, tick_wait_us=5_000, codec_us=2_500)
LEAD = 4_800  # the downbeat lands on this sample of the bot's output


def clock_at(local: list[float]) -> Clock:
    clock = Clock(local=lambda: local[0])
    for _ in range(Clock.SYNCED_AFTER):
        clock.add(0.0, OFFSET_US, OFFSET_US, 0.0)
    return clock


def server_time(index: int) -> float:
    return 1_000_000 + OFFSET_US + LATENCY.total_us + index * 1e6 / SAMPLE_RATE


async def make_project(server: ServerProcess) -> Document:
    token = server.token(SESSION, "owner")
    async with connect(server.url, session=SESSION, token=token, name="maker") as s:
        s.edit([
            {"op": "set", "id": "project", "field": "limiter_on", "value": False},
            {"op": "insert", "kind": "track", "id": "d", "value": {"kind": "drums", "volume": 0.8,
             "pan": 0.3}},
            {"op": "set", "id": "d", "field": "eq_hp_on", "value": True},
            {"op": "set", "id": "d", "field": "eq_hp_freq", "value": 60.0},
            {"op": "set", "id": "d", "field": "comp_on", "value": True},
            {"op": "set", "id": "d", "field": "comp_threshold", "value": -20.0},
            {"op": "set", "id": "d", "field": "send_reverb", "value": 0.3},
            {"op": "set", "id": "d", "field": "send_delay", "value": 0.25},
            {"op": "set", "id": "project", "field": "reverb_decay", "value": 0.8},
            {"op": "insert", "kind": "pattern", "id": "p", "value": {"track": "d", "length": 4,
             "steps_per_beat": 2, "lanes": [{"sound": 36, "steps": [120, 0, 0, 0]},
                                            {"sound": 38, "steps": [0, 0, 100, 0]}]}},
        ])  # fmt: skip
        await s.synced()
        return Document.from_data(s.project.to_data())


async def test_the_drummer_plays_the_servers_samples_as_the_render_does(
    server: ServerProcess,
) -> None:
    doc = await make_project(server)
    samples = SampleSet(server.url, server.token(SESSION))
    try:
        info = await asyncio.to_thread(samples.index)
        assert info["available"] and info["soundfont"] == "TimGM6mb.sf2"
        keys = drum_keys(doc)
        assert keys == {dsp.sample_key("drums", 0, 36, 120), dsp.sample_key("drums", 0, 38, 100)}
        await asyncio.to_thread(samples.wait, keys)
        assert all(samples.get(k) is not None for k in keys)
        local = [0.0]
        timeline = Timeline(120.0, (4, 4), True, 0.0, int(server_time(LEAD)))
        track = SampledTrack(lambda: timeline, clock_at(local), sampled_drum_score(lambda: doc),
                             lambda: doc, samples, LATENCY)  # fmt: skip
        frames = []
        for k in range(150):  # 1.5 s: kick on 0 and 2, snare on 1
            local[0] = 1_000_000 + k * FRAME * 1e6 / SAMPLE_RATE
            frames.append(track.frame(k))
        bot = np.concatenate(frames)
    finally:
        samples.close()
    assert track.fallbacks == 0 and track.played == 3
    font = find_soundfont()
    assert font is not None
    mix = render(doc, SampleBank(font, cache_dir=server.data_dir / "samples")).mix
    mono = (mix[0] + mix[1]) * np.float32(0.5)  # the room is mono: Web Audio's fold
    span = min(len(bot) - LEAD, len(mono))
    assert np.abs(bot[:LEAD]).max() == 0  # nothing before the downbeat
    assert np.abs(mono[:span]).max() > 0.1  # there is a kick to compare
    assert np.abs(bot[LEAD : LEAD + span] - mono[:span]).max() < 1e-4


async def test_a_sample_not_in_yet_plays_the_synth_once_then_the_servers(
    server: ServerProcess,
) -> None:
    doc = await make_project(server)
    samples = SampleSet(server.url, server.token(SESSION))
    try:
        await asyncio.to_thread(samples.index)
        local = [0.0]
        timeline = Timeline(120.0, (4, 4), True, 0.0, int(server_time(100)))  # in frame 0
        track = SampledTrack(lambda: timeline, clock_at(local), sampled_drum_score(lambda: doc),
                             lambda: doc, samples, LATENCY)  # fmt: skip
        local[0] = 1_000_000
        first = track.frame(0)  # the downbeat's kick is due: its sample is not here yet
        assert track.fallbacks == 1 and np.abs(first).max() > 0.05  # the synth's kick, not silence
        await asyncio.to_thread(samples.wait, drum_keys(doc))  # fetched meanwhile, once
        assert samples.get(dsp.sample_key("drums", 0, 36, 120)) is not None
    finally:
        samples.close()


async def test_without_a_soundfont_the_drummer_says_it_plays_the_synth(tmp_path: Path) -> None:
    missing = tmp_path / "none.sf2"
    server = await ServerProcess(
        tmp_path / "data", extra_args=["--soundfont", str(missing)]
    ).astart()
    samples = SampleSet(server.url, server.token(SESSION))
    try:
        info = await asyncio.to_thread(samples.index)
    finally:
        samples.close()
        await server.astop()
    assert info["available"] is False and not samples.available
    assert "SoundFont" in info["reason"]


def test_drum_keys_are_every_lane_velocity_and_note_of_the_drums_tracks() -> None:
    from backline.protocol.ops import apply

    doc = Document()
    for op in [
        {"op": "insert", "kind": "track", "id": "d", "value": {"kind": "drums", "instrument": 8}},
        {"op": "insert", "kind": "track", "id": "m", "value": {"kind": "drums", "mute": True}},
        {"op": "insert", "kind": "track", "id": "k", "value": {"kind": "instrument"}},
        {"op": "insert", "kind": "pattern", "id": "p", "value": {"track": "d", "length": 4,
         "lanes": [{"sound": 36, "steps": [120, 0, 50, 120]}, {"sound": 42, "steps": [0] * 4}]}},
        {"op": "insert", "kind": "pattern", "id": "q", "value": {"track": "m", "length": 2,
         "lanes": [{"sound": 38, "steps": [0, 90]}]}},
        {"op": "insert", "kind": "note", "id": "n", "value": {"track": "d", "pitch": 49,
         "start": 0, "dur": 240, "vel": 127}},
        {"op": "insert", "kind": "note", "id": "x", "value": {"track": "k", "pitch": 60,
         "start": 0, "dur": 240, "vel": 100}},
    ]:  # fmt: skip
        apply(doc, op)
    assert drum_keys(doc) == {
        dsp.sample_key("drums", 8, 36, 120),  # the kit of its track, per velocity layer
        dsp.sample_key("drums", 8, 36, 50),
        dsp.sample_key("drums", 8, 49, 127),  # a note on a drums track
        dsp.sample_key("drums", 0, 38, 90),  # a muted track: an unmute is heard at once
    }  # the empty lane and the instrument track's note need none
