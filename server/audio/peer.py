"""The one server module that touches aiortc: a participant's peer connection.

The room works on numpy frames; a `RtcPeer` takes the participant's offer,
hands each decoded chunk (and each encoded packet, for pass-through) to the
room, and sends the room's mix for that participant on a `MixTrack`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from backline.media.ice import Gathering, IceServer, peer_connection, restrict, selected_pair
from backline.media.opus import OpusDecoder, OpusEncoder, wanted_frame_ms
from backline.media.rtc import Samples, release_immediately
from backline.server.ice import IceSettings

__all__ = ["MixTrack", "RtcPeer", "server_gathering"]

log = logging.getLogger("backline.audio.rtc")


class MixTrack(MediaStreamTrack):
    """The outgoing track: encodes whatever the room pushes, in order, without waiting.

    The room pushes one frame per tick; the track encodes them into Opus
    packets of the peer's packet duration (two 10 ms frames make one 20 ms
    packet for a peer that asked for those) and hands aiortc the packets, which
    it sends as they are. At most `depth` frames wait here: when the sender
    falls behind, the oldest are dropped, so a hiccup never turns into lasting
    delay.
    """

    kind = "audio"

    def __init__(self, frame_ms: int = 10, depth: int = 4) -> None:
        super().__init__()
        self.encoder = OpusEncoder(frame_ms)
        self._frames: deque[Samples | tuple[bytes, int]] = deque(maxlen=depth)
        self._ready = asyncio.Event()
        self._held: list[Samples] = []  # frames of a packet not complete yet

    def push(self, samples: Samples) -> None:
        self._frames.append(samples)
        self._ready.set()

    def forward(self, payload: bytes, samples: int) -> None:
        """Send an already encoded packet of `samples` as it is (pass-through)."""
        self._frames.append((payload, samples))
        self._ready.set()

    async def recv(self) -> av.Packet[Any]:
        while True:
            while not self._frames:
                if self.readyState != "live":
                    raise MediaStreamError
                self._ready.clear()
                await self._ready.wait()
            item = self._frames.popleft()
            if isinstance(item, tuple):
                self._held = []  # a mix cut short by the switch to pass-through
                return self.encoder.forward(*item)
            self._held.append(item)
            if sum(len(f) for f in self._held) >= self.encoder.samples:
                samples = np.concatenate(self._held) if len(self._held) > 1 else self._held[0]
                self._held = []
                return self.encoder.encode(samples[: self.encoder.samples])

    def stop(self) -> None:
        super().stop()
        self._ready.set()


def server_gathering(ice: IceSettings | None) -> Gathering | None:
    """How the server's peers gather, from the ICE settings (None: aiortc's defaults).

    With any ICE setting given, the server uses no public STUN server (its
    addresses are the ones it was told); it allocates TURN relays of its own only
    when relay-only, with credentials made for itself like a client's.
    """
    if ice is None or not ice.configured:
        return None
    servers: tuple[IceServer, ...] = ()
    if ice.relay_only:
        servers = tuple(IceServer.from_wire(s) for s in ice.ice_servers("backline-server"))
    return Gathering(
        hosts=ice.hosts,
        interfaces=ice.interfaces,
        ports=ice.ports,
        public_ip=ice.public_ip,
        servers=servers,
        relay_only=ice.relay_only,
    )


class RtcPeer:
    """One participant's connection: its audio in, its personal mix out."""

    def __init__(
        self,
        label: str,
        on_frame: Callable[[Samples, int], None],
        on_packet: Callable[[bytes, int], None] | None = None,
        ice: IceSettings | None = None,
    ) -> None:
        """`on_frame(samples, pts)` gets each decoded chunk with its RTP timestamp;
        `on_packet(payload, rtp_timestamp)` each encoded packet as it arrives; `ice`
        chooses the addresses, ports and TURN relays (`backline.media.ice`)."""
        self.label = label
        self._on_frame = on_frame
        self._on_packet = on_packet
        self._gathering = server_gathering(ice)
        self._pc = peer_connection(self._gathering)
        self.mix: MixTrack | None = None  # made when the offer says which packets to send
        self.frame_ms = 10
        self._decoder = OpusDecoder()
        self._pc.on("connectionstatechange", self._on_state)

    @property
    def state(self) -> str:
        return str(self._pc.connectionState)

    @property
    def selected(self) -> tuple[str, str] | None:
        """The types of the ICE pair in use (local, remote), e.g. ``("relay", "host")``."""
        pair = selected_pair(self._pc)
        return None if pair is None else (pair[0].type, pair[1].type)

    async def answer(self, offer_sdp: str, receive: bool = True) -> str:
        """Take the participant's offer; return our answer (candidates included).

        With `receive` false the answer is send-only: the participant listens and
        its client sends no audio (and any that arrives is not used).
        """
        self.frame_ms = wanted_frame_ms(offer_sdp)
        self.mix = MixTrack(self.frame_ms)
        self._pc.addTrack(self.mix)
        await self._pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        if not receive:
            for transceiver in self._pc.getTransceivers():
                if transceiver.kind == "audio":
                    transceiver.direction = "sendonly"
        release_immediately(self._pc, self._arrived, decode=False)
        restrict(self._pc, self._gathering)  # before setLocalDescription gathers
        answer = await self._pc.createAnswer()
        await self._pc.setLocalDescription(answer)
        return str(self._pc.localDescription.sdp)

    def send(self, samples: Samples) -> None:
        if self.mix is not None:
            self.mix.push(samples)

    def forward(self, payload: bytes, samples: int) -> None:
        if self.mix is not None:
            self.mix.forward(payload, samples)

    async def close(self) -> None:
        if self.mix is not None:
            self.mix.stop()
        await self._pc.close()

    def _arrived(self, payload: bytes, rtp_timestamp: int) -> None:
        """Each packet, on the event loop as it arrives: forward it, then decode it."""
        if self._on_packet is not None:
            self._on_packet(payload, rtp_timestamp)
        try:
            samples = self._decoder.decode(payload)
        except av.FFmpegError as exc:  # a corrupt packet costs that packet only
            log.debug("%s: undecodable audio packet: %s", self.label, exc)
            return
        if len(samples):
            self._on_frame(samples, rtp_timestamp)

    async def _on_state(self) -> None:
        log.info("%s: peer connection %s", self.label, self._pc.connectionState)
