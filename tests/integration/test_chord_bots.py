"""The chord-following bots (`backline bot bass|arp|pad`): heard in the audio room on the
shared grid, following the chord track live, and (``--write``) written into the project."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from test_bots_audio import STEM_EARLY_US, record_and_play, recorded_stem  # same directory

from backline.client import connect
from backline.client.audio import SAMPLE_RATE
from backline.client.session import RemoteEdit, Session
from backline.client.synth import midi_hz
from backline.protocol.model import PPQ
from backline.testing import BotProcess, ServerProcess
from backline.testing.audio import dominant_hz

SESSION = "jam"  # recorded_stem's
BAR = 4 * PPQ


async def until_project(s: Session, holds: Any, timeout: float = 20.0) -> None:
    """Wait (on edits, not on time) until `holds(s.project)`."""

    async def watch() -> None:
        async with s.events() as events:
            if holds(s.project):
                return
            async for event in events:
                if isinstance(event, RemoteEdit) and holds(s.project):
                    return

    await asyncio.wait_for(watch(), timeout)


async def test_the_bass_plays_each_chords_bass_on_beat_one_and_follows_a_change(
    server: ServerProcess,
) -> None:
    owner_token = server.token(SESSION, "owner")
    async with (
        connect(server.url, session=SESSION, token=owner_token, name="owner") as owner,
        BotProcess(server, "bass", SESSION) as bot,
    ):
        await owner.set_tempo(120)  # half a second a beat, two seconds a bar
        owner.add_chord("C", 0)
        owner.add_chord("F", BAR)
        third = owner.add_chord("G", 2 * BAR)
        await owner.add_chord("Am", 3 * BAR)
        await bot.wait_for("playing the chord track")
        await owner.clock.wait_synced()
        started = await record_and_play(owner)
        timeline = owner.timeline.current

        async def change() -> float:
            async for tick in owner.beats():
                if tick.beat >= 1:  # during bar 1: bar 3's chord changes before it comes
                    break
            await owner.set_chord(third.id or "", "D")
            return owner.clock.now()

        changing = asyncio.ensure_future(change())
        stem, sidecar = await recorded_stem(server, owner, started, "bass", 15.5)
        changed_at = await changing
    assert timeline.beat_at(changed_at) < 2 * 4 - 2  # well before bar 3 came round

    def heard(bar: int) -> float:
        t = timeline.time_at(bar * 4 + 0.1) - sidecar["start_time_us"] - STEM_EARLY_US
        index = round(t * SAMPLE_RATE / 1e6)
        return dominant_hz(stem[index : index + SAMPLE_RATE * 4 // 10])

    # C2, F1, then D2 (not G1: the change made during bar 1), A1: each chord's root
    expected = [36, 29, 38, 33]
    for bar, pitch in enumerate(expected):
        found = heard(bar)
        assert abs(found - midi_hz(pitch)) < 2.5, (bar, found, midi_hz(pitch))
    t0 = timeline.time_at(0) - sidecar["start_time_us"] - STEM_EARLY_US
    before = round(t0 * SAMPLE_RATE / 1e6) - SAMPLE_RATE // 20
    assert np.abs(stem[: max(0, before)]).max() < 0.01  # silent before the first downbeat


async def test_with_write_the_part_is_kept_in_the_project_as_notes(server: ServerProcess) -> None:
    owner_token = server.token(SESSION, "owner")
    async with connect(server.url, session=SESSION, token=owner_token, name="owner") as owner:
        owner.add_chord("C", 0)
        second = owner.add_chord("F", BAR, 2 * BAR)
        await second
        async with BotProcess(server, "bass", SESSION, "--write") as bot:
            await bot.wait_for("playing the chord track")

            def bass_notes() -> list[tuple[int, int]]:
                tracks = [t for t, v in owner.project.tracks.items() if v["name"] == "Bass (bot)"]
                if not tracks:
                    return []
                notes = [n for n in owner.project.notes.values() if n["track"] == tracks[0]]
                return sorted((n["start"], n["pitch"]) for n in notes)

            await until_project(
                owner, lambda _: bass_notes() == [(0, 36), (BAR, 29), (2 * BAR, 29)]
            )
            versions = owner.version
            await owner.set_chord(second.id or "", "Am")  # the bot rewrites in one batch
            await until_project(
                owner, lambda _: bass_notes() == [(0, 36), (BAR, 33), (2 * BAR, 33)]
            )
            assert owner.version == versions + 2  # my edit, then exactly one of the bot's
            await owner.remove(second.id or "")
            await until_project(owner, lambda _: bass_notes() == [(0, 36)])
            await owner.set_meter(3, 4)  # a bar of three beats: the bass re-attacks sooner
            await until_project(owner, lambda _: bass_notes() == [(0, 36), (3 * PPQ, 36)])
