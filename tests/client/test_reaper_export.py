"""client/exports.py and ``backline export`` against a real server: the .rpp with every track's
MIDI, and the stems of the current version's render when there is one (rendered by the
server with FluidSynth's samples)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

from backline.client import connect
from backline.client.exports import export_reaper
from backline.client.renders import render
from backline.protocol.model import Document
from backline.testing import ServerProcess
from backline.testing.songs import song_ops

SESSION = "daw"
TRACKS = ["Drums", "Bass", "Keys", "Pad", "Lead"]  # song_ops' tracks


async def make_song(server: ServerProcess, bars: int = 2) -> None:
    async with connect(server.url, session=SESSION, token=server.token(SESSION, "owner"),
                       name="maker") as s:  # fmt: skip
        s.edit(song_ops(bars=bars))
        await s.synced()


async def current(server: ServerProcess) -> tuple[Document, int]:
    """The project and its version, as a viewer sees them."""
    async with connect(server.url, session=SESSION, token=server.token(SESSION, "viewer"),
                       name="reader") as s:  # fmt: skip
        return s.project.copy(), s.version


async def export(server: ServerProcess, role: str, out: Path, **options: Any) -> Any:
    doc, version = await current(server)
    token = server.token(SESSION, role)
    return await asyncio.to_thread(export_reaper, server.url, SESSION, token, doc, version, out,
                                   **options)  # fmt: skip


def referenced(rpp: str) -> list[str]:
    """The files the project's items play."""
    return re.findall(r'^\s*FILE "(.*)"$', rpp, re.MULTILINE)


def track_names(rpp: str) -> list[str]:
    return re.findall(r'^ {4}NAME "(.*)"$', rpp, re.MULTILINE)


def check_wav(path: Path, seconds: float) -> None:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (48_000, 3, 2)
        assert abs(w.getnframes() / 48_000 - seconds) < 0.002


async def test_without_a_render_the_export_is_midi_only(
    server: ServerProcess, tmp_path: Path
) -> None:
    await make_song(server)
    done = await export(server, "editor", tmp_path / "out")
    assert done.project == tmp_path / "out" / "daw.rpp" and done.audio == []
    assert done.render is None and "has not been rendered" in done.note
    rpp = done.project.read_text()
    assert track_names(rpp) == TRACKS and rpp.count("<SOURCE MIDI") == 5
    assert referenced(rpp) == [] and not (tmp_path / "out" / "stems").exists()
    viewed = await export(server, "viewer", tmp_path / "viewer")
    assert viewed.audio == [] and "viewer's token" in viewed.note
    assert viewed.project.read_text() == rpp


async def test_the_current_versions_render_brings_its_stems_and_an_older_one_does_not(
    server: ServerProcess, tmp_path: Path
) -> None:
    await make_song(server)
    editor = server.token(SESSION, "editor")
    job = await asyncio.to_thread(render, server.url, SESSION, editor, stems="dry")
    out = tmp_path / "out"
    done = await export(server, "editor", out)
    assert done.render is not None and done.render["id"] == job["id"] and done.note == ""
    rpp = done.project.read_text()
    files = referenced(rpp)
    assert files == [f"stems/{f['name']}" for f in job["files"][1:]] + ["stems/mix.wav"]
    assert sorted(out / f for f in files) == sorted(done.audio)
    for path in done.audio:
        check_wav(path, job["seconds"])
    assert track_names(rpp) == TRACKS + [f"{t} (stem)" for t in TRACKS] + ["Mix (render)"]
    assert rpp.count(f"LENGTH {job['seconds']:g}") == 6  # each file whole, tail included
    # one edit later the render is stale: its stems would not match the MIDI
    async with connect(server.url, session=SESSION, token=editor, name="editor") as s:
        s.set_tempo(100)
        await s.synced()
    later = await export(server, "editor", tmp_path / "later")
    assert later.audio == [] and "has not been rendered" in later.note
    assert referenced(later.project.read_text()) == []


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backline.cli", *args], capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip


async def test_the_cli_renders_what_it_is_asked_for_once_and_writes_the_project(
    server: ServerProcess, tmp_path: Path
) -> None:
    await make_song(server, bars=1)
    out = tmp_path / "cli"
    command = ["export", server.http_url, "--session", SESSION, "--rpp", str(out), "--render",
               "--token", server.token(SESSION, "editor")]  # fmt: skip
    first = await asyncio.to_thread(cli, *command)
    assert first.returncode == 0, first.stderr
    written = [Path(line) for line in first.stdout.splitlines()]
    assert written[0] == out / "daw.rpp" and len(written) == 7  # the project, 5 stems, the mix
    assert sorted(out / f for f in referenced(written[0].read_text())) == sorted(written[1:])
    for path in written[1:]:
        with wave.open(str(path)) as w:
            assert w.getnframes() > 48_000
    rendered = re.search(r"stems of render (\S+)", first.stderr)
    assert rendered and "render done" in first.stderr
    again = await asyncio.to_thread(cli, *command)  # the render exists: none is made
    assert again.returncode == 0
    assert not [line for line in again.stderr.splitlines() if line.startswith("render ")]
    assert f"stems of render {rendered[1]}" in again.stderr
    viewer = [*command[:-2], "--token", server.token(SESSION, "viewer")]
    refused = await asyncio.to_thread(cli, *viewer)
    assert refused.returncode == 1 and "forbidden" in refused.stderr
    midi = await asyncio.to_thread(cli, *[a for a in viewer if a != "--render"])
    assert midi.returncode == 0 and "MIDI only (a viewer's token" in midi.stderr
