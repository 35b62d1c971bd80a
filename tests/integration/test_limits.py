"""Limits over real sockets: sessions per process, clients per session, rates, abuse closes.

Each limit answers with its own code, changes nothing, and leaves everyone else alone.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed

from backline.client import connect
from backline.client.session import Rejected
from backline.protocol.errors import CloseCode, ServerFull, SessionFull
from backline.testing import RawClient, ServerProcess

SESSION = "jam"


async def scrape(server: ServerProcess) -> dict[str, float]:
    """Every sample of /metrics as ``name{label="value"}`` -> value."""

    def fetch() -> bytes:
        with urllib.request.urlopen(server.http_url + "/metrics", timeout=10) as response:
            body: bytes = response.read()
            return body

    samples: dict[str, float] = {}
    for family in text_string_to_metric_families((await asyncio.to_thread(fetch)).decode()):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


@pytest.fixture
def limited(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """A server started with the flags the test passes as its indirect parameter."""
    with ServerProcess(tmp_path / "data", extra_args=request.param) as server:
        yield server


@pytest.fixture
async def clients() -> AsyncIterator[list[RawClient]]:
    opened: list[RawClient] = []
    yield opened
    for client in opened:
        await client.ws.close()


async def join(
    server: ServerProcess,
    opened: list[RawClient],
    session: str = SESSION,
    role: str = "editor",
    name: str = "raw",
) -> RawClient:
    client = await RawClient.open(server.url)
    opened.append(client)
    welcome = await client.hello(session, server.token(session, role), name=name)
    CLIENT_IDS[client] = welcome["client"]
    return client


CLIENT_IDS: dict[RawClient, str] = {}


async def refused(client: RawClient, session: str, token: str) -> tuple[dict[str, Any], int]:
    """Send hello and return the error frame and the close code that follow."""
    await client.send({"type": "hello", "session": session, "token": token, "name": "late"})
    error = await client.recv_type("error")
    with pytest.raises(ConnectionClosed) as info:
        await client.recv(timeout=10)
    assert info.value.rcvd is not None
    return error, info.value.rcvd.code


def op(seq: int, tempo: float) -> dict[str, Any]:
    return {
        "type": "op",
        "seq": seq,
        "ops": [{"op": "set", "id": "project", "field": "tempo", "value": tempo}],
    }


async def edit_ok(client: RawClient, seq: int, tempo: float) -> int:
    """Send one edit and return its version once acknowledged (others' batches skipped)."""
    await client.send(op(seq, tempo))
    while True:
        for batch in (await client.recv_type("ops"))["batches"]:
            if batch["by"] == CLIENT_IDS[client]:
                assert batch["seq"] == seq
                return int(batch["v"])


@pytest.mark.parametrize("limited", [["--max-sessions", "2"]], indirect=True)
async def test_sessions_per_process(limited: ServerProcess, clients: list[RawClient]) -> None:
    """A third session is refused with server_full and 4010; the two live ones carry on."""
    a = await join(limited, clients, "one")
    b = await join(limited, clients, "two")
    late = await RawClient.open(limited.url)
    clients.append(late)
    error, code = await refused(late, "three", limited.token("three"))
    assert error["code"] == "server_full" and code == CloseCode.SERVER_FULL
    assert await edit_ok(a, 1, 90) == 1 and await edit_ok(b, 1, 91) == 1
    with pytest.raises(ServerFull):  # the SDK raises the typed error
        async with connect(limited.url, session="three", token=limited.token("three")):
            pass
    # a session nobody is in makes room at once (no need to wait for its idle unload)
    await b.send({"type": "bye"})
    with pytest.raises(ConnectionClosed):
        while True:  # past its own presence frame, if that is still on the way
            await b.recv()
    async with connect(limited.url, session="three", token=limited.token("three")) as s:
        await s.set_tempo(100)
    assert await edit_ok(a, 2, 92) == 2
    metrics = await scrape(limited)
    assert metrics['backline_limit_closes_total{code="4010"}'] == 2
    assert metrics['backline_errors_total{code="server_full"}'] == 2


@pytest.mark.parametrize("limited", [["--max-clients", "2"]], indirect=True)
async def test_clients_per_session(limited: ServerProcess, clients: list[RawClient]) -> None:
    """A third participant gets session_full and 4011; an owner still gets in; others go on."""
    a = await join(limited, clients, name="a")
    await join(limited, clients, name="b")
    late = await RawClient.open(limited.url)
    clients.append(late)
    error, code = await refused(late, SESSION, limited.token(SESSION))
    assert error["code"] == "session_full" and code == CloseCode.SESSION_FULL
    with pytest.raises(SessionFull):
        async with connect(limited.url, session=SESSION, token=limited.token(SESSION)):
            pass
    owner = await join(limited, clients, role="owner", name="boss")  # owners can make room
    assert await edit_ok(a, 1, 95) == 1
    assert await edit_ok(owner, 1, 96) == 2
    # another session on the same process has its own count
    await join(limited, clients, "other")
    await join(limited, clients, "other")


@pytest.mark.parametrize(
    "limited",
    [["--edit-rate", "0.01", "--edit-burst", "3", "--abuse-refusals", "4"]],
    indirect=True,
)
async def test_edit_rate_refuses_then_abuse_closes(
    limited: ServerProcess, clients: list[RawClient]
) -> None:
    """Past the burst an edit is rejected rate_limited and changes nothing; keeping on
    closes with 4029; the other participant edits on and sees only accepted edits."""
    spammer = await join(limited, clients, name="spam")
    other = await join(limited, clients, name="other")
    for seq in (1, 2, 3):
        assert await edit_ok(spammer, seq, 60 + seq) == seq
    await spammer.send(op(4, 99))
    reject = await spammer.recv_type("reject")
    assert (reject["seq"], reject["code"]) == (4, "rate_limited")
    await spammer.send({"type": "undo", "seq": 5})  # undo and redo share the edit bucket
    assert (await spammer.recv_type("reject"))["code"] == "rate_limited"
    for seq in (6, 7, 8):  # refusals 3, 4, then 5 > --abuse-refusals
        await spammer.send(op(seq, 99))
    codes = []
    with pytest.raises(ConnectionClosed) as info:
        while True:
            message = await spammer.recv()
            if message["type"] == "reject":
                codes.append(message["code"])
    assert info.value.rcvd is not None and info.value.rcvd.code == CloseCode.RATE_ABUSE
    assert codes == ["rate_limited"] * 3
    # the other client saw exactly the three accepted edits, then its own
    seen: list[float] = []
    while len(seen) < 3:
        message = await other.recv_type("ops")
        seen += [b["ops"][0]["value"] for b in message["batches"]]
    assert seen == [61, 62, 63]
    assert await edit_ok(other, 1, 120) == 4
    metrics = await scrape(limited)
    assert metrics['backline_ops_rejected_total{code="rate_limited"}'] == 5
    assert metrics['backline_limit_closes_total{code="4029"}'] == 1


@pytest.mark.parametrize("limited", [["--chat-rate", "0.01", "--chat-burst", "2"]], indirect=True)
async def test_chat_rate(limited: ServerProcess, clients: list[RawClient]) -> None:
    """The third chat message is refused rate_limited and nobody sees it."""
    talker = await join(limited, clients, name="talk")
    listener = await join(limited, clients, name="listen")
    for text in ("one", "two", "three"):
        await talker.send({"type": "chat", "text": text})
    error = await talker.recv_type("error")
    assert error["code"] == "rate_limited"
    await talker.send({"type": "ping", "t0": 1.0})  # the connection is fine
    await talker.recv_type("pong")
    heard = [(await listener.recv_type("chat"))["text"] for _ in range(2)]
    assert heard == ["one", "two"]
    async with connect(limited.url, session=SESSION, token=limited.token(SESSION)) as late:
        assert [c.text for c in late.chat_history] == ["one", "two"]


@pytest.mark.parametrize(
    "limited", [["--presence-rate", "2", "--presence-burst", "1"]], indirect=True
)
async def test_presence_over_its_rate_is_coalesced(
    limited: ServerProcess, clients: list[RawClient]
) -> None:
    """Presence past the rate is not refused: the latest state is applied when allowed."""
    mover = await join(limited, clients, name="mover")
    watcher = await join(limited, clients, name="watcher")
    for x in range(1, 6):
        await mover.send({"type": "presence", "state": {"cursor": {"x": x}}})
    cursors: list[int] = []
    while not cursors or cursors[-1] != 5:
        frame = await watcher.recv_type("presence")
        cursors += [p["cursor"]["x"] for p in frame["peers"] if "cursor" in p]
    assert cursors == [1, 5]  # the first at once; 2-4 were superseded while waiting
    await mover.send({"type": "ping", "t0": 1.0})
    assert (await mover.recv_type("pong"))["t0"] == 1.0  # never an error for presence
    metrics = await scrape(limited)
    assert metrics["backline_presence_coalesced_total"] == 4


@pytest.mark.parametrize(
    "limited", [["--edit-rate", "40", "--edit-burst", "10", "--chat-burst", "3"]], indirect=True
)
async def test_the_sdk_paces_itself_and_is_never_refused(limited: ServerProcess) -> None:
    """The SDK learns the rates from welcome and spreads a burst of edits to fit them."""
    token = limited.token(SESSION)
    async with connect(limited.url, session=SESSION, token=token, name="bot") as s:
        assert s.rates["edit"].per_second == 40 and s.rates["edit"].burst == 10
        events = s.events()
        track = s.add_track("t")
        edits = [s.set(track.id or "", "volume", i / 100) for i in range(60)]
        for _ in range(6):
            await s.chat("hi")
        versions = [await e for e in edits]
        assert versions == sorted(versions) and len(set(versions)) == 60
        assert s.project.tracks[track.id or ""]["volume"] == 0.59
        events.close()
        assert not [e async for e in events if isinstance(e, Rejected)]
    metrics = await scrape(limited)
    assert not any("rate_limited" in key for key in metrics)


def test_keyfile_without_certfile_stops_the_server_with_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backline.server", "--port", "0", "--data-dir", str(tmp_path),
         "--keyfile", str(tmp_path / "key.pem")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--keyfile (BACKLINE_KEYFILE) needs --certfile" in result.stderr
    assert "Backline listening" not in result.stdout


def test_certfile_without_its_key_stops_the_server_with_a_clear_error(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n")
    result = subprocess.run(
        [sys.executable, "-m", "backline.server", "--port", "0", "--data-dir", str(tmp_path),
         "--certfile", str(cert)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "--certfile" in result.stderr and "the key must be in --certfile" in result.stderr
    assert "Traceback" not in result.stderr


async def test_unlimited_rates_for_fuzzing(tmp_path: Path) -> None:
    """Rate 0 turns a limit off (what a fuzzer or a benchmark wants)."""
    args = ["--edit-rate", "0", "--edit-burst", "1", "--abuse-refusals", "1"]
    with ServerProcess(tmp_path / "d", extra_args=args) as server:
        client = await RawClient.open(server.url)
        try:
            await client.hello(SESSION, server.token(SESSION))
            for seq in range(1, 51):
                await client.send(op(seq, 60 + seq))
            last = 0
            while last < 50:
                message = await asyncio.wait_for(client.recv_type("ops"), 10)
                last = message["batches"][-1]["seq"]
        finally:
            await client.ws.close()
