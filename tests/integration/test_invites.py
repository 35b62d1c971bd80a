"""Personal invites and revocation over real sockets, on one process and on two over Redis.

An owner invites people one by one; each invite and each person who came in
with it has an id; revoking one person or one invite closes their connections
(4405) on every process and refuses them thereafter, durably (kill -9, a
Redis restart). A session that does not exist is made only by a token that
may create sessions.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from backline.client import ConnectionChanged, connect
from backline.client.recordings import list_recordings
from backline.protocol.errors import (
    BadToken,
    CloseCode,
    Forbidden,
    InviteUsed,
    Revoked,
    SessionNotFound,
    TokenExpired,
    WrongSession,
)
from backline.protocol.messages import Role
from backline.protocol.tokens import mint, token_id
from backline.testing import RawClient, ServerProcess
from backline.testing.redis import RedisServer

SESSION = "gig"


def token_of(link: str) -> str:
    """The token in an invite link's fragment."""
    return urllib.parse.parse_qs(urllib.parse.urlsplit(link).fragment)["token"][0]


async def hello(
    server: ServerProcess, raws: list[RawClient], token: str, name: str, **extra: Any
) -> tuple[RawClient, dict[str, Any]]:
    """A raw join: the welcome, or the `error` frame the refusal sends before its close."""
    raw = await RawClient.open(server.url)
    raws.append(raw)
    await raw.send({"type": "hello", "session": SESSION, "token": token, "name": name, **extra})
    while True:
        message = await raw.recv(10)
        if message["type"] in ("welcome", "error"):
            return raw, message


async def close_code(raw: RawClient, within: float) -> int:
    """The code the server closes `raw` with, within `within` seconds."""
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await raw.recv(within)
    assert info.value.rcvd is not None
    return info.value.rcvd.code


async def next_ops(raw: RawClient) -> dict[str, Any]:
    while True:
        message = await raw.recv(10)
        if message["type"] == "ops":
            return message


def tempo(seq: int, bpm: float) -> dict[str, Any]:
    op = {"op": "set", "id": "project", "field": "tempo", "value": bpm}
    return {"type": "op", "seq": seq, "ops": [op]}


async def test_an_owner_invites_two_people_and_revokes_one(
    server: ServerProcess, raws: list[RawClient]
) -> None:
    async with connect(server.url, session=SESSION, token=server.token(SESSION, "owner"),
                       name="boss") as boss:  # fmt: skip
        for_bob = await boss.invite("editor", name="Bob")
        for_cat = await boss.invite("editor", name="Cat", uses=1, expires_in=3600)
        assert for_bob["invite"] != for_cat["invite"]
        assert for_bob["uses"] == 1 and for_bob["role"] == "editor"
        assert for_bob["expires"] - time.time() == pytest.approx(7 * 24 * 3600, abs=60)
        assert for_cat["expires"] - time.time() == pytest.approx(3600, abs=60)
        assert for_bob["link"].startswith(server.http_url + "/#session=gig&token=")
        bob_token, cat_token = token_of(for_bob["link"]), token_of(for_cat["link"])
        assert bob_token == for_bob["token"]

        bob, bob_welcome = await hello(server, raws, bob_token, "Bob")
        cat, cat_welcome = await hello(server, raws, cat_token, "Cat")
        assert bob_welcome["role"] == cat_welcome["role"] == "editor"
        bob_id, cat_id = bob_welcome["client"], cat_welcome["client"]

        access = await boss.access()
        invites = {i["id"]: i for i in access["invites"]}
        assert (
            invites[for_bob["invite"]]["used"] == 1 and invites[for_bob["invite"]]["name"] == "Bob"
        )
        people = {p["client"]: p for p in access["people"]}
        assert people[bob_id]["invite"] == for_bob["invite"] and people[bob_id]["online"]
        assert people[cat_id]["invite"] == for_cat["invite"]
        assert people[boss.client_id]["invite"] is None  # the owner holds a plain token
        assert not any(p["revoked"] for p in people.values())

        started = time.monotonic()
        await boss.revoke(client=bob_id)
        assert await close_code(bob, within=1.0) == CloseCode.REVOKED
        assert time.monotonic() - started < 1.5
        await cat.send(tempo(1, 97))  # the other one keeps editing
        assert (await next_ops(cat))["batches"][0]["by"] == cat_id

        # Bob cannot come back: not as himself, not with his link again
        _, again = await hello(server, raws, bob_token, "Bob", client=bob_id,
                               resume=bob_welcome["resume"])  # fmt: skip
        assert again["code"] == "revoked"
        _, fresh = await hello(server, raws, bob_token, "Bob")
        assert fresh["code"] == "invite_used"
        people = {p["client"]: p for p in (await boss.access())["people"]}
        assert people[bob_id]["revoked"] and not people[cat_id]["revoked"]
        assert not people[bob_id]["online"]


