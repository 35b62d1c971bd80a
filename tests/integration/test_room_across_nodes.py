"""One audio room per session across server processes on one real Redis.

Members connected to different processes are in one room, hosted by the
process holding the session's room lease; their media goes to that host. When
the host is killed (-9), the lease expires and another process takes the room
over; members offer again without leaving the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from backline.client import connect
from backline.client.audio import SAMPLE_RATE, ToneTrack
from backline.client.recordings import download, list_recordings
from backline.client.session import Session
from backline.testing import ServerProcess, eventually
from backline.testing.audio import level_at, listen
from backline.testing.clicks import ClickTrack, onset, wav_samples
from backline.testing.processes import health
from backline.testing.redis import RedisServer

SESSION = "band"
A_HZ, B_HZ, C_HZ = 440.0, 1000.0, 1600.0
LEASE = 2.0  # the default --room-lease


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    with RedisServer(tmp_path / "redis") as redis:
        started = []
        try:
            for i in range(3):
                node = ServerProcess(
                    tmp_path / f"node{i}",
                    # sessions nobody is in unload fast: a host keeps its room's anyway
                    extra_args=["--redis", redis.url, "--node-id", f"n{i}", "--idle-unload", "0.5"],
                )
                started.append(node.start())
            yield started
        finally:
            for node in started:
                node.stop()


def metric(node: ServerProcess, name: str) -> float:
    with urllib.request.urlopen(node.http_url + "/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


async def hears(
    s: Session, hz: float, others: tuple[float, ...] = (), timeout: float = 30.0
) -> float:
    """Seconds until `s`'s mix carries `hz` (and not the tones in `others` it must not hear)."""
    start = time.monotonic()
    async with asyncio.timeout(timeout):
        while True:
            heard = await listen(s, 0.25)
            if level_at(heard, hz) > 0.05 and all(level_at(heard, o) < 0.01 for o in others):
                return time.monotonic() - start


@contextlib.asynccontextmanager
async def one_on_each(
    nodes: list[ServerProcess],
) -> AsyncIterator[tuple[Session, Session, Session]]:
    """An editor connected to each of the three processes: "first", "bob" and "cy"."""
    token = nodes[0].token(SESSION, "editor")
    async with (
        connect(nodes[0].url, session=SESSION, token=token, name="first") as first,
        connect(nodes[1].url, session=SESSION, token=token, name="bob") as b,
        connect(nodes[2].url, session=SESSION, token=token, name="cy") as c,
    ):
        yield first, b, c


async def into_the_room(first: Session, b: Session, c: Session) -> None:
    """`first` offers first (its process hosts the room), then `b` and `c`, each with its
    tone, until `b` and `c` hear each other."""
    await first.audio.publish(ToneTrack(A_HZ))
    await b.audio.publish(ToneTrack(B_HZ))
    await c.audio.publish(ToneTrack(C_HZ))
    await asyncio.gather(hears(b, C_HZ), hears(c, B_HZ))


async def test_members_on_two_processes_share_one_room_and_its_recording(
    nodes: list[ServerProcess],
) -> None:
    host, other = nodes[0], nodes[1]
    owner_token = other.token(SESSION, "owner")
    editor = host.token(SESSION, "editor")
    async with (
        connect(host.url, session=SESSION, token=editor, name="ann") as a,
        connect(other.url, session=SESSION, token=editor, name="bob") as b,
        connect(other.url, session=SESSION, token=owner_token, name="owner") as owner,
    ):
        await a.audio.publish(ToneTrack(A_HZ))  # the first offer: its process hosts the room
        await b.audio.publish(ToneTrack(B_HZ))  # relayed to the host
        await asyncio.gather(hears(a, B_HZ, (A_HZ,)), hears(b, A_HZ, (B_HZ,)))
        # presence: the relayed member's level is measured by the host and shown everywhere
        await eventually(lambda: a.peers.get(b.client_id, {}).get("level", -99) > -20)
        await eventually(lambda: b.peers.get(b.client_id, {}).get("audio") is not False)
        assert metric(other, "backline_audio_tick_seconds_count") == 0  # no room on `other`
        assert metric(host, "backline_audio_tick_seconds_count") > 0

        # a recording started by an owner on the other process: both stems, aligned
        for s in (a, b):
            await s.clock.wait_synced()
        clicks: list[float] = []
        tracks = [ClickTrack(s, clicks) for s in (a, b)]
        for s, track in zip((a, b), tracks, strict=True):
            await s.audio.publish(track)  # replaces the tone
        started = await owner.audio.record_start()
        first = a.clock.now() + 1_000_000
        clicks[:] = [first, first + 500_000]
        await asyncio.wait_for(
            asyncio.gather(*(t.sent_past(clicks[-1] + 1_500_000) for t in tracks)), 120
        )
        stopped = await owner.audio.record_stop()
        assert stopped["active"] is False and stopped["by"] == owner.client_id
        assert started["by"] == owner.client_id

        listed = await asyncio.to_thread(list_recordings, host.url, SESSION, owner_token)
        [meta] = [r for r in listed if r["id"] == started["id"]]
        files = {p["name"]: p["file"] for p in meta["participants"]}
        assert set(files) == {"ann", "bob"}  # the relayed member has its name and its stem

        def fetch(name: str) -> bytes:
            return download(host.url, SESSION, owner_token, started["id"], name)

        stems = {n: wav_samples(await asyncio.to_thread(fetch, f)) for n, f in files.items()}
        sidecar: dict[str, Any] = json.loads(await asyncio.to_thread(fetch, "recording.json"))
        assert {len(x) for x in stems.values()} == {sidecar["samples"]}
        resets = {p["name"]: p["resets"] for p in sidecar["participants"]}
        if not any(resets.values()):  # a sender stalled over a second: alignment unmeasurable
            tolerance = 5 * SAMPLE_RATE // 1000
            for click in clicks:
                expected = round((click - meta["start_time_us"]) * SAMPLE_RATE / 1e6)
                found = [onset(x, expected) for x in stems.values()]
                assert max(found) - min(found) <= tolerance, (click, found)
                assert abs(found[0] - expected) < 50 * SAMPLE_RATE // 1000


