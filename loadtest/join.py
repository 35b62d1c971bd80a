"""Join storm: many clients join a session whose project already holds many notes.

A setup client fills the project (one drum track, N notes, inserted 1,000
per edit) and stays joined, so the session stays loaded. Then every client opens its socket, and all of them send `hello`
at once; join latency is from sending `hello` to holding the complete
`welcome` frame (with the snapshot) on the generator, so it includes the
transfer. Reports p50/p99/max, joins/s, the welcome's size, server CPU and RSS.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from backline.protocol.tokens import mint
from backline.testing import RawClient

from .clients import Member, close_all, percentile, running_target
from .targets import Meter, Target

__all__ = ["JoinResult", "run_join"]


@dataclass
class JoinResult:
    target: str
    clients: int
    notes: int
    welcome_bytes: int
    seconds: float
    joins_per_s: float
    join_p50_ms: float
    join_p90_ms: float
    join_p99_ms: float
    join_max_ms: float
    server_cpu_pct: float
    generator_cpu_pct: float
    server_rss_mb: float
    latencies_ms: list[float]


async def fill_project(target: Target, session: str, notes: int) -> RawClient:
    """One track and `notes` notes, 1,000 per edit, each edit acknowledged.

    Returns the setup client, still joined: while it stays, the session stays
    loaded, so the storm measures joins into a live session, not a cold load.
    """
    token = mint(target.secret.encode(), session, "editor", may_create=True)
    client = await RawClient.open(target.urls[0])
    try:
        me = (await client.hello(session, token, name="setup"))["client"]
        edits: list[list[dict[str, object]]] = [
            [{"op": "insert", "kind": "track", "id": "lt:track", "value": {"kind": "drums"}}]
        ]
        for start in range(0, notes, 1000):
            edits.append(
                [
                    {
                        "op": "insert",
                        "kind": "note",
                        "id": f"lt:n{i}",
                        "value": {
                            "track": "lt:track",
                            "pitch": 36 + i % 48,
                            "start": (i * 240) % 38_000_000,
                        },
                    }
                    for i in range(start, min(notes, start + 1000))
                ]
            )
        for seq, ops in enumerate(edits, 1):
            await client.send({"type": "op", "seq": seq, "ops": ops})
            while True:
                message = await client.recv(60)
                if message["type"] == "reject":
                    raise RuntimeError(f"setup edit refused: {message}")
                if message["type"] == "ops" and any(
                    b["by"] == me and b["seq"] == seq for b in message["batches"]
                ):
                    break
    except BaseException:
        await client.ws.close()
        raise
    return client


async def storm(
    target: Target, clients: int, notes: int, progress: Callable[[str], None]
) -> JoinResult:
    session = f"join-{time.monotonic_ns()}"
    progress(f"join: filling the project with {notes:,} notes")
    setup = await fill_project(target, session, notes)
    token = mint(target.secret.encode(), session, "editor", may_create=True)
    members = [Member(target, session, i, sender=False) for i in range(clients)]
    progress(f"join: opening {clients} sockets")
    for i in range(0, clients, 100):
        await asyncio.gather(*(m.open() for m in members[i : i + 100]))
    progress(f"join: {clients} hellos at once")
    meter = Meter(target)
    for m in members:
        m.send_hello(token)
    latencies: list[float] = []
    size = 0
    try:
        for m in members:
            assert m.welcome is not None
            frame = await asyncio.wait_for(m.welcome, 300)
            size = len(frame)
        # each welcome future resolved the moment its frame was complete
        usage = meter.read()
        latencies = sorted(m.joined_at - m.hello_at for m in members)
    finally:
        await close_all(members)
        await setup.ws.close()
    elapsed = max(m.joined_at for m in members) - min(m.hello_at for m in members)
    return JoinResult(
        target=target.name,
        clients=clients,
        notes=notes,
        welcome_bytes=size,
        seconds=round(elapsed, 3),
        joins_per_s=round(clients / elapsed, 1),
        join_p50_ms=round(percentile(latencies, 0.5) * 1000, 2),
        join_p90_ms=round(percentile(latencies, 0.9) * 1000, 2),
        join_p99_ms=round(percentile(latencies, 0.99) * 1000, 2),
        join_max_ms=round(latencies[-1] * 1000, 2),
        server_cpu_pct=round(usage["server_cpu_pct"], 1),
        generator_cpu_pct=round(usage["generator_cpu_pct"], 1),
        server_rss_mb=round(usage["server_rss_mb"], 1),
        latencies_ms=[round(x * 1000, 2) for x in latencies],
    )


async def run_join(
    store: str, clients: int, notes: int, progress: Callable[[str], None]
) -> JoinResult:
    progress(f"starting backline-{store}")
    async with running_target(f"backline-{store}") as target:
        return await storm(target, clients, notes, progress)
