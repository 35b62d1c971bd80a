"""Pacing: this client sends no faster than the server's rate limits let it.

The welcome announces the server's token-bucket rates (edits, presence,
chat); the SDK runs the same buckets (`backline.protocol.ratelimit`) a little
under those rates (`margin`), so a well-behaved client never hears
`rate_limited`. `EditPump` sends the waiting edits in order through the edit
bucket; chat waits for its own bucket; presence is coalesced (`peers.py`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

from backline.protocol.limits import DEFAULT_LIMITS
from backline.protocol.ratelimit import Rate, TokenBucket

if TYPE_CHECKING:
    from backline.client.connection import Connection
    from backline.client.mirror import Mirror

__all__ = ["PRESENCE_HZ", "EditPump", "Pacing", "margin"]

PRESENCE_HZ = 30  # at most this many presence updates a second, whatever the server allows
_KINDS = ("edit", "presence", "chat", "live")


def margin(rate: Rate) -> Rate:
    """A little under the server's rate: frames the network bunches up still fit its bucket."""
    if rate.unlimited:
        return rate
    return Rate(rate.per_second * 0.9, max(1, int(rate.burst * 0.9)))


class Pacing:
    """The server's rates (`rates`: edit, presence, chat) and this client's buckets for them."""

    def __init__(self) -> None:
        self.rates: dict[str, Rate] = {
            "edit": DEFAULT_LIMITS.edit,
            "presence": DEFAULT_LIMITS.presence,
            "chat": DEFAULT_LIMITS.chat,
            "live": DEFAULT_LIMITS.live,
        }
        self._fill(0.0)

    def _fill(self, now: float) -> None:
        self.edit = TokenBucket(margin(self.rates["edit"]), now)
        self.chat = TokenBucket(margin(self.rates["chat"]), now)
        self.live = TokenBucket(margin(self.rates["live"]), now)

    def adopt(self, announced: dict[str, Any]) -> None:
        """Adopt the rates a welcome announced (the defaults stay for any it did not)."""
        changed = False
        for kind in _KINDS:
            value = announced.get(kind)
            if isinstance(value, list) and len(value) == 2:
                rate = Rate(float(value[0]), int(value[1]))
                changed |= rate != self.rates[kind]
                self.rates[kind] = rate
        if changed:
            self._fill(asyncio.get_running_loop().time())

    @property
    def presence_interval(self) -> float:
        """Seconds between two presence updates."""
        rate = self.rates["presence"].per_second
        return 1 / PRESENCE_HZ if rate == 0 else max(1 / PRESENCE_HZ, 1 / rate)

    async def live_turn(self) -> None:
        """Wait until one live-note event may go."""
        loop = asyncio.get_running_loop()
        while not self.live.take(loop.time()):
            await asyncio.sleep(self.live.wait(loop.time()))

    async def chat_turn(self) -> None:
        """Wait until one chat message may go."""
        loop = asyncio.get_running_loop()
        while not self.chat.take(loop.time()):
            await asyncio.sleep(self.chat.wait(loop.time()))


class EditPump:
    """Sends the mirror's waiting edits in order, as fast as the edit bucket allows.

    An edit that is still waiting when the connection drops is sent after the
    reconnect: `resend` sends the outbox again, in order, once the welcome's
    catch-up has acknowledged what the server already applied.
    """

    def __init__(self, mirror: Mirror, pacing: Pacing, connection: Connection) -> None:
        self._mirror = mirror
        self._pacing = pacing
        self._connection = connection
        self._unsent: deque[int] = deque()  # seqs waiting for a token, in order
        self._handle: asyncio.TimerHandle | None = None

    def post(self, seq: int) -> None:
        """Send the mirror's message `seq` as soon as a token allows."""
        self._unsent.append(seq)
        self.pump()

    def resend(self) -> None:
        """After a (re)connect: everything unacknowledged goes again, in order."""
        self._unsent = deque(self._mirror.unacked)
        self.pump()

    def pump(self) -> None:
        if self._handle is not None:
            return  # a send is already scheduled for when a token arrives
        if not self._connection.connected:
            return  # resent from the outbox after reconnecting
        loop = asyncio.get_running_loop()
        bucket = self._pacing.edit
        while self._unsent:
            now = loop.time()
            if not bucket.take(now):
                self._handle = loop.call_later(bucket.wait(now), self._pumped)
                return
            message = self._mirror.unacked.get(self._unsent.popleft())
            if message is not None:  # None: rejected before it was sent
                self._connection.send_soon(message)

    def _pumped(self) -> None:
        self._handle = None
        self.pump()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
