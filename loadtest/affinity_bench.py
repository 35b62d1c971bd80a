"""Session-affine routing: one process direct, one behind HAProxy, two behind HAProxy.

    python -m loadtest.affinity_bench                      # 40 sessions x 5, 400 edits/s, 5 s
    python -m loadtest.affinity_bench --sessions 10 --seconds 2 --rate 100

All three configurations run in one invocation on one Redis (a fresh
redis-server, `--redis` on every process, as a multi-process deployment runs),
with the same paced workload: `--sessions` sessions of `--members` clients
each, one sender per session, `--rate` edits/s in total spread over the
senders. Each client joins ``/s/<session>`` (through HAProxy: deploy/haproxy.cfg
as testing/haproxy.py runs it). Measured: deliveries/s (edits reaching a
client), the round trip p50/p99 of the senders' edits, and the CPU seconds of
the server process(es), HAProxy and this generator over the paced window.
Ratios are against the 1-process-direct row of the same run, whatever the
machine's speed. Prints the figures and writes
``loadtest/results/affinity-<time>.json`` and ``.md``; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from backline.testing import ServerProcess
from backline.testing.haproxy import HAProxy
from backline.testing.redis import RedisServer

from .clients import Member, close_all, connect_all, percentile
from .report import publish, run
from .targets import Target, cpu_seconds


@dataclass
class AffinityRun:
    config: str
    processes: int
    sessions: int
    members: int
    rate: float
    seconds: float
    deliveries_per_s: float
    ratio: float
    rtt_p50_ms: float
    rtt_p99_ms: float
    server_cpu_s: float
    haproxy_cpu_s: float
    generator_cpu_s: float


async def _workload(
    base: str, server: ServerProcess, sessions: int, members: int, rate: float, seconds: float
) -> tuple[float, list[float], float]:
    """Join, pace edits for `seconds`, drain; (deliveries/s, sorted RTTs, paced window s)."""
    tag = os.urandom(4).hex()
    crowd: list[Member] = []
    for s in range(sessions):
        name = f"aff-{tag}-{s}"
        target = Target("backline-affinity", [f"{base}/s/{name}"], [])
        crowd += [Member(target, name, s * members + m, m == 0) for m in range(members)]
    await connect_all(crowd, server.token, batch=50)
    senders = [m for m in crowd if m.sender]
    try:
        for m in crowd:
            m.deliveries = 0
        start = time.perf_counter()
        until = start + seconds
        sent = 0
        while (now := time.perf_counter()) < until:
            due = int((now - start) * rate) - sent
            for k in range(max(0, due)):
                member = senders[(sent + k) % len(senders)]
                if len(member.sent) < 64:
                    member.send_edit(now)
            sent += max(0, due)
            await asyncio.sleep(0.001)
        window = time.perf_counter() - start
        deliveries = sum(m.deliveries for m in crowd)
        drain = time.perf_counter() + 10
        while time.perf_counter() < drain and any(m.sent for m in senders):
            await asyncio.sleep(0.02)
        rtts = sorted(r for m in senders for r in m.rtts)
        return deliveries / window, rtts, window
    finally:
        await close_all(crowd)


async def measure(
    sessions: int = 40, members: int = 5, rate: float = 400.0, seconds: float = 5.0
) -> list[AffinityRun]:
    rows: list[AffinityRun] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        RedisServer(Path(tmp) / "redis", appendfsync="everysec") as redis,
    ):
        for config, processes, proxied in (
            ("1 process direct", 1, False),
            ("1 process behind HAProxy", 1, True),
            ("2 processes behind HAProxy", 2, True),
        ):
            with contextlib.ExitStack() as stack:
                servers = [
                    stack.enter_context(
                        ServerProcess(
                            Path(tmp) / f"{processes}{proxied}-{i}",
                            extra_args=["--redis", redis.url, "--node-id", f"n{i}"],
                        )
                    )
                    for i in range(processes)
                ]
                proxy = None
                base = servers[0].url
                if proxied:
                    proxy = HAProxy(Path(tmp) / f"haproxy{processes}", [s.port for s in servers])
                    stack.enter_context(proxy)
                    base = proxy.url
                pids = [s.pid for s in servers]
                cpu0 = [cpu_seconds(p) for p in pids]
                hap0 = cpu_seconds(proxy.pid) if proxy else 0.0
                gen0 = time.process_time()
                per_s, rtts, _ = await _workload(base, servers[0], sessions, members, rate, seconds)
                server_cpu = sum(cpu_seconds(p) for p in pids) - sum(cpu0)
                hap_cpu = (cpu_seconds(proxy.pid) - hap0) if proxy else 0.0
                gen_cpu = time.process_time() - gen0
            baseline = rows[0].deliveries_per_s if rows else per_s
            rows.append(
                AffinityRun(
                    config, processes, sessions, members, rate, seconds, round(per_s, 1),
                    round(per_s / baseline, 3) if baseline else 0.0,
                    round(percentile(rtts, 0.5) * 1000, 2), round(percentile(rtts, 0.99) * 1000, 2),
                    round(server_cpu, 2), round(hap_cpu, 2), round(gen_cpu, 2),
                )
            )  # fmt: skip
    return rows


def report(rows: list[AffinityRun]) -> str:
    lines = [
        "# Session-affine routing: 1 process direct vs behind HAProxy (1 and 2 processes)\n",
        f"{rows[0].sessions} sessions x {rows[0].members} clients, {rows[0].rate:g} edits/s"
        f" paced for {rows[0].seconds:g} s, one Redis; {os.cpu_count()} cores.\n",
        "| config | deliveries/s | vs 1 direct | RTT p50 ms | p99 ms | server CPU s"
        " | haproxy CPU s | generator CPU s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.config} | {r.deliveries_per_s} | {r.ratio} | {r.rtt_p50_ms} | {r.rtt_p99_ms}"
        f" | {r.server_cpu_s} | {r.haproxy_cpu_s} | {r.generator_cpu_s} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.affinity_bench", description=__doc__)
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--rate", type=float, default=400.0, help="edits/s in total")
    parser.add_argument("--seconds", type=float, default=5.0, help="paced window per config")
    args = parser.parse_args(argv)

    async def go() -> None:
        rows = await measure(args.sessions, args.members, args.rate, args.seconds)
        publish("affinity", rows, report(rows))

    run(go)


if __name__ == "__main__":
    main()
