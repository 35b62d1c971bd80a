"""Identities are bound to their holder: client ids are public, resume keys are not.

An adversarial review took over participants by sending their (public) client
id in a hello: a viewer's token became an owner, an editor undid another's edit
and poisoned their op ids. Now a hello that names a client id must carry that
identity's resume key (handed out in its welcome only), and an owner's demotion
binds to the demoted person's token, so rejoining as someone new does not shed it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from backline.client import ConnectionChanged, connect
from backline.protocol.errors import CloseCode
from backline.testing import RawClient, ServerProcess
from backline.testing.redis import RedisServer

SESSION = "band"


@pytest.fixture
async def opened() -> AsyncIterator[list[RawClient]]:
    clients: list[RawClient] = []
    yield clients
    for client in clients:
        await client.ws.close()


async def join(
    server: ServerProcess,
    opened: list[RawClient],
    token: str,
    name: str,
    session: str = SESSION,
    **extra: Any,
) -> tuple[RawClient, dict[str, Any]]:
    raw = await RawClient.open(server.url)
    opened.append(raw)
    return raw, await raw.hello(session, token, name=name, **extra)


async def refused(
    server: ServerProcess, opened: list[RawClient], token: str, **extra: Any
) -> tuple[dict[str, Any], int]:
    """Send a hello that must be refused: the error frame and the close code."""
    raw = await RawClient.open(server.url)
    opened.append(raw)
    await raw.send({"type": "hello", "session": SESSION, "token": token, "name": "eve", **extra})
    error = await raw.recv()
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            message = await raw.recv()
            assert message["type"] != "welcome", message
    assert closed.value.rcvd is not None
    return error, closed.value.rcvd.code


def tempo(seq: int, bpm: float) -> dict[str, Any]:
    return {
        "type": "op",
        "seq": seq,
        "ops": [{"op": "set", "id": "project", "field": "tempo", "value": bpm}],
    }


async def next_of(raw: RawClient, kind: str) -> dict[str, Any]:
    while True:
        message = await raw.recv()
        if message["type"] == kind:
            return message
        assert message["type"] in ("presence", "chat", "ops", "admin", "done"), message


async def test_a_public_client_id_without_its_resume_key_takes_over_nothing(
    server: ServerProcess, opened: list[RawClient]
) -> None:
    boss, _ = await join(server, opened, server.token(SESSION, "owner"), "boss")
    victim, welcome = await join(server, opened, server.token(SESSION, "viewer"), "vic")
    vic = welcome["client"]
    assert welcome["resume"] and welcome["resume"] != vic
    await boss.send({"type": "role", "id": 1, "client": vic, "role": "owner"})
    assert (await next_of(boss, "done"))["id"] == 1
    assert (await next_of(victim, "admin"))["role"] == "owner"

    viewer_token = server.token(SESSION, "viewer")
    for extra in ({"client": vic}, {"client": vic, "resume": "0" * 43}):
        error, code = await refused(server, opened, viewer_token, **extra)
        assert error["code"] == "unauthorized" and "resume key" in error["message"]
        assert code == CloseCode.BAD_RESUME
    # a key of the same id in another session proves nothing here
    other = server.resume("elsewhere", vic)
    error, code = await refused(server, opened, viewer_token, client=vic, resume=other)
    assert code == CloseCode.BAD_RESUME

    # the real participant was not replaced and still administers
    await victim.send({"type": "lock", "id": 7, "locked": True})
    assert (await next_of(victim, "done"))["id"] == 7


async def test_nobody_else_reaches_an_identitys_undo_history_or_op_ids(
    server: ServerProcess, opened: list[RawClient]
) -> None:
    ann, welcome = await join(server, opened, server.token(SESSION), "ann")
    ann_id = welcome["client"]
    await ann.send(tempo(1, 100))
    assert (await next_of(ann, "ops"))["batches"][0]["seq"] == 1

    mallory_token = server.token(SESSION)
    _, code = await refused(server, opened, mallory_token, client=ann_id)
    assert code == CloseCode.BAD_RESUME
    mallory, mine = await join(server, opened, mallory_token, "mallory")
    assert mine["client"] != ann_id
    await mallory.send({"type": "undo", "seq": 2**53 - 1})  # mallory's own (empty) history
    assert (await next_of(mallory, "reject"))["code"] == "nothing_to_undo"

    await ann.send(tempo(2, 101))  # ann's op ids were not pushed to the top
    assert (await next_of(ann, "ops"))["batches"][0]["seq"] == 2
    await ann.send({"type": "undo", "seq": 3})  # and her history is hers
    undone = (await next_of(ann, "ops"))["batches"][0]
    assert undone["ops"][0]["value"] == 100


async def test_the_resume_key_from_the_welcome_resumes_the_identity(
    server: ServerProcess, opened: list[RawClient]
) -> None:
    token = server.token(SESSION)
    first, welcome = await join(server, opened, token, "ann")
    await first.send(tempo(1, 100))
    await next_of(first, "ops")
    again, resumed = await join(
        server, opened, token, "ann", client=welcome["client"], resume=welcome["resume"]
    )
    assert resumed["client"] == welcome["client"] and resumed["seq"] == 1
    assert resumed["resume"] == welcome["resume"]
    with pytest.raises(ConnectionClosed) as replaced:  # the older connection gives way
        while True:
            await first.recv()
    assert replaced.value.rcvd is not None and replaced.value.rcvd.code == CloseCode.REPLACED
    await again.send({"type": "undo", "seq": 2})
    assert (await next_of(again, "ops"))["batches"][0]["by"] == welcome["client"]


async def test_the_sdk_resumes_with_its_key_after_a_dropped_connection(
    server: ServerProcess,
) -> None:
    async with connect(server.url, session=SESSION, token=server.token(SESSION), name="a") as s:
        await s.set_tempo(90)
        me = s.client_id
        ws = s._ws
        assert ws is not None
        async with s.events() as events:
            ws.transport.abort()  # a network drop: the SDK reconnects by itself
            async for event in events:
                if isinstance(event, ConnectionChanged) and event.state == "connected":
                    break
        version = await s.set_tempo(91)
        assert s.client_id == me and version == 2
        assert await s.undo() == 3  # the history before the drop is still mine
        assert s.project.project["tempo"] == 90.0


async def test_a_demotion_sticks_when_the_demoted_rejoins_as_someone_new(
    server: ServerProcess, opened: list[RawClient]
) -> None:
    boss, _ = await join(server, opened, server.token(SESSION, "owner"), "boss")
    ed_token, other_token = server.token(SESSION), server.token(SESSION)
    ed, welcome = await join(server, opened, ed_token, "ed")
    await boss.send({"type": "role", "id": 1, "client": welcome["client"], "role": "viewer"})
    assert (await next_of(boss, "done"))["id"] == 1
    await ed.ws.close()

    fresh, again = await join(server, opened, ed_token, "ed again")  # no client id: a new one
    assert again["client"] != welcome["client"] and again["role"] == "viewer"
    await fresh.send(tempo(1, 99))
    assert (await next_of(fresh, "reject"))["code"] == "forbidden"
    # another editor's token is untouched
    other, theirs = await join(server, opened, other_token, "other")
    assert theirs["role"] == "editor"
    await other.send(tempo(1, 98))
    assert (await next_of(other, "ops"))["batches"][0]["seq"] == 1

    # the demotion outlives a kill -9 ...
    server.kill()
    server.start()
    opened.clear()
    _, after = await join(server, opened, ed_token, "ed after restart")
    assert after["role"] == "viewer"
    # ... until an owner changes it
    boss, _ = await join(server, opened, server.token(SESSION, "owner"), "boss")
    await boss.send({"type": "role", "id": 2, "client": welcome["client"], "role": "editor"})
    assert (await next_of(boss, "done"))["id"] == 2
    back, restored = await join(server, opened, ed_token, "ed restored")
    assert restored["role"] == "editor"
    await back.send(tempo(1, 97))
    assert (await next_of(back, "ops"))["batches"][0]["seq"] == 1


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    with RedisServer(tmp_path / "redis") as redis:
        nodes = [
            ServerProcess(
                tmp_path / f"node{i}", extra_args=["--redis", redis.url, "--node-id", f"n{i}"]
            ).start()
            for i in range(2)
        ]
        try:
            yield nodes
        finally:
            for node in nodes:
                node.stop()


async def test_a_demotion_on_another_process_binds_to_the_token_too(
    two_nodes: list[ServerProcess], opened: list[RawClient]
) -> None:
    n0, n1 = two_nodes
    ed_token = n1.token(SESSION)
    ed, welcome = await join(n1, opened, ed_token, "ed")
    boss, joined = await join(n0, opened, n0.token(SESSION, "owner"), "boss")
    ed_id = welcome["client"]
    if ed_id not in {p["client"] for p in joined["peers"]}:  # presence crosses the bus
        while True:
            presence = await next_of(boss, "presence")
            if any(p["client"] == ed_id for p in presence["peers"]):
                break
    await boss.send({"type": "role", "id": 1, "client": ed_id, "role": "viewer"})
    assert (await next_of(boss, "done"))["id"] == 1
    assert (await next_of(ed, "admin"))["role"] == "viewer"
    fresh, again = await join(n0, opened, ed_token, "ed on n0")
    assert again["role"] == "viewer"
    await fresh.send(tempo(1, 99))
    assert (await next_of(fresh, "reject"))["code"] == "forbidden"
