"""Fixtures several integration tests share: raw clients closed at the end, and two server
processes on one Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from backline.testing import RawClient, ServerProcess
from backline.testing.redis import RedisServer


@pytest.fixture
async def raws() -> AsyncIterator[list[RawClient]]:
    """Raw clients a test opens (append them); closed when it ends."""
    opened: list[RawClient] = []
    yield opened
    for client in opened:
        await client.ws.close()


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[RedisServer, list[ServerProcess]]]:
    """A Redis of this test's own and two server processes (n0, n1) on it."""
    with RedisServer(tmp_path / "redis") as redis:
        nodes = [
            ServerProcess(
                tmp_path / f"node{i}", extra_args=["--redis", redis.url, "--node-id", f"n{i}"]
            ).start()
            for i in range(2)
        ]
        try:
            yield redis, nodes
        finally:
            for node in nodes:
                node.stop()
