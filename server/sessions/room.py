"""A session's side of its audio room: joining it, who may talk, levels, recordings.

The room itself (`backline.server.audio.room`, aiortc) is created on the
first audio offer, so a session nobody plays in never loads aiortc. This
collaborator owns the room and its recording and keeps them in step with the
session: a member joining or leaving, a role or the `viewer_audio` switch
changing who may talk, the project's mute and solo changing who is heard,
the project's grid changing (markers in a running recording).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backline.protocol import frames
from backline.protocol.codec import encode
from backline.protocol.errors import Conflict, Forbidden, NotFound, Unavailable
from backline.protocol.messages import Role
from backline.protocol.model import Document
from backline.protocol.timeline import Timeline
from backline.server.clock import server_time_us
from backline.server.http.recordings import recording_dir_name
from backline.server.sessions.context import BusKind, SessionContext
from backline.server.sessions.member import Member
from backline.server.sessions.roster import Roster
from backline.server.wire.fanout import send

if TYPE_CHECKING:
    from backline.server.audio.meter import Levels
    from backline.server.audio.recording import Recording
    from backline.server.audio.room import AudioRoom

__all__ = ["SessionRoom"]

log = logging.getLogger("backline.session")


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
    ) -> None:
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

    # -- participants -----------------------------------------------------------------

    def may_talk(self, member: Member) -> bool:
        """Whether `member`'s audio is heard: editors and owners, viewers only when an
        owner allowed it (a viewer listens by default)."""
        return member.role.can_edit or self._viewers_talk()

    def offer(self, member: Member, sdp: str) -> None:
        """Join `member` to the audio room; the answer goes back as an `rtc` frame."""
        self._context.background(self._join(member, sdp))

    async def _join(self, member: Member, sdp: str) -> None:
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
            )
            self.follow_project()
        rejoining = member.client in self.audio.participants
        if rejoining:
            self._rejoining.add(member.client)
        try:
            answer = await self.audio.join(member.client, sdp, talk=self.may_talk(member))
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

    def joined_session(self, member: Member) -> None:
        """A member just joined the session: tell it about a recording running now."""
        if self._announced is not None and "id" in self._announced:
            send(member.peer, encode(self._announced))

    def left(self, member: Member) -> None:
        if self.audio is not None:
            self._context.background(self.audio.leave(member.client))

    def renamed(self, member: Member) -> None:
        if self.recording is not None:
            self.recording.names[member.client] = member.name

    def gains(self, member: Member, gains: dict[str, float]) -> None:
        if self.audio is None or member.client not in self.audio.participants:
            raise NotFound("join the audio room (send an rtc offer) before setting gains")
        self.audio.set_gains(member.client, gains)

    def permissions_changed(self) -> None:
        """Roles or the `viewer_audio` switch changed: who may be heard changes at once."""
        if self.audio is None:
            return
        members = self._roster.members
        for client in self.audio.participants:
            member = members.get(client)
            if member is not None:
                self.audio.set_talk(client, self.may_talk(member))

    def _levels(self, levels: dict[str, Levels]) -> None:
        """Show who is sending and how loud (RMS dBFS, 0.5 dB steps) in presence."""
        members = self._roster.members
        for client, level in levels.items():
            member = members.get(client)
            if member is None:
                continue
            shown = round(level.rms_dbfs * 2) / 2
            if member.state.get("level") != shown:
                member.state["level"] = shown
                self._roster.changed(member)

    def _emptied(self, room: AudioRoom) -> None:
        # a lone participant replacing their connection empties the room for a moment only
        if self.recording is not None and not self._rejoining:
            self._context.background(self._stop(None, "empty"))

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
        self.audio.mixer.set_audible(audible_view(bindings, tracks))

    # -- multitrack recording -------------------------------------------------------

    def record(self, member: Member, action: str) -> None:
        """Start or stop the server-side recording (owners only)."""
        if member.role is not Role.OWNER:
            raise Forbidden(
                f"only an owner can {action} a recording (your role: {member.role.value})"
            )
        if action == "start":
            if self.recording is not None or self._announced is not None:
                raise Conflict("a recording is running or finishing; stop it first")
            if self.audio is None or not self.audio.participants:
                raise NotFound("nobody is in the audio room: there is nothing to record")
            if self._recordings_dir is None:
                raise Unavailable("this server has no directory for recordings")
            self._announced = frames.recording(True, None, member.client)
            self._context.background(self._start(member))
        else:
            if self.recording is None:
                raise NotFound("no recording is running")
            self._context.background(self._stop(member, "stopped"))

    async def _start(self, member: Member) -> None:
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
            "started_by": member.client,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tempo": timeline.tempo,
            "meter": list(timeline.meter),
            "playing": timeline.playing,
            "start_beat": timeline.beat_at(start),
            "transport": timeline.transport(),
        }
        names = {client: m.name for client, m in self._roster.members.items()}
        directory = self._recordings_dir / recording_dir_name(name) / recording_id
        try:
            recording = await asyncio.to_thread(
                Recording, directory, recording_id, start, info, names, server_time_us, ceiling
            )
        except OSError as exc:
            log.error("session %s: cannot start recording in %s: %s", name, directory, exc)
            self._announced = None
            refusal = frames.error("unavailable", "the recording could not start (see the log)")
            send(member.peer, encode(refusal))
            return
        if self._announced is None or self.audio is None or not self.audio.participants:
            await recording.stop(start, "empty")  # the room emptied meanwhile
            self._announced = None
            return
        self.recording = recording
        self.audio.tap = recording
        self._note_grid(recording, timeline)  # the grid of the sidecar's start fields
        self._note_grid(recording)  # and any change while the files were being created
        log.info("session %s: recording %s started by %s", name, recording_id, member.client)
        self._announce(frames.recording(True, recording_id, member.client, start, "started"))

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

    async def _stop(self, member: Member | None, reason: str) -> None:
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
        by = None if member is None else member.client
        self._announce(frames.recording(False, recording.id, by, end, reason))

    def _announce(self, message: dict[str, Any]) -> None:
        self._announced = message if message["active"] else None
        self._roster.send_all(encode(message))
        self._context.background(self._context.publish(BusKind.RECORDING, message=message))

    def show_remote(self, message: dict[str, Any]) -> None:
        """Another process's audio room started or stopped a recording."""
        self._roster.send_all(encode(message))

    async def close(self) -> None:
        await self._stop(None, "closed")
        if self.audio is not None:
            await self.audio.close()
