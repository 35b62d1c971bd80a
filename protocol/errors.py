"""Stable error codes, close codes, the close policy and the one exception tree.

Server, SDK and browser client all speak these codes; the browser gets them
from the generated ``/protocol.js`` and a test checks that copy against this
module. Codes never change meaning once shipped.

The tree (each class's stable ``code``; ``close_code`` where the connection
ends)::

    BacklineError
    ├── BadFrame            bad_frame
    ├── UnknownType         unknown_type
    ├── BadField            bad_field
    ├── OutOfRange          out_of_range
    ├── NotFound            not_found
    ├── Conflict            conflict
    │   └── Overlap         overlap
    ├── TooLarge            too_large
    ├── LimitExceeded       limit_exceeded
    ├── Forbidden           forbidden
    ├── Locked              locked
    ├── NotJoined           not_joined
    ├── AlreadyJoined       already_joined
    ├── NothingToUndo       nothing_to_undo
    ├── NothingSelected     nothing_selected  (raised by the editing helpers, never sent)
    ├── Duplicate           duplicate
    ├── Unavailable         unavailable
    ├── Internal            internal
    ├── RateLimited         rate_limited
    │   └── RateAbuse                         close 4029
    ├── Refused             (the server ends or refuses the connection)
    │   ├── ServerFull      server_full       close 4010
    │   ├── SessionFull     session_full      close 4011
    │   ├── Kicked          kicked            close 4012
    │   ├── SessionDeleted  session_deleted   close 4013
    │   └── SessionMismatch session_mismatch  close 4015
    └── Unauthorized        unauthorized      close 4401
        ├── BadToken                          close 4401
        ├── TokenExpired                      close 4402
        ├── WrongSession                      close 4403
        └── BadResume                         close 4404

Each subclass that names a new ``code`` (or ``close_code``) is registered as
it is defined (`BacklineError.__init_subclass__`): `error_for_code` and
`error_for_close` rebuild the typed exception from what came over the wire,
with no table to keep in step.

**The close policy** is beside the codes, as websockets keeps its
``OK_CLOSE_CODES`` beside its own: `CLOSE_REASONS` explains every code a
client may see, and `FINAL_CLOSE_CODES` are those after which reconnecting
cannot help (the SDK and the browser give up on them and say why; on any other
close they reconnect with backoff and resume).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import ClassVar

__all__ = [
    "CLOSE_REASONS",
    "FINAL_CLOSE_CODES",
    "INTERNAL_ERROR",
    "MESSAGE_TOO_BIG",
    "NORMAL_CLOSURE",
    "PROTOCOL_ERROR",
    "TRY_AGAIN_LATER",
    "AlreadyJoined",
    "BacklineError",
    "BadField",
    "BadFrame",
    "BadImport",
    "BadResume",
    "BadToken",
    "CloseCode",
    "Conflict",
    "Duplicate",
    "ErrorCode",
    "Forbidden",
    "Internal",
    "InviteUsed",
    "Kicked",
    "LimitExceeded",
    "Locked",
    "NotFound",
    "NotJoined",
    "NothingSelected",
    "NothingToUndo",
    "OutOfRange",
    "Overlap",
    "RateAbuse",
    "RateLimited",
    "Refused",
    "Revoked",
    "ServerFull",
    "SessionDeleted",
    "SessionExists",
    "SessionFull",
    "SessionMismatch",
    "SessionNotFound",
    "TokenExpired",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "UnknownType",
    "WrongSession",
    "error_for_close",
    "error_for_code",
]


class ErrorCode(StrEnum):
    """Codes carried by `error` and `reject` frames."""

    BAD_FRAME = "bad_frame"  # not msgpack, or not a map with a string "type"
    UNKNOWN_TYPE = "unknown_type"  # message or op type we do not know
    BAD_FIELD = "bad_field"  # missing field, wrong type, unknown field
    OUT_OF_RANGE = "out_of_range"  # right type, value outside its range
    NOT_FOUND = "not_found"  # reference to an entity that does not exist
    CONFLICT = "conflict"  # id already exists, or the edit no longer applies
    OVERLAP = "overlap"  # a clip over another on its track, a section over another
    TOO_LARGE = "too_large"  # frame, string or collection above its limit
    LIMIT_EXCEEDED = "limit_exceeded"  # project would exceed an entity limit
    FORBIDDEN = "forbidden"  # role does not allow this
    NOT_JOINED = "not_joined"  # session message before hello
    ALREADY_JOINED = "already_joined"  # second hello on one connection
    NOTHING_TO_UNDO = "nothing_to_undo"  # undo/redo stack empty
    NOTHING_SELECTED = "nothing_selected"  # an editing command on an empty selection
    DUPLICATE = "duplicate"  # op id already seen from this client
    UNAUTHORIZED = "unauthorized"  # token refused (also sent as a close code)
    UNAVAILABLE = "unavailable"  # store unreachable or failing; retry later
    INTERNAL = "internal"  # a bug on our side; logged with context
    RATE_LIMITED = "rate_limited"  # over this connection's rate for that kind of message
    SERVER_FULL = "server_full"  # this process holds its maximum of sessions (then a close)
    SESSION_FULL = "session_full"  # the session holds its maximum of clients (then a close)
    LOCKED = "locked"  # the session is read-only; only owners may edit
    KICKED = "kicked"  # an owner removed this participant (sent as a close code)
    SESSION_DELETED = "session_deleted"  # an owner deleted the session (sent as a close code)
    REVOKED = "revoked"  # an owner revoked this token, invite or person (then a close)
    INVITE_USED = "invite_used"  # the invite was already used as often as it allows
    BAD_IMPORT = "bad_import"  # a file to import is not a MIDI file or project it can read
    SESSION_EXISTS = "session_exists"  # a fork onto a session that already exists
    SESSION_MISMATCH = "session_mismatch"  # hello named another session than the URL path


class CloseCode(IntEnum):
    """WebSocket close codes the server uses (application range 4000-4999)."""

    SERVER_SHUTDOWN = 4000  # server is stopping; reconnect elsewhere or later
    HELLO_TIMEOUT = 4001  # no hello within the allowed time
    PROTOCOL_VIOLATION = 4002  # too many bad frames in a row
    SLOW_CONSUMER = 4008  # outgoing buffer overflowed; reconnect and resume
    REPLACED = 4009  # the same client connected again; this older connection ends
    SERVER_FULL = 4010  # this process holds its maximum of sessions; try another or later
    SESSION_FULL = 4011  # the session holds its maximum of clients; try later
    KICKED = 4012  # an owner removed this participant from the session
    SESSION_DELETED = 4013  # an owner deleted the session
    SESSION_NOT_FOUND = 4014  # no such session, and this token may not create one
    SESSION_MISMATCH = 4015  # hello named another session than the URL path (/s/<session>)
    RATE_ABUSE = 4029  # kept sending over its rate limit after being told
    BAD_TOKEN = 4401  # token missing, malformed or wrongly signed
    TOKEN_EXPIRED = 4402  # token signature fine but past its expiry
    WRONG_SESSION = 4403  # token is for another session
    BAD_RESUME = 4404  # hello named a client id without that identity's resume key
    REVOKED = 4405  # an owner revoked this person's access, their invite or their token
    INVITE_USED = 4406  # the invite was used as often as it allows


_BY_CODE: dict[ErrorCode, type[BacklineError]] = {}
_BY_CLOSE: dict[int, type[BacklineError]] = {}


class BacklineError(Exception):
    """Base of every error that crosses the wire.

    Each subclass carries a stable `code`; the `message` is for humans.
    """

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:  # the first class to name a code stands for it
            _BY_CODE.setdefault(cls.code, cls)
        close = cls.__dict__.get("close_code")
        if close is not None:  # the most specific class stands for its close code
            _BY_CLOSE[int(close)] = cls

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class BadFrame(BacklineError):
    code = ErrorCode.BAD_FRAME


class UnknownType(BacklineError):
    code = ErrorCode.UNKNOWN_TYPE


class BadField(BacklineError):
    code = ErrorCode.BAD_FIELD


class OutOfRange(BacklineError):
    code = ErrorCode.OUT_OF_RANGE


class NotFound(BacklineError):
    code = ErrorCode.NOT_FOUND


class Conflict(BacklineError):
    code = ErrorCode.CONFLICT


class Overlap(Conflict):
    """Two clips on one track, or two sections, may not share any tick."""

    code = ErrorCode.OVERLAP


class TooLarge(BacklineError):
    code = ErrorCode.TOO_LARGE


class LimitExceeded(BacklineError):
    code = ErrorCode.LIMIT_EXCEEDED


class Forbidden(BacklineError):
    code = ErrorCode.FORBIDDEN


class NotJoined(BacklineError):
    code = ErrorCode.NOT_JOINED


class AlreadyJoined(BacklineError):
    code = ErrorCode.ALREADY_JOINED


class NothingToUndo(BacklineError):
    code = ErrorCode.NOTHING_TO_UNDO


class NothingSelected(BacklineError):
    """An editing command (quantize, transpose, copy…) was given no notes; nothing changed."""

    code = ErrorCode.NOTHING_SELECTED


class Duplicate(BacklineError):
    code = ErrorCode.DUPLICATE


class Unavailable(BacklineError):
    code = ErrorCode.UNAVAILABLE


class Internal(BacklineError):
    code = ErrorCode.INTERNAL


class RateLimited(BacklineError):
    """Too many messages of one kind too fast; nothing changed. Slow down and resend."""

    code = ErrorCode.RATE_LIMITED


class Locked(BacklineError):
    """The session is read-only (an owner locked it); only owners may edit."""

    code = ErrorCode.LOCKED


class Refused(BacklineError):
    """The server ends (or refuses) this connection; each subclass's `close_code` says why."""

    close_code: ClassVar[CloseCode]


