"""Chat history is kept by the store: a restart of the server keeps it, a delete forgets it."""

from __future__ import annotations

import time

from backline.client import connect
from backline.testing import ServerProcess, eventually

SESSION = "talk"


async def test_chat_history_outlives_a_server_restart(server: ServerProcess) -> None:
    token = server.token(SESSION)
    before = time.time_ns() // 1_000_000
    async with connect(server.url, session=SESSION, token=token, name="ann") as ann:
        await ann.chat("see you after the restart")
        sent = (await eventually(lambda: ann.chat_history or None, 10, "the chat echoed"))[0]
    await server.astop()
    await server.astart()
    async with connect(server.url, session=SESSION, token=token, name="bob") as bob:
        assert [(c.text, c.name) for c in bob.chat_history] == [
            ("see you after the restart", "ann")
        ]
        assert bob.chat_history[0].time == sent.time  # the server's clock when it was posted
        # and the calendar time people see, the same for everyone and after a restart
        assert sent.wall is not None and before <= sent.wall <= time.time_ns() // 1_000_000
        assert bob.chat_history[0].wall == sent.wall
