"""A session's chat: the recent history every joiner gets, posts shown everywhere.

A post goes to this process's members at once, to the other processes over
the bus (`BusKind.CHAT`), and into the store's chat history, beside the log,
so that it outlives a restart (SQLite, Redis) like the project does.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

from backline.protocol import frames
from backline.protocol.codec import encode
from backline.server.clock import server_time_us
from backline.server.sessions.context import BusKind, SessionContext
from backline.server.sessions.member import Member
from backline.server.sessions.roster import Roster
from backline.server.storage.base import Store, StoreUnavailable

__all__ = ["Chat"]

log = logging.getLogger("backline.session")


class Chat:
    def __init__(
        self,
        context: SessionContext,
        roster: Roster,
        store: Store,
        history: list[dict[str, Any]],
        keep: int,
    ) -> None:
        self._context = context
        self._store = store
        self._roster = roster
        self._keep = keep
        self.history: deque[dict[str, Any]] = deque(history, maxlen=keep)

    def post(self, member: Member, text: str) -> None:
        entry = {
            "by": member.client,
            "name": member.name,
            "text": text,
            "time": server_time_us(),
            "wall": time.time_ns() // 1_000_000,  # for people: when it was sent, on a calendar
        }
        self.show(entry)
        self._context.background(self._context.publish(BusKind.CHAT, entry=entry))
        self._context.background(self._keep_it(entry))

    def show(self, entry: dict[str, Any]) -> None:
        """A message posted here or on another process: keep it, show it to everyone here."""
        self.history.append(entry)
        self._roster.broadcast(encode(frames.chat(entry)))

    async def _keep_it(self, entry: dict[str, Any]) -> None:
        name = self._context.name
        try:
            await self._store.add_chat(name, entry, self._keep)
        except StoreUnavailable as exc:
            log.warning("session %s: chat history not stored: %s", name, exc)
