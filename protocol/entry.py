"""One entry of a session's log: what a process proposed, as the store keeps it.

The log is the session's total order (SQLite, or a Redis stream shared by
several processes). Each entry holds everything the deterministic
`Sequencer` needs to decide it the same way anywhere, at any later replay:
who sent it, their op id, the proposing server's clock and lead, and the role
their token grants. Stored as a msgpack map with short keys (a busy session
writes millions of these); this module is the only place that knows them.

========  ==============  =================================================
key       field           meaning
========  ==============  =================================================
``k``     `kind`          op, undo, redo, or an admin kind (`ADMIN_KINDS`)
``by``    `by`            the author's client id
``seq``   `seq`           the author's op id (an admin request's id)
``now``   `now`           the proposing process's clock, µs
``lead``  `lead`          the start lead a play resolves with, µs
``o``     `origin`        the proposing process (node id)
``p``     `proposal`      its number for the entry (matches the answer)
``r``     `token_role`    the role the author's token grants
``i``     `token_id`      the author's token's fingerprint
``ops``   `ops`           the edit's ops (``op``)
``t``     `target`        whom an admin request concerns (role, kick)
``role``  `role`          the new role (role)
``ti``    `target_token`  the target's token, binding a demotion (role)
``locked``  `locked`      the new lock state (lock)
``allowed`` `allowed`     may viewers talk in the audio room (viewer_audio)
``iv``    `invite`        the invite an entry concerns (invite, redeem, revoke)
``n``     `name`          whom an invite is for; who redeemed it (redeem)
``x``     `expires`       an invite's expiry, unix seconds (invite)
``u``     `uses`          how many people an invite lets in (invite)
``w``     `wall`          the proposing process's wall clock, unix ms
``pj``    `project`       a whole project (restore, fork)
``src``   `source`        what an edit came from: ``v12``, ``json``, ``midi``
``av``    `version`       the version a fork copied (fork, forked)
``pa``    `parent`        where a fork came from and whose work it holds (fork)
========  ==============  =================================================

``create`` marks a session as made (a join of a token that may create it);
``redeem`` is the first join of an identity with an invite (`protocol/access.py`).
``restore`` brings back a project (an old version's, or an imported file's) as one
forward edit, computed when it is decided (`protocol/history.py`); ``label`` names
the current version; ``fork`` starts a session as a copy of another's version, and
``forked`` tells the original about it.

Entries written before a field existed simply lack it (``r`` and ``i`` are
then unknown, and the sequencer decides as it did then).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .messages import LOGGED_ADMIN_TYPES, Role
from .timeline import DEFAULT_LEAD_US

__all__ = ["ACCESS_KINDS", "ADMIN_KINDS", "EDIT_KINDS", "HISTORY_KINDS", "EntryKind", "LogEntry"]


class EntryKind(StrEnum):
    OP = "op"
    UNDO = "undo"
    REDO = "redo"
    ROLE = "role"
    LOCK = "lock"
    KICK = "kick"
    DELETE = "delete"
    VIEWER_AUDIO = "viewer_audio"
    INVITE = "invite"
    REVOKE = "revoke"
    REDEEM = "redeem"  # not an owner's request: a join that spends an invite's use
    CREATE = "create"  # the session exists from here on
    RESTORE = "restore"  # an edit: make the project equal to the one given
    LABEL = "label"  # name the current version (editors and owners)
    FORK = "fork"  # the first entry of a fork: the copied project and its parent
    FORKED = "forked"  # a fork was made of this session


ACCESS_KINDS = frozenset({EntryKind.REDEEM, EntryKind.CREATE})
"""Entries that are neither edits nor owners' requests."""

EDIT_KINDS = frozenset({EntryKind.OP, EntryKind.UNDO, EntryKind.REDO, EntryKind.RESTORE})
HISTORY_KINDS = frozenset({EntryKind.LABEL, EntryKind.FORK, EntryKind.FORKED})
"""Requests about the session's history that editors may make (answered like an owner's)."""
ADMIN_KINDS = frozenset(EntryKind(kind) for kind in LOGGED_ADMIN_TYPES)
"""Owners' requests: the same names as their messages (`messages.LOGGED_ADMIN_TYPES`)."""


