"""One live session on this server process: the edit pipeline, joins, and its collaborators.

Edits take two steps:

1. **Propose.** Everything this process's members submitted during one turn
   of the event loop is appended, as log entries (`LogEntry`), to the
   session's log in the store in one call (the SQLite store also groups calls
   across sessions into one commit), scheduled with ``call_soon`` from the
   first submission. One append per session is in flight at a time, so each
   client's edits reach the log in the order it sent them. If the store
   fails, every author gets `reject unavailable`.
2. **Apply.** The log's entries arrive in log order — this process's and
   every other process's — from the hub's follower (`deliver`). Each is
   decided by the deterministic `Sequencer`, and one `ops` frame with the
   accepted batches goes to every local member. The author's copy is its
   acknowledgement; an entry of ours is only acknowledged once our append of
   it has returned. Rejected entries of ours get a `reject` frame. Entries are
   applied right where they are delivered unless an append of ours is still
   in flight or a join is waiting; then an applier task takes them, in order.

Because only durable entries are ever applied, the document never runs ahead
of the store, and every process computes the same versions. Joins are
answered between entries, so a welcome shows exactly a prefix of the log.

The rest of a session lives in collaborators that own their state: the
`Roster` (who is here and elsewhere, presence), `Chat`, `SessionRoom` (the
audio room and its recording) and `Controls` (what an owner's accepted
request does here). They share a `SessionContext` (name, bus, metrics,
background tasks), never the session itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backline.protocol import frames
from backline.protocol.codec import decode_record, encode
from backline.protocol.entry import ADMIN_KINDS, EDIT_KINDS, HISTORY_KINDS, EntryKind, LogEntry
from backline.protocol.errors import (
    BacklineError,
    CloseCode,
    Internal,
    SessionDeleted,
    SessionFull,
    Unavailable,
)
from backline.protocol.limits import DEFAULT_LIMITS, Limits
from backline.protocol.messages import Batch, Hello, Role
from backline.protocol.sequencer import Control, Sequencer
from backline.protocol.timeline import DEFAULT_LEAD_US, lead_for
from backline.server.clock import server_time_us
from backline.server.ice import IceSettings
from backline.server.metrics import Metrics
from backline.server.sessions.admin import Controls
from backline.server.sessions.chat import Chat
from backline.server.sessions.context import BusKind, SessionContext
from backline.server.sessions.member import Member
from backline.server.sessions.room import SessionRoom
from backline.server.sessions.roster import Roster
from backline.server.storage.base import Entry, EntryId, Store, int_id
from backline.server.storage.bus import Bus, BusUnavailable
from backline.server.wire.fanout import send, send_parts

__all__ = ["Member", "Session"]

log = logging.getLogger("backline.session")

SNAPSHOT_CHECK_BYTES = 64 * 1024  # a catch-up this large is compared with the snapshot


@dataclass(slots=True)
class _Proposal:
    """An entry of ours in the log: whom to answer once it is decided."""

    member: Member
    seq: int
    stored: asyncio.Future[Any]  # done once our append returned (exception: it failed)
    admin: bool = False  # answered with done / error (with the request id), not ops / reject
    extra: dict[str, Any] | None = None  # more fields for the `done` that answers it
    waiter: asyncio.Future[Control] | None = None  # answered here, not over the wire (redeem)

    def refuse(self, exc: BacklineError) -> bytes:
        if self.admin:
            return encode(frames.error(exc.code.value, exc.message, self.seq))
        return encode(frames.reject(self.seq, exc.code.value, exc.message))

    @property
    def failed(self) -> bool:
        """Whether the append that carried it returned and failed."""
        stored = self.stored
        return stored.done() and (stored.cancelled() or stored.exception() is not None)


@dataclass(slots=True)
class _Round:
    """One applier round: decided (document changed), not yet sent."""

    started: float
    accepted: list[Batch]
    records: list[bytes]
    rejects: list[tuple[_Proposal, BacklineError]]
    controls: list[tuple[Control, _Proposal | None, bool]]
    waits: list[asyncio.Future[Any]]


@dataclass(slots=True)
class _Submission:
    member: Member
    entry: LogEntry
    extra: dict[str, Any] | None = None
    waiter: asyncio.Future[Control] | None = None


@dataclass(slots=True)
class _Join:
    member: Member
    hello: Hello
    done: asyncio.Future[None]


class Session:
    def __init__(
        self,
        name: str,
        store: Store,
        bus: Bus,
        sequencer: Sequencer,
        position: EntryId | None,
        *,
        snapshot_every: int,
        presence_interval: float,
        chat: list[dict[str, Any]],
        chat_history: int,
        on_idle: Callable[[Session], None],
        min_lead_us: int = DEFAULT_LEAD_US,
        metrics: Metrics | None = None,
        limits: Limits = DEFAULT_LIMITS,
        recordings_dir: Path | None = None,
        audio_pass_through: bool = True,
        room_lease: float = 2.0,
        ice: IceSettings | None = None,
    ) -> None:
        self.name = name
        self.store = store
        self.seq = sequencer
        self.position = position  # the last log entry applied here
        self.position_delivered = position  # the last one handed to the applier (by the hub)
        self.context = context = SessionContext(name, bus, metrics)
        self.roster = Roster(context, presence_interval)
        self.chat = Chat(context, self.roster, store, chat, chat_history)
        self.room = SessionRoom(
            context,
            self.roster,
            lambda: sequencer.doc,
            lambda: sequencer.viewer_audio,
            recordings_dir=recordings_dir,
            pass_through=audio_pass_through,
            lease_ttl=room_lease,
            on_vacant=self._vacant,
            ice=ice,
        )
        self._ice = ice  # the welcome's `ice_servers` (server/ice.py)
        self.controls = Controls(context, self.roster, self.room, sequencer, self._deleted_by)
        self._max_clients = limits.max_clients
        self._rates = {  # announced in welcome, so that the SDK paces itself
            "edit": limits.edit.to_wire(),
            "presence": limits.presence.to_wire(),
            "chat": limits.chat.to_wire(),
            "ping": limits.ping.to_wire(),
            "rtc": limits.rtc.to_wire(),
            "mix": limits.mix.to_wire(),
            "live": limits.live.to_wire(),
        }
        self._min_lead_us = min_lead_us
        self._snapshot_every = snapshot_every
        self._inbox: list[_Submission] = []
        self._propose_scheduled = False
        self._appending: asyncio.Future[list[Any]] | None = None  # our append in flight
        self._proposals: dict[int, _Proposal] = {}
        self._snapshots: set[asyncio.Task[Any]] = set()  # being saved
        self._snapshot_cache: tuple[tuple[int, int], bytes] | None = None  # for welcomes
        self._numbers = itertools.count(1)
        self._incoming: asyncio.Queue[list[Entry] | _Join | None] = asyncio.Queue()
        self._drained = asyncio.Event()
        self._apply_idle = False  # the applier waits for work with nothing half done
        self.resync: Callable[[Session], None] | None = None  # set by the hub
        self.on_delete: Callable[[Session, bool], None] | None = None  # set by the hub
        self.deleted = False
        self._on_idle = on_idle
        self._loop = asyncio.get_running_loop()
        self._applier = self._loop.create_task(self._apply_loop(), name=f"apply {name}")

    @property
    def members(self) -> dict[str, Member]:
        """The members joined here, by client id."""
        return self.roster.members

    # -- called by connections ----------------------------------------------

    async def join(self, member: Member, hello: Hello) -> None:
        """Queue a join; returns once the welcome was sent."""
        done: asyncio.Future[None] = self._loop.create_future()
        self._incoming.put_nowait(_Join(member, hello, done))
        await done

    def submit(
        self,
        member: Member,
        entry: LogEntry,
        extra: dict[str, Any] | None = None,
        waiter: asyncio.Future[Control] | None = None,
    ) -> None:
        """Propose `entry` (an edit or an admin request of `member`'s) for the log; an
        admin request's `done` carries `extra`; with a `waiter`, the decision goes to it
        instead of to the member's connection."""
        self._inbox.append(_Submission(member, entry, extra, waiter))
        if not self._propose_scheduled and self._appending is None:
            # after this loop turn's other messages: they share the append
            self._propose_scheduled = True
            self._loop.call_soon(self._propose)

    async def redeem(self, member: Member) -> None:
        """Spend one use of `member`'s invite through the log (every process counts the
        same uses); raises the refusal (`InviteUsed`, `Revoked`, `TokenExpired`)."""
        waiter: asyncio.Future[Control] = self._loop.create_future()
        entry = LogEntry(EntryKind.REDEEM, member.client, 0, invite=member.invite, name=member.name)
        self.submit(member, entry, waiter=waiter)
        await waiter

    def access_list(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The invites, and everyone who holds access: who came in with an invite, and
        who is connected now (on any process), each with its token id and state."""
        access = self.seq.access
        invites = [invite.to_data() for invite in access.invites.values()]
        people: dict[str, dict[str, Any]] = {}
        for person in access.people.values():
            people[person.client] = {**person.to_data(), "online": False}
        for presence in self.roster.peers(exclude=""):
            client = str(presence.get("client"))
            entry = people.setdefault(client, {"client": client, "invite": None, "joined": None})
            entry["name"] = presence.get("name", entry.get("name", ""))
            entry["role"] = presence.get("role")
            entry["online"] = bool(presence.get("online", True))
            entry.setdefault("token", self.roster.token_id_of(client))
        for client, entry in people.items():
            entry["revoked"] = client in access.revoked_clients or (
                access.refusal(client, entry.get("token"), entry.get("invite")) is not None
            )
            entry.setdefault("role", None)
        return invites, list(people.values())

    def online(self, client: str) -> bool:
        """Whether `client` is connected to this session, here or on another process."""
        return self.roster.online(client)

    def token_id_of(self, client: str) -> str | None:
        return self.roster.token_id_of(client)

    def leave(self, member: Member) -> None:
        if not self.roster.remove(member):
            return
        self.room.left(member)
        log.info("session %s: %s (%s) left", self.name, member.client, member.name)
        if not self.members:
            self._on_idle(self)

    def update_presence(self, member: Member, state: dict[str, Any]) -> None:
        if "name" in state:
            member.name = state["name"]
            self.room.renamed(member)
        if "color" in state:
            member.color = state["color"]
        member.state.update({k: v for k, v in state.items() if k not in ("name", "color")})
        self.roster.changed(member)
        if "track" in state:
            self.room.follow_project()

    def audio_offer(self, member: Member, sdp: str) -> None:
        self.room.offer(member, sdp)

    def audio_gains(self, member: Member, gains: dict[str, float]) -> None:
        self.room.gains(member, gains)

    def record(self, member: Member, action: str) -> None:
        self.room.record(member, action)

    def post_chat(self, member: Member, text: str) -> None:
        self.chat.post(member, text)

    def play_live(self, member: Member, note: dict[str, Any]) -> None:
        """A live note: to everyone else here at once, and over the bus to the other
        processes; never stored (not an edit)."""
        frame = frames.live(member.client, note, server_time_us())
        self._show_live(frame, member.client)
        self.context.background(self.context.publish(BusKind.LIVE, frame=frame))
        self.context.count("live_notes")

    def _show_live(self, frame: dict[str, Any], by: str) -> None:
        encoded = encode(frame)
        for client, member in list(self.members.items()):
            if client != by:
                send(member.peer, encoded)

    def _vacant(self) -> None:
        """The audio room hosted here for other processes' members emptied."""
        if not self.members:
            self._on_idle(self)

    @property
    def idle(self) -> bool:
        return (
            not self.members
            and not self.room.hosting_others
            and not self._inbox
            and not self._proposals
            and self._appending is None
            and self._incoming.empty()
        )

    def lead_us(self) -> int:
        """How far ahead a play starts: the minimum, or more for a slow participant.

        Only members who play count (editors and owners): a viewer's round trip,
        however slow or however reported, never holds back everyone's start.
        """
        slowest = max((m.rtt_us for m in self.members.values() if m.role.can_edit), default=0.0)
        return lead_for(slowest, self._min_lead_us)

    # -- called by the hub ----------------------------------------------------------

    def on_bus(self, message: dict[str, Any]) -> None:
        """A message another process published for this session."""
        kind, node = message.get("t"), str(message.get("o"))
        if kind == BusKind.CHAT:
            self.chat.show(message["entry"])
        elif kind == BusKind.RECORDING:
            self.room.show_remote(message["message"])
        elif kind == BusKind.LIVE:
            frame = message.get("frame")
            if isinstance(frame, dict):
                self._show_live(frame, str(frame.get("by")))
        elif kind == BusKind.DELETED:  # in case this process reads the log after the data is gone
            if not self.deleted:
                self._deleted_by(str(message.get("by")), False)
        elif kind == BusKind.ROOM:
            if message.get("to") in (self.context.node, "*"):
                self.room.on_bus(node, message)
        elif kind in (BusKind.PRESENCE, BusKind.HEARTBEAT, BusKind.SYNC):
            self.roster.on_bus(str(kind), node, message)
            if kind != BusKind.SYNC:
                self.room.remote_presence()  # track bindings of the room's remote participants

    async def announce(self) -> None:
        """Ask the other processes for their members (we just loaded the session)."""
        await self.context.publish(BusKind.SYNC)

    def deliver(self, entries: list[Entry] | None, known: list[LogEntry] | None = None) -> None:
        """The log's next entries (None: our position was trimmed away); `known`, when
        given, are those entries already read (our own, as we logged them).

        Applied right here when nothing is ahead of them and none of them can be
        an append of ours still in flight (the common case); else queued for the
        applier task, which waits for what needs waiting.
        """
        if (
            entries is not None
            and self._apply_idle
            and self._incoming.empty()
            and (self._appending is None or self._appending.done())
        ):
            try:
                self._finish(self._decide(entries, known))
            except Exception:  # a bug: log it, keep the session alive
                log.exception("session %s: applying failed", self.name)
            return
        self._incoming.put_nowait(entries)

    async def close(self, timeout: float = 10.0) -> None:
        """Store what was submitted, wait (bounded) until it is applied and acknowledged."""
        while self._inbox or self._appending is not None:
            if self._appending is None:
                self._propose()
            if self._appending is not None:
                await asyncio.wait([self._appending])  # after its own callback, `_appended`
        if self._proposals:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), timeout)
        self._applier.cancel()
        if self._snapshots:  # a snapshot being saved spares the next load a replay
            await asyncio.wait(self._snapshots, timeout=timeout)
        await asyncio.wait([self._applier], timeout=timeout)
        await self.roster.close()
        while not self._incoming.empty():  # joins that came too late: nobody will answer them
            item = self._incoming.get_nowait()
            if isinstance(item, _Join) and not item.done.done():
                item.done.set_exception(
                    SessionDeleted(f"session {self.name} was just deleted")
                    if self.deleted
                    else Unavailable(f"session {self.name} was unloaded; join again")
                )
        with contextlib.suppress(BusUnavailable):
            await self.context.bus.unsubscribe(self.name)
        await self.room.close()

    # -- step 1: propose ----------------------------------------------------------

    def _propose(self) -> None:
        """Append everything submitted since the last round as one store call.

        One append per session is in flight at a time, so each client's edits
        reach the log in the order it sent them; what arrives meanwhile goes
        into the next round, started when this one returns.
        """
        self._propose_scheduled = False
        if self._appending is not None or not self._inbox:
            return
        submissions, self._inbox = self._inbox, []
        now, lead, node = server_time_us(), self.lead_us(), self.context.node
        wall = int(time.time() * 1000)
        names = self.seq.names
        records: list[bytes] = []
        logged: list[LogEntry] = []
        numbers: list[int] = []
        for submission in submissions:
            member, entry = submission.member, submission.entry
            number = next(self._numbers)
            # an edit carries its author's name when the log does not have it yet (credits)
            name = entry.name
            if entry.kind in EDIT_KINDS and names.get(member.client) != member.name:
                name = member.name
            # the sequencer decides on the role in effect, from the token's role here
            stamped = entry.stamped(
                now, lead, node, number, member.token_role, member.token_id, wall, name
            )
            records.append(encode(stamped.to_wire()))
            logged.append(stamped)
            numbers.append(number)
        started = time.perf_counter()
        stored: asyncio.Future[list[Any]]
        try:
            stored = self.store.append_soon(self.name, records)
        except Exception as exc:  # a store refusing synchronously (closed)
            stored = self._loop.create_future()
            stored.set_exception(exc)
        mine = [
            _Proposal(
                sub.member,
                sub.entry.seq,
                stored,
                sub.entry.kind in ADMIN_KINDS or sub.entry.kind in HISTORY_KINDS,
                sub.extra,
                sub.waiter,
            )
            for sub in submissions
        ]
        self._proposals.update(zip(numbers, mine, strict=True))
        self._appending = stored
        stored.add_done_callback(lambda done: self._appended(done, mine, started, records, logged))

    def _appended(
        self,
        done: asyncio.Future[list[Any]],
        mine: list[_Proposal],
        started: float,
        records: list[bytes],
        logged: list[LogEntry],
    ) -> None:
        """Our append returned: its proposals may be acknowledged (or are refused)."""
        self._appending = None
        exc = done.exception() if not done.cancelled() else Unavailable("the append was cancelled")
        if exc is None:
            self.context.observe("store_seconds", time.perf_counter() - started)
            if self.store.single_writer:
                self._deliver_own(done.result(), records, logged)
        else:
            if not isinstance(exc, Unavailable):
                log.error("session %s: appending failed", self.name, exc_info=exc)
                exc = Unavailable(f"the edit could not be stored ({type(exc).__name__})")
            log.warning("session %s: store refused %d edits: %s", self.name, len(mine), exc)
            for proposal in mine:
                kind = "errors" if proposal.admin else "ops_rejected"
                self.context.count(kind, code=exc.code.value)
                if proposal.waiter is not None:
                    if not proposal.waiter.done():
                        proposal.waiter.set_exception(exc)
                    continue
                send(proposal.member.peer, proposal.refuse(exc))
            # if the store did write them after all, the applier will still see them
            self._forget_failed()
        if self._inbox:
            self._propose()

    def _forget_failed(self) -> None:
        """Drop failed proposals that no applier round references any more."""
        for number in [n for n, p in self._proposals.items() if p.failed]:
            del self._proposals[number]
        if not self._proposals:
            self._drained.set()

    # -- step 2: apply ------------------------------------------------------------

    async def _apply_loop(self) -> None:
        while True:
            self._apply_idle = self._incoming.empty()
            item = await self._incoming.get()
            self._apply_idle = False
            try:
                if isinstance(item, _Join):
                    self._welcome(item)
                elif item is None:
                    self._trimmed()
                else:
                    await self._apply(item)
            except Exception:  # a bug: log it, keep the session alive
                log.exception("session %s: applying failed", self.name)

    async def _apply(self, entries: list[Entry]) -> None:
        decided = self._decide(entries)
        if decided.waits:  # acknowledge only what our own append call has confirmed
            await asyncio.gather(*decided.waits, return_exceptions=True)
        self._finish(decided)

    def _deliver_own(
        self, ids: list[EntryId], records: list[bytes], logged: list[LogEntry]
    ) -> None:
        """Decide our own append as it returns, without reading it back (single-writer
        stores only: nothing else can have been logged between the entries we delivered
        last and these, unless the ids say so).

        The ids must follow the last entry handed to the applier; otherwise (another
        append of this process, e.g. the hub's `create`, is still unread, or the
        follower was quicker) the follower delivers them in log order, as with Redis.
        A follower round that read this session's log before this moved its position
        sees the position changed and drops what it read (`Hub._follow`).
        """
        if not ids or int_id(ids[0]) != int_id(self.position_delivered) + 1:
            return
        self.deliver([Entry(i, r) for i, r in zip(ids, records, strict=True)], logged)
        self.position_delivered = ids[-1]

    def _decide(self, entries: list[Entry], known: list[LogEntry] | None = None) -> _Round:
        """Apply `entries` to the document; what to send is left to `_finish`."""
        started = time.perf_counter()
        node = self.context.node
        accepted: list[Batch] = []
        records: list[bytes] = []
        rejects: list[tuple[_Proposal, BacklineError]] = []
        controls: list[tuple[Control, _Proposal | None, bool]] = []
        waits: list[asyncio.Future[Any]] = []
        for index, stored in enumerate(entries):
            if self.deleted:
                break  # nothing after a delete applies here any more
            if known is None:
                entry = LogEntry.from_wire(decode_record(stored.data))
            else:
                entry = known[index]
            mine = entry.origin == node
            proposal = self._proposals.pop(entry.proposal, None) if mine else None
            if proposal is not None and not proposal.stored.done():
                waits.append(proposal.stored)
            self.position = stored.id
            try:
                result = self.seq.apply(entry)
            except BacklineError as exc:
                if isinstance(exc, Internal):
                    log.error("session %s: entry %s: %s", self.name, stored.id, exc, exc_info=exc)
                if proposal is not None and not proposal.failed:
                    rejects.append((proposal, exc))
                continue
            if isinstance(result, Control):
                answer = proposal if proposal is not None and not proposal.failed else None
                controls.append((result, answer, mine))
                if result.kind is EntryKind.DELETE:
                    self.deleted = True
                continue
            accepted.append(result)
            records.append(self.seq.last_record)
            if self.seq.version % self._snapshot_every == 0:
                # every process takes the journal here; the one whose entry this is keeps
                # it, with the snapshot, as the milestone of this version
                journal = encode(self.seq.take_journal())
                if mine:
                    snapshot = encode(self.seq.snapshot())
                    snap = self._snapshot(stored.id, snapshot, self.seq.version, journal)
                    self._snapshots.add(self._loop.create_task(snap))
        return _Round(started, accepted, records, rejects, controls, waits)

    def _finish(self, decided: _Round) -> None:
        """Send what a round decided: the accepted batches to everyone, refusals, controls."""
        context = self.context
        if decided.accepted:
            self.roster.broadcast(frames.ops(decided.records))
            context.count("ops_accepted", len(decided.accepted))
            self.room.project_changed()
        for proposal, error in decided.rejects:
            kind = "errors" if proposal.admin else "ops_rejected"
            context.count(kind, code=error.code.value)
            if proposal.waiter is not None:
                if not proposal.waiter.done():
                    proposal.waiter.set_exception(error)
                continue
            send(proposal.member.peer, proposal.refuse(error))
        for control, answer, mine in decided.controls:
            if answer is not None and answer.waiter is not None:
                if not answer.waiter.done():
                    answer.waiter.set_result(control)
                answer = None
            peer = None if answer is None else answer.member.peer
            extra = None if answer is None else answer.extra
            self.controls.carry_out(control, peer, mine, extra)
        context.observe("apply_seconds", time.perf_counter() - decided.started)
        if not self._proposals:
            self._drained.set()
        else:
            self._drained.clear()
            self._forget_failed()

    def _deleted_by(self, by: str, erase: bool) -> None:
        """The session was deleted: close everyone here; the hub drops it (and, if `erase`,
        removes its stored data and tells the other processes)."""
        self.deleted = True
        log.info("session %s: deleted by %s", self.name, by)
        self.controls.close_everyone(by)
        if erase:
            self.context.background(self.context.publish(BusKind.DELETED, by=by))
        if self.on_delete is not None:
            self.on_delete(self, erase)

    def _trimmed(self) -> None:
        """We lagged behind a trim: the document here is stale. Reload from the store."""
        log.error("session %s: fell behind the log's trim point; reloading", self.name)
        for member in list(self.members.values()):
            member.peer.close_soon(CloseCode.SERVER_SHUTDOWN, "resync: reconnect to resume")
        if self.resync is not None:
            self.resync(self)

    async def _snapshot(
        self, after: EntryId, snapshot: bytes, version: int, journal: bytes
    ) -> None:
        try:
            await self.store.save_snapshot(
                self.name, after, snapshot, version=version, journal=journal
            )
        except Unavailable as exc:
            log.warning("session %s: snapshot after %s failed: %s", self.name, after, exc)
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._snapshots.discard(task)

    # -- joining ----------------------------------------------------------------------

    def _full(self, member: Member) -> bool:
        """Whether `member` would be one too many (owners always get in, to make room)."""
        if member.role is Role.OWNER or member.client in self.members:
            return False
        return self.roster.others(member.client) >= self._max_clients

    def _welcome(self, join: _Join) -> None:
        member, hello = join.member, join.hello
        if self.deleted:
            join.done.set_exception(SessionDeleted(f"session {self.name} was just deleted"))
            return
        refused = self.seq.access.refusal(member.client, member.token_id, member.invite)
        if refused is not None:
            join.done.set_exception(refused)
            return
        member.role = self.seq.role_of(member.client, member.token_role, member.token_id)
        if self._full(member):
            join.done.set_exception(
                SessionFull(f"session {self.name} has its maximum of {self._max_clients} clients")
            )
            return
        previous = self.members.get(member.client)
        if previous is not None and previous is not member:
            previous.peer.close_soon(CloseCode.REPLACED, "replaced by a newer connection")
        if member.auto_color:
            member.color = self.roster.free_color(member.client)
        catch_up = None if hello.version is None else self.seq.since(hello.version)
        size = 0 if catch_up is None else sum(map(len, catch_up))
        if size > SNAPSHOT_CHECK_BYTES and size >= len(self._snapshot_bytes()):
            catch_up = None  # the project itself is smaller than the edits since
        fields = {
            "session": self.name,
            "client": member.client,
            "color": member.color,
            "resume": member.resume,
            "role": member.role.value,
            "version": self.seq.version,
            "seq": self.seq.last_seq.get(member.client, 0),
            "time": server_time_us(),
            "peers": self.roster.peers(exclude=member.client),
            "chat": list(self.chat.history),
            "rates": self._rates,
            "locked": self.seq.locked,
            "viewer_audio": self.seq.viewer_audio,
            "ice_servers": [] if self._ice is None else self._ice.ice_servers(member.client),
        }
        snapshot = self._snapshot_bytes() if catch_up is None else None
        # the snapshot and the batches are the objects every joiner of this version
        # shares: queued as they are, handed over as this peer reads (wire/connection.py)
        send_parts(member.peer, frames.welcome_parts(fields, snapshot, catch_up), shared=True)
        self.room.joined_session(member)
        self.roster.add(member)
        log.info(
            "session %s: %s (%s, %s) joined at v%d%s",
            self.name,
            member.client,
            member.name,
            member.role.value,
            self.seq.version,
            " with snapshot" if catch_up is None else f", {len(catch_up)} batches to catch up",
        )
        if not join.done.done():
            join.done.set_result(None)

    def _snapshot_bytes(self) -> bytes:
        """The project as msgpack, encoded once per version (a join storm reuses it)."""
        key = (self.seq.version, id(self.seq.doc))
        if self._snapshot_cache is None or self._snapshot_cache[0] != key:
            self._snapshot_cache = (key, encode(self.seq.doc.to_data()))
        return self._snapshot_cache[1]
