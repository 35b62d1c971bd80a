"""The authority of one session: orders edits, versions them, keeps undo history.

Pure and synchronous (no I/O): the async session driver feeds it submissions,
stores what it accepted, and calls `rollback` if the store refused them, so
the in-memory document never runs ahead of what is durable.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from backline.protocol.errors import BacklineError, Conflict, Duplicate, NothingToUndo
from backline.protocol.limits import DEFAULT_LIMITS, Limits
from backline.protocol.messages import Batch
from backline.protocol.model import Document
from backline.protocol.ops import Op, apply, apply_all
from backline.protocol.timeline import DEFAULT_LEAD_US
from backline.protocol.transport import resolve, without_transport

__all__ = ["Sequencer", "UndoEntry"]

UNDO_DEPTH = 100  # per client
RECENT_BATCHES = 1000  # kept in memory for catch-up by ops instead of snapshot


@dataclass(slots=True)
class UndoEntry:
    inverse: Op  # what undoes the edit (a single op or a flat batch)
    version: int  # version of the edit it undoes, for messages


@dataclass(slots=True)
class _History:
    undo: list[UndoEntry] = field(default_factory=list)
    redo: list[UndoEntry] = field(default_factory=list)


def _ops_of(op: Op) -> list[Any]:
    ops: list[Any] = op["ops"] if op["op"] == "batch" else [op]
    return ops


class Sequencer:
    """Session state plus everything needed to order, undo and roll back edits."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS, catch_up: int = RECENT_BATCHES) -> None:
        self.doc = Document(limits)
        self.version = 0
        self.last_seq: dict[str, int] = {}  # client -> highest accepted seq
        self.recent: deque[Batch] = deque(maxlen=catch_up)
        self._history: dict[str, _History] = {}
        # state of the round in progress, for rollback
        self._round: list[tuple[Batch, Op]] = []
        self._saved_history: dict[str, tuple[list[UndoEntry], list[UndoEntry]]] = {}
        self._saved_seq: dict[str, int | None] = {}

    # -- loading ----------------------------------------------------------------

    def restore(self, snapshot: dict[str, Any] | None, snapshot_version: int) -> None:
        """Start from a stored snapshot (see `snapshot()`), before `replay`."""
        if snapshot is not None:
            self.doc = Document.from_data(snapshot["doc"], self.doc.limits)
            self.last_seq = dict(snapshot.get("seqs", {}))
        self.version = snapshot_version

    def replay(self, batch: Batch) -> None:
        """Re-apply a stored batch at load time (it was valid when accepted)."""
        if batch.version != self.version + 1:
            raise ValueError(f"stored log has a gap: v{self.version} then v{batch.version}")
        apply_all(self.doc, batch.ops)
        self.version = batch.version
        self.last_seq[batch.by] = max(batch.seq, self.last_seq.get(batch.by, 0))
        self.recent.append(batch)

    def snapshot(self) -> dict[str, Any]:
        return {"doc": self.doc.to_data(), "seqs": dict(self.last_seq)}

    # -- one round: submit*, then commit() or rollback() --------------------------

    def submit(
        self, client: str, seq: int, ops: list[Any], now: int = 0, lead_us: int = DEFAULT_LEAD_US
    ) -> Batch:
        """Validate and apply a client's edit; raises a `BacklineError` and changes nothing.

        Transport intents resolve against server time ``now`` (µs) and start
        ``lead_us`` ahead. Transport moves are not undoable: undo never moves
        the playhead, so a play/stop/seek leaves the undo history alone.
        """
        self._check_seq(client, seq)
        ops = resolve(self.doc, ops, now, lead_us)
        inverse = apply_all(self.doc, ops)
        history = self._touch(client)
        undoable = without_transport(inverse)
        if undoable is not None:
            history.undo.append(UndoEntry(undoable, self.version + 1))
            del history.undo[:-UNDO_DEPTH]
            history.redo.clear()
        return self._accept(client, seq, ops, inverse)

    def undo(self, client: str, seq: int, now: int = 0) -> Batch:
        return self._step(client, seq, now, redo=False)

    def redo(self, client: str, seq: int, now: int = 0) -> Batch:
        return self._step(client, seq, now, redo=True)

    def commit(self) -> list[Batch]:
        """The round is durable: forget what rollback would need."""
        batches = [batch for batch, _ in self._round]
        self.recent.extend(batches)
        self._round.clear()
        self._saved_history.clear()
        self._saved_seq.clear()
        return batches

    def rollback(self) -> list[Batch]:
        """The round could not be stored: undo all of it, exactly."""
        undone = [batch for batch, _ in self._round]
        for _batch, inverse in reversed(self._round):
            apply(self.doc, inverse)
        if self._round:
            self.version = self._round[0][0].version - 1
        for client, (undo, redo) in self._saved_history.items():
            self._history[client] = _History(undo, redo)
        for client, last in self._saved_seq.items():
            if last is None:
                self.last_seq.pop(client, None)
            else:
                self.last_seq[client] = last
        self._round.clear()
        self._saved_history.clear()
        self._saved_seq.clear()
        return undone

    # -- catch-up -------------------------------------------------------------

    def since(self, version: int) -> list[Batch] | None:
        """Batches after `version` if memory still has all of them, else None."""
        if version == self.version:
            return []
        if version > self.version or not self.recent:
            return None
        first = self.recent[0].version
        if version + 1 < first:
            return None
        return list(self.recent)[version + 1 - first :]

    # -- internals --------------------------------------------------------------

    def _check_seq(self, client: str, seq: int) -> None:
        last = self.last_seq.get(client, 0)
        if seq <= last:
            raise Duplicate(f"op {seq} was already handled (last accepted is {last})")

    def _touch(self, client: str) -> _History:
        history = self._history.setdefault(client, _History())
        if client not in self._saved_history:
            self._saved_history[client] = (list(history.undo), list(history.redo))
        return history

    def _accept(self, client: str, seq: int, ops: list[Any], inverse: Op) -> Batch:
        if client not in self._saved_seq:
            self._saved_seq[client] = self.last_seq.get(client)
        self.last_seq[client] = seq
        self.version += 1
        batch = Batch(self.version, client, seq, ops)
        self._round.append((batch, inverse))
        return batch

    def _step(self, client: str, seq: int, now: int, *, redo: bool) -> Batch:
        self._check_seq(client, seq)
        history = self._history.get(client)
        source = None if history is None else (history.redo if redo else history.undo)
        word = "redo" if redo else "undo"
        if not source:
            raise NothingToUndo(f"nothing to {word}")
        history = self._touch(client)
        source = history.redo if redo else history.undo
        entry = source.pop()
        # a tempo or meter change while playing re-anchors, as for any edit
        ops = resolve(self.doc, _ops_of(entry.inverse), now, DEFAULT_LEAD_US)
        try:
            inverse = apply_all(self.doc, ops)
        except BacklineError as exc:
            raise Conflict(f"{word} of v{entry.version} skipped: {exc.message}") from None
        target = history.undo if redo else history.redo
        target.append(UndoEntry(without_transport(inverse) or inverse, self.version + 1))
        del target[:-UNDO_DEPTH]
        return self._accept(client, seq, ops, inverse)
