"""One websocket connection: hello and token check, then dispatch to its session.

Every bad frame is answered with an `error` frame (or a `reject` when it was an
edit with a usable `seq`) and changes nothing. Only abuse ends the connection,
with a close code that says why: many bad frames in a row (4002), or more
rate-limited messages than `abuse_refusals` within `abuse_window` (4029).

Each connection has a token bucket per kind of message: edits (op, undo, redo
and admin requests) and chat over their rate are refused with `rate_limited`;
presence over its rate is coalesced (the latest state is applied when the
bucket has a token again), because only the latest presence matters.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from backline.protocol import frames
from backline.protocol.codec import decode, encode
from backline.protocol.entry import EntryKind, LogEntry
from backline.protocol.errors import (
    TRY_AGAIN_LATER,
    AlreadyJoined,
    BacklineError,
    BadFrame,
    BadResume,
    CloseCode,
    Forbidden,
    Internal,
    NotFound,
    NotJoined,
    RateAbuse,
    RateLimited,
    Refused,
    SessionMismatch,
    Unauthorized,
    Unavailable,
)
from backline.protocol.limits import Limits
from backline.protocol.messages import (
    EDIT_TYPES,
    PEOPLE_COLORS,
    AccessRequest,
    AdminRequest,
    Bye,
    Chat,
    DeleteSession,
    ForkRequest,
    Hello,
    HistoryRequest,
    ImportRequest,
    InviteRequest,
    Kick,
    LabelRequest,
    LiveNote,
    Lock,
    MixGains,
    OpMessage,
    Ping,
    Presence,
    Record,
    Redo,
    RestoreRequest,
    Revoke,
    Role,
    RtcOffer,
    SetRole,
    Undo,
    ViewerAudio,
    parse_client,
    request_id,
)
from backline.protocol.ratelimit import TokenBucket
from backline.protocol.routing import path_session
from backline.protocol.tokens import Secret, check_resume, mint, resume_key, verify
from backline.server.clock import server_time_us
from backline.server.sessions.hub import Hub
from backline.server.sessions.member import Member
from backline.server.sessions.past import PastRequest, refusal_frame
from backline.server.sessions.session import Session
from backline.server.wire.connection import DirectConnection
from backline.server.wire.fanout import Peer, send

__all__ = ["handle_connection"]

log = logging.getLogger("backline.connection")

_labels = itertools.count(1)
MAX_PAST_IN_FLIGHT = 4  # history, fork and import requests of one connection at a time


class _Conn:
    def __init__(self, ws: DirectConnection, hub: Hub, secret: Secret) -> None:
        self.ws = ws
        self.hub = hub
        self.secret = secret
        self.settings = hub.settings
        self.limits: Limits = hub.settings.limits
        self.peer = Peer(ws, f"conn {next(_labels)}")
        self.past: set[asyncio.Task[None]] = set()  # requests about the past in progress
        self.bad_frames = 0
        self.member: Member | None = None
        self.session: Session | None = None
        now = time.monotonic()
        self.edits = TokenBucket(self.limits.edit, now)
        self.presence = TokenBucket(self.limits.presence, now)
        self.chat = TokenBucket(self.limits.chat, now)
        self.pings = TokenBucket(self.limits.ping, now)
        self.offers = TokenBucket(self.limits.rtc, now)
        self.mixes = TokenBucket(self.limits.mix, now)
        self.live = TokenBucket(self.limits.live, now)
        self.mix_pending: dict[str, float] = {}
        self.mix_timer: asyncio.TimerHandle | None = None
        self.refusals = TokenBucket(self.limits.abuse, now)  # empty: abuse
        self.presence_pending: dict[str, object] = {}
        self.presence_timer: asyncio.TimerHandle | None = None
        # /s/<session> in the URL (the handshake refused a bad one): the hello must agree
        self.path_session = path_session(ws.request.path) if ws.request is not None else None
        ws.forget_handshake()  # nothing below reads the upgrade's headers

    def send(self, frame: bytes) -> None:
        send(self.peer, frame)

    def error(self, exc: BacklineError, request: int | None = None) -> None:
        self.hub.metrics.count("errors", 1, code=exc.code.value)
        self.send(encode(frames.error(exc.code.value, exc.message, request)))

    def rate_limited(self, exc: RateLimited, raw: object) -> None:
        """Answer a message over its rate; close when that keeps happening."""
        edit = isinstance(raw, dict) and raw.get("type") in EDIT_TYPES
        seq = raw.get("seq") if edit and isinstance(raw, dict) else None
        if type(seq) is int:
            self.hub.metrics.count("ops_rejected", 1, code=exc.code.value)
            self.send(encode(frames.reject(seq, exc.code.value, exc.message)))
        else:
            self.error(exc, request_id(raw))
        if not self.refusals.take(time.monotonic()):
            log.warning("%s: closing after repeated rate-limit refusals", self.peer.label)
            self.hub.metrics.count("closes", 1, code=str(int(RateAbuse.close_code)))
            self.peer.close_soon(RateAbuse.close_code, "too many messages over the rate limit")

    def bad(self, exc: BacklineError, raw: object = None) -> None:
        """Answer a bad frame; close after too many in a row."""
        seq = raw.get("seq") if isinstance(raw, dict) and raw.get("type") in EDIT_TYPES else None
        if type(seq) is int:
            self.hub.metrics.count("ops_rejected", 1, code=exc.code.value)
            self.send(encode(frames.reject(seq, exc.code.value, exc.message)))
        else:
            self.error(exc, request_id(raw))
        self.bad_frames += 1
        if self.bad_frames > self.settings.max_bad_frames:
            log.warning(
                "%s: closing after %d bad frames in a row", self.peer.label, self.bad_frames
            )
            self.peer.close_soon(CloseCode.PROTOCOL_VIOLATION, "too many bad frames")

    def decode(self, raw: str | bytes) -> dict[str, object]:
        if isinstance(raw, str):
            raise BadFrame("frames must be binary msgpack, not text")
        return decode(raw, self.limits)

    async def wait_hello(self) -> Hello | None:
        deadline = time.monotonic() + self.settings.hello_timeout
        while True:
            try:
                raw = await asyncio.wait_for(self.ws.recv(), deadline - time.monotonic())
            except TimeoutError:
                await self.ws.close(int(CloseCode.HELLO_TIMEOUT), "no hello in time")
                return None
            message: dict[str, object] | None = None
            try:
                message = self.decode(raw)
                parsed = parse_client(message, self.limits)
                if not isinstance(parsed, Hello):
                    raise NotJoined("send hello before anything else")
                return parsed
            except BacklineError as exc:
                self.bad(exc, message)
                if not self.peer.open:
                    return None

    async def join(self, hello: Hello) -> bool:
        if self.path_session is not None and hello.session != self.path_session:
            mismatch = SessionMismatch(
                f"this connection is for session {self.path_session} (its URL path), "
                f"not {hello.session}; connect to /s/{hello.session} to join that one"
            )
            log.info("%s: refused: %s", self.peer.label, mismatch.message)
            self.error(mismatch)
            self.hub.metrics.count("closes", 1, code=str(int(mismatch.close_code)))
            await self.ws.close(int(mismatch.close_code), "hello names another session")
            return False
        try:
            claims = verify(self.secret, hello.token, hello.session, time.time())
        except Unauthorized as exc:
            log.info("%s: refused for session %s: %s", self.peer.label, hello.session, exc.message)
            self.error(exc)
            await self.ws.close(int(exc.close_code), exc.message)
            return False
        if self.hub.closing:
            self.error(Unavailable("server is shutting down"))
            await self.ws.close(int(CloseCode.SERVER_SHUTDOWN), "server is shutting down")
            return False
        if hello.client is None:
            client = "c" + secrets.token_hex(6)
        elif hello.resume is None or not check_resume(
            self.secret, hello.session, hello.client, hello.resume
        ):
            # client ids are public (presence, batch authors): only the key proves one
            refused = BadResume(
                f"client id {hello.client} can be resumed only with the resume key its "
                "welcome gave; join without a client id to get a new one"
            )
            log.info("%s: refused for session %s: %s", self.peer.label, hello.session, refused)
            self.error(refused)
            self.hub.metrics.count("closes", 1, code=str(int(refused.close_code)))
            await self.ws.close(int(refused.close_code), "resume key does not match")
            return False
        else:
            client = hello.client
        member = Member(
            peer=self.peer,
            client=client,
            name=hello.name,
            color=hello.color or PEOPLE_COLORS[0],  # auto: the session picks a free one
            auto_color=hello.color is None,
            role=claims.role,
            token_role=claims.role,
            token_id=claims.id,
            resume=resume_key(self.secret, hello.session, client),
            invite=claims.invite,
        )
        try:
            session = await self.hub.session(hello.session, create=claims.creates)
            if session.seq.access.needs_redeem(client, claims.invite):
                await session.redeem(member)  # one use of the invite, counted in the log
            await session.join(member, hello)
        except Unauthorized as exc:  # revoked, the invite used up or expired
            log.info("%s: refused for session %s: %s", self.peer.label, hello.session, exc.message)
            self.error(exc)
            self.hub.metrics.count("closes", 1, code=str(int(exc.close_code)))
            await self.ws.close(int(exc.close_code), exc.message[:120])
            return False
        except Refused as exc:  # the process or the session is full; no such session
            log.info("%s: refused for session %s: %s", self.peer.label, hello.session, exc.message)
            self.error(exc)
            self.hub.metrics.count("closes", 1, code=str(int(exc.close_code)))
            await self.ws.close(int(exc.close_code), exc.message)
            return False
        except Unavailable as exc:  # the store cannot load the session (down, unreadable)
            log.warning("%s: cannot load session %s: %s", self.peer.label, hello.session, exc)
            self.error(Unavailable(f"the session cannot be loaded now: {exc.message}"))
            self.hub.metrics.count("closes", 1, code=str(TRY_AGAIN_LATER))
            await self.ws.close(TRY_AGAIN_LATER, "store unavailable, try again later")
            return False
        self.session, self.member = session, member
        self.peer.label = f"{hello.session}/{client}"
        return True

    def dispatch(self, message: dict[str, object]) -> None:
        assert self.session is not None and self.member is not None
        parsed = parse_client(message, self.limits)
        _HANDLERS[type(parsed)](self, parsed)

    def _take(self, bucket: TokenBucket, what: str, rate: float, burst: int, then: str) -> None:
        """Spend a token of `bucket`, or refuse this message as over its rate."""
        if not bucket.take(time.monotonic()):
            raise RateLimited(f"more than {rate:g} {what} per second (burst {burst}); {then}")

    def _ping(self, ping: Ping) -> None:
        now = server_time_us()
        limits = self.limits
        then = "this one was not answered"
        self._take(self.pings, "pings", limits.ping_rate, limits.ping_burst, then)
        if ping.rtt is not None:
            self._member().report_rtt(ping.rtt)
        self.send(encode(frames.pong(ping.t0, now, server_time_us())))

    def _edit(self, edit: OpMessage | Undo | Redo) -> None:
        member, limits = self._member(), self.limits
        then = "slow down and resend"
        self._take(self.edits, "edits", limits.edit_rate, limits.edit_burst, then)
        if not member.role.can_edit:
            raise Forbidden(f"{member.role.spelled} cannot edit this session")
        if self.hub.closing:
            raise Unavailable("server is shutting down; resend after reconnecting")
        if isinstance(edit, OpMessage):
            entry = LogEntry(EntryKind.OP, member.client, edit.seq, ops=edit.ops)
        else:
            kind = EntryKind.UNDO if isinstance(edit, Undo) else EntryKind.REDO
            entry = LogEntry(kind, member.client, edit.seq)
        self._session().submit(member, entry)

    def _chat(self, chat: Chat) -> None:
        limits = self.limits
        then = "this one was not posted"
        self._take(self.chat, "chat messages", limits.chat_rate, limits.chat_burst, then)
        self._session().post_chat(self._member(), chat.text)

    def _rtc(self, offer: RtcOffer) -> None:
        limits = self.limits
        then = "this one was not answered"
        self._take(self.offers, "audio offers", limits.rtc_rate, limits.rtc_burst, then)
        self._session().audio_offer(self._member(), offer.sdp)

    def _record(self, record: Record) -> None:
        limits = self.limits  # an owner's control: it shares the edit bucket, like admin
        what, then = "edits and requests", "this one was not carried out"
        self._take(self.edits, what, limits.edit_rate, limits.edit_burst, then)
        self._session().record(self._member(), record.action)

    def _live(self, note: LiveNote) -> None:
        limits = self.limits
        then = "this one was not relayed"
        self._take(self.live, "live-note events", limits.live_rate, limits.live_burst, then)
        member = self._member()
        if not member.role.can_edit:
            raise Forbidden(f"{member.role.spelled} cannot play into this session")
        self._session().play_live(member, note.to_wire())

    def _presence(self, presence: Presence) -> None:
        self.update_presence(presence.state)

    def _mix(self, mix: MixGains) -> None:
        self.update_gains(mix.gains)

    def _bye(self, bye: Bye) -> None:
        self.peer.close_soon(1000, "bye")

    def _hello_again(self, hello: Hello) -> None:
        raise AlreadyJoined("this connection already joined a session")

    def admin(self, request: AdminRequest) -> None:
        """An owner's request: checked here, decided (again) and applied through the log."""
        session, member, limits = self._session(), self._member(), self.limits
        what, then = "edits and admin requests", "this one was not carried out"
        self._take(self.edits, what, limits.edit_rate, limits.edit_burst, then)
        if member.role is not Role.OWNER:
            raise Forbidden(f"only an owner may do that; you are {member.role.spelled}")
        if self.hub.closing:
            raise Unavailable("server is shutting down; resend after reconnecting")
        by, request_id = member.client, request.id
        entry: LogEntry
        if isinstance(request, Kick):
            if not session.online(request.client):
                raise NotFound(f"no participant {request.client} is connected")
            entry = LogEntry(EntryKind.KICK, by, request_id, target=request.client)
        elif isinstance(request, SetRole):
            # the target's token, when known: a demotion then also binds to it
            token = session.token_id_of(request.client)
            entry = LogEntry(
                EntryKind.ROLE,
                by,
                request_id,
                target=request.client,
                role=request.role,
                target_token=token,
            )
        elif isinstance(request, Lock):
            entry = LogEntry(EntryKind.LOCK, by, request_id, locked=request.locked)
        elif isinstance(request, ViewerAudio):
            entry = LogEntry(EntryKind.VIEWER_AUDIO, by, request_id, allowed=request.allowed)
        elif isinstance(request, AccessRequest):
            self.send(encode(frames.access(request_id, *session.access_list())))
            return
        elif isinstance(request, InviteRequest):
            invite = "i" + secrets.token_hex(8)
            expires = int(time.time()) + request.expires_in
            role = request.role
            token = mint(self.secret, session.name, role, expires, nonce=invite, invite=invite)
            entry = LogEntry(
                EntryKind.INVITE,
                by,
                request_id,
                target=invite,
                role=role,
                name=request.name,
                expires=expires,
                uses=request.uses,
            )
            answer: dict[str, Any] = {
                "invite": invite,
                "token": token,
                "role": role.value,
                "name": request.name,
                "expires": expires,
                "uses": request.uses,
            }
            public = self.settings.public_url
            if public:  # the address guests use (behind a proxy, the https one)
                query = urllib.parse.urlencode({"session": session.name, "token": token})
                answer["link"] = f"{public.rstrip('/')}/#{query}"
            session.submit(member, entry, answer)
            return
        elif isinstance(request, Revoke):
            token = request.token
            if request.client is not None:
                token = session.token_id_of(request.client)  # theirs, when this process knows
            entry = LogEntry(
                EntryKind.REVOKE,
                by,
                request_id,
                target=request.client,
                invite=request.invite,
                target_token=token,
            )
        else:
            entry = LogEntry(EntryKind.DELETE, by, request_id)
        session.submit(member, entry)

    def _past(self, request: PastRequest) -> None:
        """History, label, restore, fork or import: checked, then carried out in a task (they
        read the store), at most `MAX_PAST_IN_FLIGHT` at a time per connection."""
        limits = self.limits
        what, then = "edits and requests", "this one was not carried out"
        self._take(self.edits, what, limits.edit_rate, limits.edit_burst, then)
        if len(self.past) >= MAX_PAST_IN_FLIGHT:
            raise RateLimited(
                f"at most {MAX_PAST_IN_FLIGHT} history, fork or import requests at a time;"
                " wait for an answer"
            )
        if self.hub.closing:
            raise Unavailable("server is shutting down; resend after reconnecting")
        task = asyncio.get_running_loop().create_task(self._carry_out_past(request))
        self.past.add(task)
        task.add_done_callback(self.past.discard)

    async def _carry_out_past(self, request: PastRequest) -> None:
        session, member = self._session(), self._member()
        try:
            past = self.hub.past
            if past is None:
                raise Unavailable("this server keeps no history")
            await past.handle(session, member, request, set(self.hub.sessions))
        except BacklineError as exc:
            self.hub.metrics.count("errors", 1, code=exc.code.value)
            self.send(refusal_frame(exc, request))
        except Exception:  # a bug: this request fails, the connection stays
            log.exception("%s: %s failed", self.peer.label, type(request).__name__)
            self.send(refusal_frame(Internal("the request failed on the server"), request))

    def _session(self) -> Session:
        assert self.session is not None
        return self.session

    def _member(self) -> Member:
        assert self.member is not None
        return self.member

    def update_presence(self, state: dict[str, object]) -> None:
        """Apply now if the bucket allows, else keep the latest and apply it when it does."""
        self.presence_pending.update(state)
        if self.presence_timer is not None:
            self.hub.metrics.count("presence_coalesced", 1)
            return
        now = time.monotonic()
        if self.presence.take(now):
            self.flush_presence()
            return
        self.hub.metrics.count("presence_coalesced", 1)
        delay = self.presence.wait(now)
        self.presence_timer = asyncio.get_running_loop().call_later(delay, self.flush_presence)

    def update_gains(self, gains: dict[str, float]) -> None:
        """Like presence: over the rate, the latest gains wait for the bucket's next token."""
        assert self.session is not None and self.member is not None
        if self.mix_timer is None:
            now = time.monotonic()
            if self.mixes.take(now):
                self.session.audio_gains(self.member, gains)  # may refuse: not in the room
                return
            self.mix_timer = asyncio.get_running_loop().call_later(
                self.mixes.wait(now), self.flush_gains
            )
        self.mix_pending.update(gains)

    def flush_gains(self) -> None:
        self.mix_timer = None
        self.mixes.take(time.monotonic())  # the token this flush waited for
        gains, self.mix_pending = self.mix_pending, {}
        if gains and self.session is not None and self.member is not None and self.peer.open:
            try:
                self.session.audio_gains(self.member, gains)
            except BacklineError as exc:
                self.error(exc)

    def flush_presence(self) -> None:
        if self.presence_timer is not None:
            self.presence_timer = None
            self.presence.take(time.monotonic())  # the token this flush waited for
        state, self.presence_pending = self.presence_pending, {}
        if state and self.session is not None and self.member is not None and self.peer.open:
            self.session.update_presence(self.member, state)

    async def run(self) -> None:
        hello = await self.wait_hello()
        if hello is None or not await self.join(hello):
            return
        self.bad_frames = 0
        await self.ws.dispatch_to(self.on_message)
        await self.ws.wait_closed()

    def on_message(self, raw: str | bytes) -> None:
        """One message of a joined connection; called where it was parsed."""
        message: dict[str, object] | None = None
        try:
            message = self.decode(raw)
            self.dispatch(message)
        except RateLimited as exc:  # well-formed, just too many: not a bad frame
            self.rate_limited(exc, message)
        except BacklineError as exc:
            self.bad(exc, message)
        except Exception:
            log.exception("%s: handling a message failed", self.peer.label)
            self.peer.close_soon(1011, "internal error")
        else:
            self.bad_frames = 0

    def finish(self) -> None:
        if self.presence_timer is not None:
            self.presence_timer.cancel()
        if self.mix_timer is not None:
            self.mix_timer.cancel()
        if self.session is not None and self.member is not None:
            self.session.leave(self.member)