async def test_an_invite_is_used_as_often_as_allowed_and_revoking_it_closes_its_people(
    server: ServerProcess, raws: list[RawClient]
) -> None:
    async with connect(server.url, session=SESSION, token=server.token(SESSION, "owner"),
                       name="boss") as boss:  # fmt: skip
        band = await boss.invite("viewer", name="the band", uses=2)
        first, w1 = await hello(server, raws, band["token"], "one")
        second, w2 = await hello(server, raws, band["token"], "two")
        assert w1["role"] == w2["role"] == "viewer"
        _, third = await hello(server, raws, band["token"], "three")
        assert third["code"] == "invite_used" and "2 times" in third["message"]
        # resuming one's own identity spends no use
        _, back = await hello(server, raws, band["token"], "one", client=w1["client"],
                              resume=w1["resume"])  # fmt: skip
        assert back["type"] == "welcome"
        await boss.revoke(invite=band["invite"])
        assert await close_code(second, within=1.0) == CloseCode.REVOKED
        _, after = await hello(server, raws, band["token"], "two", client=w2["client"],
                               resume=w2["resume"])  # fmt: skip
        assert after["code"] == "revoked"
        # the owner is not touched, and only owners may invite or revoke
        await boss.set_tempo(111)
        async with connect(server.url, session=SESSION, token=server.token(SESSION, "editor"),
                           name="ed") as ed:  # fmt: skip
            with pytest.raises(Forbidden):
                await ed.invite("owner")
            with pytest.raises(Forbidden):
                await ed.revoke(client=boss.client_id)
            with pytest.raises(Forbidden):
                await ed.access()
        del first


async def test_forged_expired_and_other_session_invites_are_refused(
    server: ServerProcess,
) -> None:
    async with connect(server.url, session=SESSION, token=server.token(SESSION, "owner"),
                       name="boss") as boss:  # fmt: skip
        real = await boss.invite("editor")
        other = await boss.invite("editor")
        await boss.revoke(invite=other["invite"])
    secret = (server.secret or "").encode()
    cases: list[tuple[str, type[Exception]]] = [
        (mint(b"not the secret", SESSION, "owner", invite=real["invite"]), BadToken),
        (
            mint(secret, SESSION, "editor", int(time.time()) - 1, invite=real["invite"]),
            TokenExpired,
        ),
        (mint(secret, "elsewhere", "editor", invite=real["invite"]), WrongSession),
        (mint(secret, SESSION, "editor", invite="i-made-up"), Revoked),
        (other["token"], Revoked),
        (real["token"][:-2] + ("AA" if not real["token"].endswith("AA") else "BB"), BadToken),
    ]
    for token, refusal in cases:
        with pytest.raises(refusal):
            async with connect(server.url, session=SESSION, token=token, name="x",
                               reconnect=False):  # fmt: skip
                pass
    # the real one still works once, then it is used
    async with connect(server.url, session=SESSION, token=real["token"], name="ok") as ok:
        assert ok.role is Role.EDITOR
    with pytest.raises(InviteUsed):
        async with connect(server.url, session=SESSION, token=real["token"], name="twice",
                           reconnect=False):  # fmt: skip
            pass


async def test_a_session_is_made_only_by_a_token_that_may_create_it(
    server: ServerProcess,
) -> None:
    started = time.monotonic()
    with pytest.raises(SessionNotFound):
        async with connect(server.url, session="nobody-here",
                           token=server.token("nobody-here", "editor", may_create=False),
                           name="guest", reconnect=False):  # fmt: skip
            pass
    assert time.monotonic() - started < 3  # at once, not a welcome timeout
    # not even an owner's token makes it by mistake; one minted to create it does
    with pytest.raises(SessionNotFound):
        async with connect(server.url, session="nobody-here",
                           token=server.token("nobody-here", "owner", may_create=False),
                           name="boss", reconnect=False):  # fmt: skip
            pass
    async with connect(server.url, session="nobody-here",
                       token=server.token("nobody-here", "owner", may_create=True),
                       name="boss"):  # fmt: skip
        pass
    async with connect(server.url, session="nobody-here",
                       token=server.token("nobody-here", "viewer", may_create=False),
                       name="guest") as guest:  # fmt: skip
        assert guest.version == 0


