"""Message types and validation of every client message at the boundary.

`parse_client(message)` turns a decoded map into a typed, fully checked
message, or raises a `BacklineError` with a stable code: one parser per
`ClientType`. The frames the server sends are built in `frames.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .audio import MAX_GAIN
from .codec import encode
from .errors import BadField, OutOfRange, TooLarge, UnknownType
from .limits import DEFAULT_LIMITS, Limits
from .model import check_id

MAX_RTT_US = 60_000_000  # a reported round trip above a minute is nonsense

__all__ = [
    "ADMIN_TYPES",
    "DEFAULT_INVITE_TTL",
    "EDIT_TYPES",
    "HISTORY_VIEWS",
    "IMPORT_FORMATS",
    "LOGGED_ADMIN_TYPES",
    "REQUEST_TYPES",
    "AccessRequest",
    "AdminRequest",
    "Batch",
    "Chat",
    "ClientType",
    "DeleteSession",
    "ForkRequest",
    "Hello",
    "HistoryRequest",
    "ImportRequest",
    "InviteRequest",
    "Kick",
    "LabelRequest",
    "LiveNote",
    "Lock",
    "MixGains",
    "OpMessage",
    "Ping",
    "Presence",
    "Record",
    "Redo",
    "RestoreRequest",
    "Revoke",
    "Role",
    "RtcOffer",
    "ServerType",
    "SetRole",
    "Undo",
    "ViewerAudio",
    "parse_client",
    "request_id",
    "weaker",
]


class ClientType(StrEnum):
    HELLO = "hello"
    OP = "op"
    UNDO = "undo"
    REDO = "redo"
    PRESENCE = "presence"
    CHAT = "chat"
    PING = "ping"
    BYE = "bye"
    RTC = "rtc"
    MIX = "mix"
    RECORD = "record"
    KICK = "kick"  # owners only, like the three below
    ROLE = "role"
    LOCK = "lock"
    DELETE = "delete"
    VIEWER_AUDIO = "viewer_audio"  # may viewers send audio into the room
    INVITE = "invite"  # a personal invite (answered by done with its token)
    REVOKE = "revoke"  # a person's, an invite's or a token's access
    ACCESS = "access"  # who holds access: invites and people (answered by access)
    LIVE = "live"  # a note played now (not an edit): relayed to everyone else
    HISTORY = "history"  # read the past: versions, a version's project, blame, a diff
    LABEL = "label"  # name the current version (editors and owners)
    RESTORE = "restore"  # bring an old version back as one undoable edit
    FORK = "fork"  # copy a version into a new session (answered by done with its token)
    IMPORT = "import"  # a MIDI file or a project file, as one undoable edit


class ServerType(StrEnum):
    WELCOME = "welcome"
    OPS = "ops"
    REJECT = "reject"
    PRESENCE = "presence"
    CHAT = "chat"
    PONG = "pong"
    ERROR = "error"
    RTC = "rtc"
    RECORDING = "recording"
    DONE = "done"  # an admin request was carried out
    ADMIN = "admin"  # an owner changed the session: kick, role, lock
    ACCESS = "access"  # the invites and people of the session (owners, on request)
    LIVE = "live"  # someone played a note, bent it or pressed the pedal
    HISTORY = "history"  # the answer to a history request


class Role(StrEnum):
    OWNER = "owner"
    EDITOR = "editor"
    VIEWER = "viewer"

    @property
    def can_edit(self) -> bool:
        return self is not Role.VIEWER

    @property
    def spelled(self) -> str:
        """With its article, for sentences: "an owner", "an editor", "a viewer"."""
        return f"{'an' if self.value[0] in 'aeiou' else 'a'} {self.value}"

    @property
    def rank(self) -> int:
        """Viewer 0 < editor 1 < owner 2: `min(a, b, key=Role.rank)` is the weaker."""
        return _RANKS[self]


_RANKS = {Role.VIEWER: 0, Role.EDITOR: 1, Role.OWNER: 2}


def weaker(a: Role, b: Role) -> Role:
    """The role that may do less of the two."""
    return a if a.rank <= b.rank else b


_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_TOKEN_LEN = 4096
MAX_RESUME_LEN = 128


@dataclass(frozen=True, slots=True)
class Hello:
    session: str
    token: str
    name: str
    color: str | None
    client: str | None  # resume as this client id (keeps undo history and op ids)
    version: int | None  # last version seen; the server sends what is missing
    resume: str | None = None  # that identity's resume key, from its welcome


@dataclass(frozen=True, slots=True)
class OpMessage:
    seq: int
    ops: list[Any]


@dataclass(frozen=True, slots=True)
class Undo:
    seq: int


@dataclass(frozen=True, slots=True)
class Redo:
    seq: int


@dataclass(frozen=True, slots=True)
class Presence:
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Chat:
    text: str


@dataclass(frozen=True, slots=True)
class Ping:
    t0: float
    rtt: float | None = None  # the client's current round-trip estimate (µs), for the lead


@dataclass(frozen=True, slots=True)
class Bye:
    pass


@dataclass(frozen=True, slots=True)
class RtcOffer:
    """Join (or rejoin) the session's audio room with this WebRTC offer."""

    sdp: str


