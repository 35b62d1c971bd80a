"""Presence storm: every member of one session moves its cursor 30 times a second.

Each cursor carries the generator's send time (µs), so every receiver can
time each peer entry it gets. The server coalesces presence (one frame per
session every 1/30 s with everyone who changed), so latency includes up to
one coalescing interval by design. Reports presence frames and peer entries
delivered per second, latency p50/p99, server CPU and RSS.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgpack

from backline.protocol.codec import encode
from backline.protocol.tokens import mint

from .clients import Member, close_all, connect_all, percentile, running_target
from .targets import Meter, Target

__all__ = ["PresenceResult", "run_presence"]

_PRESENCE = encode("type") + encode("presence")


@dataclass
class PresenceResult:
    target: str
    clients: int
    hz: float
    seconds: float
    updates_sent_per_s: float
    frames_per_s: float
    entries_per_s: float
    latency_p50_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    server_cpu_pct: float
    generator_cpu_pct: float
    server_rss_mb: float


class _Tally:
    def __init__(self) -> None:
        self.frames = 0
        self.entries = 0
        self.latencies: list[float] = []

    def on_presence(self, member: Member, payload: bytes) -> None:
        if payload[1 : 1 + len(_PRESENCE)] != _PRESENCE:
            return
        now = time.perf_counter_ns() // 1000
        self.frames += 1
        for peer in msgpack.unpackb(payload)["peers"]:
            self.entries += 1
            cursor = peer.get("cursor")
            if isinstance(cursor, dict) and "t" in cursor:
                self.latencies.append((now - cursor["t"]) / 1e6)


async def storm(
    target: Target, clients: int, hz: float, seconds: float, progress: Callable[[str], None]
) -> PresenceResult:
    session = f"presence-{time.monotonic_ns()}"
    members = [Member(target, session, i, sender=True) for i in range(clients)]
    tally = _Tally()
    for m in members:
        m.on_other = tally.on_presence
    secret = target.secret.encode()
    progress(f"presence: joining {clients} clients")
    await connect_all(members, lambda s: mint(secret, s, "editor", may_create=True))
    await asyncio.sleep(0.5)  # the join presence frames pass
    progress(f"presence: {clients} cursors at {hz:g} Hz for {seconds:g} s")
    tally.__init__()  # type: ignore[misc]
    meter = Meter(target)
    rate, start, sent, k = clients * hz, time.perf_counter(), 0, 0
    until = start + seconds
    while (now := time.perf_counter()) < until:
        due = int((now - start) * rate) - sent
        for _ in range(due):
            member = members[k]
            k = (k + 1) % clients
            t = time.perf_counter_ns() // 1000
            state = {"cursor": {"t": t, "x": k, "y": sent % 640}}
            member.send_payload(encode({"type": "presence", "state": state}))
        sent += max(0, due)
        await asyncio.sleep(0.002)
    await asyncio.sleep(0.1)  # the last coalesced frame
    usage = meter.read()
    await close_all(members)
    elapsed = usage["seconds"]
    latencies = sorted(tally.latencies)
    return PresenceResult(
        target=target.name,
        clients=clients,
        hz=hz,
        seconds=round(elapsed, 2),
        updates_sent_per_s=round(sent / seconds),
        frames_per_s=round(tally.frames / elapsed),
        entries_per_s=round(tally.entries / elapsed),
        latency_p50_ms=round(percentile(latencies, 0.5) * 1000, 2),
        latency_p99_ms=round(percentile(latencies, 0.99) * 1000, 2),
        latency_max_ms=round((latencies[-1] if latencies else float("nan")) * 1000, 2),
        server_cpu_pct=round(usage["server_cpu_pct"], 1),
        generator_cpu_pct=round(usage["generator_cpu_pct"], 1),
        server_rss_mb=round(usage["server_rss_mb"], 1),
    )


async def run_presence(
    store: str, clients: int, hz: float, seconds: float, progress: Callable[[str], None]
) -> PresenceResult:
    progress(f"starting backline-{store}")
    async with running_target(f"backline-{store}") as target:
        return await storm(target, clients, hz, seconds, progress)
