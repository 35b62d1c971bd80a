"""ICE control (media/ice.py, server/ice.py): the candidates a peer gathers and
announces are the ones asked for; TURN credentials are coturn's REST-API ones."""

from __future__ import annotations

import base64
import hashlib
import hmac

import ifaddr
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from backline.media.ice import (
    Gathering,
    IceServer,
    interface_addresses,
    peer_connection,
    restrict,
    selected_pair,
)
from backline.server.audio.peer import server_gathering
from backline.server.config import ConfigError
from backline.server.ice import (
    IceSettings,
    check_interfaces,
    parse_port_range,
    parse_turn_urls,
    turn_credentials,
)
from backline.testing import eventually
from backline.testing.turn import free_udp_range


def candidates(sdp: str) -> list[dict[str, str]]:
    """The `a=candidate` lines of `sdp` as fields (host, port, type, raddr, rport)."""
    found = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            bits = line.split()
            fields = {"host": bits[4], "port": bits[5], "type": bits[7]}
            fields |= dict(zip(bits[8::2], bits[9::2], strict=False))
            found.append(fields)
    return found


async def offer_of(gathering: Gathering | None) -> tuple[RTCPeerConnection, str]:
    pc = peer_connection(gathering)
    pc.addTransceiver("audio", direction="sendrecv")
    restrict(pc, gathering)
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def test_hosts_ports_and_public_ip_decide_the_candidates() -> None:
    first, last = free_udp_range(10)
    gathering = Gathering(
        hosts=("127.0.0.1",), ports=(first, last), public_ip="203.0.113.7", servers=()
    )
    pc, sdp = await offer_of(gathering)
    try:
        found = candidates(sdp)
        hosts = [c for c in found if c["type"] == "host"]
        srflx = [c for c in found if c["type"] == "srflx"]
        assert [c["host"] for c in hosts] == ["127.0.0.1"]  # aioice alone never offers loopback
        port = int(hosts[0]["port"])
        assert first <= port <= last
        # the public address, on the same port, related to the host it maps to (1:1 NAT)
        assert srflx == [
            {"host": "203.0.113.7", "port": str(port), "type": "srflx",
             "raddr": "127.0.0.1", "rport": str(port)}
        ]  # fmt: skip
        assert len(found) == 2
    finally:
        await pc.close()


async def test_peers_share_the_port_range_and_a_full_range_gathers_nothing() -> None:
    first, last = free_udp_range(2)
    gathering = Gathering(hosts=("127.0.0.1",), ports=(first, last), servers=())
    pcs = []
    try:
        ports = set()
        for _ in range(2):
            pc, sdp = await offer_of(gathering)
            pcs.append(pc)
            ports |= {int(c["port"]) for c in candidates(sdp)}
        assert ports == {first, last}  # two peers, two different ports of the range
        pc, sdp = await offer_of(gathering)
        pcs.append(pc)
        assert candidates(sdp) == []  # the range is full: nothing outside it
        await pcs[0].close()  # a closed peer gives its port back
        pc, sdp = await offer_of(gathering)
        pcs.append(pc)
        assert len(candidates(sdp)) == 1 and int(candidates(sdp)[0]["port"]) in ports
    finally:
        for pc in pcs:
            await pc.close()


def test_an_interface_gives_its_addresses() -> None:
    loopback = next(
        a.nice_name for a in ifaddr.get_adapters() if any(ip.ip == "127.0.0.1" for ip in a.ips)
    )
    assert "127.0.0.1" in interface_addresses([loopback])
    with pytest.raises(ValueError, match="no network interface"):
        interface_addresses(["no-such-if0"])
    check_interfaces((loopback,))  # the server's start refuses only unknown names
    with pytest.raises(ConfigError, match="no network interface named no-such-if0"):
        check_interfaces((loopback, "no-such-if0"))


