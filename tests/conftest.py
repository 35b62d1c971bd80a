"""Shared fixtures: a real server process per test, tokens, raw websocket helpers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from backline.client.testing import RawClient, ServerProcess


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real `backline serve` process with a SQLite store in a fresh data dir."""
    proc = ServerProcess(
        tmp_path / "data", store=os.environ.get("BACKLINE_TEST_STORE", "sqlite")
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def raw(server: ServerProcess) -> AsyncIterator[Any]:
    """Factory of raw protocol connections to `server`, all closed at the end."""
    opened: list[ClientConnection] = []

    async def open_raw() -> RawClient:
        client = await RawClient.open(server.url)
        opened.append(client.ws)
        return client

    yield open_raw
    for ws in opened:
        await ws.close()
