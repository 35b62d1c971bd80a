"""One live session on this server process: members, the edit pipeline, presence, chat.

Edits take two steps, each in one task per session:

1. The **proposer** takes everything this process's members submitted since
   its last round and appends it, as entries, to the session's log in the
   store (one call; the SQLite store also groups calls across sessions into
   one commit). If the store fails, every author gets `reject unavailable`.
2. The **applier** receives the log's entries in log order — this process's
   and every other process's — from the hub's follower, decides each with the
   deterministic `Sequencer`, and sends one `ops` frame with the accepted
   batches to every local member. The author's copy is its acknowledgement;
   an entry of ours is only acknowledged once our append of it has returned.
   Rejected entries of ours get a `reject` frame.

Because only durable entries are ever applied, the document never runs ahead
of the store, and every process computes the same versions. Joins are
answered by the applier between entries, so a welcome shows exactly a prefix
of the log. Presence and chat go to local members directly and to other
processes over the bus.

Owners' admin requests (role changes, lock, kick, delete) are log entries
too, so that every process applies them at the same point between edits
and they outlive restarts. Applying one answers its author with `done`,
tells every local member with an `admin` frame and does what it says here:
updates roles, closes a kicked participant's connections (4012), or, for a
delete, closes everyone (4013) and has the hub drop the session (the
proposing process also erases its stored data).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backline.protocol.codec import (
    NIL,
    array_parts,
    decode_record,
    encode,
    encode_array,
    encode_spliced,
    encode_spliced_parts,
)
from backline.protocol.errors import (
    BacklineError,
    CloseCode,
    Conflict,
    Forbidden,
    Internal,
    NotFound,
    SessionDeleted,
    SessionFull,
    Unavailable,
)
from backline.protocol.limits import DEFAULT_LIMITS, Limits
from backline.protocol.messages import (
    Batch,
    Hello,
    Role,
    done_frame,
    error_frame,
    reject_frame,
)
from backline.protocol.sequencer import ADMIN_KINDS, Control, Sequencer
from backline.protocol.timeline import DEFAULT_LEAD_US, MAX_LEAD_RTT_US, Timeline, lead_for
from backline.server.clock import server_time_us
from backline.server.http.recordings import recording_dir_name
from backline.server.storage.base import Entry, EntryId, Store
from backline.server.storage.bus import Bus, BusUnavailable
from backline.server.wire.fanout import Peer, broadcast, send, send_parts

if TYPE_CHECKING:
    from backline.server.audio.meter import Levels
    from backline.server.audio.recording import Recording
    from backline.server.audio.room import AudioRoom

__all__ = ["Member", "Session"]

log = logging.getLogger("backline.session")

HEARTBEAT = 5.0  # seconds between re-announcements of this node's members to other nodes
PEER_TIMEOUT = 15.0  # a remote member not re-announced for this long is gone
SNAPSHOT_CHECK_BYTES = 64 * 1024  # a catch-up this large is compared with the snapshot
RTT_REPORTS = 5  # recent round-trip reports per member, of which the median counts
KNOWN_TOKENS = 4096  # identities whose token this process remembers (for demotions)


@dataclass(eq=False, slots=True)
class Member:
    """One joined connection."""

    peer: Peer
    client: str
    name: str
    color: str
    role: Role  # in effect now: the token's, unless an owner changed it for this session
    token_role: Role = Role.VIEWER  # what the token granted (log entries carry it)
    token_id: str = ""  # the token's fingerprint (log entries carry it; demotions bind to it)
    resume: str = ""  # this identity's resume key, handed out in the welcome
    state: dict[str, Any] = field(default_factory=dict)  # presence beyond name/colour
    # round trips the client reported with its last pings (µs), for the lead of a play
    rtts: deque[float] = field(default_factory=lambda: deque(maxlen=RTT_REPORTS))

    def report_rtt(self, rtt_us: float) -> None:
        self.rtts.append(min(rtt_us, MAX_LEAD_RTT_US))

    @property
    def rtt_us(self) -> float:
        """The median of its recent reports: one odd report moves nothing."""
        return statistics.median(self.rtts) if self.rtts else 0.0

    def presence(self, online: bool = True) -> dict[str, Any]:
        entry: dict[str, Any] = {"client": self.client, "name": self.name, "color": self.color}
        entry.update(self.state)
        entry["role"] = self.role.value
        entry["online"] = online
        return entry


@dataclass(slots=True)
class _Submission:
    member: Member
    kind: str  # op | undo | redo, or an admin kind (role | lock | kick | delete)
    seq: int  # the edit's seq, or the admin request's id
    ops: list[Any]
    extra: dict[str, Any] = field(default_factory=dict)  # the admin request's fields


@dataclass(slots=True)
class _Proposal:
    member: Member
    seq: int
    stored: asyncio.Future[Any]  # done once our append returned (exception: it failed)
    admin: bool = False  # answered with done / error (with the request id), not ops / reject

    def refuse(self, exc: BacklineError) -> bytes:
        if self.admin:
            return encode(error_frame(exc.code.value, exc.message, self.seq))
        return encode(reject_frame(self.seq, exc.code.value, exc.message))


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
class _Join:
    member: Member
    hello: Hello
    done: asyncio.Future[None]


@dataclass(slots=True)
class _RemotePeer:
    presence: dict[str, Any]
    node: str
    seen: float


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
        metrics: Any = None,
        limits: Limits = DEFAULT_LIMITS,
        recordings_dir: Path | None = None,
        audio_pass_through: bool = True,
    ) -> None:
        self.audio_pass_through = audio_pass_through
        self.name = name
        self.store = store
        self.bus = bus
        self.node = bus.node
        self.seq = sequencer
        self.position = position  # the last log entry applied here
        self.position_delivered = position  # the last one handed to the applier (by the hub)
        self.members: dict[str, Member] = {}
        self.remote: dict[str, _RemotePeer] = {}  # members on other processes
        self._tokens: dict[str, str] = {}  # client -> token id, least recently seen first
        self.audio: AudioRoom | None = None  # created on the first audio offer
        self.recording: Recording | None = None  # the audio room's, while one runs
        self._recording_frame: dict[str, Any] | None = None  # what late joiners are told
        self._recordings_dir = recordings_dir
        self._audio_rejoining: set[str] = set()  # replacing their peer: the room is not empty
        self.chat: deque[dict[str, Any]] = deque(chat, maxlen=chat_history)
        self._chat_keep = chat_history
        self._max_clients = limits.max_clients
        self._rates = {  # announced in welcome, so that the SDK paces itself
            "edit": limits.edit.to_wire(),
            "presence": limits.presence.to_wire(),
            "chat": limits.chat.to_wire(),
            "ping": limits.ping.to_wire(),
            "rtc": limits.rtc.to_wire(),
            "mix": limits.mix.to_wire(),
        }
        self._min_lead_us = min_lead_us
        self._snapshot_every = snapshot_every
        self._presence_interval = presence_interval
        self._presence_dirty: dict[str, dict[str, Any]] = {}
        # each local member's presence as last changed (what welcomes list; built once
        # per change instead of once per member per join: a 500-client join storm)
        self._presence_now: dict[str, dict[str, Any]] = {}
        self._presence_timer: asyncio.TimerHandle | None = None
        self._inbox: list[_Submission] = []
        self._propose_scheduled = False
        self._appending: asyncio.Future[list[Any]] | None = None  # our append in flight
        self._proposals: dict[int, _Proposal] = {}
        self._snapshots: set[asyncio.Task[Any]] = set()  # being saved
        self._snapshot_cache: tuple[tuple[int, int], bytes] | None = None  # for welcomes
        self._numbers = itertools.count(1)
        self._incoming: asyncio.Queue[list[Entry] | _Join | None] = asyncio.Queue()
        self._drained = asyncio.Event()
        self._closing = False
        self._apply_idle = False  # the applier waits for work with nothing half done
        self.resync: Callable[[Session], None] | None = None  # set by the hub
        self.on_delete: Callable[[Session, bool], None] | None = None  # set by the hub
        self.deleted = False
        self._on_idle = on_idle
        self.metrics = metrics
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._applier = loop.create_task(self._apply_loop(), name=f"apply {name}")
        self._heartbeat = loop.create_task(self._heartbeat_loop(), name=f"heartbeat {name}")

    # -- called by connections ----------------------------------------------

    async def join(self, member: Member, hello: Hello) -> None:
        """Queue a join; returns once the welcome was sent."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._incoming.put_nowait(_Join(member, hello, done))
        await done

    def submit(
        self,
        member: Member,
        kind: str,
        seq: int,
        ops: list[Any],
        extra: dict[str, Any] | None = None,
    ) -> None:
        self._inbox.append(_Submission(member, kind, seq, ops, extra or {}))
        if not self._propose_scheduled and self._appending is None:
            # after this loop turn's other messages: they share the append
            self._propose_scheduled = True
            self._loop.call_soon(self._propose)

    def online(self, client: str) -> bool:
        """Whether `client` is connected to this session, here or on another process."""
        if client in self.members:
            return True
        remote = self.remote.get(client)
        return remote is not None and bool(remote.presence.get("online", True))

    def leave(self, member: Member) -> None:
        if self.members.get(member.client) is not member:
            return
        del self.members[member.client]
        if self.audio is not None:
            self._background(self.audio.leave(member.client))
        self._presence_dirty[member.client] = member.presence(online=False)
        self._presence_now.pop(member.client, None)
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
        self._presence_changed(member)
        self._schedule_presence()
        if "track" in state:
            self._audio_follow_project()
        if self.recording is not None and "name" in state:
            self.recording.names[member.client] = member.name

    # -- the audio room (on this process) ------------------------------------

    def audio_offer(self, member: Member, sdp: str) -> None:
        """Join `member` to the audio room; the answer goes back as an `rtc` frame."""
        self._background(self._audio_join(member, sdp))

    async def _audio_join(self, member: Member, sdp: str) -> None:
        from backline.server.audio.room import (
            AudioRoom,  # aiortc loads only when someone uses audio
        )

        if self.audio is None:
            self.audio = AudioRoom(
                self.name,
                on_empty=self._audio_empty,
                on_levels=self._audio_levels,
                on_tick=lambda seconds: self._observe("audio_tick_seconds", seconds),
                pass_through=self.audio_pass_through,
                on_forward=lambda: self._count("audio_packets_forwarded", 1),
            )
            self._audio_follow_project()
        rejoining = member.client in self.audio.participants
        if rejoining:
            self._audio_rejoining.add(member.client)
        try:
            answer = await self.audio.join(member.client, sdp, talk=self._may_talk(member))
        except Exception as exc:  # a malformed SDP, an ICE failure: tell that client only
            log.warning("session %s: audio offer from %s failed: %s", self.name, member.client, exc)
            # the details stay in the log: exception text can describe server internals
            frame = encode(error_frame("bad_field", "the audio offer was not accepted"))
            send(member.peer, frame)
            return
        finally:
            if rejoining:
                self._audio_rejoining.discard(member.client)
                if self.audio is not None and not self.audio.participants:
                    self._audio_empty(self.audio)  # the new connection failed: it is empty
        send(member.peer, encode({"type": "rtc", "sdp": answer}))
        if self.recording is not None:
            self.recording.names[member.client] = member.name
        member.state["audio"] = True
        self._presence_changed(member)
        self._schedule_presence()

    def _may_talk(self, member: Member) -> bool:
        """Whether `member`'s audio is heard: editors and owners, viewers only when an
        owner allowed it (a viewer listens by default)."""
        return member.role.can_edit or self.seq.viewer_audio

    def _audio_levels(self, levels: dict[str, Levels]) -> None:
        """Show who is sending and how loud (RMS dBFS, 0.5 dB steps) in presence."""
        for client, level in levels.items():
            member = self.members.get(client)
            if member is None:
                continue
            shown = round(level.rms_dbfs * 2) / 2
            if member.state.get("level") != shown:
                member.state["level"] = shown
                self._presence_changed(member)
        if self._presence_dirty:
            self._schedule_presence()

    def _audio_empty(self, room: AudioRoom) -> None:
        # a lone participant replacing their connection empties the room for a moment only
        if self.recording is not None and not self._audio_rejoining:
            self._background(self._stop_recording(None, "empty"))

    def _audio_follow_project(self) -> None:
        """Mix by the project: participants bound to a track follow its mute and solo.

        A participant binds itself with the presence key ``track``; the rule
        (unbound participants stay audible, mute wins, solo among bound ones)
        is `audible_view`'s. Called when a binding or the project changes.
        """
        if self.audio is None:
            return
        from backline.server.audio.mixer import TrackState, audible_view

        tracks = {
            track_id: TrackState(bool(track.get("mute")), bool(track.get("solo")))
            for track_id, track in self.seq.doc.tracks.items()
        }
        bindings = {
            client: member.state["track"]
            for client, member in self.members.items()
            if member.state.get("track") is not None
        }
        self.audio.mixer.set_audible(audible_view(bindings, tracks))

    # -- multitrack recording ---------------------------------------------------

    def record(self, member: Member, action: str) -> None:
        """Start or stop the server-side recording (owners only)."""
        if member.role is not Role.OWNER:
            raise Forbidden(f"only an owner can {action} a recording, not a {member.role.value}")
        if action == "start":
            if self.recording is not None or self._recording_frame is not None:
                raise Conflict("a recording is running or finishing; stop it first")
            if self.audio is None or not self.audio.participants:
                raise NotFound("nobody is in the audio room: there is nothing to record")
            if self._recordings_dir is None:
                raise Unavailable("this server has no directory for recordings")
            self._recording_frame = {"type": "recording", "active": True, "by": member.client}
            self._background(self._start_recording(member))
        else:
            if self.recording is None:
                raise NotFound("no recording is running")
            self._background(self._stop_recording(member, "stopped"))

    async def _start_recording(self, member: Member) -> None:
        from backline.server.audio.recording import Recording, new_recording_id

        assert self._recordings_dir is not None
        start = server_time_us()
        project = self.seq.doc.project
        timeline = Timeline.of(project)
        recording_id = new_recording_id()
        info = {
            "session": self.name,
            "started_by": member.client,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tempo": timeline.tempo,
            "meter": list(timeline.meter),
            "playing": timeline.playing,
            "start_beat": timeline.beat_at(start),
            "transport": timeline.transport(),
        }
        names = {client: m.name for client, m in self.members.items()}
        directory = self._recordings_dir / recording_dir_name(self.name) / recording_id
        try:
            recording = await asyncio.to_thread(
                Recording, directory, recording_id, start, info, names, server_time_us
            )
        except OSError as exc:
            log.error("session %s: cannot start recording in %s: %s", self.name, directory, exc)
            self._recording_frame = None
            frame = encode(error_frame("unavailable", f"the recording could not start: {exc}"))
            send(member.peer, frame)
            return
        if self._recording_frame is None or self.audio is None or not self.audio.participants:
            await recording.stop(start, "empty")  # the room emptied meanwhile
            self._recording_frame = None
            return
        self.recording = recording
        self.audio.tap = recording
        self._note_grid(recording, timeline)  # the grid of the sidecar's start fields
        self._note_grid(recording)  # and any change while the files were being created
        log.info("session %s: recording %s started by %s", self.name, recording_id, member.client)
        self._announce_recording(
            {"type": "recording", "active": True, "id": recording_id, "by": member.client,
             "time": start, "reason": "started"}
        )  # fmt: skip

    def _note_grid(self, recording: Recording, timeline: Timeline | None = None) -> None:
        """Tell the recording the project's grid (it keeps changes as markers).

        A change takes effect at the transport's anchor when that lies ahead (a
        play starting), else now (a stopped transport keeps an old anchor).
        """
        if timeline is None:
            timeline = Timeline.of(self.seq.doc.project)
        at = max(timeline.time, server_time_us())
        recording.note_grid(
            timeline.tempo, list(timeline.meter), timeline.transport(), at, timeline.beat_at(at)
        )

    async def _stop_recording(self, member: Member | None, reason: str) -> None:
        """Detach the recording now, announce it stopped once its files are complete."""
        recording, self.recording = self.recording, None
        if recording is None:
            return
        if self.audio is not None and self.audio.tap is recording:
            self.audio.tap = None
        end = server_time_us()
        sidecar = await recording.stop(end, reason)
        log.info(
            "session %s: recording %s %s, %s samples, %d participants",
            self.name,
            recording.id,
            reason,
            sidecar["samples"],
            len(sidecar["participants"]),
        )
        self._announce_recording(
            {"type": "recording", "active": False, "id": recording.id,
             "by": None if member is None else member.client, "time": end, "reason": reason}
        )  # fmt: skip

    def _announce_recording(self, message: dict[str, Any]) -> None:
        self._recording_frame = message if message["active"] else None
        frame = encode(message)
        for other in list(self.members.values()):
            send(other.peer, frame)
        self._background(self._publish({"t": "recording", "message": message}))

    def audio_gains(self, member: Member, gains: dict[str, float]) -> None:
        if self.audio is None or member.client not in self.audio.participants:
            raise NotFound("join the audio room (send an rtc offer) before setting gains")
        self.audio.set_gains(member.client, gains)

    def post_chat(self, member: Member, text: str) -> None:
        entry = {"by": member.client, "name": member.name, "text": text, "time": server_time_us()}
        self._chat_local(entry)
        self._background(self._publish({"t": "chat", "entry": entry}))
        self._background(self._store_chat(entry))

    @property
    def idle(self) -> bool:
        return (
            not self.members
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

    # -- called by the hub's follower ---------------------------------------

    def deliver(self, entries: list[Entry] | None) -> None:
        """The log's next entries (None: our position was trimmed away).

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
                self._finish(self._decide(entries))
            except Exception:  # a bug: log it, keep the session alive
                log.exception("session %s: applying failed", self.name)
            return
        self._incoming.put_nowait(entries)

    async def close(self, timeout: float = 10.0) -> None:
        """Store what was submitted, wait (bounded) until it is applied and acknowledged."""
        self._closing = True
        while self._inbox or self._appending is not None:
            if self._appending is None:
                self._propose()
            if self._appending is not None:
                await asyncio.wait([self._appending])  # after its own callback, `_appended`
        if self._proposals:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), timeout)
        loops = [self._applier, self._heartbeat]
        for task in loops:
            task.cancel()
        if self._snapshots:  # a snapshot being saved spares the next load a replay
            await asyncio.wait(self._snapshots, timeout=timeout)
        _, running = await asyncio.wait(loops, timeout=1.0)
        for task in running:  # a cancellation swallowed inside a bus call: ask again
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=timeout)
        while not self._incoming.empty():  # joins that came too late: nobody will answer them
            item = self._incoming.get_nowait()
            if isinstance(item, _Join) and not item.done.done():
                item.done.set_exception(
                    SessionDeleted(f"session {self.name} was just deleted")
                    if self.deleted
                    else Unavailable(f"session {self.name} was unloaded; join again")
                )
        if self._presence_timer is not None:
            self._presence_timer.cancel()
        with contextlib.suppress(BusUnavailable):
            await self.bus.unsubscribe(self.name)
        await self._stop_recording(None, "closed")
        if self.audio is not None:
            await self.audio.close()

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
        now, lead = server_time_us(), self.lead_us()
        entries: list[bytes] = []
        numbers: list[int] = []
        for sub in submissions:
            number = next(self._numbers)
            entry: dict[str, Any] = {
                "k": sub.kind,
                "by": sub.member.client,
                "seq": sub.seq,
                "now": now,
                "lead": lead,
                "o": self.node,
                "p": number,
                "r": sub.member.token_role.value,  # the sequencer decides on the role in effect
                "i": sub.member.token_id,
            }
            if sub.kind == "op":
                entry["ops"] = sub.ops
            entry.update(sub.extra)
            entries.append(encode(entry))
            numbers.append(number)
        started = time.perf_counter()
        stored: asyncio.Future[list[Any]]
        try:
            stored = self.store.append_soon(self.name, entries)
        except Exception as exc:  # a store refusing synchronously (closed)
            stored = self._loop.create_future()
            stored.set_exception(exc)
        mine = [
            _Proposal(sub.member, sub.seq, stored, sub.kind in ADMIN_KINDS) for sub in submissions
        ]
        self._proposals.update(zip(numbers, mine, strict=True))
        self._appending = stored
        stored.add_done_callback(lambda done: self._appended(done, mine, started))

    def _appended(
        self, done: asyncio.Future[list[Any]], mine: list[_Proposal], started: float
    ) -> None:
        """Our append returned: its proposals may be acknowledged (or are refused)."""
        self._appending = None
        exc = done.exception() if not done.cancelled() else Unavailable("the append was cancelled")
        if exc is None:
            self._observe("store_seconds", time.perf_counter() - started)
        else:
            if not isinstance(exc, Unavailable):
                log.error("session %s: appending failed", self.name, exc_info=exc)
                exc = Unavailable(f"the edit could not be stored ({type(exc).__name__})")
            log.warning("session %s: store refused %d edits: %s", self.name, len(mine), exc)
            for proposal in mine:
                self._count("errors" if proposal.admin else "ops_rejected", 1, code=exc.code.value)
                send(proposal.member.peer, proposal.refuse(exc))
            # if the store did write them after all, the applier will still see them
            self._forget_failed()
        if self._inbox:
            self._propose()

    def _forget_failed(self) -> None:
        """Drop failed proposals that no applier round references any more."""
        for number in [n for n, p in self._proposals.items() if _failed(p)]:
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

    def _decide(self, entries: list[Entry]) -> _Round:
        """Apply `entries` to the document; what to send is left to `_finish`."""
        started = time.perf_counter()
        accepted: list[Batch] = []
        records: list[bytes] = []
        rejects: list[tuple[_Proposal, BacklineError]] = []
        controls: list[tuple[Control, _Proposal | None, bool]] = []
        waits: list[asyncio.Future[Any]] = []
        for stored in entries:
            if self.deleted:
                break  # nothing after a delete applies here any more
            entry = decode_record(stored.data)
            mine = entry["o"] == self.node
            proposal = self._proposals.pop(entry["p"], None) if mine else None
            if proposal is not None and not proposal.stored.done():
                waits.append(proposal.stored)
            self.position = stored.id
            try:
                result = self.seq.apply_entry(entry)
            except BacklineError as exc:
                if isinstance(exc, Internal):
                    log.error("session %s: entry %s: %s", self.name, stored.id, exc, exc_info=exc)
                if proposal is not None and not _failed(proposal):
                    rejects.append((proposal, exc))
                continue
            if isinstance(result, Control):
                answer = proposal if proposal is not None and not _failed(proposal) else None
                controls.append((result, answer, mine))
                if result.kind == "delete":
                    self.deleted = True
                continue
            accepted.append(result)
            records.append(self.seq.last_record)
            if self.seq.version % self._snapshot_every == 0 and mine:
                snap = self._snapshot(stored.id, encode(self.seq.snapshot()))
                self._snapshots.add(asyncio.get_running_loop().create_task(snap))
        return _Round(started, accepted, records, rejects, controls, waits)

    def _finish(self, decided: _Round) -> None:
        """Send what a round decided: the accepted batches to everyone, refusals, controls."""
        started, accepted, records = decided.started, decided.accepted, decided.records
        rejects, controls = decided.rejects, decided.controls
        if accepted:
            frame = encode_spliced({"type": "ops"}, {"batches": encode_array(records)})
            broadcast([m.peer for m in self.members.values()], frame)
            self._count("ops_accepted", len(accepted))
            self._audio_follow_project()
            if self.recording is not None:
                self._note_grid(self.recording)
        for proposal, error in rejects:
            self._count("errors" if proposal.admin else "ops_rejected", 1, code=error.code.value)
            send(proposal.member.peer, proposal.refuse(error))
        for control, answer, mine in controls:
            self._control(control, answer, mine)
        self._observe("apply_seconds", time.perf_counter() - started)
        if not self._proposals:
            self._drained.set()
        else:
            self._drained.clear()
            self._forget_failed()

    def _control(self, control: Control, answer: _Proposal | None, mine: bool) -> None:
        """Carry out an owner's request that the log just accepted.

        Its author gets `done` after the `admin` frame everyone gets: when its
        request resolves, its own view already shows the change.
        """
        if control.kind == "delete":
            if answer is not None:
                send(answer.member.peer, encode(done_frame(control.request)))
            self.delete_here(control.by, erase=mine)
            return
        frame: dict[str, Any] = {"type": "admin", "action": control.kind, "by": control.by}
        if control.kind == "role" and control.role is not None:
            frame.update(client=control.target, role=control.role.value)
            for member in self.members.values():  # the target, and holders of its token
                role = self.seq.role_of(member.client, member.token_role, member.token_id)
                if role is not member.role:
                    member.role = role
                    self._presence_changed(member)
                    self._schedule_presence()
        elif control.kind == "lock":
            frame["locked"] = control.locked
        elif control.kind == "viewer_audio":
            frame["allowed"] = control.allowed
        elif control.kind == "kick":
            frame["client"] = control.target
        data = encode(frame)
        for member in list(self.members.values()):
            send(member.peer, data)
        if answer is not None:
            send(answer.member.peer, encode(done_frame(control.request)))
        if control.kind in ("role", "viewer_audio") and self.audio is not None:
            for client in self.audio.participants:  # who may be heard changes at once
                listener = self.members.get(client)
                if listener is not None:
                    self.audio.set_talk(client, self._may_talk(listener))
        log.info("session %s: %s by %s: %s", self.name, control.kind, control.by, frame)
        kicked = self.members.get(control.target or "") if control.kind == "kick" else None
        if kicked is not None:
            self._count("closes", 1, code=str(int(CloseCode.KICKED)))
            kicked.peer.close_soon(CloseCode.KICKED, f"kicked by {control.by}")

    def delete_here(self, by: str, *, erase: bool) -> None:
        """The session was deleted: close everyone here; the hub drops it (and, if `erase`,
        removes its stored data and tells the other processes)."""
        self.deleted = True
        log.info("session %s: deleted by %s", self.name, by)
        for member in list(self.members.values()):
            self._count("closes", 1, code=str(int(CloseCode.SESSION_DELETED)))
            member.peer.close_soon(CloseCode.SESSION_DELETED, f"session deleted by {by}")
        if erase:
            self._background(self._publish({"t": "deleted", "by": by}))
        if self.on_delete is not None:
            self.on_delete(self, erase)

    def _trimmed(self) -> None:
        """We lagged behind a trim: the document here is stale. Reload from the store."""
        log.error("session %s: fell behind the log's trim point; reloading", self.name)
        for member in list(self.members.values()):
            member.peer.close_soon(CloseCode.SERVER_SHUTDOWN, "resync: reconnect to resume")
        if self.resync is not None:
            self.resync(self)

    async def _snapshot(self, after: EntryId, snapshot: bytes) -> None:
        try:
            await self.store.save_snapshot(self.name, after, snapshot)
        except Unavailable as exc:
            log.warning("session %s: snapshot after %s failed: %s", self.name, after, exc)
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._snapshots.discard(task)

    def _full(self, member: Member) -> bool:
        """Whether `member` would be one too many (owners always get in, to make room)."""
        if member.role is Role.OWNER or member.client in self.members:
            return False
        remote = sum(
            1
            for client, r in self.remote.items()
            if client != member.client and r.presence.get("online", True)
        )
        return len(self.members) + remote >= self._max_clients

    def _welcome(self, join: _Join) -> None:
        member, hello = join.member, join.hello
        if self.deleted:
            join.done.set_exception(SessionDeleted(f"session {self.name} was just deleted"))
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
        catch_up = None if hello.version is None else self.seq.since(hello.version)
        message: dict[str, Any] = {
            "type": "welcome",
            "session": self.name,
            "client": member.client,
            "resume": member.resume,
            "role": member.role.value,
            "version": self.seq.version,
            "seq": self.seq.last_seq.get(member.client, 0),
            "time": server_time_us(),
            "peers": self._peers(exclude=member.client),
            "chat": list(self.chat),
            "rates": self._rates,
            "locked": self.seq.locked,
            "viewer_audio": self.seq.viewer_audio,
        }
        size = 0 if catch_up is None else sum(map(len, catch_up))
        if size > SNAPSHOT_CHECK_BYTES and size >= len(self._snapshot_bytes()):
            catch_up = None  # the project itself is smaller than the edits since
        raw: dict[str, bytes | list[bytes]]
        if catch_up is None:
            raw = {"snapshot": self._snapshot_bytes(), "batches": NIL}
        else:
            raw = {"snapshot": NIL, "batches": array_parts(catch_up)}
        # the snapshot and the batches are the objects every joiner of this version
        # shares: queued as they are, handed over as this peer reads (wsconn.py)
        send_parts(member.peer, encode_spliced_parts(message, raw), shared=True)
        if self._recording_frame is not None and "id" in self._recording_frame:
            send(member.peer, encode(self._recording_frame))
        self.members[member.client] = member
        if member.token_id:
            self._learn_token(member.client, member.token_id)
        self._presence_changed(member)
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

    def _snapshot_bytes(self) -> bytes:
        """The project as msgpack, encoded once per version (a join storm reuses it)."""
        key = (self.seq.version, id(self.seq.doc))
        if self._snapshot_cache is None or self._snapshot_cache[0] != key:
            self._snapshot_cache = (key, encode(self.seq.doc.to_data()))
        return self._snapshot_cache[1]

    # -- presence and chat --------------------------------------------------------

    def _presence_changed(self, member: Member) -> None:
        """`member`'s presence changed: show it to everyone at the next flush."""
        self._presence_dirty[member.client] = self._presence_now[member.client] = member.presence()

    def _peers(self, exclude: str) -> list[dict[str, Any]]:
        local = [p for client, p in self._presence_now.items() if client != exclude]
        known = {p["client"] for p in local} | {exclude}
        remote = [
            r.presence
            for client, r in self.remote.items()
            if client not in known and r.presence.get("online", True)
        ]
        return local + remote

    def _schedule_presence(self) -> None:
        if self._presence_timer is None:
            loop = asyncio.get_running_loop()
            self._presence_timer = loop.call_later(self._presence_interval, self._flush_presence)

    def _flush_presence(self) -> None:
        self._presence_timer = None
        if not self._presence_dirty:
            return
        peers, self._presence_dirty = list(self._presence_dirty.values()), {}
        self._send_presence(peers)
        self._background(self._publish({"t": "presence", "peers": peers, "tids": self._tids()}))

    def _send_presence(self, peers: list[dict[str, Any]]) -> None:
        frame = encode({"type": "presence", "peers": peers})
        broadcast([m.peer for m in self.members.values()], frame)

    def _chat_local(self, entry: dict[str, Any]) -> None:
        self.chat.append(entry)
        frame = encode({"type": "chat", **entry})
        broadcast([m.peer for m in self.members.values()], frame)

    def on_bus(self, message: dict[str, Any]) -> None:
        """A message another process published for this session."""
        kind, node, now = message.get("t"), str(message.get("o")), time.monotonic()
        if kind == "chat":
            self._chat_local(message["entry"])
        elif kind == "recording":  # another process's audio room started or stopped one
            frame = encode(message["message"])
            for member in list(self.members.values()):
                send(member.peer, frame)
        elif kind == "deleted":  # in case this process reads the log after the data is gone
            if not self.deleted:
                self.delete_here(str(message.get("by")), erase=False)
        elif kind == "sync":  # a process just loaded this session: tell it who is here
            if self.members:
                peers = [m.presence() for m in self.members.values()]
                self._background(self._publish({"t": "hb", "peers": peers, "tids": self._tids()}))
        elif kind in ("presence", "hb"):
            changed = []
            tids = message.get("tids") or {}
            for peer in message["peers"]:
                client = peer["client"]
                if client in self.members:
                    continue  # that client is connected here now
                known = self.remote.get(client)
                if not peer.get("online", True):
                    if known is not None and known.node == node:
                        del self.remote[client]
                        changed.append(peer)
                    continue
                if known is None or known.presence != peer or kind == "presence":
                    changed.append(peer)
                self.remote[client] = _RemotePeer(peer, node, now)
                if type(tids.get(client)) is str:
                    self._learn_token(client, tids[client])
            if changed:
                self._send_presence(changed)

    def _tids(self) -> dict[str, str]:
        """Each local member's token id, for the other processes (a demotion binds to it)."""
        return {client: m.token_id for client, m in self.members.items() if m.token_id}

    def _learn_token(self, client: str, token_id: str) -> None:
        """Remember which token `client` joined with (here or on another process), so that
        an owner's demotion binds to that token even after they left; bounded."""
        tokens = self._tokens
        tokens.pop(client, None)
        tokens[client] = token_id
        if len(tokens) > KNOWN_TOKENS:
            del tokens[next(iter(tokens))]

    def token_id_of(self, client: str) -> str | None:
        """The token `client` joined with, if this process saw it join (or heard of it)."""
        return self._tokens.get(client) or None

    async def announce(self) -> None:
        """Ask the other processes for their members (we just loaded the session)."""
        await self._publish({"t": "sync"})

    async def _heartbeat_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(HEARTBEAT)  # a period, not a synchronisation
            if self._closing:
                return
            if self.members:
                peers = [m.presence() for m in self.members.values()]
                await self._publish({"t": "hb", "peers": peers, "tids": self._tids()})
            cutoff = time.monotonic() - PEER_TIMEOUT
            gone = [c for c, r in self.remote.items() if r.seen < cutoff]
            if gone:
                offline = [{**self.remote.pop(c).presence, "online": False} for c in gone]
                self._send_presence(offline)

    async def _publish(self, message: dict[str, Any]) -> None:
        try:
            await self.bus.publish(self.name, message)
        except BusUnavailable as exc:
            self._count("bus_errors", 1)
            log.debug("session %s: bus publish failed: %s", self.name, exc)

    async def _store_chat(self, entry: dict[str, Any]) -> None:
        try:
            await self.bus.add_chat(self.name, entry, self._chat_keep)
        except BusUnavailable as exc:
            log.warning("session %s: chat history not stored: %s", self.name, exc)

    def _background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        _tasks.add(task)
        task.add_done_callback(_finished)

    # -- metrics ----------------------------------------------------------------

    def _observe(self, name: str, value: float) -> None:
        if self.metrics is not None:
            self.metrics.observe(name, value)

    def _count(self, name: str, n: int, **labels: str) -> None:
        if self.metrics is not None:
            self.metrics.count(name, n, **labels)


def _failed(proposal: _Proposal) -> bool:
    """Whether the append that carried `proposal` returned and failed."""
    stored = proposal.stored
    return stored.done() and (stored.cancelled() or stored.exception() is not None)


_tasks: set[asyncio.Task[Any]] = set()


def _finished(task: asyncio.Task[Any]) -> None:
    _tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", exc_info=task.exception())


def error_bytes(exc: BacklineError) -> bytes:
    return encode(error_frame(exc.code.value, exc.message))