# one handler per message of a joined connection (parse_client checked it); a table of
# the class's functions, not of bound methods: those would tie every connection into a
# reference cycle that only a full garbage collection frees
_HANDLERS: dict[type, Callable[[_Conn, Any], None]] = {
    Ping: _Conn._ping,
    OpMessage: _Conn._edit,
    Undo: _Conn._edit,
    Redo: _Conn._edit,
    Kick: _Conn.admin,
    SetRole: _Conn.admin,
    Lock: _Conn.admin,
    ViewerAudio: _Conn.admin,
    DeleteSession: _Conn.admin,
    InviteRequest: _Conn.admin,
    Revoke: _Conn.admin,
    AccessRequest: _Conn.admin,
    Presence: _Conn._presence,
    Chat: _Conn._chat,
    RtcOffer: _Conn._rtc,
    MixGains: _Conn._mix,
    Record: _Conn._record,
    LiveNote: _Conn._live,
    Bye: _Conn._bye,
    Hello: _Conn._hello_again,
    HistoryRequest: _Conn._past,
    LabelRequest: _Conn._past,
    RestoreRequest: _Conn._past,
    ForkRequest: _Conn._past,
    ImportRequest: _Conn._past,
}


async def handle_connection(ws: ServerConnection, hub: Hub, secret: Secret) -> None:
    assert isinstance(ws, DirectConnection), "the server makes DirectConnections only"
    conn = _Conn(ws, hub, secret)
    hub.connections += 1
    try:
        await conn.run()
    except ConnectionClosed:
        pass
    except Exception:
        log.exception("%s: connection handler failed", conn.peer.label)
        await ws.close(1011, "internal error")
    finally:
        hub.connections -= 1
        conn.finish()
