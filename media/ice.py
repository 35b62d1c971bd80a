"""ICE control for every aiortc peer (the server's and the SDK's): which addresses
are gathered and announced, on which UDP ports, with which STUN/TURN servers.

    gathering = Gathering(hosts=("10.0.0.5",), ports=(40000, 40100), public_ip="203.0.113.7")
    pc = peer_connection(gathering)
    ...                                  # add tracks / set the remote offer
    restrict(pc, gathering)              # before setLocalDescription: gathering starts there
    await pc.setLocalDescription(...)

What aiortc offers itself, and is used as it is: the STUN/TURN servers and the
relay-only policy (`RTCConfiguration(iceServers=..., iceTransportPolicy=RELAY)`).

What it does not offer, and is added here, in this one place: aioice gathers a
host candidate on every address of every interface (except 127.0.0.1) on an
ephemeral port, and announces nothing it did not learn from STUN. `restrict`
replaces, on each of the peer's aioice `Connection`s, the one method that
gathers a component's candidates (`get_component_candidates`, which aioice's
`gather_candidates` calls once per component) with `_gather`: host candidates
only on the chosen addresses (`hosts`, and those of `interfaces`), each on a
free port of `ports` when a range is given, plus a server-reflexive candidate
with `public_ip` and the same port for each host candidate of that family (a
1:1 NAT: a cloud machine's public address maps every port to its private
one). STUN and TURN candidates still come from aioice's own method, called
with no host addresses. Nothing else of aioice changes: checks, nomination
and consent use the protocols registered in the connection as before.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import ifaddr
from aioice import Candidate, Connection, TransportPolicy
from aioice.candidate import candidate_foundation, candidate_priority
from aioice.ice import StunProtocol, server_reflexive_candidate
from aioice.turn import UDP_SOCKET_BUFFER_SIZE
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransport,
    RTCPeerConnection,
)
from aiortc.rtcconfiguration import RTCIceTransportPolicy

__all__ = [
    "Gathering",
    "IceServer",
    "interface_addresses",
    "peer_connection",
    "restrict",
    "selected_pair",
]

log = logging.getLogger("backline.audio.ice")


@dataclass(frozen=True, slots=True)
class IceServer:
    """A STUN or TURN server: the `ice_servers` entry of a welcome, as aiortc takes it."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    @classmethod
    def from_wire(cls, entry: dict[str, Any]) -> IceServer:
        urls = entry.get("urls")
        listed = (urls,) if isinstance(urls, str) else tuple(str(u) for u in urls or ())
        username, credential = entry.get("username"), entry.get("credential")
        return cls(
            listed,
            None if username is None else str(username),
            None if credential is None else str(credential),
        )


@dataclass(frozen=True, slots=True)
class Gathering:
    """How one peer gathers its candidates; the default is aiortc's own behaviour.

    - `hosts`: addresses to gather host candidates on (127.0.0.1 allowed);
    - `interfaces`: interface names whose addresses are added to `hosts`;
      with neither, every address of every interface, as aioice does;
    - `ports`: an inclusive UDP port range host candidates bind in (firewalls);
    - `public_ip`: announced as a server-reflexive candidate for each host
      candidate of its family, same port (1:1 NAT);
    - `servers`: STUN/TURN servers; None keeps aiortc's default (a public STUN
      server), an empty tuple uses none;
    - `relay_only`: only TURN relay candidates (no host, no server-reflexive).
    """

    hosts: tuple[str, ...] = ()
    interfaces: tuple[str, ...] = ()
    ports: tuple[int, int] | None = None
    public_ip: str | None = None
    servers: tuple[IceServer, ...] | None = None
    relay_only: bool = False

    @property
    def restricts(self) -> bool:
        """Whether gathering differs from aioice's own (and `restrict` has work)."""
        return bool(self.hosts or self.interfaces or self.ports or self.public_ip)

    def addresses(self) -> list[str]:
        """The host addresses to gather on (empty: aioice's choice)."""
        chosen = list(self.hosts)
        if self.interfaces:
            chosen += [a for a in interface_addresses(self.interfaces) if a not in chosen]
        return chosen


def interface_addresses(names: Sequence[str]) -> list[str]:
    """The usable addresses of the interfaces `names` (IPv4, and IPv6 other than
    link-local), in the order of the names; an unknown name is an error."""
    adapters = {a.nice_name: a for a in ifaddr.get_adapters()} | {
        a.name: a for a in ifaddr.get_adapters()
    }
    found: list[str] = []
    for name in names:
        adapter = adapters.get(name)
        if adapter is None:
            raise ValueError(f"no network interface named {name!r}")
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                found.append(ip.ip)
            elif ip.ip[2] == 0 and not ipaddress.ip_address(ip.ip[0]).is_link_local:
                found.append(ip.ip[0])
    return found


def peer_connection(gathering: Gathering | None = None) -> RTCPeerConnection:
    """A peer connection with `gathering`'s servers and policy (call `restrict` too)."""
    if gathering is None:
        return RTCPeerConnection()
    servers = None
    if gathering.servers is not None:
        servers = [
            RTCIceServer(list(s.urls), username=s.username, credential=s.credential)
            for s in gathering.servers
        ]
    policy = RTCIceTransportPolicy.RELAY if gathering.relay_only else RTCIceTransportPolicy.ALL
    return RTCPeerConnection(RTCConfiguration(iceServers=servers, iceTransportPolicy=policy))


