"""ICE control through a real server: announced addresses and ports, and audio relayed
by a real coturn when both sides may use relay candidates only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from backline.client import connect
from backline.client.audio import ToneTrack
from backline.media.ice import Gathering
from backline.testing import BotProcess, ServerProcess, eventually
from backline.testing.audio import level_at, listen
from backline.testing.turn import TurnServer, free_udp_range

SESSION = "jam"
A_HZ = 440.0
PUBLIC = "203.0.113.7"


def candidates(sdp: str) -> list[tuple[str, int, str]]:
    """(address, port, type) of each `a=candidate` line of `sdp`."""
    found = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            bits = line.split()
            found.append((bits[4], int(bits[5]), bits[7]))
    return found


class Seen:
    """Keeps the SDP that passes (`edit_offer` / `edit_answer` hooks), unchanged."""

    def __init__(self) -> None:
        self.sdp = ""

    def __call__(self, sdp: str) -> str:
        self.sdp = sdp
        return sdp


@pytest.fixture
def turn(tmp_path: Path) -> Iterator[TurnServer]:
    with TurnServer(tmp_path / "turn") as server:
        yield server


async def test_relay_only_on_both_sides_audio_flows_through_coturn(
    tmp_path: Path, turn: TurnServer
) -> None:
    server = ServerProcess(
        tmp_path / "data",
        extra_args=[
            "--turn", turn.url, "--turn-secret", turn.secret, "--rtc-relay-only", "on",
        ],
    ).start()  # fmt: skip
    try:
        token = server.token(SESSION)
        async with (
            connect(server.url, session=SESSION, token=token, name="a") as a,
            connect(server.url, session=SESSION, token=token, name="ear") as ear,
        ):
            # the welcome handed each client the TURN server with its own credentials
            for s in (a, ear):
                (entry,) = s.ice_servers
                assert entry["urls"] == [turn.url]
                assert entry["username"].endswith(f":{s.client_id}")
                assert turn.secret not in str(entry)
            assert a.ice_servers[0]["credential"] != ear.ice_servers[0]["credential"]
            offers, answers = [Seen(), Seen()], [Seen(), Seen()]
            relay = Gathering(relay_only=True)  # its servers: the welcome's
            await a.audio.publish(
                ToneTrack(A_HZ), edit_offer=offers[0], edit_answer=answers[0], ice=relay
            )
            await ear.audio.publish(None, edit_offer=offers[1], edit_answer=answers[1], ice=relay)
            heard = await listen(ear, 1.0)
            assert level_at(heard, A_HZ) > 0.05  # a's tone reached ear, through the relays
            low, high = turn.relay_range
            for seen in (*offers, *answers):  # nothing but coturn's relay addresses offered
                found = candidates(seen.sdp)
                assert found and all(
                    host == "127.0.0.1" and low <= port <= high and kind == "relay"
                    for host, port, kind in found
                ), found
            # the pair in use is relay to relay, on both clients
            assert a.audio.selected == ("relay", "relay")
            assert ear.audio.selected == ("relay", "relay")
            # coturn allocated for each client and for the server's peers, by their names
            names = await eventually(
                lambda: (
                    {u.split(":", 1)[1] for u in turn.allocations()}
                    >= {a.client_id, ear.client_id, "backline-server"}
                ),
                timeout=20,
                what="coturn's log shows the allocations",
            )
            assert names
    finally:
        server.stop()


async def test_the_server_announces_the_addresses_and_ports_it_was_given(
    tmp_path: Path,
) -> None:
    first, last = free_udp_range(8)
    server = ServerProcess(
        tmp_path / "data",
        extra_args=[
            "--rtc-host", "127.0.0.1", "--rtc-ports", f"{first}-{last}", "--public-ip", PUBLIC,
        ],
    ).start()  # fmt: skip
    try:
        token = server.token(SESSION)
        async with (
            connect(server.url, session=SESSION, token=token, name="a") as a,
            connect(server.url, session=SESSION, token=token, name="ear") as ear,
        ):
            assert a.ice_servers == []  # no TURN configured: nothing handed out
            loopback = Gathering(hosts=("127.0.0.1",), servers=())
            answers = [Seen(), Seen()]
            await a.audio.publish(ToneTrack(A_HZ), edit_answer=answers[0], ice=loopback)
            await ear.audio.publish(None, edit_answer=answers[1], ice=loopback)
            heard = await listen(ear, 1.0)
            assert level_at(heard, A_HZ) > 0.05
            for seen in answers:
                found = candidates(seen.sdp)
                hosts = [(h, p) for h, p, kind in found if kind == "host"]
                assert [h for h, _ in hosts] == ["127.0.0.1"]  # not every interface
                port = hosts[0][1]
                assert first <= port <= last
                # the public address on the same port, for a 1:1 NAT
                assert sorted(found) == sorted(
                    [("127.0.0.1", port, "host"), (PUBLIC, port, "srflx")]
                )
            assert a.audio.selected == ("host", "host")
    finally:
        server.stop()


async def test_the_credentials_expire_after_the_ttl(tmp_path: Path, turn: TurnServer) -> None:
    server = ServerProcess(
        tmp_path / "data",
        extra_args=["--turn", turn.url, "--turn-secret", turn.secret, "--turn-ttl", "600"],
    ).start()
    try:
        token = server.token(SESSION)
        async with connect(server.url, session=SESSION, token=token, name="a") as a:
            expires = int(a.ice_servers[0]["username"].split(":", 1)[0])
            assert 0 < expires - time.time() <= 600
    finally:
        server.stop()


async def test_a_bot_with_relay_only_is_heard_through_coturn(
    tmp_path: Path, turn: TurnServer
) -> None:
    server = ServerProcess(
        tmp_path / "data", extra_args=["--turn", turn.url, "--turn-secret", turn.secret]
    ).start()
    try:
        token = server.token(SESSION, "owner")
        async with (
            connect(server.url, session=SESSION, token=token, name="ear") as ear,
            BotProcess(server, "metronome", SESSION, "--relay-only") as bot,
        ):
            await bot.wait_for("clicking in the audio room")
            await ear.audio.publish(None)  # ear may connect directly; the bot may not
            await ear.play()
            heard = await listen(ear, 2.0)
            assert float(np.abs(heard).max()) > 0.2  # the clicks (0.3 and more) came through
            bot_id = next(c for c, p in ear.peers.items() if p.get("name") == "metronome")
            names = await eventually(
                lambda: {u.split(":", 1)[1] for u in turn.allocations()},
                timeout=20,
                what="coturn's log shows allocations",
            )
            assert bot_id in names  # the bot's relay (the server's peers are not relay-only)
            assert "backline-server" not in names
    finally:
        server.stop()
