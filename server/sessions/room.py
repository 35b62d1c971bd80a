"""A session's side of its audio room: joining it, who may talk, levels, recordings.

The room itself (`backline.server.audio.room`, aiortc) is created on the
first audio offer, so a session nobody plays in never loads aiortc. This
collaborator owns the room and its recording and keeps them in step with the
session: a member joining or leaving, a role or the `viewer_audio` switch
changing who may talk, the project's mute and solo changing who is heard,
the project's grid changing (markers in a running recording).

**One room per session, across processes.** The room is hosted by the process
holding the session's ``room`` lease (`room_lease.RoomLease`). A member here
whose room is hosted elsewhere is *relayed*: its offer, gains, talk switch,
record requests and leave travel over the bus (`BusKind.ROOM`, addressed by
``to``) to the host, which joins it to its `AudioRoom` and sends the answer
back; the member's media then flows straight to the host's addresses (they
are in the answer). The host sends each relaying process its members' levels.
When the host stops hosting (it died and its lease expired, it closed, or it
lost the lease), the relaying processes ask their members to offer again
(`frames.rtc_reoffer`): the first new offer takes the lease, and members stay
in the session throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backline.protocol import frames
from backline.protocol.codec import encode
from backline.protocol.errors import BacklineError, Conflict, Forbidden, NotFound, Unavailable
from backline.protocol.messages import Role
from backline.protocol.model import Document
from backline.protocol.timeline import Timeline
from backline.server.clock import server_time_us
from backline.server.http.recordings import recording_dir_name
from backline.server.ice import IceSettings
from backline.server.sessions.context import BusKind, SessionContext
from backline.server.sessions.member import Member
from backline.server.sessions.room_lease import RoomLease
from backline.server.sessions.roster import PEER_TIMEOUT, Roster
from backline.server.wire.fanout import send

if TYPE_CHECKING:
    from backline.server.audio.meter import Levels
    from backline.server.audio.recording import Recording
    from backline.server.audio.room import AudioRoom

__all__ = ["SessionRoom"]

log = logging.getLogger("backline.session")

RELAY_TIMEOUT = 10.0  # seconds a relayed offer waits for the host's answer
LEVELS_EVERY = 0.25  # seconds between level reports to a relaying process


class _Op:
    """The ``op`` of a `BusKind.ROOM` message."""

    OFFER = "offer"  # relayer -> host: client, sdp, talk
    ANSWER = "answer"  # host -> relayer: client, sdp
    REFUSED = "refused"  # host -> relayer: client, code, message (an error for that member)
    MOVED = "moved"  # host -> relayer: client (the host does not hold the lease: offer again)
    LEAVE = "leave"  # relayer -> host: client
    GAINS = "gains"  # relayer -> host: client, gains
    TALK = "talk"  # relayer -> host: client, talk
    RECORD = "record"  # relayer -> host: client, action (the relayer checked the role)
    LEVELS = "levels"  # host -> relayer: levels {client: dBFS}
    CLOSED = "closed"  # host -> everyone ("*"): the room closed here


class SessionRoom:
    """The audio room of one session on this process, and its recording."""

    def __init__(
        self,
        context: SessionContext,
        roster: Roster,
        project: Callable[[], Document],
        viewers_talk: Callable[[], bool],
        *,
        recordings_dir: Path | None,
        pass_through: bool,
        lease_ttl: float = 2.0,
        on_vacant: Callable[[], None] = lambda: None,
        ice: IceSettings | None = None,
    ) -> None:
        self._ice = ice  # how the audio room's peers gather (server/ice.py)
        self._context = context
        self._roster = roster
        self._project = project  # the session's document as it is now
        self._viewers_talk = viewers_talk  # the owners' `viewer_audio` switch, as it is now
        self._recordings_dir = recordings_dir
        self._pass_through = pass_through
        self.audio: AudioRoom | None = None  # created on the first audio offer
        self.recording: Recording | None = None  # the room's, while one runs
        self._announced: dict[str, Any] | None = None  # what late joiners are told
        self._rejoining: set[str] = set()  # replacing their peer: the room is not empty
        self._on_vacant = on_vacant  # the room emptied of other processes' members
        self.lease = RoomLease(
            context,
            lease_ttl,
            on_lost=self._lost_lease,
            on_moved=self._host_moved,
            on_tick=self._housekeeping,
        )
        # hosting: the participants of other processes, client -> (their node, joined at)
        self._remote: dict[str, tuple[str, float]] = {}
        self._levels_sent: dict[str, float] = {}  # what relaying processes were told
        self._remote_tracks: dict[str, Any] = {}  # remote participants' bindings, as mixed
        self._levels_at = 0.0
        # relaying: our members in another process's room, and offers waiting for its answer
        self._relayed: set[str] = set()
        self._answers: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._joining = 0  # offers being answered here (the room is not empty)
        self._shown: dict[str, Any] | None = None  # a recording another process runs
        self._closed = False

    @property
    def hosting_others(self) -> bool:
        """Whether this process hosts the room for members of other processes."""
        return bool(self._remote)

    # -- participants -----------------------------------------------------------------

    def may_talk(self, member: Member) -> bool:
        """Whether `member`'s audio is heard: editors and owners, viewers only when an
        owner allowed it (a viewer listens by default)."""
        return member.role.can_edit or self._viewers_talk()

    def offer(self, member: Member, sdp: str) -> None:
        """Join `member` to the audio room; the answer goes back as an `rtc` frame."""
        self._context.background(self._offered(member, sdp))

    async def _offered(self, member: Member, sdp: str) -> None:
        host = await self.lease.claim()
        if self._roster.members.get(member.client) is not member:
            return  # left meanwhile
        if host == self._context.node:
            if member.client in self._relayed:  # it was in another process's room
                self._relayed.discard(member.client)
                await self._context.publish(
                    BusKind.ROOM, to=self.lease.watched or "*", op=_Op.LEAVE, client=member.client
                )
            if not self._relayed:
                self.lease.unwatch()
            self.lease.hold()
            await self._join(member, sdp)
        else:
            await self._relay_offer(member, sdp, host)

    def _ensure_audio(self) -> AudioRoom:
        from backline.server.audio.room import AudioRoom  # aiortc loads only when used

        context = self._context
        if self.audio is None:
            self.audio = AudioRoom(
                context.name,
                on_empty=self._emptied,
                on_levels=self._levels,
                on_tick=lambda seconds: context.observe("audio_tick_seconds", seconds),
                pass_through=self._pass_through,
                on_forward=lambda: context.count("audio_packets_forwarded"),
                ice=self._ice,
            )
            self.follow_project()
        return self.audio

    async def _join(self, member: Member, sdp: str) -> None:
        context = self._context
        audio = self._ensure_audio()
        rejoining = member.client in audio.participants
        if rejoining:
            self._rejoining.add(member.client)
        try:
            answer = await audio.join(member.client, sdp, talk=self.may_talk(member))
        except Exception as exc:  # a malformed SDP, an ICE failure: tell that client only
            log.warning(
                "session %s: audio offer from %s failed: %s", context.name, member.client, exc
            )
            # the details stay in the log: exception text can describe server internals
            send(member.peer, encode(frames.error("bad_field", "the audio offer was not accepted")))
            return
        finally:
            if rejoining:
                self._rejoining.discard(member.client)
                if self.audio is not None and not self.audio.participants:
                    self._emptied(self.audio)  # the new connection failed: it is empty
        send(member.peer, encode(frames.rtc(answer)))
        if self.recording is not None:
            self.recording.names[member.client] = member.name
        member.state["audio"] = True
        self._roster.changed(member)

    # -- relaying: our members in another process's room ----------------------------

    async def _relay_offer(self, member: Member, sdp: str, host: str) -> None:
        client = member.client
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        previous = self._answers.get(client)
        if previous is not None and not previous.done():
            previous.cancel()  # a newer offer replaces it
        self._answers[client] = future
        talk = self.may_talk(member)
        await self._tell(host, _Op.OFFER, client=client, sdp=sdp, talk=talk)
        try:
            async with asyncio.timeout(RELAY_TIMEOUT):
                reply = await future
        except (TimeoutError, asyncio.CancelledError):
            if future.cancelled():
                return  # replaced by a newer offer
            log.warning(
                "session %s: the audio room's host %s did not answer", self._context.name, host
            )
            refusal = frames.error("unavailable", "the audio room did not answer; offer again")
            send(member.peer, encode(refusal))
            return
        finally:
            if self._answers.get(client) is future:
                del self._answers[client]
        if self._roster.members.get(client) is not member:
            await self._tell(host, _Op.LEAVE, client=client)  # left while it travelled
            return
        op = reply.get("op")
        if op == _Op.ANSWER:
            self._relayed.add(client)
            self.lease.watch(host)
            send(member.peer, encode(frames.rtc(str(reply.get("sdp")))))
            member.state["audio"] = True
            self._roster.changed(member)
        elif op == _Op.MOVED:
            send(member.peer, encode(frames.rtc_reoffer("moved")))
        else:
            code, text = str(reply.get("code")), str(reply.get("message"))
            send(member.peer, encode(frames.error(code, text)))

    def _host_moved(self, now: str | None) -> None:
        """The host of our members' room stopped hosting: they offer again."""
        relayed, self._relayed = self._relayed, set()
        self._shown = None
        members = self._roster.members
        if relayed:
            log.info(
                "session %s: the audio room moved (host now %s); %d members offer again",
                self._context.name, now, len(relayed),
            )  # fmt: skip
            self._context.count("room_moves")
        for client in relayed:
            member = members.get(client)
            if member is not None:
                send(member.peer, encode(frames.rtc_reoffer("moved")))

    async def _tell(self, node: str, op: str, **fields: Any) -> None:
        await self._context.publish(BusKind.ROOM, to=node, op=op, **fields)

    # -- hosting: other processes' members in our room ---------------------------------

    def on_bus(self, node: str, message: dict[str, Any]) -> None:
        """A `BusKind.ROOM` message addressed to this process (or to all)."""
        op = message.get("op")
        client = message.get("client")
        if not isinstance(client, str):
            client = ""
        if op == _Op.OFFER:
            sdp, talk = message.get("sdp"), bool(message.get("talk"))
            if client and isinstance(sdp, str):
                self._context.background(self._remote_offer(node, client, sdp, talk))
        elif op in (_Op.ANSWER, _Op.REFUSED, _Op.MOVED):
            future = self._answers.get(client)
            if future is not None and not future.done():
                future.set_result(message)
        elif op == _Op.LEAVE:
            if self._remote.pop(client, None) is not None and self.audio is not None:
                self._context.background(self.audio.leave(client))
        elif op == _Op.GAINS:
            gains = message.get("gains")
            if client in self._remote and self.audio is not None and isinstance(gains, dict):
                with contextlib.suppress(KeyError, ValueError, TypeError):
                    self.audio.set_gains(client, gains)
        elif op == _Op.TALK:
            if client in self._remote and self.audio is not None:
                self.audio.set_talk(client, bool(message.get("talk")))
        elif op == _Op.RECORD:
            self._remote_record(node, client, str(message.get("action")))
        elif op == _Op.LEVELS:
            self._show_levels(message.get("levels"))
        elif op == _Op.CLOSED and self.lease.watched == node:
            self.lease.unwatch()
            self._host_moved(None)

    async def _remote_offer(self, node: str, client: str, sdp: str, talk: bool) -> None:
        self._joining += 1
        try:
            if await self.lease.claim() != self._context.node or self._closed:
                await self._tell(node, _Op.MOVED, client=client)
                return
            self.lease.hold()
            audio = self._ensure_audio()
            rejoining = client in audio.participants
            if rejoining:
                self._rejoining.add(client)
            try:
                answer = await audio.join(client, sdp, talk=talk)
            except Exception as exc:
                log.warning(
                    "session %s: relayed audio offer from %s failed: %s",
                    self._context.name, client, exc,
                )  # fmt: skip
                message = "the audio offer was not accepted"
                await self._tell(
                    node, _Op.REFUSED, client=client, code="bad_field", message=message
                )
                return
            finally:
                if rejoining:
                    self._rejoining.discard(client)
                    if self.audio is not None and not self.audio.participants:
                        self._emptied(self.audio)
            self._remote[client] = (node, time.monotonic())
            if self.recording is not None:
                self.recording.names[client] = self._roster.names().get(client, client)
            self.follow_project()
            await self._tell(node, _Op.ANSWER, client=client, sdp=answer)
        finally:
            self._joining -= 1

    def _remote_record(self, node: str, client: str, action: str) -> None:
        """An owner on `node` (its process checked the role) starts or stops a recording."""
        try:
            self._check_record(action)
            if action == "start":
                self._announced = frames.recording(True, None, client)
                self._context.background(self._start(client, self._refuse_to(node, client)))
            else:
                self._context.background(self._stop(client, "stopped"))
        except BacklineError as exc:
            self._context.background(
                self._tell(
                    node, _Op.REFUSED, client=client, code=exc.code.value, message=exc.message
                )
            )

    def _refuse_to(self, node: str, client: str) -> Callable[[dict[str, Any]], object]:
        def refuse(error: dict[str, Any]) -> None:
            self._context.background(
                self._tell(
                    node, _Op.REFUSED, client=client, code=error["code"], message=error["message"]
                )
            )

        return refuse

    def _housekeeping(self) -> None:
        """Every lease renewal: forget remote participants whose process is gone."""
        if self.audio is None:
            return
        cutoff = time.monotonic() - PEER_TIMEOUT
        for client, (_node, since) in list(self._remote.items()):
            if since < cutoff and not self._roster.online(client):
                del self._remote[client]
                self._context.background(self.audio.leave(client))

    def _lost_lease(self) -> None:
        """Another process took the lease: our room closes, its members offer again."""
        self._context.background(self._close_room("moved"))

    async def _close_room(self, reason: str) -> None:
        await self._stop(None, reason)
        audio, self.audio = self.audio, None
        self._remote.clear()
        if audio is None:
            return
        local = [c for c in audio.participants if c in self._roster.members]
        await audio.close()
        for client in local:
            member = self._roster.members.get(client)
            if member is not None:
                send(member.peer, encode(frames.rtc_reoffer(reason)))
        await self._tell("*", _Op.CLOSED)

    def _show_levels(self, levels: Any) -> None:
        """The host's levels of our relayed members, shown in their presence."""
        if not isinstance(levels, dict):
            return
        members = self._roster.members
        for client, shown in levels.items():
            member = members.get(client)
            if member is None or client not in self._relayed:
                continue
            if isinstance(shown, int | float) and member.state.get("level") != shown:
                member.state["level"] = shown
                self._roster.changed(member)

    def remote_presence(self) -> None:
        """Presence from another process changed: its members' track bindings may have."""
        if not self._remote:
            return
        tracks = {c: (self._roster.presence_of(c) or {}).get("track") for c in self._remote}
        if tracks != self._remote_tracks:  # presence moves often (cursors); bindings rarely
            self._remote_tracks = tracks
            self.follow_project()

    # -- every member ----------------------------------------------------------------

    def joined_session(self, member: Member) -> None:
        """A member just joined the session: tell it about a recording running now."""
        announced = self._announced if self._announced is not None else self._shown
        if announced is not None and "id" in announced:
            send(member.peer, encode(announced))

    def left(self, member: Member) -> None:
        if member.client in self._relayed:
            self._relayed.discard(member.client)
            host = self.lease.watched
            if host is not None:
                self._context.background(self._tell(host, _Op.LEAVE, client=member.client))
            if not self._relayed:
                self.lease.unwatch()
        elif self.audio is not None:
            self._context.background(self.audio.leave(member.client))

    def renamed(self, member: Member) -> None:
        if self.recording is not None:
            self.recording.names[member.client] = member.name

    def gains(self, member: Member, gains: dict[str, float]) -> None:
        host = self.lease.watched
        if member.client in self._relayed and host is not None:
            self._context.background(self._tell(host, _Op.GAINS, client=member.client, gains=gains))
            return
        if self.audio is None or member.client not in self.audio.participants:
            raise NotFound("join the audio room (send an rtc offer) before setting gains")
        self.audio.set_gains(member.client, gains)

    def permissions_changed(self) -> None:
        """Roles or the `viewer_audio` switch changed: who may be heard changes at once."""
        members = self._roster.members
        host = self.lease.watched
        for client in self._relayed:
            member = members.get(client)
            if member is not None and host is not None:
                talk = self.may_talk(member)
                self._context.background(self._tell(host, _Op.TALK, client=client, talk=talk))
        if self.audio is None:
            return
        for client in self.audio.participants:
            member = members.get(client)
            if member is not None:
                self.audio.set_talk(client, self.may_talk(member))

    def _levels(self, levels: dict[str, Levels]) -> None:
        """Show who is sending and how loud (RMS dBFS, 0.5 dB steps) in presence."""
        members = self._roster.members
        remote: dict[str, dict[str, float]] = {}  # node -> client -> level
        for client, level in levels.items():
            shown = round(level.rms_dbfs * 2) / 2
            member = members.get(client)
            if member is None:
                where = self._remote.get(client)
                if where is not None and self._levels_sent.get(client) != shown:
                    remote.setdefault(where[0], {})[client] = shown
                continue
            if member.state.get("level") != shown:
                member.state["level"] = shown
                self._roster.changed(member)
        now = time.monotonic()
        if remote and now - self._levels_at >= LEVELS_EVERY:
            self._levels_at = now
            for node, changed in remote.items():
                self._levels_sent.update(changed)
                self._context.background(self._tell(node, _Op.LEVELS, levels=changed))

    def _emptied(self, room: AudioRoom) -> None:
        # a lone participant replacing their connection empties the room for a moment only
        if self._rejoining:
            return
        if self.recording is not None:
            self._context.background(self._stop(None, "empty"))
        hosted_others = bool(self._remote)
        self._remote.clear()
        self._levels_sent.clear()
        self._context.background(self._release_if_empty())
        if hosted_others:
            self._on_vacant()

    async def _release_if_empty(self) -> None:
        """Nobody is in the room here: another process may host it (unless one joins now)."""
        if self._joining or (self.audio is not None and self.audio.participants):
            return
        await self.lease.release()

    def project_changed(self) -> None:
        """The project changed: mute/solo may hear differently, the grid may have moved."""
        self.follow_project()
        if self.recording is not None:
            self._note_grid(self.recording)

    def follow_project(self) -> None:
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
            for track_id, track in self._project().tracks.items()
        }
        bindings = {
            client: member.state["track"]
            for client, member in self._roster.members.items()
            if member.state.get("track") is not None
        }
        for client in self._remote:  # other processes' members in the room here
            presence = self._roster.presence_of(client)
            if presence is not None and presence.get("track") is not None:
                bindings[client] = presence["track"]
        self.audio.mixer.set_audible(audible_view(bindings, tracks))

    # -- multitrack recording -------------------------------------------------------

    def record(self, member: Member, action: str) -> None:
        """Start or stop the server-side recording (owners only)."""
        if member.role is not Role.OWNER:
            raise Forbidden(
                f"only an owner can {action} a recording (your role: {member.role.value})"
            )
        here = self.audio is not None and bool(self.audio.participants)
        if not here and (self._relayed or self._shown or self._roster.audio_elsewhere()):
            # the room is hosted by another process: it decides
            self._context.background(self._record_elsewhere(member, action))
            return
        self._check_record(action)
        if action == "start":
            self._announced = frames.recording(True, None, member.client)
            self._context.background(
                self._start(member.client, lambda e: send(member.peer, encode(e)))
            )
        else:
            self._context.background(self._stop(member.client, "stopped"))

    def _check_record(self, action: str) -> None:
        """Whether a recording can start (or stop) here now; raises the refusal."""
        if action == "start":
            if self.recording is not None or self._announced is not None:
                raise Conflict("a recording is running or finishing; stop it first")
            if self.audio is None or not self.audio.participants:
                raise NotFound("nobody is in the audio room: there is nothing to record")
            if self._recordings_dir is None:
                raise Unavailable("this server has no directory for recordings")
        elif self.recording is None:
            raise NotFound("no recording is running")

    async def _record_elsewhere(self, member: Member, action: str) -> None:
        host = await self.lease.holder()
        if host is None or host == self._context.node:
            error: BacklineError = (
                NotFound("nobody is in the audio room: there is nothing to record")
                if action == "start"
                else NotFound("no recording is running")
            )
            send(member.peer, encode(frames.error(error.code.value, error.message)))
            return
        await self._tell(host, _Op.RECORD, client=member.client, action=action)

    async def _start(self, by: str, refuse: Callable[[dict[str, Any]], object]) -> None:
        from backline.server.audio.recording import Recording, new_recording_id

        assert self._recordings_dir is not None
        name = self._context.name
        start = server_time_us()
        project = self._project().project
        timeline = Timeline.of(project)
        ceiling = float(project.get("limiter_ceiling", -1.0))  # the master's, never clipping
        recording_id = new_recording_id()
        info = {
            "session": name,
            "started_by": by,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tempo": timeline.tempo,
            "meter": list(timeline.meter),
            "playing": timeline.playing,
            "start_beat": timeline.beat_at(start),
            "transport": timeline.transport(),
        }
        names = self._roster.names()
        directory = self._recordings_dir / recording_dir_name(name) / recording_id
        try:
            recording = await asyncio.to_thread(
                Recording, directory, recording_id, start, info, names, server_time_us, ceiling
            )
        except OSError as exc:
            log.error("session %s: cannot start recording in %s: %s", name, directory, exc)
            self._announced = None
            refuse(frames.error("unavailable", "the recording could not start (see the log)"))
            return
        if self._announced is None or self.audio is None or not self.audio.participants:
            await recording.stop(start, "empty")  # the room emptied meanwhile
            self._announced = None
            return
        self.recording = recording
        self.audio.tap = recording
        self._note_grid(recording, timeline)  # the grid of the sidecar's start fields
        self._note_grid(recording)  # and any change while the files were being created
        log.info("session %s: recording %s started by %s", name, recording_id, by)
        self._announce(frames.recording(True, recording_id, by, start, "started"))

    def _note_grid(self, recording: Recording, timeline: Timeline | None = None) -> None:
        """Tell the recording the project's grid (it keeps changes as markers).

        A change takes effect at the transport's anchor when that lies ahead (a
        play starting), else now (a stopped transport keeps an old anchor).
        """
        if timeline is None:
            timeline = Timeline.of(self._project().project)
        at = max(timeline.time, server_time_us())
        recording.note_grid(
            timeline.tempo, list(timeline.meter), timeline.transport(), at, timeline.beat_at(at)
        )

    async def _stop(self, by: str | None, reason: str) -> None:
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
            self._context.name,
            recording.id,
            reason,
            sidecar["samples"],
            len(sidecar["participants"]),
        )
        self._announce(frames.recording(False, recording.id, by, end, reason))

    def _announce(self, message: dict[str, Any]) -> None:
        self._announced = message if message["active"] else None
        self._roster.send_all(encode(message))
        self._context.background(self._context.publish(BusKind.RECORDING, message=message))

    def show_remote(self, message: dict[str, Any]) -> None:
        """Another process's audio room started or stopped a recording."""
        self._shown = message if message.get("active") else None  # for late joiners here
        self._roster.send_all(encode(message))

    async def close(self) -> None:
        self._closed = True
        await self._stop(None, "closed")
        hosted = self.audio is not None and bool(self.audio.participants)
        if self.audio is not None:
            await self.audio.close()
        self._remote.clear()
        host = self.lease.watched
        if host is not None:
            for client in self._relayed:
                await self._tell(host, _Op.LEAVE, client=client)
        self._relayed.clear()
        await self.lease.close()
        if hosted:  # the other processes' members offer again, to a new host
            await self._tell("*", _Op.CLOSED)
