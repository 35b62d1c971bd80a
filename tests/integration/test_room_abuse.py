"""What a participant can make the room do to everyone else: delay plays, talk as a viewer,
flood the messages that had no rate limit (ping, rtc, mix).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from backline.client import connect
from backline.client.audio import ToneTrack
from backline.testing import RawClient, ServerProcess
from backline.testing.audio import level_at, listen

SESSION = "room"
TONE_HZ = 660.0


@pytest.fixture
async def raws() -> AsyncIterator[list[RawClient]]:
    clients: list[RawClient] = []
    yield clients
    for client in clients:
        await client.ws.close()


async def join(
    server: ServerProcess, raws: list[RawClient], role: str, name: str
) -> tuple[RawClient, dict[str, Any]]:
    client = await RawClient.open(server.url)
    raws.append(client)
    return client, await client.hello(SESSION, server.token(SESSION, role), name=name)


async def next_of(client: RawClient, kind: str) -> dict[str, Any]:
    while True:
        message = await client.recv()
        if message["type"] == kind:
            return message


async def lead_of_a_play(player: RawClient, seq: int) -> float:
    """Seconds between the server's clock at a play request and the start it decided."""
    await player.send({"type": "ping", "t0": 0})
    now = (await next_of(player, "pong"))["t1"]
    await player.send({"type": "op", "seq": seq, "ops": [{"op": "play"}]})
    batch = (await next_of(player, "ops"))["batches"][0]
    transport = next(op["value"] for op in batch["ops"] if op.get("field") == "transport")
    await player.send({"type": "op", "seq": seq + 1, "ops": [{"op": "stop"}]})
    await next_of(player, "ops")
    return float(transport["time"] - now) / 1e6


async def test_a_viewer_reporting_a_minute_of_round_trip_delays_no_play(
    server: ServerProcess, raws: list[RawClient]
) -> None:
    player, _ = await join(server, raws, "editor", "player")
    viewer, _ = await join(server, raws, "viewer", "viewer")
    await viewer.send({"type": "ping", "t0": 0, "rtt": 60_000_000})
    await next_of(viewer, "pong")
    # a play starts on the next bar line at least the 200 ms lead ahead: within a bar
    # (2 s at 120 bpm) plus that lead, whatever the viewer said
    assert await lead_of_a_play(player, 1) < 2.5


async def test_one_odd_report_moves_nothing_and_no_report_holds_a_play_long(
    server: ServerProcess, raws: list[RawClient]
) -> None:
    player, _ = await join(server, raws, "editor", "player")
    slow, _ = await join(server, raws, "editor", "slow")
    for rtt in (20_000, 25_000, 60_000_000, 22_000, 21_000):  # one spike among five
        await slow.send({"type": "ping", "t0": 0, "rtt": rtt})
        await next_of(slow, "pong")
    assert await lead_of_a_play(player, 1) < 2.5
    for _ in range(5):  # an editor insisting on a minute: bounded (2 s of round trip)
        await slow.send({"type": "ping", "t0": 0, "rtt": 60_000_000})
        await next_of(slow, "pong")
    lead = await lead_of_a_play(player, 3)
    assert 3.0 <= lead < 3.05 + 2.0, lead  # 1.5 x 2 s + 50 ms, then the next bar line


async def test_pings_offers_and_gains_are_rate_limited(
    server: ServerProcess, raws: list[RawClient]
) -> None:
    client, welcome = await join(server, raws, "editor", "flood")
    assert {"ping", "rtc", "mix"} <= welcome["rates"].keys()
    burst = int(welcome["rates"]["ping"][1])  # [per second, burst]
    for _ in range(burst + 20):
        await client.send({"type": "ping", "t0": 1})
    answers = [await client.recv() for _ in range(burst + 20)]
    pongs = [a for a in answers if a["type"] == "pong"]
    limited = [a for a in answers if a["type"] == "error" and a["code"] == "rate_limited"]
    assert burst <= len(pongs) < burst + 20 and len(pongs) + len(limited) == burst + 20
    offer = {"type": "rtc", "sdp": "v=0\r\nnot really an offer"}
    rtc_rate, rtc_burst = float(welcome["rates"]["rtc"][0]), int(welcome["rates"]["rtc"][1])
    started = time.monotonic()
    for _ in range(rtc_burst + 5):
        await client.send(offer)
    codes = [(await next_of(client, "error"))["code"] for _ in range(rtc_burst + 5)]
    elapsed = time.monotonic() - started
    # a token bucket: the burst, plus what refilled while the server worked through the
    # offers (a loaded machine parses slowly), is all that may get through to aiortc
    through = codes.count("bad_field")
    assert through + codes.count("rate_limited") == rtc_burst + 5, codes
    assert rtc_burst <= through <= rtc_burst + int(rtc_rate * elapsed), (codes, elapsed)
    if rtc_rate * elapsed < 5:
        assert codes.count("rate_limited") >= 5 - int(rtc_rate * elapsed), (codes, elapsed)
    # gains over the rate are coalesced: nobody is refused, the latest wins
    for gain in range(int(welcome["rates"]["mix"][1]) + 10):
        await client.send({"type": "mix", "gains": {"someone": min(gain / 100, 4.0)}})
    refusals = {(await next_of(client, "error"))["code"] for _ in range(3)}
    assert refusals == {"not_found"}  # not in the audio room: the same answer, never a flood


async def test_viewers_listen_only_unless_an_owner_lets_them_talk(server: ServerProcess) -> None:
    url = server.url
    async with (
        connect(url, session=SESSION, token=server.token(SESSION, "owner"), name="boss") as boss,
        connect(url, session=SESSION, token=server.token(SESSION, "viewer"), name="fan") as fan,
    ):
        assert not fan.viewer_audio
        await fan.audio.publish(ToneTrack(TONE_HZ))  # the server answers: listen only
        await boss.audio.publish(None)
        heard = await listen(boss, 1.0)
        assert level_at(heard, TONE_HZ) < 0.01
        await boss.allow_viewer_audio(True)
        assert boss.viewer_audio
        await fan.audio.publish(ToneTrack(TONE_HZ))  # a new offer: now it may send
        heard = await listen(boss, 1.0)
        assert level_at(heard, TONE_HZ) > 0.05
        await boss.allow_viewer_audio(False)  # applies at once, without a new offer
        heard = await listen(boss, 1.0)
        assert level_at(heard, TONE_HZ) < 0.01


async def test_record_requests_share_the_edit_bucket(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "data", extra_args=["--edit-burst", "3", "--edit-rate", "0.01"]
    )
    server.start()
    try:
        owner = await RawClient.open(server.url)
        try:
            await owner.hello(SESSION, server.token(SESSION, "owner"), name="boss")
            for _ in range(6):
                await owner.send({"type": "record", "action": "stop"})
            codes = [(await next_of(owner, "error"))["code"] for _ in range(6)]
            assert codes == ["not_found"] * 3 + ["rate_limited"] * 3
        finally:
            await owner.ws.close()
    finally:
        server.stop()
