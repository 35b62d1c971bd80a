"""A UDP relay on loopback that loses, delays and jitters packets: a bad network for tests.

WebRTC media is UDP, so the TCP `DelayProxy` cannot carry it. `UdpProxy`
stands between a client and the server's media port:

    client ──> proxy.address ──(loss, delay, jitter)──> server
    client <── proxy.address <──(loss, delay, jitter)── server

Each side is told only the proxy's addresses: the client's offer is rewritten
(`route_offer`) so the server sends to the proxy's second socket, and the
server's answer (`route`) so the client sends to the first. Neither side
knows the other's real address, so ICE cannot find a direct path: every
packet, STUN checks included, crosses the proxy both ways.
Delay is drawn per packet (base ± jitter, uniform), so jitter also reorders,
as on a real network. A seeded RNG makes a run repeatable.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass

__all__ = ["Impairment", "UdpProxy", "media_target", "route_answer"]


@dataclass(frozen=True)
class Impairment:
    loss: float = 0.0  # probability that a packet is dropped
    delay_ms: float = 0.0  # one-way base delay
    jitter_ms: float = 0.0  # each packet's delay is base ± this (uniform)

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss < 1.0:
            raise ValueError(f"loss must be in [0, 1), got {self.loss!r}")
        if self.delay_ms < 0 or self.jitter_ms < 0:
            raise ValueError("delay and jitter must not be negative")


class _Side(asyncio.DatagramProtocol):
    def __init__(self, proxy: UdpProxy, name: str) -> None:
        self.proxy = proxy
        self.name = name
        self.transport: asyncio.DatagramTransport | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.proxy._arrived(self.name, data, (str(addr[0]), int(addr[1])))


class UdpProxy:
    """Relays between one client and `target` (the server's media address)."""

    def __init__(
        self, impairment: Impairment, target: tuple[str, int] | None = None, seed: int = 1
    ) -> None:
        self.target = target  # may be set later, from the server's answer (`media_target`)
        self.impairment = impairment
        self._rng = random.Random(seed)
        self._client_side: _Side | None = None
        self._server_side: _Side | None = None
        self._client: tuple[str, int] | None = None  # where the client sends from
        self.forwarded = 0
        self.dropped = 0

    @property
    def address(self) -> tuple[str, int]:
        """Where the client should send (the server's address as the client sees it)."""
        assert self._client_side is not None and self._client_side.transport is not None
        host, port = self._client_side.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    async def start(self) -> UdpProxy:
        loop = asyncio.get_running_loop()
        sides = []
        for name in ("client", "server"):
            transport, side = await loop.create_datagram_endpoint(
                lambda name=name: _Side(self, name),  # type: ignore[misc]
                local_addr=("127.0.0.1", 0),
            )
            side.transport = transport
            sides.append(side)
        self._client_side, self._server_side = sides
        return self

    def close(self) -> None:
        for side in (self._client_side, self._server_side):
            if side is not None and side.transport is not None:
                side.transport.close()

    def _arrived(self, side: str, data: bytes, addr: tuple[str, int]) -> None:
        if side == "client":
            self._client = addr
            if self.target is None:
                return
            out, to = self._server_side, self.target
        else:
            if self._client is None:
                return
            out, to = self._client_side, self._client
        imp = self.impairment
        if imp.loss and self._rng.random() < imp.loss:
            self.dropped += 1
            return
        delay = imp.delay_ms + (self._rng.uniform(-imp.jitter_ms, imp.jitter_ms))
        delay = max(0.0, delay) / 1000
        if delay == 0:
            self._send(out, data, to)
        else:
            asyncio.get_running_loop().call_later(delay, self._send, out, data, to)

    def route_offer(self, offer_sdp: str) -> str:
        """Remember the client's media address from `offer_sdp`; return the offer
        rewritten so that the server sends to this proxy (pass as `edit_offer`)."""
        self._client = media_target(offer_sdp)
        assert self._server_side is not None and self._server_side.transport is not None
        host, port = self._server_side.transport.get_extra_info("sockname")[:2]
        return route_answer(offer_sdp, (str(host), int(port)))

    def route(self, answer_sdp: str) -> str:
        """Aim at the server's media address in `answer_sdp`; return the answer
        rewritten so that the client sends to this proxy (pass as `edit_answer`)."""
        self.target = media_target(answer_sdp)
        return route_answer(answer_sdp, self.address)

    def _send(self, side: _Side | None, data: bytes, to: tuple[str, int]) -> None:
        if side is not None and side.transport is not None and not side.transport.is_closing():
            side.transport.sendto(data, to)
            self.forwarded += 1


_CANDIDATE = re.compile(
    r"^a=candidate:(\S+) (\d+) (udp) (\d+) ([0-9.]+) (\d+) typ host(.*)$", re.IGNORECASE
)


def media_target(answer_sdp: str) -> tuple[str, int]:
    """The server's IPv4 host candidate for RTP (component 1) in its answer."""
    for line in answer_sdp.splitlines():
        match = _CANDIDATE.match(line.strip())
        if match and match.group(2) == "1":
            return match.group(5), int(match.group(6))
    raise ValueError("the answer has no IPv4 host candidate")


def route_answer(answer_sdp: str, proxy: tuple[str, int]) -> str:
    """`answer_sdp` (or an offer) with its candidates replaced by one: the proxy's address."""
    lines = []
    placed = False
    for line in answer_sdp.splitlines():
        match = _CANDIDATE.match(line.strip())
        if line.startswith("m="):
            placed = False  # each media section gets its own candidate line
        if line.startswith("a=candidate:"):
            if match and match.group(2) == "1" and not placed:
                foundation, _, proto, priority = match.group(1, 2, 3, 4)
                lines.append(
                    f"a=candidate:{foundation} 1 {proto} {priority} {proxy[0]} {proxy[1]} typ host"
                )
                placed = True
            continue  # every other candidate (other interfaces, IPv6, tcp) is removed
        lines.append(line)
    return "\r\n".join(lines) + "\r\n"
