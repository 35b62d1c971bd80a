"""Shared musical time end to end: clocks, play/stop/seek/tempo, ticks, the metronome bot."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time

import pytest

from backline.client import connect
from backline.client.session import Session
from backline.protocol.errors import Forbidden
from backline.protocol.timeline import Timeline
from backline.testing import BotProcess, RawClient, ServerProcess
from backline.testing.delay_proxy import DelayProxy

SESSION = "jam"


def local_us() -> float:
    return time.monotonic_ns() / 1000


async def test_three_clients_agree_on_the_start_of_a_play(server: ServerProcess) -> None:
    token = server.token(SESSION)
    async with (
        connect(server.url, session=SESSION, token=token, name="a") as a,
        connect(server.url, session=SESSION, token=token, name="b") as b,
        connect(server.url, session=SESSION, token=token, name="c") as c,
    ):
        await asyncio.gather(*(s.clock.wait_synced() for s in (a, b, c)))
        await a.set_meter(3, 4)
        await a.seek(4.5)  # mid-bar: play starts right there, for everyone
        requested = a.clock.now()
        version = await b.play()
        starts = []
        for s in (a, b, c):
            await s.wait_version(version)
            tl = s.timeline.current
            starts.append((tl.beat, tl.time, s.timeline.time_at(6.0), s.timeline.next_bar(tl.time)))
        assert starts[0] == starts[1] == starts[2]
        beat, start, _, _ = starts[0]
        assert beat == 4.5
        # at least the 200 ms lead after the request (the clocks agree to well under 10 ms);
        # that everyone hears of it before it starts depends on delivery staying under
        # the lead, which a test on a loaded machine cannot promise
        assert start - requested >= 200_000 - 10_000


async def test_lead_grows_with_the_slowest_participant(server: ServerProcess) -> None:
    """A participant reporting a 400 ms round trip pushes the start to >= 650 ms ahead."""
    token = server.token(SESSION)
    slow = await RawClient.open(server.url)
    await slow.hello(SESSION, token, name="far away")
    await slow.send({"type": "ping", "t0": 1.0, "rtt": 400_000})
    pong = await slow.recv_type("pong")
    assert pong["t0"] == 1.0 and pong["t2"] >= pong["t1"]
    async with connect(server.url, session=SESSION, token=token, name="a") as a:
        await a.clock.wait_synced()
        requested = a.clock.now()
        await a.play()
        assert a.timeline.current.time - requested >= 1.5 * 400_000 + 50_000 - 10_000
    await slow.ws.close()


async def test_tempo_change_while_playing_keeps_everyone_in_place(server: ServerProcess) -> None:
    token = server.token(SESSION)
    async with (
        connect(server.url, session=SESSION, token=token, name="a") as a,
        connect(server.url, session=SESSION, token=token, name="b") as b,
    ):
        await a.clock.wait_synced()
        await a.set_tempo(150)
        await a.play()
        await b.wait_version(a.version)
        before = b.timeline.current
        version = await a.set_tempo(75)
        await b.wait_version(version)
        after = b.timeline.current
        assert after.tempo == 75.0 and after.playing
        # the re-anchor point lies on the old motion: no jump in position
        assert after.beat == pytest.approx(before.beat_at(after.time), abs=1e-9)
        assert a.timeline.current == after
        stopped_at = await a.stop()
        await b.wait_version(stopped_at)
        assert not b.timeline.playing
        assert b.timeline.beat_at() == a.timeline.beat_at()


async def test_bad_transport_requests_get_codes_and_change_nothing(server: ServerProcess) -> None:
    token = server.token(SESSION)
    async with (
        connect(server.url, session=SESSION, token=token, name="ed") as ed,
        connect(server.url, session=SESSION, token=server.token(SESSION, "viewer"), name="v") as v,
    ):
        await ed.play()
        await v.wait_version(ed.version)
        before = ed.project.to_data()
        with pytest.raises(Forbidden):
            await v.stop()
        raw = await RawClient.open(server.url)
        await raw.hello(SESSION, token)
        cases = [
            ([{"op": "set", "id": "project", "field": "tempo", "value": 1000}], "out_of_range"),
            ([{"op": "set", "id": "project", "field": "tempo", "value": 19}], "out_of_range"),
            ([{"op": "set", "id": "project", "field": "meter", "value": [4, 3]}], "out_of_range"),
            ([{"op": "set", "id": "project", "field": "meter", "value": "4/4"}], "bad_field"),
            ([{"op": "seek", "beat": -4}], "out_of_range"),
            ([{"op": "seek"}], "bad_field"),
            ([{"op": "play", "at": 0}], "bad_field"),
            (
                [{"op": "set", "id": "project", "field": "transport", "value": {"playing": False}}],
                "bad_field",
            ),
        ]
        for seq, (ops, code) in enumerate(cases, start=1):
            await raw.send({"type": "op", "seq": seq, "ops": ops})
            reject = await raw.recv_type("reject")
            assert (reject["seq"], reject["code"]) == (seq, code), reject
        await raw.send({"type": "ping", "t0": 1.0, "rtt": -5})
        assert (await raw.recv_type("error"))["code"] == "out_of_range"
        await raw.ws.close()
        await ed.set_swing(0.1)  # a later good edit: nothing bad came before it
        await v.wait_version(ed.version)
        after = v.project.to_data()
        after["project"]["swing"] = before["project"]["swing"]
        assert after == before


async def test_beat_ticks_follow_the_shared_grid(server: ServerProcess) -> None:
    """`s.beats()` ticks each subdivision on time; a tempo change bends the grid, no jump."""
    token = server.token(SESSION)
    async with connect(server.url, session=SESSION, token=token, name="bot") as s:
        await s.clock.wait_synced()
        await s.set_tempo(480)  # an eighth of a second per beat keeps the test short
        await s.play()
        ticks = []
        async for tick in s.beats(subdivision=2):
            ticks.append(tick)
            assert local_us() >= tick.local_time - 1_000  # never early
            if len(ticks) == 6:
                await s.set_tempo(240)
            if len(ticks) == 12:
                break
        beats = [t.beat for t in ticks]
        assert beats == [i / 2 for i in range(12)]
        assert [str(t) for t in ticks[:4]] == ["1:1", "1:1", "1:2", "1:2"]
        # each tick's time is where the (possibly re-anchored) timeline puts its beat
        final = s.timeline.current
        for tick in ticks[7:]:
            assert tick.time == pytest.approx(final.time_at(tick.beat), abs=1)
        gaps = [b.time - a.time for a, b in itertools.pairwise(ticks[7:])]
        assert all(g == pytest.approx(125_000, abs=1) for g in gaps)  # half beats at 240 BPM
        await s.stop()
        waiter = asyncio.ensure_future(anext(s.beats()))
        done, _ = await asyncio.wait({waiter}, timeout=0.3)
        assert not done  # stopped: no ticks
        await s.play()
        first = await asyncio.wait_for(waiter, 10)
        # it resumes where it stopped (mid-beat): the first tick is the next beat line
        assert first.beat == math.ceil(s.timeline.current.beat - 1e-9)


async def play_and_wait(s: Session) -> Timeline:
    await s.play()
    return s.timeline.current


async def test_metronome_bot_counts_bar_and_beat(server: ServerProcess) -> None:
    async with BotProcess(server, "metronome", SESSION, "--silent") as bot:  # counting only
        await bot.wait_for("clock synced")
        token = server.token(SESSION)
        async with connect(server.url, session=SESSION, token=token, name="drummer") as s:
            await s.set_meter(3, 4)
            await s.set_tempo(600)
            await play_and_wait(s)
            lines = [await bot.read_line() for _ in range(7)]
            assert lines == ["1:1 ●", "1:2", "1:3", "2:1 ●", "2:2", "2:3", "3:1 ●"]
            await s.stop()
        assert await bot.stop() == 0


async def test_clock_offset_is_within_half_the_round_trip(server: ServerProcess) -> None:
    """Every process here shares CLOCK_MONOTONIC, so the true offset is 0."""
    token = server.token(SESSION)
    async with connect(server.url, session=SESSION, token=token, name="a") as s:
        await s.clock.wait_synced()
        assert abs(s.clock.offset) <= s.clock.rtt / 2 + 1
        assert abs(s.clock.now() - local_us()) <= s.clock.rtt / 2 + 1_000


async def test_clock_resyncs_after_reconnect(server: ServerProcess) -> None:
    token = server.token(SESSION)
    async with connect(server.url, session=SESSION, token=token, name="a") as s:
        await s.clock.wait_synced()
        events = s.events()
        assert s._ws is not None
        s._ws.transport.abort()
        async for event in events:
            if getattr(event, "state", None) == "connected":
                break
        assert s.clock.samples < 8  # a fresh window on the new connection
        await s.clock.wait_synced()
        assert abs(s.clock.offset) <= s.clock.rtt / 2 + 1


@pytest.mark.parametrize(("rtt_ms", "jitter_ms"), [(40.0, 10.0), (150.0, 30.0)])
async def test_clock_through_a_jittered_wan_path(
    server: ServerProcess, rtt_ms: float, jitter_ms: float
) -> None:
    """Through a proxy adding delay and jitter, every client's estimate stays within
    half its best round trip of the truth (0: all processes share CLOCK_MONOTONIC),
    and the round trip it measured reflects the path."""
    token = server.token(SESSION)
    async with (
        DelayProxy("127.0.0.1", server.port, rtt_ms=rtt_ms, jitter_ms=jitter_ms, seed=3) as proxy,
        contextlib.AsyncExitStack() as stack,
    ):
        clients = [
            await stack.enter_async_context(
                connect(proxy.url(), session=SESSION, token=token, name=f"c{i}")
            )
            for i in range(3)
        ]
        await asyncio.gather(*(s.clock.wait_synced() for s in clients))
        for s in clients:
            assert (rtt_ms - jitter_ms) * 1000 <= s.clock.rtt <= (rtt_ms + jitter_ms + 20) * 1000
            assert abs(s.clock.offset) <= s.clock.rtt / 2 + 1
            assert abs(s.clock.now() - local_us()) <= jitter_ms * 1000
        # and they agree on where the music is
        await clients[0].play()
        await asyncio.gather(*(s.wait_version(clients[0].version) for s in clients))
        positions = [s.timeline.beat_at(s.clock.now()) for s in clients]
        tempo_beats_per_us = clients[0].timeline.current.tempo / 60_000_000
        spread_us = (max(positions) - min(positions)) / tempo_beats_per_us
        assert spread_us <= 2 * jitter_ms * 1000 + 50_000  # includes the time between reads
