"""Running a server and bots: the generated secret, owner link, catch-up by snapshot, CLI bot."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest

from backline.client import connect
from backline.client.bots.hihat import CLOSED_HIHAT
from backline.protocol.errors import CloseCode, TokenExpired, Unauthorized
from backline.protocol.tokens import mint
from backline.testing import BotProcess, RawClient, ServerProcess

SESSION = "jam"


async def test_first_start_makes_a_secret_and_prints_an_owner_link(tmp_path: Path) -> None:
    """No secret configured: one is made in the data dir, kept, and the owner link works."""
    server = ServerProcess(tmp_path / "data", secret=None)
    with server:
        secret_file = server.data_dir / "secret"
        assert secret_file.stat().st_mode & 0o777 == 0o600
        secret = secret_file.read_text().strip()
        assert len(secret) >= 32
        link = urllib.parse.urlsplit(server.owner_link)
        assert link.scheme == "http" and link.port == server.port
        fragment = urllib.parse.parse_qs(link.fragment)
        assert fragment["session"] == [SESSION]
        token = fragment["token"][0]
        async with connect(server.url, session=SESSION, token=token, name="owner") as s:
            assert s.role == "owner"
            await s.set_tempo(99)
        forged = mint(b"some other secret", SESSION, "owner")
        with pytest.raises(Unauthorized):
            async with connect(
                server.url, session=SESSION, token=forged, name="x", reconnect=False
            ):
                pass
    server.start()  # the same secret after a restart: old links keep working
    try:
        assert (server.data_dir / "secret").read_text().strip() == secret
        async with connect(server.url, session=SESSION, token=token, name="owner") as s:
            assert s.project.project["tempo"] == 99.0
    finally:
        server.stop()


async def test_expired_token_is_refused_with_its_close_code(server: ServerProcess) -> None:
    client = await RawClient.open(server.url)
    expired = server.token(SESSION, "editor", expires=1)
    await client.send({"type": "hello", "session": SESSION, "token": expired, "name": "late"})
    error = await client.recv()
    assert (error["type"], error["code"]) == ("error", "unauthorized")
    await client.ws.wait_closed()
    assert client.ws.close_code == CloseCode.TOKEN_EXPIRED
    with pytest.raises(TokenExpired):
        async with connect(server.url, session=SESSION, token=expired, name="x", reconnect=False):
            pass


async def test_far_behind_client_gets_a_snapshot_near_one_gets_batches(tmp_path: Path) -> None:
    """Resume sends the missing batches while they are held, a snapshot once they are not."""
    with ServerProcess(
        tmp_path / "d", extra_args=["--snapshot-every", "10", "--catch-up", "5"]
    ) as server:
        token = server.token(SESSION)
        async with connect(server.url, session=SESSION, token=token, name="a") as a:
            for bpm in range(60, 90):
                a.set_tempo(bpm)
            await a.synced()
            assert a.version == 30
            expected = a.project.to_data()
        near = await RawClient.open(server.url)
        welcome = await near.hello(SESSION, token, version=27)
        assert welcome["snapshot"] is None
        assert [b["v"] for b in welcome["batches"]] == [28, 29, 30]
        far = await RawClient.open(server.url)
        welcome = await far.hello(SESSION, token, version=2)
        assert welcome["batches"] is None and welcome["version"] == 30
        assert welcome["snapshot"]["project"]["tempo"] == 89.0
        await near.ws.close()
        await far.ws.close()
        # the SDK path: a client that fell behind while its connection hung
        async with (
            connect(server.url, session=SESSION, token=token, name="flaky") as flaky,
            connect(server.url, session=SESSION, token=token, name="steady") as steady,
        ):
            assert flaky._ws is not None
            flaky._ws.transport.pause_reading()  # hangs: nothing reaches flaky any more
            mine = flaky.set_swing(0.25)  # sent and accepted, but the ack is never read
            for bpm in range(100, 120):
                steady.set_tempo(bpm)
            await steady.synced()
            await steady.wait_version(51)
            flaky._ws.transport.abort()  # the hang ends as a drop: reconnect, resume
            # acknowledged through the snapshot's `seq`; a snapshot cannot say at which
            # version, so the edit resolves to the snapshot's (an upper bound)
            assert 31 <= await mine <= 51
            await flaky.wait_version(steady.version)
            assert flaky.project.to_data() == steady.project.to_data()
            assert flaky.project.project["tempo"] == 119.0
            assert flaky.project.project["swing"] == 0.25
        assert expected["project"]["tempo"] == 89.0


async def test_cli_bot_runs_a_bundled_bot_until_sigterm(server: ServerProcess) -> None:
    """`backline bot hihat URL --session S` joins, does its job, and leaves cleanly."""
    async with BotProcess(server, "hihat", SESSION) as bot:
        await bot.wait_for("joined session jam")
        token = server.token(SESSION)
        async with connect(server.url, session=SESSION, token=token, name="drummer") as s:
            events = s.events()
            drums = s.add_track("Drums", kind="drums")
            pattern = s.add_pattern(drums.id or "", sounds=[36, 38], length=16)
            await pattern
            async for event in events:
                if getattr(event, "mine", True) is False:
                    break
            lanes = s.project.patterns[pattern.id or ""]["lanes"]
            assert [lane["sound"] for lane in lanes] == [36, 38, CLOSED_HIHAT]
            assert [i for i, v in enumerate(lanes[2]["steps"]) if v] == list(range(0, 16, 2))
            bot_peers = [p for p in s.peers.values() if p["name"] == "hi-hat bot"]
            assert len(bot_peers) == 1
            assert await bot.stop() == 0
            # the bot said goodbye: it leaves the room's presence
            async for _ in events:
                if not any(p["name"] == "hi-hat bot" for p in s.peers.values()):
                    break
