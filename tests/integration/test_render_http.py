"""Server renders over HTTP against a real server: progress, atomic files, who may render."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from backline.client import connect
from backline.client.httpapi import request
from backline.client.renders import download_render, render, start_render
from backline.protocol.errors import BacklineError, Forbidden, NotFound, OutOfRange, Unauthorized
from backline.testing import ServerProcess
from backline.testing.songs import song_ops

SESSION = "jam"


async def make_song(server: ServerProcess, bars: int = 4) -> None:
    token = server.token(SESSION, "owner")
    async with connect(server.url, session=SESSION, token=token, name="maker") as s:
        ops = song_ops(bars=bars)
        for i in range(0, len(ops), 50):
            s.edit(ops[i : i + 50])
        await s.synced()


async def test_a_render_reports_progress_and_its_files_appear_whole(
    server: ServerProcess, tmp_path: Path
) -> None:
    await make_song(server)
    token = server.token(SESSION, "editor")
    seen: list[dict] = []  # type: ignore[type-arg]
    job = await asyncio.to_thread(render, server.url, SESSION, token, stems="dry",
                                  on_progress=seen.append)  # fmt: skip
    assert job["status"] == "done" and job["progress"] == 1.0
    progress = [j["progress"] for j in seen]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert {j["status"] for j in seen} <= {"queued", "running", "done"}
    names = [f["name"] for f in job["files"]]
    assert names[0] == "mix.wav" and len(names) == 6  # the mix and five stems
    assert job["lufs"] < 0 and job["true_peak_db"] <= -1.0
    out = tmp_path / "bounce"
    files = await asyncio.to_thread(download_render, server.url, SESSION, token, job, out)
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, "render.json"])
    assert [p.name for p in files][-1] == "render.json"
    with wave.open(str(out / "mix.wav")) as mix:
        assert (mix.getframerate(), mix.getsampwidth(), mix.getnchannels()) == (48_000, 3, 2)
        assert mix.getnframes() >= 8 * 48_000
    summary = json.loads((out / "render.json").read_text())
    assert summary["version"] == job["version"] and summary["bits"] == 24
    # on the server the render is one directory, no partial left beside it
    renders = server.data_dir / "renders" / SESSION
    assert sorted(p.name for p in renders.iterdir()) == [".jobs", job["id"]]
    assert list((renders / ".jobs").iterdir()) == []  # a finished render's state is its directory
    listed = json.loads(request("GET", f"{server.http_url}/renders/{SESSION}", token, 10))
    assert [r["id"] for r in listed["renders"]] == [job["id"]]


async def test_viewers_cannot_render_and_bad_requests_change_nothing(
    server: ServerProcess,
) -> None:
    await make_song(server, bars=1)
    viewer = server.token(SESSION, "viewer")
    editor = server.token(SESSION, "editor")
    with pytest.raises(Forbidden):
        await asyncio.to_thread(start_render, server.url, SESSION, viewer)
    with pytest.raises(OutOfRange):
        await asyncio.to_thread(start_render, server.url, SESSION, editor, stems="loud")
    with pytest.raises(NotFound, match="no version 999"):
        await asyncio.to_thread(start_render, server.url, SESSION, editor, version=999)
    other = server.token("nobody-here", "owner")
    with pytest.raises(NotFound, match="no session"):
        await asyncio.to_thread(start_render, server.url, "nobody-here", other)
    with pytest.raises(Forbidden):  # a token for another session
        await asyncio.to_thread(start_render, server.url, SESSION, other)
    with pytest.raises(Unauthorized):
        await asyncio.to_thread(start_render, server.url, SESSION, "not-a-token")
    with pytest.raises(BacklineError):  # the token in the query is not enough to start one
        request("POST", f"{server.http_url}/renders/{SESSION}?token={editor}", "", 10)
    assert not (server.data_dir / "renders" / SESSION).exists()


async def test_an_empty_project_has_nothing_to_bounce(server: ServerProcess) -> None:
    token = server.token(SESSION, "owner")
    async with connect(server.url, session=SESSION, token=token, name="a") as s:
        s.edit([{"op": "set", "id": "project", "field": "tempo", "value": 100.0}])
        await s.synced()
        with pytest.raises(NotFound, match="nothing to play"):
            await asyncio.to_thread(start_render, server.url, SESSION, token)


async def test_samples_are_served_to_participants_only(server: ServerProcess) -> None:
    token = server.token(SESSION, "viewer")
    index = json.loads(request("GET", f"{server.http_url}/samples", token, 10))
    assert index["available"] is True and index["rate"] == 48_000
    flac = request("GET", f"{server.http_url}/samples/0/0/60/127.flac", token, 30)
    assert flac[:4] == b"fLaC"
    with pytest.raises(OutOfRange):
        request("GET", f"{server.http_url}/samples/0/0/60/100.flac", token, 10)
    with pytest.raises(Unauthorized):
        request("GET", f"{server.http_url}/samples/0/0/60/127.flac", "forged", 10)


async def test_the_cli_renders_into_a_directory_with_progress(
    server: ServerProcess, tmp_path: Path
) -> None:
    await make_song(server, bars=2)
    out = tmp_path / "cli-bounce"
    command = [sys.executable, "-m", "backline.cli", "render", f"127.0.0.1:{server.port}",
               "--session", SESSION, "--out", str(out), "--stems", "wet",
               "--token", server.token(SESSION, "editor")]  # fmt: skip
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True,
                                   timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "100%" in done.stderr and "LUFS" in done.stderr
    assert sorted(p.name for p in out.iterdir())[0] == "mix.wav"
    assert len([p for p in out.iterdir() if p.name.startswith("stem-")]) == 5
    viewer = [*command[:-1], server.token(SESSION, "viewer")]
    refused = await asyncio.to_thread(subprocess.run, viewer, capture_output=True, text=True,
                                      timeout=120)  # fmt: skip
    assert refused.returncode == 1 and "forbidden" in refused.stderr