@dataclass(frozen=True, slots=True)
class MixGains:
    """How loud each other participant is in my personal mix (0 to MAX_GAIN)."""

    gains: dict[str, float]


@dataclass(frozen=True, slots=True)
class Record:
    """Start or stop the server-side multitrack recording of the audio room (owners)."""

    action: str  # start | stop


RECORD_ACTIONS = ("start", "stop")


@dataclass(frozen=True, slots=True)
class Kick:
    """Close every connection of participant `client` (close 4012); they may rejoin."""

    id: int  # request id, echoed by `done` or by the `error` that refuses it
    client: str


@dataclass(frozen=True, slots=True)
class SetRole:
    """Give participant `client` another role in this session, from now on."""

    id: int
    client: str
    role: Role


@dataclass(frozen=True, slots=True)
class Lock:
    """Make the session read-only (only owners may edit) or writable again."""

    id: int
    locked: bool


@dataclass(frozen=True, slots=True)
class ViewerAudio:
    """Let viewers send audio into the room (`allowed`), or make them listen only again."""

    id: int
    allowed: bool


HISTORY_VIEWS = ("versions", "at", "blame", "diff")
IMPORT_FORMATS = ("midi", "project")
MAX_HISTORY_PAGE = 1000  # versions in one `history` answer


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    """Read the session's past (editors and owners): `versions` (a page of the timeline,
    the newest `count` before `before`), `at` (the project at `version`, or at unix-ms
    `time`), `blame` (who made and last changed each entity), `diff` (`version` → `to`)."""

    id: int
    what: str
    version: int | None = None
    time: int | None = None
    to: int | None = None
    before: int | None = None
    count: int = 200


@dataclass(frozen=True, slots=True)
class LabelRequest:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class ForkRequest:
    """Copy the project at `version` (None: now) into the new session `session`."""

    id: int
    session: str
    version: int | None


@dataclass(frozen=True, slots=True)
class RestoreRequest:
    seq: int
    version: int


@dataclass(frozen=True, slots=True)
class ImportRequest:
    """A Standard MIDI File (`data`, added to the project) or a project file (`project`,
    the JSON the page exports, parsed: it replaces the project)."""

    seq: int
    format: str
    data: bytes | None = None
    project: dict[str, Any] | None = None
    name: str = ""


@dataclass(frozen=True, slots=True)
class DeleteSession:
    """Close everyone (close 4013) and remove the session's stored data."""

    id: int


LIVE_EVENTS = ("on", "off", "bend", "sustain")
LIVE_FIELDS = {  # what each live event carries besides `event` and an optional `track`
    "on": ("pitch", "vel"),
    "off": ("pitch",),
    "bend": ("value",),
    "sustain": ("on",),
}


@dataclass(frozen=True, slots=True)
class LiveNote:
    """A note played now, not a versioned edit: `on` (pitch, vel 1-127), `off` (pitch),
    `bend` (value -1..1, the wheel), `sustain` (on: the pedal), on `track` (whose
    instrument the others play it with; None: the first instrument track)."""

    event: str
    track: str | None
    pitch: int | None = None
    vel: int | None = None
    value: float | None = None
    on: bool | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"event": self.event, "track": self.track}
        for name in LIVE_FIELDS[self.event]:
            wire[name] = getattr(self, name)
        return wire