class ServerFull(Refused):
    code = ErrorCode.SERVER_FULL
    close_code = CloseCode.SERVER_FULL


class SessionFull(Refused):
    code = ErrorCode.SESSION_FULL
    close_code = CloseCode.SESSION_FULL


class Kicked(Refused):
    code = ErrorCode.KICKED
    close_code = CloseCode.KICKED


class SessionDeleted(Refused):
    code = ErrorCode.SESSION_DELETED
    close_code = CloseCode.SESSION_DELETED


class SessionNotFound(Refused):
    """No session of that name exists and the token may not create one (`Claims.creates`)."""

    code = ErrorCode.NOT_FOUND
    close_code = CloseCode.SESSION_NOT_FOUND


class SessionMismatch(Refused):
    """The hello named another session than the websocket URL's path (``/s/<session>``):
    nothing joined. A load balancer routes by the path, so the two must agree."""

    code = ErrorCode.SESSION_MISMATCH
    close_code = CloseCode.SESSION_MISMATCH


class BadImport(BacklineError):
    """A file to import is corrupt, hostile or of the wrong shape: nothing was imported."""

    code = ErrorCode.BAD_IMPORT


class SessionExists(Conflict):
    """A fork (or a copy) onto a session name that is already taken."""

    code = ErrorCode.SESSION_EXISTS


