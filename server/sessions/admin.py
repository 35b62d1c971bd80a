"""Carrying out an owner's request (or an editor's label or fork) once the log has accepted it.

Role changes, locks, kicks, the `viewer_audio` switch and deletes are log
entries, so every process applies them at the same point between edits and
they outlive restarts; the sequencer decides them (`Control`). What each
process then does about one is here: everyone here hears an `admin` frame,
roles in effect are recomputed (the target, and holders of its token), who
may talk in the audio room follows, a kicked participant is closed (4012), a
delete closes everyone (4013) and has the hub drop the session. The owner who
asked gets `done` after the `admin` frame, so that when its request resolves
its own view already shows the change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from backline.protocol import frames
from backline.protocol.codec import encode
from backline.protocol.entry import EntryKind
from backline.protocol.errors import CloseCode
from backline.protocol.messages import Role
from backline.protocol.sequencer import Control, Sequencer
from backline.server.sessions.context import SessionContext
from backline.server.sessions.room import SessionRoom
from backline.server.sessions.roster import Roster
from backline.server.wire.fanout import Peer, send

__all__ = ["Controls"]

log = logging.getLogger("backline.session")

_ACCESS = frozenset({EntryKind.INVITE, EntryKind.REVOKE, EntryKind.REDEEM, EntryKind.CREATE})


class Controls:
    def __init__(
        self,
        context: SessionContext,
        roster: Roster,
        room: SessionRoom,
        sequencer: Sequencer,
        on_delete: Callable[[str, bool], None],
    ) -> None:
        self._context = context
        self._roster = roster
        self._room = room
        self._sequencer = sequencer
        self._on_delete = on_delete  # (by, erase): the session is gone here

    def carry_out(
        self,
        control: Control,
        answer: Peer | None,
        mine: bool,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Do what `control` says; `answer` is the owner's connection if it asked here (its
        `done` carries `extra`)."""
        if control.kind in _ACCESS:
            self._access_changed(control, answer, extra)
            return
        if control.kind is EntryKind.DELETE:
            if answer is not None:
                send(answer, encode(frames.done(control.request)))
            self._on_delete(control.by, mine)
            return
        fields: dict[str, object] = {}
        if control.kind is EntryKind.ROLE and control.role is not None:
            fields.update(client=control.target, role=control.role.value)
            self._recompute_roles()
        elif control.kind is EntryKind.LOCK:
            fields["locked"] = control.locked
        elif control.kind is EntryKind.VIEWER_AUDIO:
            fields["allowed"] = control.allowed
        elif control.kind is EntryKind.KICK:
            fields["client"] = control.target
        elif control.kind is EntryKind.LABEL:
            fields.update(name=control.name, version=control.version)
        elif control.kind is EntryKind.FORKED:
            fields.update(session=control.session, version=control.version)
        frame = frames.admin(control.kind.value, control.by, **fields)
        self._roster.send_all(encode(frame))
        if answer is not None:
            told = fields if control.kind in (EntryKind.LABEL, EntryKind.FORKED) else {}
            send(answer, encode(frames.done(control.request, **{**told, **(extra or {})})))
        if control.kind in (EntryKind.ROLE, EntryKind.VIEWER_AUDIO):
            self._room.permissions_changed()
        log.info("session %s: %s by %s: %s", self._context.name, control.kind, control.by, frame)
        if control.kind is EntryKind.KICK:
            kicked = self._roster.members.get(control.target or "")
            if kicked is not None:
                self._context.count("closes", code=str(int(CloseCode.KICKED)))
                kicked.peer.close_soon(CloseCode.KICKED, f"kicked by {control.by}")

    def _access_changed(
        self, control: Control, answer: Peer | None, extra: dict[str, Any] | None
    ) -> None:
        """An invite made or redeemed, or access revoked: owners here hear of it (nobody
        else: who was invited is the owners' business); the revoked are closed (4405)."""
        if control.kind is EntryKind.CREATE:
            return
        fields: dict[str, object] = {"invite": control.invite}
        if control.target is not None:
            fields["client"] = control.target
        if control.token is not None:
            fields["token"] = control.token
        frame = encode(frames.admin(control.kind.value, control.by, **fields))
        for member in self._roster.members.values():
            if member.role is Role.OWNER and member.peer is not answer:
                send(member.peer, frame)
        if answer is not None:
            send(answer, frame)
            send(answer, encode(frames.done(control.request, **(extra or {}))))
        if control.kind is not EntryKind.REVOKE:
            return
        log.info("session %s: revoke by %s: %s", self._context.name, control.by, fields)
        access = self._sequencer.access
        for member in list(self._roster.members.values()):
            refused = access.refusal(member.client, member.token_id, member.invite)
            if refused is not None:
                self._context.count("closes", code=str(int(CloseCode.REVOKED)))
                member.peer.close_soon(CloseCode.REVOKED, refused.message)

    def _recompute_roles(self) -> None:
        """The role in effect of every member here (the target, and holders of its token)."""
        sequencer = self._sequencer
        for member in self._roster.members.values():
            role = sequencer.role_of(member.client, member.token_role, member.token_id)
            if role is not member.role:
                member.role = role
                self._roster.changed(member)

    def close_everyone(self, by: str) -> None:
        """The session was deleted: every member here is closed (4013)."""
        for member in list(self._roster.members.values()):
            self._context.count("closes", code=str(int(CloseCode.SESSION_DELETED)))
            member.peer.close_soon(CloseCode.SESSION_DELETED, f"session deleted by {by}")
