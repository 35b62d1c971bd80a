"""A join right after a delete: the hub waits for the erase, then loads the session afresh,
even in the moment after the erase finished and before its task left the list."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from backline.server.config import Settings
from backline.server.sessions.hub import Hub
from backline.server.storage.bus import MemoryBus
from backline.server.storage.memory import MemoryStore


async def test_a_finished_erase_still_listed_does_not_recurse(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings(), data_dir=tmp_path)
    hub = Hub(MemoryStore(), MemoryBus("n"), settings)
    try:

        async def erased() -> None:
            return None

        finished = asyncio.get_running_loop().create_task(erased())
        await finished  # done, and (as between its end and its done callback) still listed
        hub._deleting["jam"] = finished
        session = await asyncio.wait_for(hub.session("jam"), 10)
        assert session.name == "jam" and "jam" not in hub._deleting
    finally:
        await hub.close()