def restrict(pc: RTCPeerConnection, gathering: Gathering | None) -> None:
    """Make every ICE connection `pc` has now gather as `gathering` says.

    Call it after the transceivers exist (tracks added, or the remote offer set)
    and before `setLocalDescription`, which starts gathering. Calling it again
    is harmless; a connection that already gathered is left alone.
    """
    if gathering is None or not gathering.restricts or gathering.relay_only:
        return  # relay-only gathers no host candidates: nothing to restrict
    addresses = gathering.addresses()
    for transport in _ice_transports(pc):
        connection = transport.iceGatherer._connection
        if getattr(connection, _MARK, False) or connection.local_candidates:
            continue
        setattr(connection, _MARK, True)
        original = connection.get_component_candidates
        connection.get_component_candidates = partial(  # type: ignore[method-assign]
            _gather, connection, original, gathering, addresses
        )


def selected_pair(pc: RTCPeerConnection) -> tuple[Candidate, Candidate] | None:
    """The nominated (local, remote) candidate pair of `pc`'s first ICE connection."""
    for transport in _ice_transports(pc):
        nominated: dict[int, Any] = getattr(transport._connection, "_nominated", {})
        pair = nominated.get(1)
        if pair is not None:
            return pair.local_candidate, pair.remote_candidate
    return None


_MARK = "_backline_gathering"


def _ice_transports(pc: RTCPeerConnection) -> list[RTCIceTransport]:
    transports: list[RTCIceTransport] = []
    for transceiver in pc.getTransceivers():
        dtls = transceiver.sender.transport
        if dtls is not None and dtls.transport not in transports:
            transports.append(dtls.transport)
    if pc.sctp is not None and pc.sctp.transport.transport not in transports:
        transports.append(pc.sctp.transport.transport)
    return transports


async def _gather(
    connection: Connection,
    original: Any,
    gathering: Gathering,
    ours: list[str],
    component: int,
    addresses: list[str],
    timeout: int = 5,
) -> list[Candidate]:
    """`Connection.get_component_candidates` for `gathering` (see the module text)."""
    if getattr(connection, "_transport_policy", None) == TransportPolicy.RELAY:
        result: list[Candidate] = await original(component=component, addresses=[])
        return result
    chosen = ours or addresses  # ours, else aioice's own choice
    candidates: list[Candidate] = []
    protocols: list[StunProtocol] = []
    for address in chosen:
        protocol = await _bind(connection, address, gathering.ports)
        if protocol is None:
            continue
        host, port = protocol.transport.get_extra_info("sockname")[:2]
        protocol.local_candidate = Candidate(
            foundation=candidate_foundation("host", "udp", host),
            component=component,
            transport="udp",
            priority=candidate_priority(component, "host"),
            host=host,
            port=port,
            type="host",
        )
        candidates.append(protocol.local_candidate)
        protocols.append(protocol)
    # aioice pairs remote candidates with the protocols it holds (host and relay)
    connection._protocols += protocols
    if gathering.public_ip is not None:
        public = ipaddress.ip_address(gathering.public_ip)
        for protocol in protocols:
            local = protocol.local_candidate
            if ipaddress.ip_address(local.host).version == public.version:
                candidates.append(
                    Candidate(
                        foundation=candidate_foundation("srflx", "udp", local.host),
                        component=component,
                        transport="udp",
                        priority=candidate_priority(component, "srflx"),
                        host=str(public),
                        port=local.port,
                        type="srflx",
                        related_address=local.host,
                        related_port=local.port,
                    )
                )
    stun_server = connection.stun_server
    if stun_server is not None and gathering.public_ip is None:
        tasks = [
            asyncio.ensure_future(server_reflexive_candidate(p, stun_server))
            for p in protocols
            if ipaddress.ip_address(p.local_candidate.host).version == 4
        ]
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=timeout)
            candidates += [t.result()[0] for t in done if t.exception() is None]
            for task in pending:
                task.cancel()
    if connection.turn_server is not None:
        relayed: list[Candidate] = await original(component=component, addresses=[])
        candidates += relayed
    if not candidates:
        log.warning("ICE: no candidate gathered on %s", ", ".join(chosen) or "no address")
    return candidates


async def _bind(
    connection: Connection, address: str, ports: tuple[int, int] | None
) -> StunProtocol | None:
    """A UDP endpoint on `address`: on a free port of `ports` (tried from a random
    one, so that peers spread over the range), else an ephemeral one."""
    loop = asyncio.get_running_loop()
    first, last = ports if ports is not None else (0, 0)
    start = random.randint(first, last)
    for port in [*range(start, last + 1), *range(first, start)]:
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: StunProtocol(connection), local_addr=(address, port)
            )
        except OSError as exc:
            if ports is None:
                log.info("ICE: could not bind to %s: %s", address, exc)
                return None
            # taken (uvloop reports it without an errno): the next one of the range
            log.debug("ICE: port %d on %s: %s", port, address, exc)
            continue
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_SOCKET_BUFFER_SIZE)
        return protocol
    log.warning("ICE: every UDP port %d-%d on %s is taken", first, last, address)
    return None
