"""Owners' admin controls over real sockets: kick, role, lock, delete, and who may use them.

Role changes and locks travel through the session's log like edits, so they
take effect on every server process and survive restarts; both are shown here
with SQLite (kill -9 and restart) and with two processes on one Redis.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from backline.client import AdminChanged, ConnectionChanged, PresenceChanged, connect
from backline.client.session import EventStream, Session
from backline.protocol.errors import (
    CloseCode,
    Forbidden,
    Kicked,
    Locked,
    NotFound,
    SessionDeleted,
)
from backline.protocol.messages import Role
from backline.testing import RawClient, ServerProcess
from backline.testing.redis import RedisServer

SESSION = "band"


async def raw_join(
    server: ServerProcess,
    opened: list[RawClient],
    role: str,
    client: str | None = None,
    session: str = SESSION,
) -> tuple[RawClient, dict[str, Any]]:
    raw = await RawClient.open(server.url)
    opened.append(raw)
    extra = {} if client is None else {"client": client, "resume": server.resume(session, client)}
    welcome = await raw.hello(session, server.token(session, role), name=role, **extra)
    ONLINE[raw] = {p["client"] for p in welcome["peers"]}
    return raw, welcome


ONLINE: dict[RawClient, set[str]] = {}  # whom each raw client has seen online


async def next_of(raw: RawClient, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    """The next frame of `kind`, skipping everything else (others' edits, presence, chat)."""
    while True:
        message = await raw.recv(timeout)
        if message["type"] == "presence":
            online = ONLINE.setdefault(raw, set())
            for peer in message["peers"]:
                (online.add if peer["online"] else online.discard)(peer["client"])
        if message["type"] == kind:
            return message


async def sees_online(raw: RawClient, client: str) -> None:
    """Wait until `raw` was told that `client` is connected (presence crosses processes)."""
    while client not in ONLINE.get(raw, set()):
        await next_of(raw, "presence")


async def closed_with(raw: RawClient) -> int:
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await raw.recv(10)
    assert info.value.rcvd is not None
    return info.value.rcvd.code


def tempo(seq: int, bpm: float) -> dict[str, Any]:
    return {
        "type": "op",
        "seq": seq,
        "ops": [{"op": "set", "id": "project", "field": "tempo", "value": bpm}],
    }


async def until(events: EventStream, match: Any) -> Any:
    """The first event for which `match(event)` holds."""

    async def first() -> Any:
        async for event in events:
            if match(event):
                return event
        raise AssertionError("the event stream ended")

    return await asyncio.wait_for(first(), 10)


async def test_kick_closes_the_participant_who_may_rejoin(server: ServerProcess) -> None:
    url = server.url
    async with (
        connect(url, session=SESSION, token=server.token(SESSION, "owner"), name="boss") as boss,
        connect(url, session=SESSION, token=server.token(SESSION), name="ed") as ed,
        connect(url, session=SESSION, token=server.token(SESSION), name="watch") as watch,
    ):
        watching, ed_events = watch.events(), ed.events()
        with pytest.raises(Forbidden):
            await ed.kick(watch.client_id)
        await boss.kick(ed.client_id)
        closed = await until(ed_events, lambda e: isinstance(e, ConnectionChanged))
        assert closed.state == "closed" and "kicked by" in closed.reason
        with pytest.raises(Kicked):  # the SDK does not reconnect after a kick
            ed.set_tempo(99)
        kick = await until(watching, lambda e: isinstance(e, AdminChanged))
        assert (kick.action, kick.by, kick.client) == ("kick", boss.client_id, ed.client_id)
        await until(
            watching, lambda e: isinstance(e, PresenceChanged) and ed.client_id not in e.peers
        )
        with pytest.raises(NotFound):  # nobody of that id is connected any more
            await boss.kick(ed.client_id)
        await watch.set_tempo(100)  # the others carry on
        async with connect(url, session=SESSION, token=server.token(SESSION), name="ed") as back:
            await back.set_tempo(101)  # a kick is not a ban


async def test_role_change_takes_effect_at_once(
    server: ServerProcess, raws: list[RawClient]
) -> None:
    url = server.url
    async with (
        connect(url, session=SESSION, token=server.token(SESSION, "owner"), name="boss") as boss,
        connect(url, session=SESSION, token=server.token(SESSION), name="ed") as ed,
    ):
        events, boss_events = ed.events(), boss.events()
        with pytest.raises(Forbidden):
            await ed.set_role(boss.client_id, "viewer")
        await boss.set_role(ed.client_id, Role.VIEWER)
        change = await until(events, lambda e: isinstance(e, AdminChanged))
        assert (change.action, change.client, change.role) == ("role", ed.client_id, Role.VIEWER)
        assert ed.role is Role.VIEWER
        with pytest.raises(Forbidden):
            await ed.set_tempo(90)
        assert ed.project.project["tempo"] == 120.0  # rolled back: nothing changed
        await until(  # everyone sees the new role in presence
            boss_events,
            lambda e: (
                isinstance(e, PresenceChanged)
                and e.peers.get(ed.client_id, {}).get("role") == "viewer"
            ),
        )
        await boss.set_role(ed.client_id, "editor")
        await until(events, lambda e: isinstance(e, AdminChanged) and e.role is Role.EDITOR)
        await ed.set_tempo(91)
        # a viewer's token, promoted to owner, may administer
        viewer, welcome = await raw_join(server, raws, "viewer", client="vic")
        assert welcome["role"] == "viewer"
        await boss.set_role("vic", "owner")
        assert (await next_of(viewer, "admin"))["role"] == "owner"
        await viewer.send({"type": "lock", "id": 9, "locked": True})
        assert await next_of(viewer, "done") == {"type": "done", "id": 9}


async def test_lock_makes_the_session_read_only_for_non_owners(
    server: ServerProcess, raws: list[RawClient]
) -> None:
    url = server.url
    async with (
        connect(url, session=SESSION, token=server.token(SESSION, "owner"), name="boss") as boss,
        connect(url, session=SESSION, token=server.token(SESSION), name="ed") as ed,
    ):
        editor, _ = await raw_join(server, raws, "editor")
        events = ed.events()
        await editor.send({"type": "lock", "id": 3, "locked": True})
        refusal = await next_of(editor, "error")
        assert (refusal["code"], refusal["id"]) == ("forbidden", 3)
        await boss.lock()
        await until(events, lambda e: isinstance(e, AdminChanged) and e.locked is True)
        assert ed.locked and boss.locked
        with pytest.raises(Locked):  # the SDK refuses at once what the server would
            ed.set_tempo(80)
        assert (await next_of(editor, "admin"))["locked"] is True
        await editor.send(tempo(1, 81))
        reject = await next_of(editor, "reject")
        assert (reject["seq"], reject["code"]) == (1, "locked")
        version = await boss.set_tempo(82)  # owners still edit
        _, welcome = await raw_join(server, raws, "viewer")
        assert welcome["locked"] is True and welcome["version"] == version
        await boss.lock(False)
        await until(events, lambda e: isinstance(e, AdminChanged) and e.locked is False)
        await ed.set_tempo(83)
        assert ed.project.project["tempo"] == 83.0


async def test_delete_closes_everyone_and_a_later_join_starts_empty(
    server: ServerProcess, raws: list[RawClient]
) -> None:
    url = server.url
    owner_token = server.token(SESSION, "owner")
    async with (
        connect(url, session=SESSION, token=owner_token, name="boss") as boss,
        connect(url, session=SESSION, token=server.token(SESSION), name="ed") as ed,
    ):
        await boss.add_track("Drums")
        await boss.lock()
        await ed.chat("bye soon")
        with pytest.raises(Forbidden):
            await ed.delete_session()
        assert boss.version == 1 and boss.connected
        other, _ = await raw_join(server, raws, "editor", session="other")
        events = ed.events()
        await boss.delete_session()
        closed = await until(events, lambda e: isinstance(e, ConnectionChanged))
        assert closed.state == "closed"
        with pytest.raises(SessionDeleted):
            ed.set_tempo(99)
        await other.send(tempo(1, 99))  # another session is untouched
        assert (await next_of(other, "ops"))["batches"][0]["v"] == 1
    async with connect(url, session=SESSION, token=owner_token, name="again") as again:
        assert again.version == 0 and not again.project.tracks
        assert not again.locked and again.chat_history == []


async def test_lock_and_roles_survive_kill_9(server: ServerProcess, raws: list[RawClient]) -> None:
    boss, _ = await raw_join(server, raws, "owner", client="boss")
    await boss.send({"type": "lock", "id": 1, "locked": True})
    await boss.send({"type": "role", "id": 2, "client": "bob", "role": "viewer"})
    assert (await next_of(boss, "done"))["id"] == 1
    assert (await next_of(boss, "done"))["id"] == 2  # acknowledged: stored
    server.kill()
    server.start()
    bob, welcome = await raw_join(server, raws, "editor", client="bob")
    assert (welcome["role"], welcome["locked"]) == ("viewer", True)
    await bob.send(tempo(1, 99))
    assert (await next_of(bob, "reject"))["code"] == "forbidden"
    ed, _ = await raw_join(server, raws, "editor")
    await ed.send(tempo(1, 99))
    assert (await next_of(ed, "reject"))["code"] == "locked"


async def test_admin_controls_across_two_processes_on_redis(
    tmp_path: Path,
    two_nodes: tuple[RedisServer, list[ServerProcess]],
    raws: list[RawClient],
) -> None:
    """An owner on one process locks, demotes, kicks and deletes members of another."""
    redis, (n0, n1) = two_nodes
    boss, _ = await raw_join(n0, raws, "owner", client="boss")
    bob, _ = await raw_join(n1, raws, "editor", client="bob")
    ed, _ = await raw_join(n1, raws, "editor", client="ed")
    await boss.send({"type": "lock", "id": 1, "locked": True})
    assert (await next_of(boss, "done"))["id"] == 1
    assert (await next_of(ed, "admin"))["locked"] is True  # applied on n1 too
    await ed.send(tempo(1, 90))
    assert (await next_of(ed, "reject"))["code"] == "locked"
    await boss.send({"type": "lock", "id": 2, "locked": False})
    await boss.send({"type": "role", "id": 3, "client": "bob", "role": "viewer"})
    assert [(await next_of(boss, "done"))["id"] for _ in range(2)] == [2, 3]
    seen = [await next_of(bob, "admin") for _ in range(3)]  # everything, in log order
    assert [(a["action"], a.get("locked"), a.get("role")) for a in seen] == [
        ("lock", True, None),
        ("lock", False, None),
        ("role", None, "viewer"),
    ]
    await bob.send(tempo(1, 91))
    assert (await next_of(bob, "reject"))["code"] == "forbidden"
    await ed.send(tempo(2, 92))
    assert (await next_of(ed, "ops"))["batches"][0]["by"] == "ed"
    await sees_online(boss, "ed")  # a kick names someone the owner's process knows
    await boss.send({"type": "kick", "id": 4, "client": "ed"})
    assert (await next_of(boss, "done"))["id"] == 4
    assert await closed_with(ed) == CloseCode.KICKED
    # a third process loading the session from Redis knows the role and the lock state
    n2 = ServerProcess(
        tmp_path / "node2", extra_args=["--redis", redis.url, "--node-id", "n2"]
    ).start()
    try:
        _, welcome = await raw_join(n2, raws, "editor", client="bob")
        assert welcome["role"] == "viewer" and welcome["locked"] is False
        assert welcome["snapshot"]["project"]["tempo"] == 92.0
    finally:
        n2.stop()
    await boss.send({"type": "delete", "id": 5})
    assert (await next_of(boss, "done"))["id"] == 5
    assert await closed_with(boss) == CloseCode.SESSION_DELETED
    assert await closed_with(bob) == CloseCode.SESSION_DELETED
    fresh: Session
    async with connect(n1.url, session=SESSION, token=n1.token(SESSION), name="new") as fresh:
        assert fresh.version == 0 and fresh.project.project["tempo"] == 120.0
        assert fresh.role is Role.EDITOR and not fresh.locked
