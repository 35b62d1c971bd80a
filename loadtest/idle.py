"""Memory per idle connection: the server's RSS with N joined, silent clients.

RSS is read once the server has settled with one client connected, then
again after N more clients joined (Backline: `hello`/`welcome` in sessions of
10; baselines: connected to rooms of 10) and nothing moves for a second.
(after - before) / N is the cost of one idle connection, kernel socket
buffers excluded (they are not in RSS).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from backline.protocol.tokens import mint

from .clients import Member, close_all, connect_all, running_target
from .targets import rss_bytes

__all__ = ["IdleResult", "run_idle"]


@dataclass
class IdleResult:
    target: str
    connections: int
    rss_before_mb: float
    rss_after_mb: float
    kib_per_connection: float


async def measure(name: str, connections: int, progress: Callable[[str], None]) -> IdleResult:
    progress(f"idle: starting {name}")
    async with running_target(name) as target:
        secret = target.secret.encode()

        def token(session: str) -> str:
            return (
                mint(secret, session, "editor", may_create=True) if target.speaks_protocol else ""
            )

        first = Member(target, "idle-warm", 0, sender=False)
        await connect_all([first], token)
        await asyncio.sleep(1.0)
        before = sum(rss_bytes(p) for p in target.pids)
        progress(f"idle: {connections} connections to {name}")
        members = [Member(target, f"idle-{i // 10}", i + 1, False) for i in range(connections)]
        await connect_all(members, token)
        await asyncio.sleep(1.0)  # presence of the last joins is sent, nothing moves
        after = sum(rss_bytes(p) for p in target.pids)
        await close_all([first, *members])
    return IdleResult(
        target=name,
        connections=connections,
        rss_before_mb=round(before / 2**20, 1),
        rss_after_mb=round(after / 2**20, 1),
        kib_per_connection=round((after - before) / connections / 1024, 1),
    )


async def run_idle(
    targets: list[str], connections: int, progress: Callable[[str], None]
) -> list[IdleResult]:
    return [await measure(name, connections, progress) for name in targets]
