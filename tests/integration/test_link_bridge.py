"""The Ableton Link bridge (bridges/link, GPL, its own distribution) against a real server.

Two processes beside the server: the bridge (`backline sync link`, which runs
it as its own process) and a separate Link peer standing in for a DAW
(bridges/link/tests/link_peer.py). Link finds its peers by multicast; on this
machine two processes find each other (the first assertion says so if not).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from backline.client import connect
from backline.client.session import Session
from backline.testing import ServerProcess, eventually

SESSION = "linked"
PEER = Path(__file__).parents[2] / "bridges" / "link" / "tests" / "link_peer.py"
DURATION = 30.0  # seconds of beats compared


class Peer:
    """The Link peer's reports, as they arrive."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.reports: list[dict[str, Any]] = []

    async def read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.reports.append(json.loads(line))

    @property
    def last(self) -> dict[str, Any]:
        return self.reports[-1] if self.reports else {}

    async def tell(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()


@contextlib.asynccontextmanager
async def process(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def phase_error_us(s: Session, report: dict[str, Any]) -> float:
    """How far the peer's phase (its beat within the quantum) is from the session's beat
    within the bar at the same moment. Link shares phase, not the beat count: peers'
    beats may differ by whole quanta (bars), as in any Link session."""
    timeline = s.timeline.current
    expected = timeline.linear_at(s.clock.to_server(report["t"])) % report["quantum"]
    off = (report["phase"] - expected) % report["quantum"]
    off = min(off, report["quantum"] - off) * (1 if off <= report["quantum"] / 2 else -1)
    return off * timeline.us_per_beat


async def test_a_link_peer_follows_the_session_and_the_session_follows_it(
    server: ServerProcess,
) -> None:
    token = server.token(SESSION, "owner")
    bridge_cmd = [sys.executable, "-m", "backline.cli", "sync", "link", server.url,
                  "--session", SESSION, "--token", token]  # fmt: skip
    async with connect(server.url, session=SESSION, token=token, name="test") as s:
        await s.clock.wait_synced()
        await s.set_tempo(120)
        async with process(*bridge_cmd), process(sys.executable, str(PEER)) as peer_proc:
            peer = Peer(peer_proc)
            reader = asyncio.ensure_future(peer.read())
            try:
                # multicast discovery works between two processes here
                await eventually(lambda: peer.last.get("peers", 0) >= 1, timeout=30)
                await eventually(lambda: abs(peer.last.get("tempo", 0) - 120) < 1e-6, timeout=30)
                await s.play()
                await eventually(lambda: peer.last.get("playing") is True, timeout=30)
                await asyncio.sleep(1.0)  # the bridge's first corrections
                start = len(peer.reports)
                await asyncio.sleep(DURATION)  # beats over 30 s, compared below
                window = peer.reports[start:]
                errors = sorted(abs(phase_error_us(s, r)) for r in window)
                p99 = errors[int(len(errors) * 0.99) - 1]
                print(f"Link peer vs session over {DURATION:.0f} s: {len(errors)} readings, "
                      f"phase error median {statistics.median(errors):.0f} µs, "
                      f"p99 {p99:.0f} µs, max {errors[-1]:.0f} µs")  # fmt: skip
                assert len(window) > DURATION * 10
                assert p99 < 1000  # within 1 ms p99

                # a tempo set in the "DAW" becomes a session edit
                await peer.tell("tempo 133")
                await eventually(lambda: abs(s.project.project["tempo"] - 133) < 1e-3, timeout=30)
                # stop in the session: the peer stops; play in the peer: the session plays
                await s.stop()
                await eventually(lambda: peer.last.get("playing") is False, timeout=30)
                await peer.tell("play")
                await eventually(lambda: s.timeline.current.playing, timeout=30)
            finally:
                reader.cancel()
