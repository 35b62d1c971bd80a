"""A member's requests about the session's past and its files in: history, label, restore,
fork, import.

Reading the past (`history`) rebuilds versions from the store (`server/history.py`)
and answers with a `history` frame. Writing goes through the session's log like
every edit: `label` and `fork` are requests answered by `done`; `restore` and
`import` are edits (a `seq`, answered by the `ops` that carry them or a `reject`).
A restore or a project file becomes one `restore` entry holding the whole
project, whose ops the sequencer computes when it decides it (so they apply to
the project as it is then, on every process alike); a MIDI file is parsed in a
worker thread (bounded: `media/midi_import.py`) into one `op` entry.

Editors and owners only: a viewer hears the project but does not browse its past
(the same rule as the HTTP routes).
"""

from __future__ import annotations

import asyncio
import secrets
import time
import urllib.parse
from typing import Any

from backline.protocol import frames
from backline.protocol.codec import encode
from backline.protocol.entry import EntryKind, LogEntry
from backline.protocol.errors import BacklineError, Forbidden, NotFound, SessionExists
from backline.protocol.history import project_from_data
from backline.protocol.messages import (
    ForkRequest,
    HistoryRequest,
    ImportRequest,
    LabelRequest,
    RestoreRequest,
    Role,
)
from backline.protocol.tokens import Secret, mint
from backline.server.clock import server_time_us
from backline.server.config import Settings
from backline.server.history import History
from backline.server.sessions.member import Member
from backline.server.sessions.session import Session
from backline.server.storage.base import Store
from backline.server.wire.fanout import send

__all__ = ["Past", "PastRequest"]

PastRequest = HistoryRequest | LabelRequest | ForkRequest | RestoreRequest | ImportRequest


def _check_may(member: Member, what: str) -> None:
    if not member.role.can_edit:
        raise Forbidden(f"{member.role.spelled} cannot {what} in this session")