async def test_an_interface_restricts_gathering_to_it() -> None:
    loopback = next(
        a.nice_name for a in ifaddr.get_adapters() if any(ip.ip == "127.0.0.1" for ip in a.ips)
    )
    pc, sdp = await offer_of(Gathering(interfaces=(loopback,), servers=()))
    try:
        found = {c["host"] for c in candidates(sdp)}
        assert "127.0.0.1" in found
        assert found <= set(interface_addresses([loopback]))
    finally:
        await pc.close()


async def test_two_restricted_peers_connect_on_loopback() -> None:
    """The gathered candidates are real: checks and media run on them."""
    first, last = free_udp_range(10)
    gathering = Gathering(hosts=("127.0.0.1",), ports=(first, last), servers=())
    a, offer = await offer_of(gathering)
    b = peer_connection(gathering)
    try:
        await b.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        restrict(b, gathering)
        await b.setLocalDescription(await b.createAnswer())
        assert {c["host"] for c in candidates(b.localDescription.sdp)} == {"127.0.0.1"}
        await a.setRemoteDescription(b.localDescription)
        await eventually(lambda: a.iceConnectionState == "completed", timeout=20)
        pair = selected_pair(a)
        assert pair is not None
        assert (pair[0].host, pair[1].host) == ("127.0.0.1", "127.0.0.1")
        assert first <= pair[0].port <= last and first <= pair[1].port <= last
    finally:
        await a.close()
        await b.close()


async def test_relay_only_without_turn_gathers_nothing() -> None:
    pc, sdp = await offer_of(Gathering(hosts=("127.0.0.1",), relay_only=True, servers=()))
    try:
        assert candidates(sdp) == []
    finally:
        await pc.close()


def test_turn_credentials_are_coturns_rest_api_ones() -> None:
    username, password = turn_credentials("s3cret", "client-7", 1_900_000_000)
    assert username == "1900000000:client-7"
    expected = hmac.new(b"s3cret", username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(password) == expected


def test_each_client_gets_its_own_time_limited_credentials_never_the_secret() -> None:
    ice = IceSettings(turn=("stun:s.example", "turn:t.example:3478"), turn_secret="s3cret")
    a, b = ice.ice_servers("a", now=1000.0), ice.ice_servers("b", now=1000.0)
    assert a[0] == {"urls": ["stun:s.example"]}
    assert a[1]["urls"] == ["turn:t.example:3478"] and a[1]["username"] == f"{1000 + 43200}:a"
    assert a[1]["credential"] != b[1]["credential"]
    assert "s3cret" not in repr(a)
    static = IceSettings(turn=("turn:t.example",), turn_username="u", turn_password="p")
    assert static.ice_servers("a") == [
        {"urls": ["turn:t.example"], "username": "u", "credential": "p"}
    ]
    assert IceSettings().ice_servers("a") == []


def test_the_server_gathers_as_configured() -> None:
    assert server_gathering(None) is None and server_gathering(IceSettings()) is None
    here = server_gathering(IceSettings(hosts=("10.0.0.5",), ports=(40000, 40100)))
    assert here == Gathering(hosts=("10.0.0.5",), ports=(40000, 40100), servers=())
    relay = server_gathering(
        IceSettings(turn=("turn:t.example:3478",), turn_secret="x", relay_only=True)
    )
    assert relay is not None and relay.relay_only
    assert relay.servers is not None and relay.servers[0].urls == ("turn:t.example:3478",)
    assert relay.servers[0].username is not None and relay.servers[0].username.endswith(
        ":backline-server"
    )
    assert IceServer.from_wire({"urls": "stun:x"}) == IceServer(("stun:x",))


def test_setting_texts() -> None:
    assert parse_port_range("40000-40100") == (40000, 40100)
    assert parse_port_range("40000") == (40000, 40000)
    for bad in ("100-200", "5-4", "40000-70000", "a-b"):
        with pytest.raises(ValueError):
            parse_port_range(bad)
    assert parse_turn_urls("turn:a:3478?transport=tcp, stun:b") == (
        "turn:a:3478?transport=tcp",
        "stun:b",
    )
    with pytest.raises(ValueError):
        parse_turn_urls("http://a")
