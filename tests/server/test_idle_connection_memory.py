"""What a joined connection keeps: not the upgrade's headers.

websockets keeps a connection's handshake request and response, headers and all,
for its whole life; nothing reads them after the upgrade, and at about 2.5 KiB
they were a tenth of an idle connection's memory (the `idle` benchmark: 23.8 →
19.4 KiB per connection). The server runs in this process here so that its
connection objects can be looked at.
"""

from __future__ import annotations

from pathlib import Path

from backline.client import connect
from backline.protocol.tokens import mint
from backline.server.app import serve
from backline.server.config import Settings


async def test_a_joined_connection_keeps_no_handshake_headers(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, store="memory", port=0, host="127.0.0.1")
    async with serve(settings) as running:
        secret = running.secret.current
        token = mint(secret, "kept", "editor", may_create=True)
        url = f"ws://127.0.0.1:{running.port}"
        async with connect(url, session="kept", token=token, name="idle") as s:
            assert s.version >= 0
            connections = list(running.ws_server.connections)
            assert len(connections) == 1
            ws = connections[0]
            assert ws.request is not None and ws.response is not None
            # dropped before the hello was read, so before the welcome we got
            assert not list(ws.request.headers.raw_items())
            assert not list(ws.response.headers.raw_items())
            # and the session goes on without them
            await s.set_tempo(133)
            assert s.project.to_data()["project"]["tempo"] == 133
