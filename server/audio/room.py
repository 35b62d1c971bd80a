"""A session's audio room: every participant's audio in, a personal mix out to each.

Works on numpy frames only (the aiortc side lives in `rtc.py`). A drift-free
clock ticks once per frame period; each tick takes the oldest waiting frame
of every sender (silence when none arrived), and sends each listener the sum
of everybody else, scaled by that listener's own gains.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .mixer import Mixer
from .rtc import RtcPeer, Samples

__all__ = ["MAX_GAIN", "AudioRoom"]

log = logging.getLogger("backline.audio.room")

FRAME = 960  # samples per frame: 20 ms at 48 kHz, what aiortc's Opus decoder gives
PERIOD = FRAME / 48_000
MAX_GAIN = 4.0
QUEUE = 4  # frames a sender may be ahead of the mix before the oldest are dropped


@dataclass(eq=False)
class _Participant:
    client: str
    peer: RtcPeer
    waiting: deque[Samples] = field(default_factory=lambda: deque(maxlen=QUEUE))
    gains: dict[str, float] = field(default_factory=dict)  # source -> gain I asked for
    sending: bool = False


class AudioRoom:
    def __init__(self, session: str, on_empty: Callable[[AudioRoom], None] | None = None) -> None:
        self.session = session
        self.participants: dict[str, _Participant] = {}
        self.mixer = Mixer(FRAME)
        self._on_empty = on_empty
        self._ticker: asyncio.Task[None] | None = None
        self.ticks = 0

    async def join(self, client: str, offer_sdp: str) -> str:
        """Connect `client`'s peer from its offer (replacing an older one); return the answer."""
        await self.leave(client)
        participant: _Participant

        def arrived(samples: Samples) -> None:
            if len(samples) != FRAME:
                return  # not a 20 ms frame: ignored (both ends use 20 ms for now)
            participant.waiting.append(samples)
            participant.sending = True

        peer = RtcPeer(f"{self.session}/{client}", arrived)
        participant = _Participant(client, peer)
        answer = await peer.answer(offer_sdp)
        self.participants[client] = participant
        self.mixer.add(client)
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
        await participant.peer.close()
        if not self.participants:
            await self.close()
            if self._on_empty is not None:
                self._on_empty(self)

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
        self.participants.clear()

    async def _run(self) -> None:
        start = time.monotonic()
        k = 0
        while True:
            k += 1
            due = start + k * PERIOD
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # the frame clock: each tick at its own due time
            elif delay < -4 * PERIOD:
                k = int((time.monotonic() - start) / PERIOD)  # stalled: skip, don't burst
            self.tick()

    def tick(self) -> None:
        """One frame period: mix and send."""
        self.ticks += 1
        members = list(self.participants.values())
        if not members:
            return
        frames = {p.client: (p.waiting.popleft() if p.waiting else None) for p in members}
        mixes = self.mixer.mix(frames)
        for listener in members:
            listener.peer.send(mixes[listener.client])