class RateAbuse(RateLimited):
    """Closed for sending over the rate limit again and again (close 4029)."""

    close_code: ClassVar[CloseCode] = CloseCode.RATE_ABUSE


class Unauthorized(BacklineError):
    """A token was refused; `close_code` says why the connection is closed."""

    code = ErrorCode.UNAUTHORIZED
    close_code: ClassVar[CloseCode] = CloseCode.BAD_TOKEN


class BadToken(Unauthorized):
    close_code = CloseCode.BAD_TOKEN


class TokenExpired(Unauthorized):
    close_code = CloseCode.TOKEN_EXPIRED


class WrongSession(Unauthorized):
    close_code = CloseCode.WRONG_SESSION


class BadResume(Unauthorized):
    """A hello claimed a client id without the resume key its welcome handed out."""

    close_code = CloseCode.BAD_RESUME


class Revoked(Unauthorized):
    """An owner revoked this access (the person, their invite or their token): final."""

    code = ErrorCode.REVOKED
    close_code = CloseCode.REVOKED


class InviteUsed(Unauthorized):
    """The invite was redeemed as many times as its owner allowed."""

    code = ErrorCode.INVITE_USED
    close_code = CloseCode.INVITE_USED


def error_for_code(code: str, message: str) -> BacklineError:
    """Rebuild the typed exception for a code received over the wire."""
    try:
        cls = _BY_CODE[ErrorCode(code)]
    except ValueError:
        cls = Internal
    return cls(message)