@dataclass(frozen=True, slots=True)
class LogEntry:
    kind: str  # an `EntryKind`, unless a log holds one this version does not know
    by: str
    seq: int
    now: int = 0
    lead: int = DEFAULT_LEAD_US
    origin: str = ""
    proposal: int = 0
    token_role: Role | None = None
    token_id: str | None = None
    ops: list[Any] | None = None
    target: str | None = None
    role: Role | None = None
    target_token: str | None = None
    locked: bool | None = None
    allowed: bool | None = None
    invite: str | None = None
    name: str | None = None
    expires: int | None = None
    uses: int | None = None
    wall: int = 0
    project: dict[str, Any] | None = None
    source: str | None = None
    version: int | None = None
    parent: dict[str, Any] | None = None

    def stamped(
        self,
        now: int,
        lead: int,
        origin: str,
        proposal: int,
        token_role: Role | None,
        token_id: str | None,
        wall: int,
        name: str | None,
    ) -> LogEntry:
        """This entry as its proposing process logs it (clock, lead, node, proposal
        number, the token's role and fingerprint, wall clock, the author's name).

        Every edit is stamped once, so this spells the constructor out instead of
        `dataclasses.replace`, which looks the fields up each call (2.5 against
        5.5 µs).
        """
        return LogEntry(
            self.kind,
            self.by,
            self.seq,
            now,
            lead,
            origin,
            proposal,
            token_role,
            token_id,
            self.ops,
            self.target,
            self.role,
            self.target_token,
            self.locked,
            self.allowed,
            self.invite,
            name,
            self.expires,
            self.uses,
            wall,
            self.project,
            self.source,
            self.version,
            self.parent,
        )

    def to_wire(self) -> dict[str, Any]:
        """The stored form (only the fields that are set)."""
        wire: dict[str, Any] = {
            "k": str(self.kind),
            "by": self.by,
            "seq": self.seq,
            "now": self.now,
            "lead": self.lead,
            "o": self.origin,
            "p": self.proposal,
        }
        if self.wall:
            wire["w"] = self.wall
        if self.token_role is not None:
            wire["r"] = self.token_role.value
        if self.token_id is not None:
            wire["i"] = self.token_id
        for key, value in (
            ("ops", self.ops),
            ("t", self.target),
            ("ti", self.target_token),
            ("locked", self.locked),
            ("allowed", self.allowed),
            ("iv", self.invite),
            ("n", self.name),
            ("x", self.expires),
            ("u", self.uses),
            ("pj", self.project),
            ("src", self.source),
            ("av", self.version),
            ("pa", self.parent),
        ):
            if value is not None:
                wire[key] = value
        if self.role is not None:
            wire["role"] = self.role.value
        return wire

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> LogEntry:
        """Read a stored entry (written by a server: trusted, but possibly older)."""
        role, token_role = data.get("role"), data.get("r")
        return cls(
            kind=data["k"],
            by=data["by"],
            seq=data["seq"],
            now=data.get("now", 0),
            lead=data.get("lead", DEFAULT_LEAD_US),
            origin=str(data.get("o", "")),
            proposal=int(data.get("p", 0)),
            token_role=None if token_role is None else Role(token_role),
            token_id=data.get("i"),
            ops=data.get("ops"),
            target=data.get("t"),
            role=None if role is None else Role(role),
            target_token=data.get("ti"),
            locked=data.get("locked"),
            allowed=data.get("allowed"),
            invite=data.get("iv"),
            name=data.get("n"),
            expires=data.get("x"),
            uses=data.get("u"),
            wall=int(data.get("w", 0)),
            project=data.get("pj"),
            source=data.get("src"),
            version=data.get("av"),
            parent=data.get("pa"),
        )
