"""The authority of one session: decides each logged edit, versions it, keeps undo history.

Pure and synchronous (no I/O). The session feeds it the entries of the store's
log in log order, after they are durable; so the in-memory document never runs
ahead of what is stored, and nothing ever needs rolling back.

A log entry (`LogEntry`, ``protocol/entry.py``) holds everything a decision
depends on — author, op id, ops, the proposing server's clock and lead, the
role the author's token grants — so replaying it anywhere decides the same.

Owners' admin requests travel through the same log, so that every process
applies them at the same point between edits and they survive restarts:
role, lock, kick, viewer_audio and delete entries, whose ``seq`` is the
request id. They change no version; `apply` returns a `Control` for them.

Roles: an entry carries the role the author's token grants and that token's
fingerprint (`Claims.id`). The role in effect is what an owner set for that
identity (role entries), else the token's role lowered by any demotion an
owner bound to that token (a role entry carries its target's token): so a
demoted participant cannot shed the demotion by rejoining as a new identity.

Memory is bounded by bytes, not only by counts (`Limits`): the catch-up window
(`catch_up_bytes`), each identity's undo and redo stacks (`undo_bytes`), all
stacks of the session together (`session_undo_bytes`: the least recently
active identities lose their history first), and the identities with any
state at all (`max_identities`: the least recently active one is forgotten,
its op ids included). Every process evicts at the same entries, so all of them
still decide alike.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .access import Access, Invite
from .codec import decode_record, encode
from .entry import ACCESS_KINDS, ADMIN_KINDS, HISTORY_KINDS, EntryKind, LogEntry
from .errors import (
    BacklineError,
    Conflict,
    Duplicate,
    Forbidden,
    Internal,
    LimitExceeded,
    Locked,
    NothingToUndo,
    SessionExists,
)
from .history import restore_ops, summary, touched
from .limits import DEFAULT_LIMITS, Limits
from .messages import Batch, Role, weaker
from .model import Document
from .ops import Op, apply_all
from .timeline import DEFAULT_LEAD_US
from .transport import resolve, without_transport

__all__ = ["Control", "Sequencer", "UndoEntry"]

UNDO_DEPTH = 100  # per client
RECENT_BATCHES = 1000  # kept in memory for catch-up by ops instead of snapshot
MAX_LABELS = 1000  # named versions of one session
MAX_FORKS = 1000  # forks a session remembers (the oldest are forgotten)
MAX_AUTHORS = 1000  # identities credited with edits (the fewest edits are forgotten)


UndoEntry = tuple[bytes, int]
"""What undoes an edit (a single op or a flat batch, msgpack-encoded) and the version of
the edit it undoes (for messages). Encoded, in a plain tuple, so that the garbage
collector stops tracking it: undo stacks are the bulk of a busy server's long-lived
objects, and every one of them made each full collection slower."""


def _undo_entry(inverse: Op, version: int) -> UndoEntry:
    return (encode(inverse), version)


@dataclass(slots=True)
class _History:
    undo: list[UndoEntry] = field(default_factory=list)
    redo: list[UndoEntry] = field(default_factory=list)
    size: int = 0  # encoded bytes of both stacks

    def push(self, stack: list[UndoEntry], entry: UndoEntry, max_bytes: int) -> int:
        """Push `entry`, dropping the oldest of `stack` past the depth and byte caps.

        Returns the change in `size` (what the session's total moves by).
        """
        before = self.size
        stack.append(entry)
        self.size += len(entry[0])
        while len(stack) > 1 and (len(stack) > UNDO_DEPTH or self.size > max_bytes):
            self.size -= len(stack.pop(0)[0])
        return self.size - before

    def pop(self, stack: list[UndoEntry]) -> UndoEntry:
        entry = stack.pop()
        self.size -= len(entry[0])
        return entry

    def clear_redo(self) -> int:
        """Drop the redo stack; returns the change in `size`."""
        dropped = sum(len(packed) for packed, _ in self.redo)
        self.redo.clear()
        self.size -= dropped
        return -dropped


@dataclass(frozen=True, slots=True)
class Control:
    """An owner's admin request, accepted: what the session must now do about it."""

    kind: EntryKind  # one of `ADMIN_KINDS`
    by: str
    request: int  # the owner's request id
    target: str | None = None  # the participant (role, kick)
    role: Role | None = None  # the new role (role)
    locked: bool | None = None  # the new state (lock)
    allowed: bool | None = None  # may viewers send audio now (viewer_audio)
    invite: str | None = None  # the invite (invite, revoke, redeem)
    token: str | None = None  # the token id revoked (revoke)
    name: str | None = None  # the label (label)
    version: int | None = None  # the version labelled or forked (label, forked)
    session: str | None = None  # the fork made (forked)


def _ops_of(op: Op) -> list[Any]:
    ops: list[Any] = op["ops"] if op["op"] == "batch" else [op]
    return ops


class Sequencer:
    """Session state and everything that decides an edit's fate, deterministically.

    Every server process holding a session runs one of these over the same log
    of entries in the same order; since nothing here reads a clock, a random
    source or any process-local state, all of them reach the same versions,
    document and undo stacks, and agree on every accept and reject.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS, catch_up: int = RECENT_BATCHES) -> None:
        self.doc = Document(limits)
        self.limits = limits
        self.version = 0
        # client -> highest accepted seq; also the identities' recency order (least
        # recently active first), which eviction follows
        self.last_seq: dict[str, int] = {}
        # the catch-up window, kept encoded (wire form): bytes are invisible to the
        # cyclic garbage collector, while a thousand sessions' worth of Batch objects
        # made each full collection scan millions of objects (pauses of 100+ ms)
        self._recent: deque[bytes] = deque(maxlen=catch_up)
        self._recent_bytes = 0
        self.last_record = b""  # the latest accepted batch, encoded (what the session sends)
        self._history: dict[str, _History] = {}
        self._undo_bytes = 0  # every identity's stacks together
        self.roles: dict[str, Role] = {}  # client -> role an owner gave it in this session
        self.token_caps: dict[str, Role] = {}  # token id -> most an owner lets it grant here
        self.target_tokens: dict[str, str] = {}  # client an owner set a role for -> its token
        self.locked = False  # read-only: only owners may edit
        self.viewer_audio = False  # viewers may send audio into the room
        self.access = Access()  # invites, invited people, revocations
        self.created = False  # a `create` entry (or any other) was applied
        # who made and who last changed each entity, and when (unix ms):
        # id -> [made by, made at, changed by, changed at]; pruned lazily of the deleted
        self.blame: dict[str, list[Any]] = {}
        # the versions since the history last took them (`take_journal`), one row each:
        # (version, by, at (unix ms), what it came from, summary). Tuples of plain
        # values, which the cyclic collector stops tracking: a thousand busy sessions
        # hold up to `snapshot_every` rows each, and as lists they made every older-
        # generation collection walk them all (90 ms pauses at 1000x2)
        self.journal: list[tuple[Any, ...]] = []
        self.labels: list[dict[str, Any]] = []  # named versions, oldest first
        self.parent: dict[str, Any] | None = None  # what this session was forked from
        self.forks: list[dict[str, Any]] = []  # forks made of it, oldest first
        self.authors: dict[str, int] = {}  # client -> accepted edits
        self.names: dict[str, str] = {}  # client -> the name its edits last carried
        self._entry: LogEntry | None = None  # the entry being decided

    def role_of(self, client: str, token_role: Role, token_id: str | None = None) -> Role:
        """The role in effect (see the module docstring): what an owner set for this
        identity, else what its token grants, lowered by a demotion bound to that token."""
        role = self.roles.get(client)
        if role is not None:
            return role
        cap = self.token_caps.get(token_id) if token_id else None
        return token_role if cap is None else weaker(token_role, cap)

    @property
    def identities(self) -> int:
        """Identities this session keeps state for (op ids, undo history)."""
        return len(self.last_seq)

    @property
    def undo_bytes(self) -> int:
        return self._undo_bytes

    @property
    def catch_up_bytes(self) -> int:
        return self._recent_bytes

    # -- state ------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything that decides future entries: document, version, seqs, undo stacks;
        and the history's own state: blame, labels, forks, credits."""
        live = self._live_ids()
        return {
            "doc": self.doc.to_data(),
            "version": self.version,
            "seqs": dict(self.last_seq),
            "history": {
                client: {
                    "undo": [[decode_record(packed), v] for packed, v in h.undo],
                    "redo": [[decode_record(packed), v] for packed, v in h.redo],
                }
                for client, h in self._history.items()
                if h.undo or h.redo
            },
            "roles": {client: role.value for client, role in self.roles.items()},
            "caps": {token: role.value for token, role in self.token_caps.items()},
            "tokens": dict(self.target_tokens),
            "locked": self.locked,
            "viewer_audio": self.viewer_audio,
            "access": self.access.to_data(),
            "blame": {eid: list(b) for eid, b in self.blame.items() if eid in live},
            "labels": [dict(label) for label in self.labels],
            "parent": self.parent,
            "forks": [dict(fork) for fork in self.forks],
            "authors": dict(self.authors),
            "names": {c: n for c, n in self.names.items() if c in self.authors},
        }

    def _live_ids(self) -> set[str] | dict[str, str]:
        return {**self.doc.kind_of, "project": "project"}

    def restore(self, snapshot: dict[str, Any], *, owned: bool = False) -> None:
        """Continue from `snapshot()`'s output (the catch-up window starts empty); `owned`:
        the snapshot was just decoded for this, so its maps may become the document's."""
        self.doc = Document.from_data(snapshot["doc"], self.doc.limits, owned=owned)
        self.version = int(snapshot["version"])
        self.last_seq = dict(snapshot["seqs"])
        self._history = {}
        for client, h in snapshot["history"].items():
            undo = [_undo_entry(op, v) for op, v in h["undo"]]
            redo = [_undo_entry(op, v) for op, v in h["redo"]]
            size = sum(len(packed) for packed, _ in undo + redo)
            self._history[client] = _History(undo, redo, size)
        self._undo_bytes = sum(h.size for h in self._history.values())
        self.roles = {client: Role(role) for client, role in snapshot.get("roles", {}).items()}
        self.token_caps = {t: Role(role) for t, role in snapshot.get("caps", {}).items()}
        self.target_tokens = dict(snapshot.get("tokens", {}))
        self.locked = bool(snapshot.get("locked", False))
        self.viewer_audio = bool(snapshot.get("viewer_audio", False))
        self.access = Access.from_data(snapshot.get("access"))
        blame = snapshot.get("blame", {})
        self.blame = blame if owned else {eid: list(b) for eid, b in blame.items()}
        self.labels = [dict(label) for label in snapshot.get("labels", [])]
        self.parent = snapshot.get("parent")
        self.forks = [dict(fork) for fork in snapshot.get("forks", [])]
        self.authors = dict(snapshot.get("authors", {}))
        self.names = dict(snapshot.get("names", {}))
        self.journal = []
        self.created = True
        self._recent.clear()
        self._recent_bytes = 0

    # -- entries ------------------------------------------------------------------

    def apply_entry(self, entry: dict[str, Any]) -> Batch | Control:
        """Decide one stored entry (its wire form, as the store returns it decoded)."""
        return self.apply(LogEntry.from_wire(entry))

    def apply(self, entry: LogEntry) -> Batch | Control:
        """Decide one log entry (see the module docstring); raises a `BacklineError` and changes
        nothing when it is rejected."""
        kind = entry.kind
        existed, self.created = self.created, True
        self._entry = entry
        try:
            if kind in ACCESS_KINDS:
                return self._access(entry)
            if kind in ADMIN_KINDS:
                return self._admin(entry)
            if kind in HISTORY_KINDS:
                return self._history_entry(entry, existed)
            self._check_seq(entry.by, entry.seq)
            self._check_may_edit(entry)
            if entry.name and entry.name != self.names.get(entry.by):
                self.names[entry.by] = entry.name[: self.limits.max_name_len]
            if kind == EntryKind.RESTORE:
                return self._restore(entry)
            if kind == EntryKind.OP:
                return self.submit(entry.by, entry.seq, entry.ops or [], entry.now, entry.lead)
            if kind == EntryKind.UNDO:
                return self.undo(entry.by, entry.seq, entry.now)
            if kind == EntryKind.REDO:
                return self.redo(entry.by, entry.seq, entry.now)
        except BacklineError:
            raise
        except Exception as exc:
            # A bug in validation must cost this one edit, not the session: the entry is in
            # the log, and every later load replays it. Every process fails it the same way.
            raise Internal(f"edit could not be decided ({type(exc).__name__})") from exc
        raise Internal(f"unknown entry kind {str(kind)[:32]!r}")

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
        history = self._history.setdefault(client, _History())
        undoable = without_transport(inverse)
        if undoable is not None:
            entry = _undo_entry(undoable, self.version + 1)
            grown = history.push(history.undo, entry, self.limits.undo_bytes)
            self._undo_bytes += grown + history.clear_redo()
        return self._accept(client, seq, ops)

    def undo(self, client: str, seq: int, now: int = 0) -> Batch:
        return self._step(client, seq, now, redo=False)

    def redo(self, client: str, seq: int, now: int = 0) -> Batch:
        return self._step(client, seq, now, redo=True)

    def _role(self, entry: LogEntry) -> Role | None:
        token = entry.token_role  # entries logged before roles travelled in the log have none
        return None if token is None else self.role_of(entry.by, token, entry.token_id)

    def _check_may_edit(self, entry: LogEntry) -> None:
        role = self._role(entry)
        if role is None:
            return
        if not role.can_edit:
            raise Forbidden(f"{role.spelled} cannot edit this session")
        if self.locked and role is not Role.OWNER:
            raise Locked("the session is locked: only owners may edit")

    def _admin(self, entry: LogEntry) -> Control:
        kind, by, request = EntryKind(entry.kind), entry.by, entry.seq
        if self._role(entry) is not Role.OWNER:
            raise Forbidden(f"only an owner may {kind} here")
        if kind is EntryKind.ROLE:
            target, role = entry.target or "", entry.role or Role.VIEWER
            self.roles[target] = role
            # the target's token, when its process knew it; else the one an earlier entry named
            token = entry.target_token or self.target_tokens.get(target)
            if token:
                self.target_tokens[target] = token
                self.token_caps[token] = role  # binds a demotion (a cap above it changes nothing)
            return Control(kind, by, request, target=target, role=role)
        if kind is EntryKind.LOCK:
            self.locked = bool(entry.locked)
            return Control(kind, by, request, locked=self.locked)
        if kind is EntryKind.VIEWER_AUDIO:
            self.viewer_audio = bool(entry.allowed)
            return Control(kind, by, request, allowed=self.viewer_audio)
        if kind is EntryKind.KICK:
            return Control(kind, by, request, target=entry.target)
        if kind is EntryKind.INVITE:
            invite = Invite(
                id=entry.target or "",
                role=entry.role or Role.VIEWER,
                name=entry.name or "",
                by=by,
                created=entry.now,
                expires=entry.expires,
                uses=entry.uses or 1,
            )
            self.access.invite(invite)
            return Control(kind, by, request, role=invite.role, invite=invite.id)
        if kind is EntryKind.REVOKE:
            # revoking a person also takes their token, when their process knew it
            token = entry.target_token
            if entry.target is not None and not token:
                token = self.target_tokens.get(entry.target)
            self.access.revoke(entry.target, entry.invite, token)
            return Control(kind, by, request, target=entry.target, invite=entry.invite, token=token)
        return Control(kind, by, request)  # delete: the session does it

    def _restore(self, entry: LogEntry) -> Batch:
        """A whole project brought back (an old version's, an imported file's): the ops that
        make the document equal to it, decided now, as one undoable edit."""
        if entry.project is None:
            raise Internal("a restore entry without its project")
        target = Document.from_data(entry.project, self.limits)
        ops = restore_ops(self.doc, target)
        if not ops:
            raise Conflict("the project already is exactly that")
        return self.submit(entry.by, entry.seq, ops, entry.now, entry.lead)

    def _history_entry(self, entry: LogEntry, existed: bool) -> Batch | Control:
        kind, by, request = EntryKind(entry.kind), entry.by, entry.seq
        if kind is EntryKind.FORK:  # written by a server into a new log: no role to check
            if existed:
                raise SessionExists("this session already existed when the fork was made")
            self.parent = dict(entry.parent or {})
            if entry.name:
                self.names[by] = entry.name[: self.limits.max_name_len]
            target = Document.from_data(entry.project or Document(self.limits).to_data())
            ops = restore_ops(self.doc, target)
            if not ops:
                return Control(kind, by, request, version=entry.version)
            apply_all(self.doc, ops)
            return self._accept(by, 0, ops)
        role = self._role(entry)
        if role is not None and not role.can_edit:
            raise Forbidden(f"{role.spelled} cannot {kind} this session")
        if kind is EntryKind.LABEL:
            if len(self.labels) >= MAX_LABELS:
                raise LimitExceeded(f"a session keeps at most {MAX_LABELS} named versions")
            name = (entry.name or "")[: self.limits.max_name_len]
            label = {"version": self.version, "name": name, "by": by, "at": entry.wall}
            self.labels.append(label)
            return Control(kind, by, request, name=name, version=self.version)
        fork = {"session": entry.target, "version": entry.version, "by": by, "at": entry.wall}
        self.forks.append(fork)
        del self.forks[: max(0, len(self.forks) - MAX_FORKS)]
        return Control(kind, by, request, version=entry.version, session=entry.target)

    def credits(self) -> list[dict[str, Any]]:
        """Everyone who made an accepted edit, most edits first (names as last known)."""
        ranked = sorted(self.authors.items(), key=lambda item: (-item[1], item[0]))
        return [{"client": c, "name": self.names.get(c, ""), "edits": n} for c, n in ranked]

    def take_journal(self) -> list[tuple[Any, ...]]:
        """The versions since the last call (the history keeps them with a milestone)."""
        journal, self.journal = self.journal, []
        return journal

    def blame_of(self, entity: str) -> list[Any] | None:
        """[made by, made at, changed by, changed at] of an existing entity (or the project)."""
        if entity != "project" and entity not in self.doc.kind_of:
            return None
        return self.blame.get(entity)

    def _credit(self, client: str, ops: list[Any], kind: str) -> None:
        entry = self._entry
        wall = entry.wall if entry is not None else 0
        blame = self.blame
        for op in ops:
            kind_of_op = op["op"]
            if kind_of_op == "insert":  # the common cases inline: this runs for every edit
                blame[op["id"]] = [client, wall, client, wall]
                continue
            if kind_of_op == "delete":
                continue
            for eid, made in touched(op) if kind_of_op == "batch" else ((op["id"], False),):
                row = blame.get(eid)
                if made or row is None:
                    blame[eid] = [client, wall, client, wall]
                else:
                    row[2], row[3] = client, wall
        if len(blame) > 2 * len(self.doc.kind_of) + 64:  # deleted entities linger until here
            live = self._live_ids()
            for eid in [e for e in blame if e not in live]:
                del blame[eid]
        authors = self.authors
        authors[client] = authors.get(client, 0) + 1
        if len(authors) > MAX_AUTHORS:
            least = min(authors.items(), key=lambda item: (item[1], item[0]))[0]
            del authors[least]
        source = entry.source if entry is not None and entry.source else kind
        self.journal.append((self.version, client, wall, source, summary(ops)))

    def _access(self, entry: LogEntry) -> Control:
        """A session made (`create`), or an invite spent by a join (`redeem`)."""
        kind = EntryKind(entry.kind)
        if kind is EntryKind.REDEEM:
            self.access.redeem(
                entry.by, entry.invite or "", entry.token_id or "", entry.name or "", entry.now
            )
            return Control(kind, entry.by, entry.seq, target=entry.by, invite=entry.invite)
        return Control(kind, entry.by, entry.seq)

    # -- catch-up -------------------------------------------------------------

    @property
    def recent(self) -> list[Batch]:
        """The catch-up window as batches (decoded: for inspection, not the hot path)."""
        return [Batch.from_wire(decode_record(record)) for record in self._recent]

    def since(self, version: int) -> list[bytes] | None:
        """The encoded batches after `version` if memory still has all of them, else None."""
        if version == self.version:
            return []
        if version > self.version or not self._recent:
            return None
        first = self.version + 1 - len(self._recent)
        if version + 1 < first:
            return None
        return list(self._recent)[version + 1 - first :]

    # -- internals --------------------------------------------------------------

    def _check_seq(self, client: str, seq: int) -> None:
        last = self.last_seq.get(client, 0)
        if seq <= last:
            raise Duplicate(f"op {seq} was already handled (last accepted is {last})")

    def _accept(self, client: str, seq: int, ops: list[Any]) -> Batch:
        self.last_seq.pop(client, None)  # to the end: the most recently active
        self.last_seq[client] = seq
        self.version += 1
        entry = self._entry
        self._credit(client, ops, str(entry.kind) if entry is not None else "op")
        batch = Batch(self.version, client, seq, ops)
        record = self.last_record = encode(batch.to_wire())
        recent = self._recent
        if len(recent) == recent.maxlen:
            self._recent_bytes -= len(recent[0])
        recent.append(record)
        self._recent_bytes += len(record)
        while self._recent_bytes > self.limits.catch_up_bytes and len(recent) > 1:
            self._recent_bytes -= len(recent.popleft())
        self._evict()
        return batch

    def _evict(self) -> None:
        """Keep identities and their histories within the session's caps (least recent first)."""
        limits = self.limits
        while len(self.last_seq) > limits.max_identities:
            client = next(iter(self.last_seq))
            del self.last_seq[client]
            gone = self._history.pop(client, None)
            if gone is not None:
                self._undo_bytes -= gone.size
        if self._undo_bytes > limits.session_undo_bytes:
            for client in list(self.last_seq):  # least recently active first
                if self._undo_bytes <= limits.session_undo_bytes:
                    break
                gone = self._history.pop(client, None)
                if gone is not None:
                    self._undo_bytes -= gone.size

    def _step(self, client: str, seq: int, now: int, *, redo: bool) -> Batch:
        self._check_seq(client, seq)
        history = self._history.get(client)
        source = None if history is None else (history.redo if redo else history.undo)
        word = "redo" if redo else "undo"
        if history is None or not source:
            raise NothingToUndo(f"nothing to {word}")
        packed, undone = source[-1]
        # a tempo or meter change while playing re-anchors, as for any edit
        try:
            ops = resolve(self.doc, _ops_of(decode_record(packed)), now, DEFAULT_LEAD_US)
            inverse = apply_all(self.doc, ops)
        except BacklineError as exc:
            history.pop(source)  # skipped for good: it can never apply again
            self._undo_bytes -= len(packed)
            raise Conflict(f"{word} of v{undone} skipped: {exc.message}") from None
        history.pop(source)
        self._undo_bytes -= len(packed)
        target = history.undo if redo else history.redo
        entry = _undo_entry(without_transport(inverse) or inverse, self.version + 1)
        self._undo_bytes += history.push(target, entry, self.limits.undo_bytes)
        return self._accept(client, seq, ops)