DEFAULT_INVITE_TTL = 7 * 24 * 3600  # seconds an invite is valid unless its owner says
MAX_INVITE_TTL = 365 * 24 * 3600
MIN_INVITE_TTL = 60
MAX_INVITE_USES = 1000  # as protocol/access.py


@dataclass(frozen=True, slots=True)
class InviteRequest:
    """Create a personal invite: a token for `role` that `uses` people may join with."""

    id: int
    role: Role
    name: str  # whom it is for, shown to owners ("" = not said)
    expires_in: int  # seconds
    uses: int


@dataclass(frozen=True, slots=True)
class Revoke:
    """Revoke one person (`client`), one invite or one token id: closed at once (4405)
    on every process, refused thereafter."""

    id: int
    client: str | None
    invite: str | None
    token: str | None


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """Ask for the session's invites and people (answered by an `access` frame)."""

    id: int


AdminRequest = (
    Kick | SetRole | Lock | ViewerAudio | DeleteSession | InviteRequest | Revoke | AccessRequest
)
ADMIN_TYPES = frozenset(
    {
        ClientType.KICK,
        ClientType.ROLE,
        ClientType.LOCK,
        ClientType.VIEWER_AUDIO,
        ClientType.DELETE,
        ClientType.INVITE,
        ClientType.REVOKE,
        ClientType.ACCESS,
    }
)
LOGGED_ADMIN_TYPES = ADMIN_TYPES - {ClientType.ACCESS}
"""Admin requests that become log entries (an access query only reads)."""
EDIT_TYPES = frozenset(
    {ClientType.OP, ClientType.UNDO, ClientType.REDO, ClientType.RESTORE, ClientType.IMPORT}
)
"""Messages answered by `reject` (they carry a `seq`), not `error`."""
REQUEST_TYPES = ADMIN_TYPES | {ClientType.HISTORY, ClientType.LABEL, ClientType.FORK}
"""Messages with a request `id`, answered by `done` (or their own frame) or `error`."""

MAX_SDP_LEN = 65_536
MAX_GAINS = 256
MAX_SELECTION = 256  # ids in a presence `selection`
# The colours a session hands out to people who did not choose one (the first one
# nobody online wears): eight that tell apart on the dark page and for most eyes.
PEOPLE_COLORS = (
    "#e6194b",
    "#3cb44b",
    "#ffe119",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#46f0f0",
    "#f032e6",
)
MAX_CURSOR_KEYS = 8  # entries of a presence `cursor`
MAX_CURSOR_TEXT = 64  # characters of one string in a `cursor`

ClientMessage = (
    Hello
    | OpMessage
    | Undo
    | Redo
    | Presence
    | Chat
    | Ping
    | Bye
    | RtcOffer
    | MixGains
    | Record
    | LiveNote
    | AdminRequest
    | HistoryRequest
    | LabelRequest
    | ForkRequest
    | RestoreRequest
    | ImportRequest
)


@dataclass(frozen=True, slots=True)
class Batch:
    """One accepted edit: the unit of versioning, storage and broadcast."""

    version: int
    by: str  # client id of the author
    seq: int  # the author's op sequence number (its ack key)
    ops: list[Any]

    def to_wire(self) -> dict[str, Any]:
        return {"v": self.version, "by": self.by, "seq": self.seq, "ops": self.ops}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Batch:
        return cls(data["v"], data["by"], data["seq"], data["ops"])


