"""A session's audio room: every participant's audio in, a personal mix out to each.

Works on numpy frames only (the aiortc side lives in `rtc.py`). Each sender's
decoded audio is cut into 10 ms frames (`Rechunker`, whatever packet size it
sends) and goes into its own adaptive `JitterBuffer` (the smallest delay that
keeps late frames under 1%). A drift-free clock ticks once per frame period;
each tick takes every sender's frame due now (silence when it is missing),
sends each listener the `Mixer`'s personal mix, and steps the level meters,
which the session shows in presence ten times a second. In a room of two the
encoded packets are forwarded instead, as they arrive (see `AudioRoom._route`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from backline.media.clock import CatchUp, FrameClock
from backline.media.frames import DEFAULT_FRAME_MS, Rechunker, frame_samples, frame_us
from backline.media.jitter import JitterBuffer
from backline.media.packets import packet_samples
from backline.media.rtc import Samples
from backline.protocol.audio import MAX_GAIN
from backline.server.audio.meter import Levels, RoomMeter
from backline.server.audio.mixer import Mixer
from backline.server.audio.peer import RtcPeer
from backline.server.clock import server_time_us
from backline.server.ice import IceSettings

__all__ = ["MAX_GAIN", "AudioRoom", "FrameTap"]


log = logging.getLogger("backline.audio.room")

FRAME_MS = DEFAULT_FRAME_MS  # 10 ms: the room's tick, mix and jitter-buffer unit
FRAME = frame_samples(FRAME_MS)
FRAME_US = frame_us(FRAME_MS)
LEVEL_EVERY = 100 // FRAME_MS  # ticks between level reports (100 ms)
# A source silent this long stops being passed through (its listener gets the
# mix's silence instead of nothing); long enough that a stall of a loaded
# machine does not flip the route back and forth (each flip repeats or skips
# a few frames).
QUIET_US = 500_000


class FrameTap(Protocol):
    """Sees every decoded frame as it arrives, before any buffering (a recording)."""

    def frame(self, client: str, samples: Samples, timestamp: int, at_us: int) -> None: ...

    def joined(self, client: str) -> None: ...


@dataclass(eq=False)
class _Participant:
    client: str
    peer: RtcPeer
    buffer: JitterBuffer[Samples] = field(
        default_factory=lambda: JitterBuffer(FRAME_US, start_depth=1)
    )
    chunks: Rechunker = field(default_factory=lambda: Rechunker(FRAME))
    gains: dict[str, float] = field(default_factory=dict)  # source -> gain I asked for
    sending: bool = False
    talk: bool = True  # its audio is heard (listen-only participants send none)
    last_packet_us: int = -(10**12)  # when its latest encoded packet arrived
    forwarding: str | None = None  # the source whose packets go to me as they are


class AudioRoom:
    def __init__(
        self,
        session: str,
        on_empty: Callable[[AudioRoom], None] | None = None,
        on_levels: Callable[[dict[str, Levels]], None] | None = None,
        on_tick: Callable[[float], None] | None = None,
        pass_through: bool = True,
        on_forward: Callable[[], None] | None = None,
        ice: IceSettings | None = None,
    ) -> None:
        self.session = session
        self.ice = ice  # how each participant's peer gathers (`server/audio/peer.py`)
        self.pass_through = pass_through
        self._on_forward = on_forward  # once per forwarded packet (metrics)
        self.forwarded = 0
        self._on_tick = on_tick  # seconds each tick with participants took (metrics)
        self._on_levels = on_levels
        self.meter = RoomMeter(FRAME_MS)
        self.participants: dict[str, _Participant] = {}
        self.mixer = Mixer(FRAME)
        self._on_empty = on_empty
        self._ticker: asyncio.Task[None] | None = None
        self.ticks = 0
        self.tap: FrameTap | None = None

    async def join(self, client: str, offer_sdp: str, talk: bool = True) -> str:
        """Connect `client`'s peer from its offer (replacing an older one); return the answer.

        A participant that may not `talk` gets a send-only answer: it hears its mix,
        and nothing it sends reaches anyone (nor a recording).
        """
        await self.leave(client)
        participant: _Participant

        def arrived(samples: Samples, pts: int) -> None:
            if not participant.talk:
                return
            now = server_time_us()
            for index, frame in participant.chunks.push(samples, pts):
                participant.buffer.push(index & 0xFFFF, now, frame)
                participant.sending = True
            if self.tap is not None:
                self.tap.frame(client, samples, pts, now)

        def packet(payload: bytes, rtp_timestamp: int) -> None:
            if not participant.talk:
                return
            participant.last_packet_us = server_time_us()
            if len(self.participants) != 2:
                return  # only rooms of two pass packets through (`_route`)
            samples = packet_samples(payload)
            if samples is None:
                return
            for listener in self.participants.values():
                if listener.forwarding == client:
                    listener.peer.forward(payload, samples)
                    self.forwarded += 1
                    if self._on_forward is not None:
                        self._on_forward()

        peer = RtcPeer(f"{self.session}/{client}", arrived, packet, ice=self.ice)
        participant = _Participant(client, peer, talk=talk)
        answer = await peer.answer(offer_sdp, receive=talk)
        self.participants[client] = participant
        if self.tap is not None:
            self.tap.joined(client)
        self.mixer.add(client)
        self.meter.add(client)
        for other in self.participants.values():  # gains asked for before either joined
            if other is not participant:
                if client in other.gains:
                    self.mixer.set_gain(other.client, client, other.gains[client])
                if other.client in participant.gains:
                    self.mixer.set_gain(client, other.client, participant.gains[other.client])
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._run())
        log.info(
            "audio %s: %s joined (%d in the room)", self.session, client, len(self.participants)
        )
        return answer

    async def leave(self, client: str) -> None:
        participant = self.participants.pop(client, None)
        if participant is None:
            return
        self.mixer.remove(client)
        self.meter.remove(client)
        await participant.peer.close()
        if not self.participants:
            await self.close()
            if self._on_empty is not None:
                self._on_empty(self)

    def set_talk(self, client: str, talk: bool) -> None:
        """Stop (or allow again) hearing `client`: at once for stopping; a participant
        allowed to talk sends once its client negotiates again (rejoins)."""
        participant = self.participants.get(client)
        if participant is not None:
            participant.talk = talk

    def set_gains(self, listener: str, gains: dict[str, float]) -> None:
        """`listener` hears each named source at its gain (0 silences, 1 is unchanged)."""
        participant = self.participants.get(listener)
        if participant is None:
            raise KeyError(listener)
        for source, gain in gains.items():
            if not 0.0 <= gain <= MAX_GAIN:
                raise ValueError(f"gain for {source} must be between 0 and {MAX_GAIN}")
        for source, gain in gains.items():
            participant.gains[source] = float(gain)  # kept for when `source` (re)joins
            if source in self.participants and source != listener:
                self.mixer.set_gain(listener, source, gain)

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        for participant in list(self.participants.values()):
            await participant.peer.close()
            self.mixer.remove(participant.client)
            self.meter.remove(participant.client)
        self.participants.clear()

    def _route(self, members: list[_Participant], now: int) -> None:
        """Pass-through: in a room of two, each hears the other's packets as they arrive.

        When a listener's mix would be exactly one source at unity gain, the
        server has nothing to add: decoding, waiting for the tick and
        re-encoding only cost time (about half the mouth-to-ear delay). So the
        source's encoded packets are forwarded the moment they arrive. Any
        change that makes the mix more than a copy (a third participant, a gain,
        mute/solo, the source silent for `QUIET_US`) switches back to mixing at
        the next tick; the outgoing timeline stays continuous across the switch.
        """
        for listener in members:
            source = None
            if self.pass_through and len(members) == 2:
                other = members[1] if members[0] is listener else members[0]
                if (
                    now - other.last_packet_us <= QUIET_US
                    and self.mixer.gain(listener.client, other.client) == 1.0
                    and self.mixer.is_audible(other.client)
                ):
                    source = other.client
            if source != listener.forwarding:
                log.debug(
                    "audio %s: %s hears %s", self.session, listener.client, source or "the mix"
                )
                listener.forwarding = source

    async def _run(self) -> None:
        """Tick at each frame's due time (`FrameClock`: no drift); after a stall, up to
        four overdue ticks back to back, older ones skipped."""
        clock = FrameClock(server_time_us(), FRAME, catch_up=CatchUp.BURST, max_burst=4)
        while True:
            delay = clock.next_due - server_time_us()
            if delay > 0:
                await asyncio.sleep(delay / 1e6)  # the frame clock: each tick at its due time
            for _ in clock.tick(server_time_us()):
                self.tick()

    def tick(self) -> None:
        """One frame period: mix and send."""
        self.ticks += 1
        members = list(self.participants.values())
        if not members:
            return
        started = time.perf_counter()
        now = server_time_us()
        frames = {p.client: p.buffer.pop(now) for p in members}
        mixes = self.mixer.mix(frames)
        self._route(members, now)
        for listener in members:
            if listener.forwarding is None:
                listener.peer.send(mixes[listener.client])
        levels = self.meter.update(frames)
        if self._on_levels is not None and self.ticks % LEVEL_EVERY == 0:
            self._on_levels(levels)
        if self._on_tick is not None:
            self._on_tick(time.perf_counter() - started)
