"""Clock-sync accuracy: how far each client's estimate of the server clock is off.

    python -m loadtest.clock                       # loopback, 40±10 ms, 150±30 ms
    python -m loadtest.clock --clients 20 --seconds 20

Every process here reads the same CLOCK_MONOTONIC and the server's clock is
that clock in microseconds, so the true offset is exactly 0 and the error of a
client's estimate at any instant is ``clock.now() - local monotonic``. A real
server process; 20 SDK clients in this process, each connected directly
(loopback) or through `DelayProxy` emulating a jittered WAN path. After the
clocks sync, every client's error is sampled every 100 ms.

Baseline, measured in the same run: the naive estimator that trusts the newest
exchange instead of the minimum-round-trip one. Results are printed and
written to loadtest/results/clock-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from backline.client import connect
from backline.client.session import Session
from backline.testing import ServerProcess
from backline.testing.delay_proxy import DelayProxy

from .report import run, save

PATHS = {"loopback": (0.0, 0.0), "40±10ms": (40.0, 10.0), "150±30ms": (150.0, 30.0)}
TARGET_P99_MS = {"loopback": 0.5, "40±10ms": 3.0, "150±30ms": 8.0}


@dataclass
class Result:
    path: str
    clients: int
    samples: int
    error_p50_ms: float
    error_p99_ms: float
    error_max_ms: float
    naive_p50_ms: float
    naive_p99_ms: float
    rtt_min_ms: float
    target_p99_ms: float
    within_target: bool


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_path(server: ServerProcess, name: str, clients: int, seconds: float) -> Result:
    rtt_ms, jitter_ms = PATHS[name]
    async with AsyncExitStack() as stack:
        url = server.url
        if rtt_ms:
            proxy = DelayProxy("127.0.0.1", server.port, rtt_ms=rtt_ms, jitter_ms=jitter_ms, seed=7)
            await stack.enter_async_context(proxy)
            url = proxy.url()
        token = server.token("clock")
        sessions: list[Session] = []
        for i in range(clients):
            s = await stack.enter_async_context(
                connect(url, session="clock", token=token, name=f"c{i}", clock_interval=0.5)
            )
            sessions.append(s)
        await asyncio.gather(*(s.clock.wait_synced() for s in sessions))
        errors: list[float] = []
        naive: list[float] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # sampling period, not synchronisation
            for s in sessions:
                local = s.clock.local()
                errors.append(abs(s.clock.now() - local))
                latest = s.clock.latest
                if latest is not None:
                    naive.append(abs(latest.offset))
        rtt_min = min(s.clock.rtt for s in sessions)
    p99 = _pct(errors, 0.99) / 1000
    return Result(
        path=name,
        clients=clients,
        samples=len(errors),
        error_p50_ms=round(_pct(errors, 0.5) / 1000, 4),
        error_p99_ms=round(p99, 4),
        error_max_ms=round(max(errors) / 1000, 4),
        naive_p50_ms=round(_pct(naive, 0.5) / 1000, 4),
        naive_p99_ms=round(_pct(naive, 0.99) / 1000, 4),
        rtt_min_ms=round(rtt_min / 1000, 3),
        target_p99_ms=TARGET_P99_MS[name],
        within_target=p99 <= TARGET_P99_MS[name],
    )


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.clock", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--path", choices=sorted(PATHS), action="append", help="default: all")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data", store="memory").start()
        try:
            for name in args.path or list(PATHS):
                print(f"measuring {name} for {args.seconds:.0f} s …", file=sys.stderr, flush=True)
                results.append(await run_path(server, name, args.clients, args.seconds))
        finally:
            server.stop()
    print(
        f"{'path':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'naive p99':>10}"
        f" {'ratio':>6} {'rtt min':>8} {'target':>7}"
    )
    for r in results:
        ratio = r.error_p99_ms / r.naive_p99_ms if r.naive_p99_ms else float("nan")
        print(
            f"{r.path:>9} {r.error_p50_ms:>8.3f} {r.error_p99_ms:>8.3f} {r.error_max_ms:>8.3f}"
            f" {r.naive_p99_ms:>10.3f} {ratio:>6.2f} {r.rtt_min_ms:>8.2f}"
            f" {'ok' if r.within_target else 'MISSED':>7}"
        )
    save("clock", results)


if __name__ == "__main__":
    run(main)