async def test_a_revoked_token_id_is_refused_and_so_are_its_downloads(
    server: ServerProcess,
) -> None:
    """Rotating an owner link: a second owner revokes the first link's token id."""
    old_link = server.token(SESSION, "owner")
    async with connect(server.url, session=SESSION, token=old_link, name="old") as old:
        takes = await asyncio.to_thread(list_recordings, server.url, SESSION, old_link)
        assert takes == []
        events = old.events()
        async with connect(server.url, session=SESSION, token=server.token(SESSION, "owner"),
                           name="new") as new:  # fmt: skip
            people = {p["client"]: p for p in (await new.access())["people"]}
            assert people[old.client_id]["token"] == token_id(old_link)
            await new.revoke(token=token_id(old_link))

            async def closed() -> ConnectionChanged:
                async for event in events:
                    if isinstance(event, ConnectionChanged) and event.state == "closed":
                        return event
                raise AssertionError("no close")

            gone = await asyncio.wait_for(closed(), 2)
            assert "revoked" in gone.reason
            with pytest.raises(Revoked):  # the SDK does not reconnect after a revocation
                old.set_tempo(99)
        with pytest.raises(Revoked, match="revoked"):  # HTTP 403, code revoked
            await asyncio.to_thread(list_recordings, server.url, SESSION, old_link)
    with pytest.raises(Revoked):
        async with connect(server.url, session=SESSION, token=old_link, name="old",
                           reconnect=False):  # fmt: skip
            pass


# -- two processes, kill -9, a Redis restart -------------------------------------------


async def test_revoking_one_of_two_editors_holds_on_every_process_and_after_restarts(
    two_nodes: tuple[RedisServer, list[ServerProcess]], raws: list[RawClient]
) -> None:
    redis, (n0, n1) = two_nodes
    boss, welcome = await hello(n0, raws, n0.token(SESSION, "owner"), "boss")
    assert welcome["type"] == "welcome"
    invites = []
    for request, name in ((1, "Bob"), (2, "Cat")):
        await boss.send({"type": "invite", "id": request, "role": "editor", "name": name})
        while (answer := await boss.recv(10))["type"] != "done":
            pass
        invites.append(answer)
    bob, bob_w = await hello(n1, raws, invites[0]["token"], "Bob")  # on the other process
    cat, cat_w = await hello(n1, raws, invites[1]["token"], "Cat")
    assert bob_w["type"] == cat_w["type"] == "welcome"
    started = time.monotonic()
    await boss.send({"type": "revoke", "id": 3, "client": bob_w["client"]})
    assert await close_code(bob, within=1.0) == CloseCode.REVOKED
    assert time.monotonic() - started < 1.5
    await cat.send(tempo(1, 101))
    assert (await next_ops(cat))["batches"][0]["by"] == cat_w["client"]
    _, refused = await hello(n0, raws, invites[0]["token"], "Bob", client=bob_w["client"],
                             resume=bob_w["resume"])  # fmt: skip
    assert refused["code"] == "revoked"  # on the owner's process too

    # kill -9 both processes and restart Redis: the revocation is in the log
    for raw in raws:
        await raw.ws.close()
    raws.clear()
    for node in (n0, n1):
        node.kill()
    redis.restart()
    for node in (n0, n1):
        node.start()
    for node in (n0, n1):
        _, again = await hello(node, raws, invites[0]["token"], "Bob", client=bob_w["client"],
                               resume=bob_w["resume"])  # fmt: skip
        assert again["code"] == "revoked"
        _, cat_back = await hello(node, raws, invites[1]["token"], "Cat",
                                  client=cat_w["client"], resume=cat_w["resume"])  # fmt: skip
        assert cat_back["type"] == "welcome"
        assert cat_back["snapshot"]["project"]["tempo"] == 101.0
        await raws[-1].ws.close()