def _keys(message: dict[str, Any], required: set[str], optional: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    kind = message["type"]
    missing = required - message.keys()
    if missing:
        raise BadField(f"{kind} is missing {', '.join(sorted(missing))}")
    extra = message.keys() - required - optional - {"type"}
    if extra:
        raise BadField(f"{kind} has unknown key(s) {', '.join(sorted(map(str, extra)))}")


def _str(name: str, value: Any, max_len: int, *, empty: bool = False) -> str:
    if type(value) is not str:
        raise BadField(f"{name} must be a string")
    if len(value) > max_len:
        raise TooLarge(f"{name} is longer than {max_len} characters")
    if not value and not empty:
        raise OutOfRange(f"{name} must not be empty")
    return value


def _seq(value: Any) -> int:
    if type(value) is not int:
        raise BadField("seq must be an integer")
    if not 1 <= value < 2**53:
        raise OutOfRange("seq must be between 1 and 2**53")
    return value


def _request_id(value: Any) -> int:
    if type(value) is not int:
        raise BadField("id must be an integer")
    if not 1 <= value < 2**53:
        raise OutOfRange("id must be between 1 and 2**53")
    return value


def request_id(message: Any) -> int | None:
    """The request id of an admin request, when it has a usable one (for the answer)."""
    if isinstance(message, dict) and message.get("type") in REQUEST_TYPES:
        value = message.get("id")
        if type(value) is int and 1 <= value < 2**53:
            return value
    return None


def _color(value: Any) -> str:
    if type(value) is not str or not _COLOR_RE.fullmatch(value):
        raise BadField("color must look like '#ff8800'")
    return value


def check_session_name(value: Any, limits: Limits = DEFAULT_LIMITS) -> str:
    return check_id(value, limits, "session")


def _op(message: dict[str, Any], limits: Limits) -> OpMessage:
    _keys(message, {"seq", "ops"})
    ops = message["ops"]
    if type(ops) is not list:
        raise BadField("ops must be a list")
    if not ops:
        raise BadField("ops must hold at least one op")
    if len(ops) > limits.max_ops_per_batch:
        raise TooLarge(f"at most {limits.max_ops_per_batch} ops per message")
    return OpMessage(_seq(message["seq"]), ops)


def _presence(message: dict[str, Any], limits: Limits) -> Presence:
    _keys(message, {"state"})
    return Presence(check_presence(message["state"], limits))


def _ping(message: dict[str, Any], limits: Limits) -> Ping:
    _keys(message, {"t0"}, {"rtt"})
    t0 = message["t0"]
    if type(t0) not in (int, float) or t0 != t0:
        raise BadField("t0 must be a number")
    rtt = message.get("rtt")
    if rtt is not None:
        if type(rtt) not in (int, float):
            raise BadField("rtt must be a number of microseconds")
        if not 0 <= rtt <= MAX_RTT_US:
            raise OutOfRange(f"rtt must be between 0 and {MAX_RTT_US} µs")
    return Ping(float(t0), None if rtt is None else float(rtt))


def _hello(message: dict[str, Any], limits: Limits) -> Hello:
    _keys(message, {"session", "token", "name"}, {"client", "version", "color", "resume"})
    client = message.get("client")
    resume = message.get("resume")
    version = message.get("version")
    if version is not None and type(version) is not int:
        raise BadField("version must be a non-negative integer")
    if version is not None and version < 0:
        raise OutOfRange("version must be a non-negative integer")
    color = message.get("color")
    return Hello(
        session=check_session_name(message["session"], limits),
        token=_str("token", message["token"], MAX_TOKEN_LEN),
        name=_str("name", message["name"], limits.max_name_len),
        color=None if color is None else _color(color),
        client=None if client is None else check_id(client, limits, "client"),
        version=version,
        resume=None if resume is None else _str("resume", resume, MAX_RESUME_LEN),
    )


def _undo(message: dict[str, Any], limits: Limits) -> Undo:
    _keys(message, {"seq"})
    return Undo(_seq(message["seq"]))


def _redo(message: dict[str, Any], limits: Limits) -> Redo:
    _keys(message, {"seq"})
    return Redo(_seq(message["seq"]))


def _chat(message: dict[str, Any], limits: Limits) -> Chat:
    _keys(message, {"text"})
    return Chat(_str("text", message["text"], limits.max_chat_len))


def _bye(message: dict[str, Any], limits: Limits) -> Bye:
    _keys(message, set())
    return Bye()


def _rtc(message: dict[str, Any], limits: Limits) -> RtcOffer:
    _keys(message, {"sdp"})
    sdp = _str("sdp", message["sdp"], MAX_SDP_LEN)
    if not sdp.startswith("v=0"):
        raise BadField("sdp must be a session description (starting with v=0)")
    return RtcOffer(sdp)


def _mix(message: dict[str, Any], limits: Limits) -> MixGains:
    _keys(message, {"gains"})
    gains = message["gains"]
    if type(gains) is not dict:
        raise BadField("gains must be a map of client id to gain")
    if len(gains) > MAX_GAINS:
        raise TooLarge(f"at most {MAX_GAINS} gains per message")
    checked: dict[str, float] = {}
    for client, gain in gains.items():
        check_id(client, limits, "gains key")
        if type(gain) not in (int, float):
            raise BadField("each gain must be a number")
        if not 0 <= gain <= MAX_GAIN:  # also refuses NaN
            raise OutOfRange(f"each gain must be between 0 and {MAX_GAIN}")
        checked[client] = float(gain)
    return MixGains(checked)


def _record(message: dict[str, Any], limits: Limits) -> Record:
    _keys(message, {"action"})
    action = message["action"]
    if type(action) is not str:
        raise BadField("action must be a string: start or stop")
    if action not in RECORD_ACTIONS:
        raise OutOfRange(f"action must be start or stop, not {action[:32]!r}")
    return Record(action)


def _kick(message: dict[str, Any], limits: Limits) -> Kick:
    _keys(message, {"id", "client"})
    return Kick(_request_id(message["id"]), check_id(message["client"], limits, "client"))


def _role(message: dict[str, Any], limits: Limits) -> SetRole:
    _keys(message, {"id", "client", "role"})
    role = message["role"]
    if type(role) is not str or role not in Role.__members__.values():
        raise BadField("role must be owner, editor or viewer")
    return SetRole(
        _request_id(message["id"]), check_id(message["client"], limits, "client"), Role(role)
    )


def _lock(message: dict[str, Any], limits: Limits) -> Lock:
    _keys(message, {"id", "locked"})
    if type(message["locked"]) is not bool:
        raise BadField("locked must be true or false")
    return Lock(_request_id(message["id"]), message["locked"])


def _viewer_audio(message: dict[str, Any], limits: Limits) -> ViewerAudio:
    _keys(message, {"id", "allowed"})
    if type(message["allowed"]) is not bool:
        raise BadField("allowed must be true or false")
    return ViewerAudio(_request_id(message["id"]), message["allowed"])


def _delete(message: dict[str, Any], limits: Limits) -> DeleteSession:
    _keys(message, {"id"})
    return DeleteSession(_request_id(message["id"]))


def _bounded_int(name: str, value: Any, low: int, high: int, unit: str = "") -> int:
    if type(value) is not int:
        raise BadField(f"{name} must be an integer")
    if not low <= value <= high:
        raise OutOfRange(f"{name} must be between {low} and {high}{unit}")
    return value


def _invite(message: dict[str, Any], limits: Limits) -> InviteRequest:
    _keys(message, {"id", "role"}, {"name", "expires_in", "uses"})
    role = message["role"]
    if type(role) is not str or role not in Role.__members__.values():
        raise BadField("role must be owner, editor or viewer")
    ttl = message.get("expires_in", DEFAULT_INVITE_TTL)
    return InviteRequest(
        _request_id(message["id"]),
        Role(role),
        _str("name", message.get("name", ""), limits.max_name_len, empty=True),
        _bounded_int("expires_in", ttl, MIN_INVITE_TTL, MAX_INVITE_TTL, " seconds"),
        _bounded_int("uses", message.get("uses", 1), 1, MAX_INVITE_USES),
    )


def _revoke(message: dict[str, Any], limits: Limits) -> Revoke:
    _keys(message, {"id"}, {"client", "invite", "token"})
    given = [key for key in ("client", "invite", "token") if message.get(key) is not None]
    if len(given) != 1:
        raise BadField("revoke names exactly one of client, invite or token")
    key = given[0]
    value = check_id(message[key], limits, key)
    return Revoke(
        _request_id(message["id"]),
        value if key == "client" else None,
        value if key == "invite" else None,
        value if key == "token" else None,
    )


def _live(message: dict[str, Any], limits: Limits) -> LiveNote:
    event = message.get("event")
    if type(event) is not str or event not in LIVE_EVENTS:
        raise BadField(f"event must be one of {', '.join(LIVE_EVENTS)}")
    fields = LIVE_FIELDS[event]
    _keys(message, {"event", *fields}, {"track"})
    track = message.get("track")
    track = None if track is None else check_id(track, limits, "track")
    if event == "bend":
        value = message["value"]
        if type(value) not in (int, float):
            raise BadField("value must be a number from -1 to 1")
        if not -1.0 <= value <= 1.0:  # also refuses NaN
            raise OutOfRange("value must be between -1 and 1")
        return LiveNote(event, track, value=float(value))
    if event == "sustain":
        if type(message["on"]) is not bool:
            raise BadField("on must be true or false")
        return LiveNote(event, track, on=message["on"])
    pitch = _bounded_int("pitch", message["pitch"], 0, 127)
    if event == "off":
        return LiveNote(event, track, pitch=pitch)
    return LiveNote(event, track, pitch=pitch, vel=_bounded_int("vel", message["vel"], 1, 127))


def _access(message: dict[str, Any], limits: Limits) -> AccessRequest:
    _keys(message, {"id"})
    return AccessRequest(_request_id(message["id"]))


def _version(name: str, value: Any) -> int:
    if type(value) is not int:
        raise BadField(f"{name} must be a version number")
    if not 0 <= value < 2**53:
        raise OutOfRange(f"{name} must be between 0 and 2**53")
    return value


def _optional_version(message: dict[str, Any], name: str) -> int | None:
    value = message.get(name)
    return None if value is None else _version(name, value)


def _history(message: dict[str, Any], limits: Limits) -> HistoryRequest:
    what = message.get("what")
    if type(what) is not str or what not in HISTORY_VIEWS:
        raise BadField(f"what must be one of {', '.join(HISTORY_VIEWS)}")
    fields = {
        "versions": ({"id", "what"}, {"before", "count"}),
        "at": ({"id", "what"}, {"version", "time"}),
        "blame": ({"id", "what"}, set()),
        "diff": ({"id", "what", "version", "to"}, set()),
    }[what]
    _keys(message, *fields)
    if what == "at" and (message.get("version") is None) == (message.get("time") is None):
        raise BadField("at needs exactly one of version or time")
    time = message.get("time")
    if time is not None:
        if type(time) is not int:
            raise BadField("time must be unix milliseconds (an integer)")
        if not 0 <= time < 2**53:
            raise OutOfRange("time must be between 0 and 2**53")
    count = message.get("count", 200)
    if type(count) is not int:
        raise BadField("count must be an integer")
    if not 1 <= count <= MAX_HISTORY_PAGE:
        raise OutOfRange(f"count must be between 1 and {MAX_HISTORY_PAGE}")
    return HistoryRequest(
        _request_id(message["id"]),
        what,
        version=_optional_version(message, "version"),
        time=time,
        to=_optional_version(message, "to"),
        before=_optional_version(message, "before"),
        count=count,
    )


def _label(message: dict[str, Any], limits: Limits) -> LabelRequest:
    _keys(message, {"id", "name"})
    return LabelRequest(
        _request_id(message["id"]), _str("name", message["name"], limits.max_name_len)
    )


def _fork(message: dict[str, Any], limits: Limits) -> ForkRequest:
    _keys(message, {"id", "session"}, {"version"})
    return ForkRequest(
        _request_id(message["id"]),
        check_session_name(message["session"], limits),
        _optional_version(message, "version"),
    )


def _restore(message: dict[str, Any], limits: Limits) -> RestoreRequest:
    _keys(message, {"seq", "version"})
    return RestoreRequest(_seq(message["seq"]), _version("version", message["version"]))


def _import(message: dict[str, Any], limits: Limits) -> ImportRequest:
    kind = message.get("format")
    if type(kind) is not str or kind not in IMPORT_FORMATS:
        raise BadField(f"format must be one of {', '.join(IMPORT_FORMATS)}")
    body = "data" if kind == "midi" else "project"
    _keys(message, {"seq", "format", body}, {"name"})
    name = _str("name", message.get("name", ""), 256, empty=True)
    seq = _seq(message["seq"])
    if kind == "midi":
        data = message["data"]
        if type(data) is not bytes:
            raise BadField("data must be the file's bytes (msgpack bin)")
        return ImportRequest(seq, kind, data=data, name=name)
    project = message["project"]
    if type(project) is not dict:
        raise BadField("project must be the project file's object")
    return ImportRequest(seq, kind, project=project, name=name)


_PARSERS: dict[str, Callable[[dict[str, Any], Limits], ClientMessage]] = {
    ClientType.HELLO: _hello,
    ClientType.OP: _op,
    ClientType.UNDO: _undo,
    ClientType.REDO: _redo,
    ClientType.PRESENCE: _presence,
    ClientType.CHAT: _chat,
    ClientType.PING: _ping,
    ClientType.BYE: _bye,
    ClientType.RTC: _rtc,
    ClientType.MIX: _mix,
    ClientType.RECORD: _record,
    ClientType.KICK: _kick,
    ClientType.ROLE: _role,
    ClientType.LOCK: _lock,
    ClientType.VIEWER_AUDIO: _viewer_audio,
    ClientType.DELETE: _delete,
    ClientType.INVITE: _invite,
    ClientType.REVOKE: _revoke,
    ClientType.ACCESS: _access,
    ClientType.LIVE: _live,
    ClientType.HISTORY: _history,
    ClientType.LABEL: _label,
    ClientType.FORK: _fork,
    ClientType.RESTORE: _restore,
    ClientType.IMPORT: _import,
}


def parse_client(message: dict[str, Any], limits: Limits = DEFAULT_LIMITS) -> ClientMessage:
    """Check a decoded client frame completely and return its typed form."""
    kind = message["type"]
    parser = _PARSERS.get(kind)
    if parser is None:
        raise UnknownType(f"unknown message type {kind[:32]!r}")
    return parser(message, limits)


PRESENCE_FIELDS = ("name", "color", "cursor", "selection", "listening", "playing", "track")


def check_presence(state: Any, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Presence is free-form in `cursor` but every known key is typed."""
    if type(state) is not dict:
        raise BadField("presence state must be a map")
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key == "name":
            out[key] = _str("name", value, limits.max_name_len)
        elif key == "color":
            out[key] = _color(value)
        elif key in ("listening", "playing"):
            if type(value) is not bool:
                raise BadField(f"{key} must be true or false")
            out[key] = value
        elif key == "selection":
            if type(value) is not list:
                raise BadField(f"selection must be a list of at most {MAX_SELECTION} ids")
            if len(value) > MAX_SELECTION:
                raise TooLarge(f"selection must be a list of at most {MAX_SELECTION} ids")
            out[key] = [check_id(v, limits, "selection id") for v in value]
        elif key == "cursor":
            out[key] = _check_cursor(value)
        elif key == "track":  # the project track whose mute/solo my audio follows
            out[key] = None if value is None else check_id(value, limits, "track")
        else:
            raise BadField(f"unknown presence key {str(key)[:32]!r}")
    if len(encode(out)) > limits.max_presence_bytes:
        raise TooLarge(f"presence state is larger than {limits.max_presence_bytes} bytes")
    return out


def _check_cursor(value: Any) -> Any:
    """A cursor is null or a small map of strings/numbers: {"view": "grid", "x": 3, ...}."""
    if value is None:
        return None
    if type(value) is not dict:
        raise BadField(f"cursor must be null or a map of at most {MAX_CURSOR_KEYS} entries")
    if len(value) > MAX_CURSOR_KEYS:
        raise TooLarge(f"cursor must be null or a map of at most {MAX_CURSOR_KEYS} entries")
    for key, item in value.items():
        if type(item) not in (str, int, float, bool):
            raise BadField(f"cursor.{key} must be a short string, a number or a bool")
        if type(item) is str and len(item) > MAX_CURSOR_TEXT:
            raise TooLarge(f"cursor.{key} is longer than {MAX_CURSOR_TEXT} characters")
    return value
