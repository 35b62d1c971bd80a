"""One live session: its members, its writer loop, presence and chat.

Every edit goes through a single writer task per session. Each round it takes
everything submitted since the last round, sequences it, stores it with one
append (the store group-commits across sessions) and only then broadcasts one
frame to every member: the author's copy is its acknowledgement. Joins are
answered between rounds, when the document equals what is stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backline.protocol.codec import encode, encode_array, encode_spliced
from backline.protocol.errors import BacklineError, CloseCode, Unavailable
from backline.protocol.messages import Batch, Hello, Role, error_frame, reject_frame
from backline.protocol.timeline import DEFAULT_LEAD_US, lead_for

from .fanout import Peer, send
from .sequencer import Sequencer
from .store import Store, StoredBatch

__all__ = ["Member", "Session", "server_time_us"]

log = logging.getLogger("backline.session")


def server_time_us() -> int:
    """The server clock: monotonic microseconds (what clients sync to)."""
    return time.monotonic_ns() // 1000


@dataclass(eq=False, slots=True)
class Member:
    """One joined connection."""

    peer: Peer
    client: str
    name: str
    color: str
    role: Role
    state: dict[str, Any] = field(default_factory=dict)  # presence beyond name/colour
    rtt_us: float = 0.0  # round trip the client last reported with its ping

    def presence(self, online: bool = True) -> dict[str, Any]:
        entry: dict[str, Any] = {"client": self.client, "name": self.name, "color": self.color}
        entry.update(self.state)
        entry["role"] = self.role.value
        entry["online"] = online
        return entry


@dataclass(slots=True)
class _Submission:
    member: Member
    kind: str  # op | undo | redo
    seq: int
    ops: list[Any]


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
        sequencer: Sequencer,
        *,
        send_buffer: int,
        snapshot_every: int,
        presence_interval: float,
        chat_history: int,
        min_lead_us: int = DEFAULT_LEAD_US,
        on_idle: Callable[[Session], None],
        metrics: Any = None,
    ) -> None:
        self.name = name
        self.store = store
        self.seq = sequencer
        self.members: dict[str, Member] = {}
        self.chat: deque[dict[str, Any]] = deque(maxlen=chat_history)
        self._send_buffer = send_buffer
        self._min_lead_us = min_lead_us
        self._snapshot_every = snapshot_every
        self._last_snapshot = sequencer.version
        self._presence_interval = presence_interval
        self._presence_dirty: dict[str, dict[str, Any]] = {}
        self._presence_timer: asyncio.TimerHandle | None = None
        self._inbox: list[_Submission] = []
        self._joins: list[_Join] = []
        self._wake = asyncio.Event()
        self._closing = False
        self.busy = False
        self._on_idle = on_idle
        self.metrics = metrics
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"session {name}")

    # -- called by connections ----------------------------------------------

    async def join(self, member: Member, hello: Hello) -> None:
        """Queue a join; returns once the welcome was sent."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._joins.append(_Join(member, hello, done))
        self._wake.set()
        await done

    def submit(self, member: Member, kind: str, seq: int, ops: list[Any]) -> None:
        self._inbox.append(_Submission(member, kind, seq, ops))
        self._wake.set()

    def leave(self, member: Member) -> None:
        if self.members.get(member.client) is not member:
            return
        del self.members[member.client]
        self._presence_dirty[member.client] = member.presence(online=False)
        self._schedule_presence()
        log.info("session %s: %s (%s) left", self.name, member.client, member.name)
        if not self.members:
            self._on_idle(self)

    def update_presence(self, member: Member, state: dict[str, Any]) -> None:
        if "name" in state:
            member.name = state["name"]
        if "color" in state:
            member.color = state["color"]
        member.state.update({k: v for k, v in state.items() if k not in ("name", "color")})
        self._presence_dirty[member.client] = member.presence()
        self._schedule_presence()

    def post_chat(self, member: Member, text: str) -> None:
        entry = {"by": member.client, "name": member.name, "text": text, "time": server_time_us()}
        self.chat.append(entry)
        frame = encode({"type": "chat", **entry})
        for other in list(self.members.values()):
            send(other.peer, frame, self._send_buffer)

    @property
    def idle(self) -> bool:
        return not self.members and not self._joins and not self._inbox and not self.busy

    async def close(self) -> None:
        """Finish the round in progress and the queued work, then stop."""
        self._closing = True
        self._wake.set()
        await self._task
        if self._presence_timer is not None:
            self._presence_timer.cancel()

    # -- writer loop ------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._inbox and not self._joins:
                if self._closing:
                    return
                continue
            self.busy = True
            try:
                await self._round()
            except Exception:  # a bug: log it, keep the session alive
                log.exception("session %s: round failed", self.name)
            finally:
                self.busy = False
            if self._inbox or self._joins:
                self._wake.set()
            elif not self.members:
                self._on_idle(self)

    async def _round(self) -> None:
        submissions, self._inbox = self._inbox, []
        now, lead = server_time_us(), self.lead_us()
        accepted: list[Batch] = []
        rejects: list[tuple[Member, int, BacklineError]] = []
        for sub in submissions:
            try:
                if sub.kind == "op":
                    batch = self.seq.submit(sub.member.client, sub.seq, sub.ops, now, lead)
                elif sub.kind == "undo":
                    batch = self.seq.undo(sub.member.client, sub.seq, now)
                else:
                    batch = self.seq.redo(sub.member.client, sub.seq, now)
            except BacklineError as exc:
                rejects.append((sub.member, sub.seq, exc))
            else:
                accepted.append(batch)
        if accepted:
            records = [encode(batch.to_wire()) for batch in accepted]
            started = time.perf_counter()
            try:
                await self.store.append(
                    self.name,
                    [StoredBatch(b.version, r) for b, r in zip(accepted, records, strict=True)],
                )
            except Unavailable as exc:
                log.warning(
                    "session %s: store refused %d batches: %s", self.name, len(accepted), exc
                )
                self.seq.rollback()
                by_client = {s.member.client: s.member for s in submissions}
                rejects += [(by_client[b.by], b.seq, exc) for b in accepted]
            else:
                self.seq.commit()
                self._observe("store_seconds", time.perf_counter() - started)
                frame = encode_spliced({"type": "ops"}, {"batches": encode_array(records)})
                for member in list(self.members.values()):
                    send(member.peer, frame, self._send_buffer)
                self._observe("fanout_seconds", time.perf_counter() - started)
                self._count("ops_accepted", len(accepted))
                if self.seq.version - self._last_snapshot >= self._snapshot_every:
                    await self._snapshot()
        for member, seq, error in rejects:
            self._count("ops_rejected", 1, code=error.code.value)
            frame = encode(reject_frame(seq, error.code.value, error.message))
            send(member.peer, frame, self._send_buffer)
        joins, self._joins = self._joins, []
        for join in joins:
            self._welcome(join)

    def lead_us(self) -> int:
        """How far ahead a play starts: the minimum, or more for a slow participant."""
        slowest = max((m.rtt_us for m in self.members.values()), default=0.0)
        return lead_for(slowest, self._min_lead_us)

    async def _snapshot(self) -> None:
        try:
            await self.store.save_snapshot(self.name, self.seq.version, encode(self.seq.snapshot()))
        except Unavailable as exc:
            log.warning("session %s: snapshot at v%d failed: %s", self.name, self.seq.version, exc)
        else:
            self._last_snapshot = self.seq.version

    def _welcome(self, join: _Join) -> None:
        member, hello = join.member, join.hello
        previous = self.members.get(member.client)
        if previous is not None and previous is not member:
            previous.peer.close_soon(CloseCode.REPLACED, "replaced by a newer connection")
        catch_up = None if hello.version is None else self.seq.since(hello.version)
        message: dict[str, Any] = {
            "type": "welcome",
            "session": self.name,
            "client": member.client,
            "role": member.role.value,
            "version": self.seq.version,
            "seq": self.seq.last_seq.get(member.client, 0),
            "time": server_time_us(),
            "peers": [m.presence() for m in self.members.values() if m is not member],
            "chat": list(self.chat),
        }
        if catch_up is None:
            raw = {"snapshot": encode(self.seq.doc.to_data()), "batches": encode(None)}
        else:
            raw = {
                "snapshot": encode(None),
                "batches": encode_array([encode(b.to_wire()) for b in catch_up]),
            }
        send(member.peer, encode_spliced(message, raw), self._send_buffer)
        self.members[member.client] = member
        self._presence_dirty[member.client] = member.presence()
        self._schedule_presence()
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

    # -- presence ---------------------------------------------------------------

    def _schedule_presence(self) -> None:
        if self._presence_timer is None:
            loop = asyncio.get_running_loop()
            self._presence_timer = loop.call_later(self._presence_interval, self._flush_presence)

    def _flush_presence(self) -> None:
        self._presence_timer = None
        if not self._presence_dirty:
            return
        peers, self._presence_dirty = list(self._presence_dirty.values()), {}
        frame = encode({"type": "presence", "peers": peers})
        for member in list(self.members.values()):
            send(member.peer, frame, self._send_buffer)

    # -- metrics ----------------------------------------------------------------

    def _observe(self, name: str, value: float) -> None:
        if self.metrics is not None:
            self.metrics.observe(name, value)

    def _count(self, name: str, n: int, **labels: str) -> None:
        if self.metrics is not None:
            self.metrics.count(name, n, **labels)


def error_bytes(exc: BacklineError) -> bytes:
    return encode(error_frame(exc.code.value, exc.message))
