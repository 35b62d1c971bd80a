"""All sessions of one server process: created on first join, unloaded when idle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from backline.protocol.codec import decode_record, encode
from backline.protocol.entry import EntryKind, LogEntry
from backline.protocol.errors import BacklineError, Revoked, ServerFull, SessionNotFound
from backline.protocol.sequencer import Control, Sequencer
from backline.protocol.tokens import Claims
from backline.server.clock import server_time_us
from backline.server.config import Settings, files_root
from backline.server.ice import IceSettings
from backline.server.metrics import Metrics
from backline.server.sessions.past import Past
from backline.server.sessions.session import Session
from backline.server.storage.base import EntryId, Store, StoreUnavailable
from backline.server.storage.bus import Bus, BusUnavailable

__all__ = ["Hub"]

log = logging.getLogger("backline.hub")


class _Positions(Mapping[str, "EntryId | None"]):
    """Where each loaded session's follower stands, read when the store asks.

    A store looks up only the sessions it has news for (SQLite and memory track
    which logs changed), so a round costs the active sessions, not all of them.
    `seen` keeps the first answer per session, to tell afterwards whether the
    news still applies (the session may have been reloaded meanwhile).
    """

    __slots__ = ("_sessions", "seen")

    def __init__(self, sessions: dict[str, Session]) -> None:
        self._sessions = sessions
        self.seen: dict[str, tuple[Session, EntryId | None]] = {}

    def __getitem__(self, name: str) -> EntryId | None:
        session = self._sessions[name]
        first = self.seen.setdefault(name, (session, session.position_delivered))
        return first[1] if first[0] is session else session.position_delivered

    def __contains__(self, name: object) -> bool:
        return name in self._sessions

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._sessions))

    def __len__(self) -> int:
        return len(self._sessions)


class Hub:
    """Loads sessions on first use, follows their logs, unloads them when idle."""

    def __init__(
        self, store: Store, bus: Bus, settings: Settings, wire_stats: Counter[str] | None = None
    ) -> None:
        self.store = store
        self.bus = bus
        self.settings = settings
        self.wire_stats: Counter[str] = Counter() if wire_stats is None else wire_stats
        self.sessions: dict[str, Session] = {}
        self.connections = 0
        self.metrics = Metrics(
            lambda: {
                "connections": self.connections,
                "sessions": len(self.sessions),
                "slow_consumers_closed": self.wire_stats["slow_consumers_closed"],
                **self.memory(),
            }
        )
        self.store_ok = True  # False while the follower cannot read the log
        self._loading: dict[str, asyncio.Future[Session]] = {}
        self._unload_timers: dict[str, asyncio.TimerHandle] = {}
        self._deleting: dict[str, asyncio.Task[None]] = {}
        self.closing = False
        self.past: Past | None = None  # requests about the past (set by the app: it has the keys)
        self._follower = asyncio.get_running_loop().create_task(self._follow(), name="follower")

    async def session(self, name: str, create: bool = True) -> Session:
        """The live session `name`, loaded from the store on first use; one that does not
        exist is created when `create` (the token may create sessions), else refused with
        `SessionNotFound` at once."""
        timer = self._unload_timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        live = self.sessions.get(name)
        if live is not None:
            return live
        deleting = self._deleting.get(name)
        if deleting is not None:  # a join right after a delete starts empty, never half-erased
            if not deleting.done():
                await asyncio.shield(deleting)
            # a finished erase may still be listed (its done callback runs on a later turn);
            # awaiting a done task never yields, so asking again would recurse forever
            if self._deleting.get(name) is deleting:
                del self._deleting[name]
            return await self.session(name, create)
        pending = self._loading.get(name)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except SessionNotFound:
                if not create:
                    raise
                return await self.session(name, create)  # that load could not create it
        if len(self.sessions) + len(self._loading) >= self.settings.limits.max_sessions:
            self._make_room(name)
        future: asyncio.Future[Session] = asyncio.get_running_loop().create_future()
        self._loading[name] = future
        try:
            session = await self._load(name, create)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # consumed here; waiters get it through await
            raise
        finally:
            del self._loading[name]
        self.sessions[name] = session
        self.store.wake_tail(name)  # follow the new session's log from now on
        future.set_result(session)
        return session

    def _make_room(self, name: str) -> None:
        """Unload a session nobody is in to load `name`, or refuse: this process is full."""
        for idle in list(self._unload_timers):
            session = self.sessions.get(idle)
            if session is not None and session.idle:
                self._unload_timers.pop(idle).cancel()
                self._unload(session)
                return
        limit = self.settings.limits.max_sessions
        raise ServerFull(f"this server holds its maximum of {limit} sessions; {name} cannot load")

    async def _load(self, name: str, create: bool) -> Session:
        limits = self.settings.limits
        sequencer = Sequencer(limits, self.settings.catch_up)
        loaded = await self.store.load(name)
        if loaded is None and not create:
            raise SessionNotFound(
                f"there is no session {name!r} on this server (check the name; only a token"
                " allowed to create sessions makes a new one)"
            )
        if loaded is None:  # made now, durably: later joins of any token find it
            made = LogEntry(EntryKind.CREATE, "", 0, now=server_time_us(), origin="hub")
            await self.store.append_soon(name, [encode(made.to_wire())])
        position = None
        if loaded is not None:
            if loaded.snapshot is not None:
                sequencer.restore(decode_record(loaded.snapshot), owned=True)
            position = loaded.after
            rejected = 0
            for entry in loaded.entries:
                try:
                    result = sequencer.apply_entry(decode_record(entry.data))
                except BacklineError:
                    rejected += 1
                else:
                    if isinstance(result, Control) and result.kind is EntryKind.DELETE:
                        # its erasing failed or raced with edits: what follows starts afresh
                        sequencer = Sequencer(limits, self.settings.catch_up)
                position = entry.id
            log.info(
                "session %s: loaded v%d (%s + %d entries, %d of them rejected)",
                name,
                sequencer.version,
                "no snapshot" if loaded.snapshot is None else f"snapshot after {loaded.after}",
                len(loaded.entries),
                rejected,
            )
        else:
            log.info("session %s: created", name)
        chat: list[dict[str, Any]] = []
        try:
            chat = await self.store.chat_history(name, limits.chat_history)
        except StoreUnavailable as exc:
            log.warning("session %s: chat history unavailable: %s", name, exc)
        session = Session(
            name,
            self.store,
            self.bus,
            sequencer,
            position,
            snapshot_every=self.settings.snapshot_every,
            presence_interval=self.settings.presence_interval,
            chat=chat,
            chat_history=limits.chat_history,
            min_lead_us=int(self.settings.lead_ms * 1000),
            on_idle=self._idle,
            metrics=self.metrics,
            limits=limits,
            recordings_dir=files_root(self.settings) / "recordings",
            audio_pass_through=self.settings.audio_pass_through,
            room_lease=self.settings.room_lease,
            ice=IceSettings.from_settings(self.settings),
        )
        try:
            await self.bus.subscribe(name, session.on_bus)
            await session.announce()
        except BusUnavailable as exc:
            log.warning("session %s: bus unavailable, presence stays local: %s", name, exc)
        session.resync = self._resync
        session.on_delete = self._on_delete
        return session

    def _on_delete(self, session: Session, erase: bool) -> None:
        """Drop a deleted session; the process that proposed the delete erases its data."""
        if self.sessions.get(session.name) is not session:
            return
        del self.sessions[session.name]
        timer = self._unload_timers.pop(session.name, None)
        if timer is not None:
            timer.cancel()
        task = asyncio.get_running_loop().create_task(self._erase(session, erase))
        self._deleting[session.name] = task
        task.add_done_callback(lambda _: self._deleting.pop(session.name, None))

    async def _erase(self, session: Session, erase: bool) -> None:
        await session.close(timeout=0)
        if self.past is not None:
            self.past.history.forget(session.name)
        if not erase:
            return
        try:
            await self.store.delete(session.name)  # its log, snapshot and chat
        except StoreUnavailable as exc:
            # the logged delete still empties the session when it is next loaded
            log.warning("session %s: erasing its data failed: %s", session.name, exc)

    async def _follow(self) -> None:
        """Feed every loaded session the entries appended to its log, in order."""
        backoff = 0.05
        while True:
            positions = _Positions(self.sessions)
            try:
                news = await self.store.tail(positions, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # StoreUnavailable, or a bug: keep following
                if self.store_ok:
                    log.warning("store unreachable, edits are refused until it is back: %s", exc)
                self.store_ok = False
                await asyncio.sleep(backoff)  # backoff before retrying, not synchronisation
                backoff = min(backoff * 2, 2.0)
                continue
            if not self.store_ok:
                log.warning("store reachable again")
            self.store_ok, backoff = True, 0.05
            for name, entries in news.items():
                session = self.sessions.get(name)
                seen = positions.seen.get(name)
                if session is None or seen is None or seen != (session, session.position_delivered):
                    continue  # unloaded or reloaded meanwhile
                session.deliver(entries)
                if entries:
                    session.position_delivered = entries[-1].id

    def _resync(self, session: Session) -> None:
        """A session fell behind a trim: drop it; the next join loads it afresh."""
        if self.sessions.get(session.name) is session:
            del self.sessions[session.name]
            task = asyncio.get_running_loop().create_task(session.close(timeout=0))
            _tasks.add(task)
            task.add_done_callback(_tasks.discard)

    async def refusal(self, name: str, claims: Claims) -> Revoked | None:
        """Whether the session's log revoked these claims (for the HTTP routes: a revoked
        person downloads nothing either). Loads the session if it exists and is not loaded
        (then unloaded when idle, as after a last leave)."""
        live = self.sessions.get(name)
        if live is None:
            try:
                live = await self.session(name, create=False)
            except BacklineError:
                return None  # no such session (the route says not found), or store down
            if not live.members:
                self._idle(live)
        invite = claims.invite
        refused = live.seq.access.refusal("", claims.id, invite)
        return refused

    def _idle(self, session: Session) -> None:
        if self.closing or session.name in self._unload_timers:
            return
        if self.sessions.get(session.name) is not session:
            return  # already dropped (deleted or resynced)
        loop = asyncio.get_running_loop()
        self._unload_timers[session.name] = loop.call_later(
            self.settings.idle_unload, self._unload, session
        )

    def _unload(self, session: Session) -> None:
        self._unload_timers.pop(session.name, None)
        if self.sessions.get(session.name) is not session or not session.idle:
            return
        del self.sessions[session.name]
        task = asyncio.get_running_loop().create_task(session.close())
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
        log.info("session %s: unloaded after %.0f s idle", session.name, self.settings.idle_unload)

    async def close(self) -> None:
        """Finish every session's queued work (called before the store closes)."""
        self.closing = True
        for timer in self._unload_timers.values():
            timer.cancel()
        self._unload_timers.clear()
        await asyncio.gather(*(s.close() for s in self.sessions.values()))
        if _tasks:
            await asyncio.gather(*_tasks)
        self._follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._follower

    def memory(self) -> dict[str, int]:
        """What the loaded sessions keep, by the figures their caps bound (docs/OPERATIONS.md)."""
        sequencers = [session.seq for session in self.sessions.values()]
        return {
            "catch_up_bytes": sum(seq.catch_up_bytes for seq in sequencers),
            "undo_bytes": sum(seq.undo_bytes for seq in sequencers),
            "identities": sum(seq.identities for seq in sequencers),
        }

    def health(self) -> dict[str, Any]:
        return {
            "sessions": len(self.sessions),
            "connections": self.connections,
            "memory": self.memory(),
            "counters": {**self.metrics.counters, **self.wire_stats},
        }


_tasks: set[asyncio.Task[None]] = set()