async def test_killing_the_rooms_host_moves_the_room_and_members_stay_in_the_session(
    nodes: list[ServerProcess],
) -> None:
    host = nodes[0]
    async with one_on_each(nodes) as (first, b, c):
        await into_the_room(first, b, c)
        acked = [await b.add_track(f"t{i}") for i in range(5)]
        ids = (b.client_id, c.client_id)

        killed = time.monotonic()
        host.kill()
        # edits keep being acknowledged meanwhile (other processes, same log)
        acked += [await c.add_track(f"u{i}") for i in range(5)]
        await eventually(lambda: b.audio.reoffers >= 1 and c.audio.reoffers >= 1, timeout=15)
        await eventually(lambda: b.audio.connected and c.audio.connected, timeout=15)
        moved = time.monotonic() - killed
        again = await asyncio.gather(hears(b, C_HZ), hears(c, B_HZ))
        heard = time.monotonic() - killed
        print(f"room moved {moved:.2f} s after kill -9; heard again after {heard:.2f} s {again}")
        assert moved < LEASE + 3.0  # within 5 s: the lease's life, a check, a new offer
        # nobody left the session: same identities, the websockets never dropped
        assert (b.client_id, c.client_id) == ids
        assert b.state.value == "connected" and c.state.value == "connected"
        hosts = [metric(n, "backline_room_moves_total") for n in nodes[1:]]
        assert sum(hosts) >= 1  # a relaying process saw its host go

        # every acknowledged edit is in the document, everywhere
        assert all(v > 0 for v in acked)
        await b.synced()
        await c.synced()
        names = {t.get("name") for t in b.project.tracks.values()}
        assert {f"t{i}" for i in range(5)} | {f"u{i}" for i in range(5)} <= names
        assert b.project.to_data() == c.project.to_data()


async def test_the_host_keeps_the_room_when_its_own_members_leave(
    nodes: list[ServerProcess],
) -> None:
    host = nodes[0]
    token = host.token(SESSION, "editor")
    async with (
        connect(nodes[1].url, session=SESSION, token=token, name="bob") as b,
        connect(nodes[2].url, session=SESSION, token=token, name="cy") as c,
    ):
        async with connect(host.url, session=SESSION, token=token, name="first") as first:
            await into_the_room(first, b, c)
        # nobody is connected to the host now; its session stays loaded past --idle-unload
        await eventually(
            lambda: (
                first.client_id not in b.peers or not b.peers[first.client_id].get("online", True)
            )
        )
        await asyncio.sleep(1.5)  # three idle-unload periods: a session that unloads has
        assert (await health(host))["sessions"] == 1
        await asyncio.gather(hears(b, C_HZ, (A_HZ,)), hears(c, B_HZ, (A_HZ,)))
        assert b.audio.reoffers == 0 and c.audio.reoffers == 0  # nothing moved
        assert metric(host, "backline_audio_tick_seconds_count") > 0


async def test_a_host_that_shuts_down_hands_the_room_over_at_once(
    nodes: list[ServerProcess],
) -> None:
    host = nodes[0]
    async with one_on_each(nodes) as (first, b, c):
        await into_the_room(first, b, c)
        await asyncio.to_thread(host.stop)  # SIGTERM: the host releases the lease and says so
        await eventually(lambda: b.audio.reoffers >= 1 and c.audio.reoffers >= 1, timeout=15)
        await asyncio.gather(hears(b, C_HZ, (A_HZ,)), hears(c, B_HZ, (A_HZ,)))
        hosts = [metric(n, "backline_audio_tick_seconds_count") > 0 for n in nodes[1:]]
        assert any(hosts)


async def test_a_relayed_members_track_binding_follows_mute(nodes: list[ServerProcess]) -> None:
    """The host mixes by the project's mute for members of other processes too: their
    binding (presence `track`) reaches it over the bus."""
    async with one_on_each(nodes) as (first, b, c):
        await into_the_room(first, b, c)
        keys = c.add_track("Keys")
        await keys
        await c.set(keys.id, "mute", True)  # nobody plays it yet: bob is still heard
        await hears(c, B_HZ)
        b.set_presence(track=keys.id)  # now bob, in the room from nodes[1], binds to it
        await hears(c, A_HZ, (B_HZ,))  # and the host silences him
        b.set_presence(track=None)
        await hears(c, B_HZ)
