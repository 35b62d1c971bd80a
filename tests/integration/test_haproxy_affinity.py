"""Session-affine routing: the session in the websocket path, and a real HAProxy
(deploy/haproxy.cfg) sending every connection of a session to one process."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from backline.client import connect
from backline.protocol.codec import SUBPROTOCOL, decode, encode
from backline.protocol.errors import SessionMismatch
from backline.testing import ServerProcess, health
from backline.testing.haproxy import HAProxy
from backline.testing.redis import RedisServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path / "srv") as srv:
        yield srv


async def test_the_session_path_joins_and_the_root_form_still_works(server: ServerProcess) -> None:
    async with connect(server.url, session="aff", token=server.token("aff")) as s:
        assert s._conn.ws is not None and s._conn.ws.request is not None
        assert s._conn.ws.request.path == "/s/aff"
        assert s._conn.node  # the Backline-Node header of the handshake
    async with ws_connect(server.url + "/", subprotocols=[SUBPROTOCOL]) as ws:  # type: ignore[list-item]
        hello = {"type": "hello", "session": "aff", "token": server.token("aff"), "name": "x"}
        await ws.send(encode(hello))
        assert decode(await asyncio.wait_for(ws.recv(), 30))["type"] == "welcome"


async def test_a_hello_for_another_session_is_refused(server: ServerProcess) -> None:
    with pytest.raises(SessionMismatch):
        async with connect(server.url + "/s/one", session="two", token=server.token("two")):
            pass
    assert (await health(server))["sessions"] == 0  # nothing joined, nothing loaded
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(server.url + "/s/bad%20id", subprotocols=[SUBPROTOCOL]):  # type: ignore[list-item]
            pass
    assert refused.value.response.status_code == 400


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs Debian's haproxy")
async def test_through_haproxy_each_session_lands_on_one_process(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    nodes = [
        ServerProcess(
            tmp_path / f"n{i}", extra_args=["--redis", redis_server.url, "--node-id", f"a{i}"]
        ).start()
        for i in range(2)
    ]
    proxy = HAProxy(tmp_path / "haproxy", [n.port for n in nodes])
    try:
        await proxy.astart()
        url = proxy.url
        tag = uuid.uuid4().hex[:8]
        seen: dict[str, set[str]] = collections.defaultdict(set)
        async with contextlib.AsyncExitStack() as stack:
            for k in range(200):
                name = f"aff-{tag}-{k % 50}"
                s = await stack.enter_async_context(
                    connect(url, session=name, token=nodes[0].token(name), open_timeout=60)
                )
                seen[name].add(s._conn.node)
            assert len(seen) == 50
            assert all(len(where) == 1 for where in seen.values()), seen
            assert set().union(*seen.values()) == {"a0", "a1"}
            loaded = [(await health(n))["sessions"] for n in nodes]
            assert sum(loaded) == 50 and all(loaded)  # no session's state machine runs twice
    finally:
        proxy.stop()
        for n in nodes:
            n.stop()
