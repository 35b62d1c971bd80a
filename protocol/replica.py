"""A client's optimistic copy of the document, rebased on the server's order.

The server's order is the truth. Local edits apply at once and wait in
`pending`; each confirmed batch is applied beneath them (rewind the pending
edits, apply the batch, re-apply what still applies). Last-writer-wins fields
make the result equal to the server's document once the pending list drains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import BacklineError, Internal
from .messages import Batch
from .model import Document
from .ops import Op, apply, apply_all

__all__ = ["Pending", "Replica", "reset_replica"]


@dataclass(slots=True)
class Pending:
    seq: int
    ops: list[Any]
    inverse: Op | None  # None while it does not apply locally (the server decides)


@dataclass(slots=True)
class Replica:
    doc: Document
    version: int = 0
    client: str = ""
    pending: list[Pending] = field(default_factory=list)

    def local(self, seq: int, ops: list[Any]) -> Op:
        """Apply my edit optimistically; raises (and keeps nothing) when it is invalid here."""
        inverse = apply_all(self.doc, ops)
        self.pending.append(Pending(seq, ops, inverse))
        return inverse

    def track(self, seq: int) -> None:
        """Await a server-side edit (undo/redo) that has no local ops."""
        self.pending.append(Pending(seq, [], None))

    def confirm(self, batch: Batch) -> None:
        """Apply a batch in server order. Raises `Internal` on a version gap or desync."""
        if batch.version != self.version + 1:
            raise Internal(f"expected version {self.version + 1}, got {batch.version}")
        mine = batch.by == self.client
        head = self.pending[0] if self.pending else None
        if (
            mine
            and head is not None
            and head.seq == batch.seq
            and head.inverse is not None
            and head.ops == batch.ops
        ):
            # Our oldest edit was applied by the server, unchanged (not re-resolved, as
            # transport intents and tempo changes are), on the very state we applied it on.
            self.pending.pop(0)
        elif not self.pending:
            self._apply_confirmed(batch)
        else:
            self._rewind()
            self._apply_confirmed(batch)
            if mine:
                self.pending = [p for p in self.pending if p.seq != batch.seq]
            self._replay()
        self.version = batch.version

    def reject(self, seq: int) -> Pending | None:
        """Drop a rejected edit of mine and undo its local effect."""
        found = next((p for p in self.pending if p.seq == seq), None)
        if found is None:
            return None
        self._rewind()
        self.pending.remove(found)
        self._replay()
        return found

    def _apply_confirmed(self, batch: Batch) -> None:
        try:
            apply_all(self.doc, batch.ops)
        except BacklineError as exc:
            raise Internal(
                f"confirmed batch v{batch.version} does not apply: {exc.message}"
            ) from exc

    def _rewind(self) -> None:
        for pending in reversed(self.pending):
            if pending.inverse is not None:
                # An inverse may itself be a batch; wrapping it in another would be nested.
                apply(self.doc, pending.inverse)
                pending.inverse = None

    def _replay(self) -> None:
        for pending in self.pending:
            if pending.ops:
                try:
                    pending.inverse = apply_all(self.doc, pending.ops)
                except BacklineError:
                    pending.inverse = None


def reset_replica(replica: Replica, doc: Document, version: int, acked_seq: int) -> list[int]:
    """Start over from a snapshot: drop my edits it already holds, replay the rest.

    Returns the seqs that were dropped because the snapshot includes them.
    """
    dropped = [p.seq for p in replica.pending if p.seq <= acked_seq]
    replica.doc = doc
    replica.version = version
    replica.pending = [Pending(p.seq, p.ops, None) for p in replica.pending if p.seq > acked_seq]
    replica._replay()
    return dropped
