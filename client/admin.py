"""Owners' controls: requests that wait for the server's answer, and what they change.

`Admin` holds this participant's standing in the session, which owners
decide: its `role`, whether the session is `locked`, whether viewers may send
audio (`viewer_audio`); from the welcome, then from every `admin` frame (an
`AdminChanged` event each). It sends the owners' requests, each with its own
id, and resolves one on the `done` that carries that id, or raises the typed
refusal of the `error` that does. Requests are not queued for a reconnect:
one made while disconnected raises `Unavailable`, and one pending when the
connection drops fails the same way (it may have been carried out).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from backline.client.connection import Connection
from backline.client.events import AdminChanged, Event
from backline.protocol.errors import BacklineError, Unavailable
from backline.protocol.messages import ClientType, Role

__all__ = ["Admin"]


class Admin:
    """One participant's side of the owners' controls."""

    def __init__(self, connection: Connection, emit: Callable[[Event], None]) -> None:
        self.role = Role.VIEWER
        self.locked = False
        """Read-only session: only owners may edit (an owner's `lock()`)."""
        self.viewer_audio = False
        """Viewers may send audio into the room (an owner's `allow_viewer_audio()`)."""
        self._connection = connection
        self._emit = emit
        # requests awaiting their answer (`done`, or `access` for an access query)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    def welcomed(self, welcome: dict[str, Any]) -> None:
        self.role = Role(welcome["role"])
        self.locked = bool(welcome.get("locked", False))
        self.viewer_audio = bool(welcome.get("viewer_audio", False))

    async def request(self, kind: ClientType, **fields: Any) -> dict[str, Any]:
        """Send an admin request and wait for its answer (the `done` frame, or an `access`
        frame); raises the typed refusal."""
        self._connection.check_open()
        if not self._connection.connected:
            raise Unavailable("not connected; admin requests are not queued for a reconnect")
        request = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request] = future
        try:
            await self._connection.send({"type": kind.value, **fields, "id": request})
        except Unavailable:
            self._pending.pop(request, None)
            raise Unavailable("connection lost before the request was sent") from None
        return await future

    def on_done(self, message: dict[str, Any]) -> None:
        """A `done` (or `access`) frame: the request of that id was carried out."""
        future = self._pending.pop(message["id"], None)
        if future is not None and not future.done():
            future.set_result(message)

    def refused(self, request: int, error: BacklineError) -> bool:
        """An `error` frame for request id `request`: True when it answered one of mine."""
        future = self._pending.pop(request, None)
        if future is None or future.done():
            return False
        future.set_exception(error)
        return True

    def on_admin(self, message: dict[str, Any]) -> None:
        """An `admin` frame: an owner changed the session (its `action` is the request type)."""
        action = message["action"]
        role = Role(message["role"]) if message.get("role") is not None else None
        if (
            action == ClientType.ROLE
            and message.get("client") == self._connection.client_id
            and role is not None
        ):
            self.role = role
        if action == ClientType.LOCK:
            self.locked = bool(message["locked"])
        if action == ClientType.VIEWER_AUDIO:
            self.viewer_audio = bool(message["allowed"])
        self._emit(
            AdminChanged(
                action,
                message["by"],
                message.get("client"),
                role,
                message.get("locked"),
                message.get("allowed"),
            )
        )

    def fail(self, error: BacklineError) -> None:
        """Every pending request raises `error` (the connection that carried it is gone)."""
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)
