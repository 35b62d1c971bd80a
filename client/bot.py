"""A base class that makes a headless bot a few lines of code.

class Echo(Bot):
    async def on_chat(self, s, chat):
        await s.chat(f"you said {chat.text}")

asyncio.run(Echo().run(url, session="jam", token=token))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from backline.client.session import (
    ChatMessage,
    ConnectionChanged,
    EventStream,
    PresenceChanged,
    Rejected,
    RemoteEdit,
    Session,
    connect,
)

if TYPE_CHECKING:
    from backline.media.ice import Gathering

__all__ = ["Bot"]

log = logging.getLogger("backline.bot")


class Bot:
    """Override the `on_*` hooks you need; each runs in order, one event at a time."""

    name = "bot"
    color: str | None = None
    ice: Gathering | None = None  # how its audio peer gathers (`s.audio.ice`), e.g. relay only

    async def on_start(self, s: Session) -> None:
        """Called once joined, with the full project in `s.project`."""

    async def on_edit(self, s: Session, event: RemoteEdit) -> None:
        """Called for every accepted batch (check `event.mine` to skip your own)."""

    async def on_reject(self, s: Session, event: Rejected) -> None:
        """Called when the server refused one of this bot's edits."""

    async def on_presence(self, s: Session, event: PresenceChanged) -> None:
        pass

    async def on_chat(self, s: Session, chat: ChatMessage) -> None:
        pass

    async def on_connection(self, s: Session, event: ConnectionChanged) -> None:
        pass

    async def main(self, s: Session) -> None:
        """Runs alongside the event hooks for the bot's whole life (e.g. a beat loop).

        Override it for work driven by time rather than by events; the default
        does nothing. An exception here ends the bot.
        """

    async def run(self, url: str, *, session: str, token: str) -> None:
        """Join, run `main` and dispatch events to the hooks until the session closes."""
        async with connect(
            url, session=session, token=token, name=self.name, color=self.color
        ) as s:
            events = s.events()
            if self.ice is not None:
                s.audio.ice = self.ice
            log.info("%s joined session %s at v%d", self.name, session, s.version)
            await self.on_start(s)
            main = asyncio.create_task(self.main(s), name=f"{self.name} main")
            try:
                await self._dispatch(s, events, main)
            finally:
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await main

    async def _dispatch(self, s: Session, events: EventStream, main: asyncio.Task[None]) -> None:
        def main_done(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is not None:
                events.close()  # ends the loop below; the exception is raised after it

        main.add_done_callback(main_done)
        async for event in events:
            if isinstance(event, RemoteEdit):
                await self.on_edit(s, event)
            elif isinstance(event, Rejected):
                await self.on_reject(s, event)
            elif isinstance(event, PresenceChanged):
                await self.on_presence(s, event)
            elif isinstance(event, ChatMessage):
                await self.on_chat(s, event)
            elif isinstance(event, ConnectionChanged):
                await self.on_connection(s, event)
        if main.done() and not main.cancelled() and main.exception() is not None:
            raise main.exception()  # type: ignore[misc]
