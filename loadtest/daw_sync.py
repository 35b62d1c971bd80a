"""DAW sync accuracy: MIDI clock jitter and Ableton Link phase error against the server clock.

    python -m loadtest.daw_sync                    # loopback and 40±10 ms, 20 s each
    python -m loadtest.daw_sync --seconds 60 --path loopback

Every process here reads the same CLOCK_MONOTONIC and the server's clock is
that clock in µs (as in `loadtest.clock`), so the true error of a pulse is
exactly ``sent - due``, and a Link peer's true phase error is its phase
against the session's timeline at its own monotonic reading.

- **MIDI clock**: `backline.client.midi_sync.MidiClock` into `MemoryOut` (the
  interface a port has), its session connected directly or through
  `DelayProxy`. Baseline in the same run: a naive clock that sleeps one pulse
  interval after each pulse (what the generator avoids), over the same time.
- **Link**: the bridge (`python -m backline_link`, the optional GPL package)
  through the same path, and a separate Link peer process; skipped with a
  message when the bridge is not installed.

Results are printed and written to loadtest/results/daw_sync-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backline.client import connect
from backline.client.midi_sync import MemoryOut, MidiClock
from backline.protocol.midi_clock import PPQN, ClockEvent, ClockKind
from backline.testing import ServerProcess
from backline.testing.delay_proxy import DelayProxy

from .report import run, save

PATHS = {"loopback": (0.0, 0.0), "40±10ms": (40.0, 10.0)}
PEER = Path(__file__).parents[1] / "bridges" / "link" / "tests" / "link_peer.py"
TEMPO = 120.0


@dataclass
class Result:
    path: str
    what: str
    samples: int
    error_p50_ms: float
    error_p99_ms: float
    error_max_ms: float
    jitter_ms: float  # standard deviation of the intervals between pulses (MIDI)
    baseline_p99_ms: float  # the naive clock's (MIDI), same run
    ratio: float  # p99 / baseline p99


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _naive(seconds: float, start: float) -> list[float]:
    """A clock that sleeps one interval after each pulse: its pulses' errors (µs)."""
    interval = 60 / TEMPO / PPQN
    errors, k = [], 0
    while (time.monotonic_ns() / 1000 - start) / 1e6 < seconds:
        errors.append(time.monotonic_ns() / 1000 - (start + k * interval * 1e6))
        k += 1
        await asyncio.sleep(interval)
    return errors


class _TimedClock(MidiClock):
    """Notes the true (monotonic) time each pulse left, beside the pulse."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.left: list[tuple[float, ClockEvent]] = []

    def _send(self, event: ClockEvent) -> None:
        if event.kind is ClockKind.CLOCK:
            self.left.append((time.monotonic_ns() / 1000, event))
        super()._send(event)


async def midi_path(url: str, token: str, name: str, seconds: float) -> Result:
    out = MemoryOut()
    async with connect(url, session="sync", token=token, name="midi", clock_interval=0.5) as s:
        await s.clock.wait_synced()
        clock = _TimedClock(s.timeline, out)
        task = asyncio.ensure_future(clock.run())
        await s.set_tempo(TEMPO)
        await s.play()
        while not any(e.kind in (ClockKind.START, ClockKind.CONTINUE) for e in clock.sent):
            await asyncio.sleep(0.05)
        start = time.monotonic_ns() / 1000
        naive = await _naive(seconds, start)  # beside it, in the same loop and time
        left = [(t, e) for t, e in clock.left if t >= start]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await s.stop()
    errors = [abs(t - e.time) for t, e in left]  # the server clock is this monotonic clock
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(left)]
    baseline = _pct([abs(e) for e in naive], 0.99) / 1000
    p99 = _pct(errors, 0.99) / 1000
    return Result(name, "midi clock", len(errors), round(_pct(errors, 0.5) / 1000, 3),
                  round(p99, 3), round(max(errors) / 1000, 3),
                  round(statistics.pstdev(gaps) / 1000, 3), round(baseline, 3),
                  round(p99 / baseline, 3) if baseline else float("nan"))  # fmt: skip


async def link_path(url: str, token: str, name: str, seconds: float) -> Result | None:
    if importlib.util.find_spec("backline_link") is None:
        print("Link: the bridge is not installed (pip install ./bridges/link): skipped",
              file=sys.stderr)  # fmt: skip
        return None
    bridge = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "backline_link", url, "--session", "sync", "--token", token,
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    peer = await asyncio.create_subprocess_exec(
        sys.executable, str(PEER), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    try:
        async with connect(url, session="sync", token=token, name="obs") as s:
            await s.set_tempo(TEMPO)
            await s.play()
            assert peer.stdout is not None
            reports = []
            deadline = time.monotonic() + seconds + 3
            while time.monotonic() < deadline:
                line = await asyncio.wait_for(peer.stdout.readline(), 10)
                reports.append(json.loads(line))
            timeline = s.timeline.current
            await s.stop()
        errors = []
        for r in reports[len(reports) // 8 :]:  # past the first corrections
            if not r["playing"] or r["peers"] < 1:
                continue
            # the true server time of the peer's reading is its monotonic time
            expected = timeline.linear_at(r["t"]) % r["quantum"]
            off = (r["phase"] - expected) % r["quantum"]
            errors.append(min(off, r["quantum"] - off) * timeline.us_per_beat)
    finally:
        for proc in (bridge, peer):
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            await proc.wait()
    if not errors:
        seen = {(r["playing"], r["peers"]) for r in reports}
        print(f"Link: the peer never followed the bridge (playing, peers seen: {seen})",
              file=sys.stderr)  # fmt: skip
        return None
    p99 = _pct(errors, 0.99) / 1000
    return Result(name, "link phase", len(errors), round(_pct(errors, 0.5) / 1000, 3),
                  round(p99, 3), round(max(errors) / 1000, 3), 0.0, float("nan"),
                  float("nan"))  # fmt: skip


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.daw_sync", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--path", choices=sorted(PATHS), action="append", help="default: all")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data", store="memory").start()
        try:
            token = server.token("sync", "owner")
            for name in args.path or list(PATHS):
                rtt, jitter = PATHS[name]
                async with AsyncExitStack() as stack:
                    url = server.url
                    if rtt:
                        proxy = DelayProxy("127.0.0.1", server.port, rtt_ms=rtt,
                                           jitter_ms=jitter, seed=7)  # fmt: skip
                        await stack.enter_async_context(proxy)
                        url = proxy.url()
                    print(f"{name}: MIDI clock for {args.seconds:.0f} s …", file=sys.stderr)
                    results.append(await midi_path(url, token, name, args.seconds))
                    print(f"{name}: Link for {args.seconds:.0f} s …", file=sys.stderr)
                    link = await link_path(url, token, name, args.seconds)
                    if link is not None:
                        results.append(link)
        finally:
            server.stop()
    print(f"{'path':>9} {'what':>11} {'n':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
          f" {'jitter':>7} {'naive p99':>9} {'ratio':>6}")  # fmt: skip
    for r in results:
        print(f"{r.path:>9} {r.what:>11} {r.samples:>6} {r.error_p50_ms:>7.3f}"
              f" {r.error_p99_ms:>7.3f} {r.error_max_ms:>7.3f} {r.jitter_ms:>7.3f}"
              f" {r.baseline_p99_ms:>9.3f} {r.ratio:>6.3f}")  # fmt: skip
    save("daw_sync", results)


if __name__ == "__main__":
    run(main)
