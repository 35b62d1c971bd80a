"""The other participants and the chat: presence in, presence out, chat both ways.

`Peers` keeps the online participants' presence (``online``, by client id) and
the recent chat (``history``), from the welcome and then from every
`presence` and `chat` frame, and sends this client's own: presence coalesced
(the last value of each key wins, at most `PRESENCE_HZ` updates a second), chat
paced to the server's chat rate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from backline.client.connection import Connection
from backline.client.events import ChatMessage, Event, PresenceChanged
from backline.client.pacing import Pacing
from backline.protocol.errors import Unavailable
from backline.protocol.messages import ClientType

__all__ = ["CHAT_HISTORY", "Peers"]

CHAT_HISTORY = 100  # chat messages kept, the newest


class Peers:
    """Presence and chat of one session, as this client sees and sends them."""

    def __init__(
        self, connection: Connection, pacing: Pacing, emit: Callable[[Event], None]
    ) -> None:
        self.online: dict[str, dict[str, Any]] = {}
        """Client id -> presence of every other participant online now."""
        self.history: list[ChatMessage] = []
        """The recent chat, oldest first."""
        self._connection = connection
        self._pacing = pacing
        self._emit = emit
        self._pending: dict[str, Any] = {}  # my presence keys not sent yet
        self._handle: asyncio.TimerHandle | None = None

    def welcomed(self, welcome: dict[str, Any]) -> None:
        self.online = {p["client"]: p for p in welcome["peers"] if p.get("online", True)}
        self.history = [_chat(entry) for entry in welcome["chat"]]

    def on_presence(self, message: dict[str, Any]) -> None:
        """A `presence` frame: some participants changed, came or left."""
        for peer in message["peers"]:
            if peer["client"] == self._connection.client_id:
                continue
            if peer.get("online", True):
                self.online[peer["client"]] = peer
            else:
                self.online.pop(peer["client"], None)
        self._emit(PresenceChanged(dict(self.online), message["peers"]))

    def on_chat(self, message: dict[str, Any]) -> None:
        """A `chat` frame: someone (maybe me) posted."""
        chat = _chat(message)
        self.history.append(chat)
        del self.history[:-CHAT_HISTORY]
        self._emit(chat)

    def set_presence(self, state: dict[str, Any]) -> None:
        """Merge `state` into my presence; it goes out at the next coalescing tick."""
        self._pending.update(state)
        if self._handle is None:
            loop = asyncio.get_running_loop()
            self._handle = loop.call_later(self._pacing.presence_interval, self._flush)

    def _flush(self) -> None:
        self._handle = None
        state, self._pending = self._pending, {}
        if state:  # dropped while not connected: presence is only worth its latest value
            self._connection.send_soon({"type": ClientType.PRESENCE.value, "state": state})

    async def chat(self, text: str) -> None:
        """Post `text`, paced to the server's chat rate.

        Raises `Unavailable` when not connected, or when the connection drops
        before the message is sent: unlike edits, chat is not queued for a
        reconnect (it carries no sequence number, so a resend could not be told
        from a repeat, and a line typed into a dead connection is better refused
        than posted late, out of its conversation).
        """
        self._connection.check_open()
        if not self._connection.connected:
            raise Unavailable("not connected; chat is not queued for a reconnect")
        await self._pacing.chat_turn()
        await self._connection.send({"type": ClientType.CHAT.value, "text": text})

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


def _chat(entry: dict[str, Any]) -> ChatMessage:
    return ChatMessage(entry["by"], entry["name"], entry["text"], entry["time"], entry.get("wall"))