class Past:
    """What a connection does with a request about the past (one per server process)."""

    def __init__(self, store: Store, settings: Settings, secret: Secret) -> None:
        self.store = store
        self.settings = settings
        self.secret = secret
        self.history = History(store, settings.limits)

    async def handle(
        self, session: Session, member: Member, request: PastRequest, loaded: set[str]
    ) -> None:
        """Carry out `request`; raises a `BacklineError` to refuse it (nothing changed).
        `loaded` are the sessions this process holds (a fork must not land on one)."""
        if isinstance(request, HistoryRequest):
            _check_may(member, "read the history")
            await self._read(session, member, request)
        elif isinstance(request, LabelRequest):
            _check_may(member, "name versions")
            session.submit(
                member, LogEntry(EntryKind.LABEL, member.client, request.id, name=request.name)
            )
        elif isinstance(request, RestoreRequest):
            _check_may(member, "restore versions")
            await self._restore(session, member, request)
        elif isinstance(request, ImportRequest):
            _check_may(member, "import files")
            await self._import(session, member, request)
        else:
            _check_may(member, "fork")
            await self._fork(session, member, request, loaded)

    async def _read(self, session: Session, member: Member, request: HistoryRequest) -> None:
        history, name = self.history, session.name
        fields: dict[str, Any]
        if request.what == "versions":
            # the live journal holds the versions since the last milestone: no replay
            rows = await history.versions(name, list(session.seq.journal))
            if request.before is not None:
                rows = [row for row in rows if row[0] < request.before]
            page = rows[-request.count :]
            seq = session.seq
            fields = {
                "versions": page,
                "more": len(rows) > len(page),
                "latest": seq.version,
                "labels": seq.labels,
                "parent": seq.parent,
                "forks": seq.forks,
                "credits": seq.credits(),
                "names": dict(seq.names),
            }
        elif request.what == "at":
            version = request.version
            if version is None:
                version = await history.version_at(name, request.time or 0)
            rebuilt = await history.rebuild(name, version)
            fields = {
                "version": version,
                "project": rebuilt.sequencer.doc.to_data(),
                "blame": rebuilt.sequencer.blame,
            }
        elif request.what == "blame":
            seq = session.seq
            live = seq.doc.kind_of
            blame = {e: b for e, b in seq.blame.items() if e in live or e == "project"}
            fields = {"version": seq.version, "blame": blame, "names": dict(seq.names)}
        else:
            assert request.version is not None and request.to is not None
            fields = await history.diff(name, request.version, request.to)
            fields["names"] = dict(session.seq.names)
        send(member.peer, encode(frames.history(request.id, request.what, **fields)))

    async def _restore(self, session: Session, member: Member, request: RestoreRequest) -> None:
        if request.version > session.seq.version:
            raise NotFound(
                f"there is no version {request.version} (the latest is {session.seq.version})"
            )
        rebuilt = await self.history.rebuild(session.name, request.version)
        project = rebuilt.sequencer.doc.to_data()
        entry = LogEntry(
            EntryKind.RESTORE,
            member.client,
            request.seq,
            project=project,
            source=f"v{request.version}",
        )
        session.submit(member, entry)

    async def _import(self, session: Session, member: Member, request: ImportRequest) -> None:
        limits = self.settings.limits
        if request.format == "project":
            doc = await asyncio.to_thread(project_from_data, request.project, limits)
            entry = LogEntry(
                EntryKind.RESTORE,
                member.client,
                request.seq,
                project=doc.to_data(),
                source="json",
            )
            session.submit(member, entry)
            return
        from backline.media.midi_import import midi_ops

        current = session.seq.doc.copy()  # the worker thread reads this, never the live one
        prefix = f"m{secrets.token_hex(3)}-"
        data = request.data or b""
        ops = await asyncio.to_thread(midi_ops, current, data, limits, prefix=prefix)
        if not ops:
            raise NotFound("the MIDI file holds no notes, tempo or meter to import")
        entry = LogEntry(EntryKind.OP, member.client, request.seq, ops=ops, source="midi")
        session.submit(member, entry)

    async def _fork(
        self, session: Session, member: Member, request: ForkRequest, loaded: set[str]
    ) -> None:
        target = request.session
        if target == session.name or target in loaded or await self.store.load(target):
            raise SessionExists(f"a session named {target!r} exists already; fork onto a new name")
        version = session.seq.version if request.version is None else request.version
        if version > session.seq.version:
            raise NotFound(f"there is no version {version} (the latest is {session.seq.version})")
        # the latest version is the live one (read before the next await); older ones rebuilt
        live = session.seq
        state = (
            live
            if version == live.version
            else (await self.history.rebuild(session.name, version)).sequencer
        )
        project, credits = state.doc.to_data(), state.credits()
        wall = int(time.time() * 1000)
        parent = {
            "session": session.name,
            "version": version,
            "by": member.client,
            "name": member.name,
            "at": wall,
            "credits": credits,
        }
        first = LogEntry(
            EntryKind.FORK,
            member.client,
            0,
            now=server_time_us(),
            origin="fork",
            wall=wall,
            name=member.name,
            project=project,
            version=version,
            parent=parent,
        )
        ids = await self.store.append(target, [encode(first.to_wire())])
        head = await self.store.read(target, None, 1)
        if not head or head[0].id != ids[0]:  # another fork (or a join) made it first
            raise SessionExists(f"a session named {target!r} was just made; fork onto a new name")
        ttl = self.settings.owner_link_ttl
        expires = int(time.time() + ttl) if ttl else None
        token = mint(self.secret, target, Role.OWNER, expires, nonce=secrets.token_hex(8))
        answer: dict[str, Any] = {"session": target, "version": version, "token": token}
        public = self.settings.public_url
        if public:
            query = urllib.parse.urlencode({"session": target, "token": token})
            answer["link"] = f"{public.rstrip('/')}/#{query}"
        entry = LogEntry(
            EntryKind.FORKED, member.client, request.id, target=target, version=version
        )
        session.submit(member, entry, answer)


def refusal_frame(exc: BacklineError, request: PastRequest) -> bytes:
    """How a refused request is answered: `reject` for an edit, else `error` with its id."""
    if isinstance(request, (RestoreRequest, ImportRequest)):
        return encode(frames.reject(request.seq, exc.code.value, exc.message))
    return encode(frames.error(exc.code.value, exc.message, request.id))
