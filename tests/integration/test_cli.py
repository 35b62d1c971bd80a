"""The command line answers mistakes with one sentence, never a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from backline.client import connect
from backline.client.audio import ToneTrack
from backline.testing import ServerProcess

SESSION = "cli"


def cli(
    *args: str, stdin_of: subprocess.Popen[bytes] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backline.cli", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2, result.stderr


async def test_state_takes_the_pages_address_or_a_bare_host_and_port(server: ServerProcess) -> None:
    async with connect(server.url, session=SESSION, token=server.token(SESSION), name="a") as a:
        await a.add_track("Bass")
    port = server.url.rsplit(":", 1)[1]
    for url in (server.url, server.http_url, f"127.0.0.1:{port}"):
        shown = await asyncio.to_thread(
            cli, "state", url, "--session", SESSION, "--secret", server.secret
        )
        assert shown.returncode == 0, (url, shown.stderr)
        assert [t["name"] for t in json.loads(shown.stdout)["tracks"]] == ["Bass"]
    wrong = await asyncio.to_thread(
        cli, "state", "ftp://127.0.0.1:1", "--session", SESSION, "--secret", "x"
    )
    assert wrong.returncode != 0 and "not a server address" in wrong.stderr
    no_traceback(wrong)


async def test_a_bad_or_unknown_session_is_said_at_once(server: ServerProcess) -> None:
    bad = await asyncio.to_thread(
        cli, "state", server.url, "--session", "bad name!", "--secret", server.secret
    )
    assert bad.returncode != 0 and "bad_field" in bad.stderr and "session" in bad.stderr
    no_traceback(bad)
    typo = await asyncio.to_thread(
        cli, "state", server.url, "--session", "jmm", "--secret", server.secret
    )
    assert typo.returncode != 0 and typo.stdout == ""
    assert typo.stderr.startswith("backline: not_found: there is no session 'jmm'"), typo.stderr
    no_traceback(typo)
    async with connect(server.url, session="made", token=server.token("made"), name="a"):
        pass  # made, never edited
    empty = await asyncio.to_thread(
        cli, "state", server.url, "--session", "made", "--secret", server.secret
    )
    assert empty.returncode != 0 and "'made' has no edits yet" in empty.stderr
    no_traceback(empty)


async def test_a_hello_the_server_refuses_is_answered_with_its_reason(
    server: ServerProcess,
) -> None:
    """The SDK stops waiting for a welcome when the server has said why not."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with connect(
            server.url, session=SESSION, token=server.token(SESSION), name="x" * 500
        ):
            raise AssertionError("a 500-character name joined")
    except Exception as exc:
        assert type(exc).__name__ == "TooLarge", exc
    assert loop.time() - started < 5  # not the ten seconds of the welcome timeout


async def test_a_port_in_use_and_a_negative_ttl_are_one_sentence(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = await asyncio.to_thread(
            cli, "serve", "--port", port, "--data-dir", str(tmp_path), "--store", "memory"
        )
    assert busy.returncode != 0 and "already in use" in busy.stderr and "--port" in busy.stderr
    no_traceback(busy)
    expired = await asyncio.to_thread(
        cli, "token", "--session", SESSION, "--ttl", "-5", "--secret", "s"
    )
    assert expired.returncode != 0 and "--ttl must be a positive" in expired.stderr
    assert expired.stdout == ""


async def test_state_into_a_pipe_that_closes_early_ends_quietly(server: ServerProcess) -> None:
    async with connect(server.url, session=SESSION, token=server.token(SESSION), name="a") as a:
        for i in range(100):  # some 40 kB of JSON: more than a pipe holds
            a.add_track(f"Track {i}")
        await a.synced()
    command = f"{sys.executable} -m backline.cli state {server.url} --session {SESSION} --secret {server.secret} | head -c 10"

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    piped = await asyncio.to_thread(run)
    assert len(piped.stdout) == 10
    assert "BrokenPipeError" not in piped.stderr and "Traceback" not in piped.stderr, piped.stderr
    assert piped.returncode == 0, piped.stderr


async def test_the_readmes_sdk_example_runs_as_written(
    server: ServerProcess, tmp_path: Path
) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## SDK in ten lines", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'session="jam"' in example and "ws://127.0.0.1:8765" in example
    script = tmp_path / "example.py"
    script.write_text(example.replace("ws://127.0.0.1:8765", server.url), encoding="utf-8")

    def run() -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "BACKLINE_TOKEN": server.token("jam", "editor")}
        return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                              timeout=60, check=False, env=env)  # fmt: skip

    ran = await asyncio.to_thread(run)
    assert ran.returncode == 0, ran.stderr
    assert "'tempo': 96.0" in ran.stdout and "'Drums'" in ran.stdout


async def test_an_owner_starts_and_stops_a_recording_from_the_command_line(
    server: ServerProcess,
) -> None:
    url, secret = server.url, server.secret
    nobody = await asyncio.to_thread(
        cli, "record", "start", url, "--session", SESSION, "--secret", secret
    )
    assert nobody.returncode != 0 and nobody.stderr.startswith("backline: not_found:")
    no_traceback(nobody)
    viewer = server.token(SESSION, "viewer")
    refused = await asyncio.to_thread(
        cli, "record", "start", url, "--session", SESSION, "--token", viewer
    )
    assert refused.returncode != 0 and "forbidden" in refused.stderr
    async with connect(url, session=SESSION, token=server.token(SESSION), name="singer") as singer:
        await singer.audio.publish(ToneTrack(440.0))
        started = await asyncio.to_thread(
            cli, "record", "start", url, "--session", SESSION, "--secret", secret
        )
        assert started.returncode == 0, started.stderr
        assert "started" in started.stdout
        stopped = await asyncio.to_thread(
            cli, "record", "stop", url, "--session", SESSION, "--secret", secret
        )
        assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr
    listed = await asyncio.to_thread(
        cli, "recordings", url, "--session", SESSION, "--secret", secret
    )
    assert listed.returncode == 0 and "singer" in listed.stdout, listed.stderr


async def test_an_unexpected_failure_is_one_line_unless_debugging(
    server: ServerProcess, tmp_path: Path
) -> None:
    unreachable = await asyncio.to_thread(
        cli, "state", "127.0.0.1:1", "--session", SESSION, "--secret", "s"
    )
    assert unreachable.returncode != 0 and unreachable.stderr.startswith("backline: unavailable:")
    no_traceback(unreachable)
    async with connect(server.url, session=SESSION, token=server.token(SESSION), name="a") as a:
        await a.add_track("Bass")
    missing = str(tmp_path / "nowhere" / "out.mid")  # its folder does not exist
    args = ("state", server.url, "--session", SESSION, "--secret", server.secret, "--midi", missing)
    plain = await asyncio.to_thread(cli, *args)
    assert plain.returncode != 0 and "No such file or directory" in plain.stderr
    assert "--debug" in plain.stderr
    no_traceback(plain)
    debugging = await asyncio.to_thread(cli, "--debug", *args)
    assert debugging.returncode != 0 and "Traceback" in debugging.stderr
