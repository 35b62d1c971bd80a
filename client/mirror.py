"""The mirror: this client's optimistic copy of the project, and what waits on the server.

An edit applies here at once (`Replica.local`) and waits, unacknowledged, in
the outbox (`Mirror.unacked`, by seq) until the server's `ops` frame confirms
it in the server's order, or its `reject` refuses it (rolled back here, and a
`Rejected` event). Each edit's `Edit` handle resolves to the version it got;
`wait_version` waits for the server's versions to arrive. No I/O: the pump
(`pacing.EditPump`) sends the outbox and the connection brings the frames.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Generator
from typing import Any

from backline.client.events import Event, Rejected, RemoteEdit
from backline.protocol.errors import BacklineError, error_for_code
from backline.protocol.messages import Batch, ClientType
from backline.protocol.model import Document
from backline.protocol.ops import Op
from backline.protocol.replica import Replica, reset_replica

__all__ = ["Edit", "Mirror"]


class Edit:
    """One submitted edit. `await edit` returns its version once stored, or raises.

    When the acknowledgement arrives folded into a snapshot (after a long
    disconnect) the exact version is unknown; the snapshot's version, an upper
    bound, is returned instead.
    """

    __slots__ = ("_future", "id", "seq")

    def __init__(self, seq: int, future: asyncio.Future[int], entity_id: str | None = None) -> None:
        self.seq = seq
        self.id = entity_id  # the new entity's id for add_* helpers
        self._future = future

    def __await__(self) -> Generator[Any, None, int]:
        return self._future.__await__()

    @property
    def done(self) -> bool:
        return self._future.done()

    def __repr__(self) -> str:
        return f"<Edit seq={self.seq} id={self.id!r} done={self.done}>"


class Mirror:
    """The replica of the project, the outbox of my edits and everyone waiting on them.

    ``emit`` reports `RemoteEdit` and `Rejected` events; ``changed`` is called
    whenever the document may have changed (the timeline re-reads the transport).
    """

    def __init__(self, emit: Callable[[Event], None], changed: Callable[[], None]) -> None:
        self.replica = Replica(Document())
        self.unacked: dict[int, dict[str, Any]] = {}
        """My messages (op, undo, redo) the server has not acknowledged, by seq, in the
        order they were made: sent again, in that order, after a reconnect."""
        self._waiters: dict[int, asyncio.Future[int]] = {}
        self._version_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._seq = itertools.count(1)
        self._emit = emit
        self._changed = changed

    @property
    def version(self) -> int:
        """The last version confirmed by the server."""
        return self.replica.version

    # -- my edits -------------------------------------------------------------

    def edit(
        self, ops: list[Op], guess: Callable[[list[Op]], list[Op]], entity_id: str | None
    ) -> Edit:
        """Apply ``guess(ops)`` here and queue `ops` for the server.

        ``guess`` is this client's best guess at what the server will make of
        the ops (transport intents get their times there); raises, keeping
        nothing, when the ops do not apply here.
        """
        seq = next(self._seq)
        self.replica.local(seq, guess(ops))
        self._changed()
        return self._queue({"type": ClientType.OP.value, "seq": seq, "ops": ops}, entity_id)

    def history(self, kind: ClientType) -> Edit:
        """Queue an undo or a redo: the server decides what it does."""
        seq = next(self._seq)
        self.replica.track(seq)
        return self._queue({"type": kind.value, "seq": seq}, None)

    def decided(self, kind: ClientType, fields: dict[str, Any]) -> Edit:
        """Queue an edit the server works out (restore, import): nothing applies here
        until the server's batch does."""
        seq = next(self._seq)
        self.replica.track(seq)
        return self._queue({"type": kind.value, "seq": seq, **fields}, None)

    def _queue(self, message: dict[str, Any], entity_id: str | None) -> Edit:
        seq: int = message["seq"]
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        self._waiters[seq] = future
        self.unacked[seq] = message
        return Edit(seq, future, entity_id)

    # -- the server's answers ---------------------------------------------------

    def welcomed(self, welcome: dict[str, Any]) -> None:
        """Catch up from a welcome: the batches after my version, or a snapshot."""
        self.replica.client = welcome["client"]
        if welcome.get("batches") is not None:
            for wire in welcome["batches"]:
                self._confirm(Batch.from_wire(wire))
        else:
            doc = Document.from_data(welcome["snapshot"])
            acked = reset_replica(self.replica, doc, welcome["version"], welcome["seq"])
            for seq in acked:
                self._resolve(seq, welcome["version"])
        self._settle()

    def on_ops(self, message: dict[str, Any]) -> None:
        """An `ops` frame: accepted batches, in the server's order (mine are acks)."""
        for wire in message["batches"]:
            self._confirm(Batch.from_wire(wire))
        self._settle()

    def on_reject(self, message: dict[str, Any]) -> None:
        """A `reject` frame: my edit `seq` was refused; roll it back here."""
        seq = message["seq"]
        error = error_for_code(message["code"], message["message"])
        if self.replica.reject(seq) is not None or seq in self.unacked:
            self._changed()
            self.unacked.pop(seq, None)
            future = self._waiters.pop(seq, None)
            if future is not None and not future.done():
                future.set_exception(error)
            self._emit(Rejected(seq, error))

    def _confirm(self, batch: Batch) -> None:
        if batch.version <= self.replica.version:
            return  # already have it (catch-up overlap)
        mine = batch.by == self.replica.client
        self.replica.confirm(batch)
        if mine:
            self._resolve(batch.seq, batch.version)
        self._emit(RemoteEdit(batch, mine))

    def _resolve(self, seq: int, version: int) -> None:
        self.unacked.pop(seq, None)
        future = self._waiters.pop(seq, None)
        if future is not None and not future.done():
            future.set_result(version)

    def _settle(self) -> None:
        keep = []
        for version, future in self._version_waiters:
            if self.replica.version >= version:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((version, future))
        self._version_waiters = keep
        self._changed()

    def fail(self, error: BacklineError) -> None:
        """The session ended: every edit still waiting raises `error`."""
        for future in self._waiters.values():
            if not future.done():
                future.set_exception(error)

    # -- waiting ----------------------------------------------------------------

    async def wait_version(self, version: int) -> None:
        if self.replica.version >= version:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._version_waiters.append((version, future))
        await future

    async def synced(self) -> None:
        pending = [f for f in self._waiters.values() if not f.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


def _retrieve(future: asyncio.Future[int]) -> None:
    """Mark a rejected edit's exception as seen: rejects also arrive as events."""
    if not future.cancelled():
        future.exception()