def error_for_close(code: int, reason: str) -> BacklineError:
    """The typed exception for a close the server made (`Unavailable` for any other)."""
    cls = _BY_CLOSE.get(code)
    if cls is not None:
        return cls(reason)
    explained = CLOSE_REASONS.get(code, "connection closed")
    return Unavailable(f"{explained} ({code}{' ' + reason if reason else ''})")


# -- the close policy ------------------------------------------------------------

NORMAL_CLOSURE = 1000  # after `bye`, or a client's own close
PROTOCOL_ERROR = 1002  # a frame that breaks RFC 6455
MESSAGE_TOO_BIG = 1009  # a frame above 4 x max_frame_bytes
INTERNAL_ERROR = 1011  # a bug on our side
TRY_AGAIN_LATER = 1013  # the store could not load the session

CLOSE_REASONS: dict[int, str] = {
    NORMAL_CLOSURE: "closed",
    PROTOCOL_ERROR: "the client broke the websocket protocol",
    MESSAGE_TOO_BIG: "a frame was too large",
    INTERNAL_ERROR: "an error on the server",
    TRY_AGAIN_LATER: "the session cannot be loaded now",
    CloseCode.SERVER_SHUTDOWN: "the server is shutting down",
    CloseCode.HELLO_TIMEOUT: "no hello in time",
    CloseCode.PROTOCOL_VIOLATION: "too many bad frames",
    CloseCode.SLOW_CONSUMER: "too slow to read what the server sends",
    CloseCode.REPLACED: "this identity connected again elsewhere",
    CloseCode.SERVER_FULL: "this server is full",
    CloseCode.SESSION_FULL: "the session is full",
    CloseCode.KICKED: "an owner removed you from the session",
    CloseCode.SESSION_DELETED: "the session was deleted",
    CloseCode.SESSION_NOT_FOUND: "there is no session of that name",
    CloseCode.SESSION_MISMATCH: "the hello named another session than the URL",
    CloseCode.RATE_ABUSE: "too many messages over the rate limit",
    CloseCode.BAD_TOKEN: "the token was refused",
    CloseCode.TOKEN_EXPIRED: "the token has expired",
    CloseCode.WRONG_SESSION: "the token is for another session",
    CloseCode.BAD_RESUME: "this identity could not be resumed",
    CloseCode.REVOKED: "an owner revoked your access",
    CloseCode.INVITE_USED: "the invite was already used",
}
"""What each close code a client may see means, in a few words for people."""

FINAL_CLOSE_CODES: frozenset[int] = frozenset(
    {
        NORMAL_CLOSURE,
        PROTOCOL_ERROR,
        CloseCode.PROTOCOL_VIOLATION,  # the same client would send the same frames again
        CloseCode.REPLACED,  # the newer connection is the one that lives on
        CloseCode.KICKED,
        CloseCode.SESSION_DELETED,
        CloseCode.SESSION_NOT_FOUND,
        CloseCode.SESSION_MISMATCH,  # the same URL and hello would disagree again
        CloseCode.RATE_ABUSE,
        CloseCode.BAD_TOKEN,
        CloseCode.TOKEN_EXPIRED,
        CloseCode.WRONG_SESSION,
        CloseCode.BAD_RESUME,
        CloseCode.REVOKED,
        CloseCode.INVITE_USED,
    }
)
"""Closes after which reconnecting cannot help: clients stop and say why. On every
other close (shutdown, too slow, full, lost) they reconnect with backoff and resume."""
