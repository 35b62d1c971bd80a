"""Recordings and renders are reachable from every process (`--files-dir`, shared).

Two real server processes on one real Redis mount the same files directory:
a render started through one is listed, followed and downloaded through the
other; a recording of the session's one audio room (hosted by one process) is
listed and downloaded through either, byte for byte; both stay served after
the process that made them is killed (-9); access is checked as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from backline.client import connect
from backline.client.audio import ToneTrack
from backline.client.httpapi import request
from backline.client.recordings import download, list_recordings
from backline.client.renders import render_status, start_render
from backline.protocol.errors import Forbidden, Unauthorized
from backline.testing import ServerProcess, eventually
from backline.testing.redis import RedisServer
from backline.testing.songs import song_ops

SESSION = "shared"


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    files = tmp_path / "shared-files"
    with RedisServer(tmp_path / "redis") as redis:
        nodes: list[ServerProcess] = []
        try:
            for i in range(2):
                args = ["--redis", redis.url, "--node-id", f"n{i}", "--files-dir", str(files)]
                nodes.append(ServerProcess(tmp_path / f"n{i}", extra_args=args).start())
            yield nodes
        finally:
            for node in nodes:
                node.stop()


def render_file(node: ServerProcess, token: str, job: dict[str, object], name: str) -> bytes:
    return request("GET", f"{node.http_url}/renders/{SESSION}/{job['id']}/{name}", token, 60)


async def test_renders_and_recordings_made_on_one_process_are_served_by_the_other(
    pair: list[ServerProcess],
) -> None:
    a, b = pair
    owner = a.token(SESSION, "owner")
    async with (
        connect(a.url, session=SESSION, token=owner, name="ann") as ann,
        connect(b.url, session=SESSION, token=owner, name="bob") as bob,
    ):
        ops = song_ops(bars=4)
        for i in range(0, len(ops), 50):
            ann.edit(ops[i : i + 50])
        await ann.synced()

        # a render asked of `a`, followed through `b` while it runs, downloaded from `b`
        job = await asyncio.to_thread(start_render, a.url, SESSION, owner, stems="dry")
        seen: list[str] = []

        async def finished_on_b() -> bool:
            status = await asyncio.to_thread(render_status, b.url, SESSION, owner, job["id"])
            seen.append(status["status"])
            assert status["status"] != "failed", status
            return status["status"] == "done"

        await eventually(finished_on_b, timeout=120)
        assert seen[0] in ("queued", "running", "done")
        done = await asyncio.to_thread(render_status, b.url, SESSION, owner, job["id"])
        names = [f["name"] for f in done["files"]]
        assert "mix.wav" in names and done["version"] == job["version"]
        listed = await asyncio.to_thread(
            lambda: request("GET", f"{b.http_url}/renders/{SESSION}", owner, 30)
        )
        assert job["id"].encode() in listed
        for name in names:
            via_b = await asyncio.to_thread(render_file, b, owner, done, name)
            assert via_b == await asyncio.to_thread(render_file, a, owner, done, name)

        # a recording of the one room (hosted by `a`, whose member offered first)
        await ann.audio.publish(ToneTrack(440))
        await bob.audio.publish(ToneTrack(1000))
        started = await bob.audio.record_start()  # asked on `b`, made on `a`
        await asyncio.sleep(1.0)  # a second of both tones in the take
        await bob.audio.record_stop()
        takes = await asyncio.to_thread(list_recordings, b.url, SESSION, owner)
        [take] = [t for t in takes if t["id"] == started["id"]]
        assert {p["name"] for p in take["participants"]} == {"ann", "bob"}
        files = [f["name"] for f in take["files"]]
        copies = {}
        for name in files:
            via_b = await asyncio.to_thread(download, b.url, SESSION, owner, take["id"], name)
            assert via_b == await asyncio.to_thread(
                download, a.url, SESSION, owner, take["id"], name
            )
            copies[name] = via_b

    # the process that made both dies; the other still lists and serves them
    a.kill()
    takes = await asyncio.to_thread(list_recordings, b.url, SESSION, owner)
    assert started["id"] in {t["id"] for t in takes}
    for name, data in copies.items():
        assert await asyncio.to_thread(download, b.url, SESSION, owner, take["id"], name) == data
    assert (await asyncio.to_thread(render_status, b.url, SESSION, owner, job["id"]))[
        "status"
    ] == "done"
    # who may see them is unchanged: recordings are the owners'
    editor = b.token(SESSION, "editor")
    with pytest.raises(Forbidden):
        await asyncio.to_thread(list_recordings, b.url, SESSION, editor)
    viewer = b.token(SESSION, "viewer")
    with pytest.raises(Forbidden):
        await asyncio.to_thread(list_recordings, b.url, SESSION, viewer)
    with pytest.raises(Forbidden):
        await asyncio.to_thread(render_status, b.url, SESSION, viewer, job["id"])
    for call in (
        lambda: list_recordings(b.url, SESSION, "not-a-token"),
        lambda: render_status(b.url, SESSION, "not-a-token", job["id"]),
    ):
        with pytest.raises(Unauthorized):
            await asyncio.to_thread(call)
