"""Client messages checked at the boundary, server frames, and the stable error codes."""

from __future__ import annotations

import math
from typing import Any

import pytest

from backline.protocol import errors, frames
from backline.protocol.codec import decode, encode
from backline.protocol.errors import BacklineError, CloseCode, ErrorCode, error_for_code
from backline.protocol.limits import DEFAULT_LIMITS, Limits
from backline.protocol.messages import (
    DEFAULT_INVITE_TTL,
    MAX_GAIN,
    MAX_GAINS,
    MAX_RTT_US,
    MAX_SDP_LEN,
    MAX_TOKEN_LEN,
    AccessRequest,
    Batch,
    Bye,
    Chat,
    ClientType,
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
    ServerType,
    SetRole,
    Undo,
    ViewerAudio,
    parse_client,
)

BAD = ErrorCode.BAD_FIELD
RANGE = ErrorCode.OUT_OF_RANGE
LARGE = ErrorCode.TOO_LARGE

OP = {"op": "delete", "id": "n1"}

# The first sample of each type holds exactly its required keys.
VALID: dict[ClientType, list[tuple[dict[str, Any], Any]]] = {
    ClientType.HELLO: [
        (
            {"type": "hello", "session": "jam", "token": "t", "name": "Ann"},
            Hello("jam", "t", "Ann", None, None, None),
        ),
        (
            {
                "type": "hello",
                "session": "s" * 64,
                "token": "t" * MAX_TOKEN_LEN,
                "name": "n" * 64,
                "color": "#A0b1C2",
                "client": "c:1",
                "version": 0,
            },
            Hello("s" * 64, "t" * MAX_TOKEN_LEN, "n" * 64, "#A0b1C2", "c:1", 0),
        ),
        (
            {
                "type": "hello",
                "session": "jam",
                "token": "t",
                "name": "Ann",
                "color": None,
                "client": None,
                "version": None,
            },
            Hello("jam", "t", "Ann", None, None, None),
        ),
    ],
    ClientType.OP: [
        ({"type": "op", "seq": 1, "ops": [OP]}, OpMessage(1, [OP])),
        ({"type": "op", "seq": 2**53 - 1, "ops": [OP] * 1000}, OpMessage(2**53 - 1, [OP] * 1000)),
        # op contents are the op engine's business, not the message parser's
        ({"type": "op", "seq": 5, "ops": ["junk"]}, OpMessage(5, ["junk"])),
    ],
    ClientType.UNDO: [
        ({"type": "undo", "seq": 1}, Undo(1)),
        ({"type": "undo", "seq": 2**53 - 1}, Undo(2**53 - 1)),
    ],
    ClientType.REDO: [({"type": "redo", "seq": 7}, Redo(7))],
    ClientType.PRESENCE: [
        ({"type": "presence", "state": {}}, Presence({})),
        (
            {
                "type": "presence",
                "state": {
                    "name": "Ann",
                    "color": "#ff8800",
                    "cursor": {"view": "grid", "x": 3, "y": 1.5, "on": True},
                    "selection": ["t1", "p:2"],
                    "listening": True,
                    "playing": False,
                },
            },
            Presence(
                {
                    "name": "Ann",
                    "color": "#ff8800",
                    "cursor": {"view": "grid", "x": 3, "y": 1.5, "on": True},
                    "selection": ["t1", "p:2"],
                    "listening": True,
                    "playing": False,
                }
            ),
        ),
        ({"type": "presence", "state": {"cursor": None}}, Presence({"cursor": None})),
        ({"type": "presence", "state": {"track": "c1:3"}}, Presence({"track": "c1:3"})),
        ({"type": "presence", "state": {"track": None}}, Presence({"track": None})),
        (
            {"type": "presence", "state": {"selection": ["t"] * 256}},
            Presence({"selection": ["t"] * 256}),
        ),
    ],
    ClientType.CHAT: [
        ({"type": "chat", "text": "hi"}, Chat("hi")),
        ({"type": "chat", "text": "x" * 1000}, Chat("x" * 1000)),
    ],
    ClientType.PING: [
        ({"type": "ping", "t0": 12}, Ping(12.0)),
        ({"type": "ping", "t0": 1.5, "rtt": 2000}, Ping(1.5, 2000.0)),
        ({"type": "ping", "t0": -1.0, "rtt": 0}, Ping(-1.0, 0.0)),
        ({"type": "ping", "t0": 0, "rtt": MAX_RTT_US}, Ping(0.0, float(MAX_RTT_US))),
        ({"type": "ping", "t0": 0, "rtt": None}, Ping(0.0, None)),
    ],
    ClientType.BYE: [({"type": "bye"}, Bye())],
    ClientType.RTC: [
        (
            {"type": "rtc", "sdp": "v=0\r\no=- 1 1 IN IP4 0\r\n"},
            RtcOffer("v=0\r\no=- 1 1 IN IP4 0\r\n"),
        )
    ],
    ClientType.MIX: [
        (
            {"type": "mix", "gains": {"c1": 0, "c2": 1.5, "c3": 4}},
            MixGains({"c1": 0.0, "c2": 1.5, "c3": 4.0}),
        ),
        ({"type": "mix", "gains": {}}, MixGains({})),
    ],
    ClientType.RECORD: [
        ({"type": "record", "action": "start"}, Record("start")),
        ({"type": "record", "action": "stop"}, Record("stop")),
    ],
    ClientType.KICK: [({"type": "kick", "id": 1, "client": "c1"}, Kick(1, "c1"))],
    ClientType.ROLE: [
        (
            {"type": "role", "id": 2, "client": "c1", "role": "viewer"},
            SetRole(2, "c1", Role.VIEWER),
        ),
        (
            {"type": "role", "id": 3, "client": "c:2", "role": "owner"},
            SetRole(3, "c:2", Role.OWNER),
        ),
    ],
    ClientType.LOCK: [
        ({"type": "lock", "id": 4, "locked": True}, Lock(4, True)),
        ({"type": "lock", "id": 2**53 - 1, "locked": False}, Lock(2**53 - 1, False)),
    ],
    ClientType.DELETE: [({"type": "delete", "id": 5}, DeleteSession(5))],
    ClientType.VIEWER_AUDIO: [
        ({"type": "viewer_audio", "id": 6, "allowed": True}, ViewerAudio(6, True)),
        ({"type": "viewer_audio", "id": 7, "allowed": False}, ViewerAudio(7, False)),
    ],
    ClientType.INVITE: [
        (
            {"type": "invite", "id": 8, "role": "editor"},
            InviteRequest(8, Role.EDITOR, "", DEFAULT_INVITE_TTL, 1),
        ),
        (
            {
                "type": "invite",
                "id": 9,
                "role": "viewer",
                "name": "Ann",
                "expires_in": 60,
                "uses": 5,
            },
            InviteRequest(9, Role.VIEWER, "Ann", 60, 5),
        ),
    ],
    ClientType.REVOKE: [
        ({"type": "revoke", "id": 10, "client": "c1"}, Revoke(10, "c1", None, None)),
        ({"type": "revoke", "id": 11, "invite": "i1"}, Revoke(11, None, "i1", None)),
        ({"type": "revoke", "id": 12, "token": "tok-_1"}, Revoke(12, None, None, "tok-_1")),
    ],
    ClientType.ACCESS: [({"type": "access", "id": 13}, AccessRequest(13))],
    ClientType.LIVE: [
        ({"type": "live", "event": "on", "pitch": 60, "vel": 100}, LiveNote("on", None, 60, 100)),
        ({"type": "live", "event": "off", "pitch": 0, "track": "t1"}, LiveNote("off", "t1", 0)),
        ({"type": "live", "event": "bend", "value": -1}, LiveNote("bend", None, value=-1.0)),
        ({"type": "live", "event": "sustain", "on": True}, LiveNote("sustain", None, on=True)),
    ],
    ClientType.HISTORY: [
        ({"type": "history", "id": 1, "what": "versions"}, HistoryRequest(1, "versions")),
        (
            {"type": "history", "id": 2, "what": "versions", "before": 9, "count": 5},
            HistoryRequest(2, "versions", before=9, count=5),
        ),
        ({"type": "history", "id": 3, "what": "at", "version": 0}, HistoryRequest(3, "at", 0)),
        (
            {"type": "history", "id": 4, "what": "at", "time": 1_700_000_000_000},
            HistoryRequest(4, "at", time=1_700_000_000_000),
        ),
        ({"type": "history", "id": 5, "what": "blame"}, HistoryRequest(5, "blame")),
        (
            {"type": "history", "id": 6, "what": "diff", "version": 2, "to": 7},
            HistoryRequest(6, "diff", 2, to=7),
        ),
    ],
    ClientType.LABEL: [({"type": "label", "id": 7, "name": "v2 mix"}, LabelRequest(7, "v2 mix"))],
    ClientType.RESTORE: [({"type": "restore", "seq": 3, "version": 12}, RestoreRequest(3, 12))],
    ClientType.FORK: [
        ({"type": "fork", "id": 8, "session": "jam-2"}, ForkRequest(8, "jam-2", None)),
        ({"type": "fork", "id": 9, "session": "b", "version": 4}, ForkRequest(9, "b", 4)),
    ],
    ClientType.IMPORT: [
        (
            {"type": "import", "seq": 4, "format": "midi", "data": b"MThd"},
            ImportRequest(4, "midi", data=b"MThd"),
        ),
        (
            {"type": "import", "seq": 5, "format": "project", "project": {}, "name": "a.json"},
            ImportRequest(5, "project", project={}, name="a.json"),
        ),
    ],
}


def test_samples_cover_every_client_type() -> None:
    assert set(VALID) == set(ClientType)
    assert {t.value for t in ClientType} == {
        "hello",
        "op",
        "undo",
        "redo",
        "presence",
        "chat",
        "ping",
        "bye",
        "rtc",
        "mix",
        "record",
        "kick",
        "role",
        "lock",
        "delete",
        "viewer_audio",
        "invite",
        "revoke",
        "access",
        "live",
        "history",
        "label",
        "restore",
        "fork",
        "import",
    }


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(m, e, id=f"{t.value}-{i}")
        for t, samples in VALID.items()
        for i, (m, e) in enumerate(samples)
    ],
)
def test_valid_messages_parse(message: dict[str, Any], expected: Any) -> None:
    """A valid frame decodes and parses into its typed, normalised form."""
    parsed = parse_client(decode(encode(message)))
    assert parsed == expected
    assert type(parsed) is type(expected)
    if isinstance(parsed, Ping):
        assert type(parsed.t0) is float


def refused(message: dict[str, Any], code: ErrorCode, limits: Limits = DEFAULT_LIMITS) -> None:
    with pytest.raises(BacklineError) as info:
        parse_client(message, limits)
    assert info.value.code is code, info.value.message


@pytest.mark.parametrize(
    ("message", "key"),
    [
        pytest.param(VALID[t][0][0], key, id=f"{t.value}-{key}")
        for t in ClientType
        for key in VALID[t][0][0]
        if key != "type"
    ],
)
def test_missing_field_is_bad_field(message: dict[str, Any], key: str) -> None:
    refused({k: v for k, v in message.items() if k != key}, BAD)


@pytest.mark.parametrize("kind", list(ClientType))
@pytest.mark.parametrize("extra", ["extra", "Type", "seq2"])
def test_unknown_key_is_bad_field(kind: ClientType, extra: str) -> None:
    """A typo never silently does nothing."""
    refused({**VALID[kind][0][0], extra: 1}, BAD)


@pytest.mark.parametrize("kind", ["nope", "HELLO", "", "welcome", "ops", "pong", "x" * 5000])
def test_unknown_type(kind: str) -> None:
    with pytest.raises(BacklineError) as info:
        parse_client({"type": kind})
    assert info.value.code is ErrorCode.UNKNOWN_TYPE
    assert len(info.value.message) < 100  # the echoed type is truncated


HELLO = VALID[ClientType.HELLO][0][0]


def _presence(**state: Any) -> dict[str, Any]:
    return {"type": "presence", "state": state}


BAD_FIELDS: list[tuple[str, dict[str, Any], ErrorCode]] = [
    # hello
    ("session-int", {**HELLO, "session": 5}, BAD),
    ("session-empty", {**HELLO, "session": ""}, RANGE),
    ("session-long", {**HELLO, "session": "s" * 65}, RANGE),
    ("session-chars", {**HELLO, "session": "my jam"}, BAD),
    ("session-newline", {**HELLO, "session": "jam\n"}, BAD),
    ("token-int", {**HELLO, "token": 5}, BAD),
    ("token-bytes", {**HELLO, "token": b"t"}, BAD),
    ("token-empty", {**HELLO, "token": ""}, RANGE),
    ("token-long", {**HELLO, "token": "t" * (MAX_TOKEN_LEN + 1)}, LARGE),
    ("name-none", {**HELLO, "name": None}, BAD),
    ("name-empty", {**HELLO, "name": ""}, RANGE),
    ("name-long", {**HELLO, "name": "n" * 65}, LARGE),
    ("color-word", {**HELLO, "color": "red"}, BAD),
    ("color-int", {**HELLO, "color": 0xFF8800}, BAD),
    ("color-short", {**HELLO, "color": "#ff880"}, BAD),
    ("color-newline", {**HELLO, "color": "#ff8800\n"}, BAD),
    ("client-empty", {**HELLO, "client": ""}, RANGE),
    ("client-chars", {**HELLO, "client": "a b"}, BAD),
    ("client-int", {**HELLO, "client": 3}, BAD),
    ("version-negative", {**HELLO, "version": -1}, RANGE),
    ("version-str", {**HELLO, "version": "1"}, BAD),
    ("version-bool", {**HELLO, "version": True}, BAD),
    ("version-float", {**HELLO, "version": 1.0}, BAD),
    # op
    ("op-seq-zero", {"type": "op", "seq": 0, "ops": [OP]}, RANGE),
    ("op-seq-negative", {"type": "op", "seq": -1, "ops": [OP]}, RANGE),
    ("op-seq-huge", {"type": "op", "seq": 2**53, "ops": [OP]}, RANGE),
    ("op-seq-float", {"type": "op", "seq": 1.0, "ops": [OP]}, BAD),
    ("op-seq-bool", {"type": "op", "seq": True, "ops": [OP]}, BAD),
    ("op-seq-str", {"type": "op", "seq": "1", "ops": [OP]}, BAD),
    ("op-ops-map", {"type": "op", "seq": 1, "ops": OP}, BAD),
    ("op-ops-none", {"type": "op", "seq": 1, "ops": None}, BAD),
    ("op-ops-empty", {"type": "op", "seq": 1, "ops": []}, BAD),
    ("op-ops-too-many", {"type": "op", "seq": 1, "ops": [OP] * 1001}, LARGE),
    # undo / redo
    ("undo-seq-zero", {"type": "undo", "seq": 0}, RANGE),
    ("undo-seq-float", {"type": "undo", "seq": 2.0}, BAD),
    ("redo-seq-huge", {"type": "redo", "seq": 2**53}, RANGE),
    ("redo-seq-none", {"type": "redo", "seq": None}, BAD),
    # presence
    ("presence-list", {"type": "presence", "state": []}, BAD),
    ("presence-none", {"type": "presence", "state": None}, BAD),
    ("presence-unknown-key", _presence(mood="happy"), BAD),
    ("presence-name-int", _presence(name=5), BAD),
    ("presence-name-empty", _presence(name=""), RANGE),
    ("presence-name-long", _presence(name="n" * 65), LARGE),
    ("presence-color", _presence(color="#12345g"), BAD),
    ("presence-listening-int", _presence(listening=1), BAD),
    ("presence-playing-str", _presence(playing="yes"), BAD),
    ("presence-selection-str", _presence(selection="t1"), BAD),
    ("presence-selection-bad-id", _presence(selection=["a b"]), BAD),
    ("presence-selection-empty-id", _presence(selection=[""]), RANGE),
    ("presence-selection-too-many", _presence(selection=["t"] * 257), LARGE),
    ("presence-cursor-list", _presence(cursor=[1, 2]), BAD),
    ("presence-cursor-nested", _presence(cursor={"x": [1]}), BAD),
    ("presence-cursor-null-value", _presence(cursor={"x": None}), BAD),
    ("presence-cursor-too-many", _presence(cursor={str(i): i for i in range(9)}), LARGE),
    ("presence-cursor-long-str", _presence(cursor={"view": "v" * 65}), LARGE),
    ("presence-track-int", _presence(track=3), BAD),
    ("presence-track-bad-id", _presence(track="a b"), BAD),
    ("presence-track-empty", _presence(track=""), RANGE),
    # chat
    ("chat-empty", {"type": "chat", "text": ""}, RANGE),
    ("chat-long", {"type": "chat", "text": "x" * 1001}, LARGE),
    ("chat-int", {"type": "chat", "text": 5}, BAD),
    # ping
    ("ping-str", {"type": "ping", "t0": "1"}, BAD),
    ("ping-none", {"type": "ping", "t0": None}, BAD),
    ("ping-bool", {"type": "ping", "t0": True}, BAD),
    ("ping-nan", {"type": "ping", "t0": math.nan}, BAD),
    ("ping-rtt-str", {"type": "ping", "t0": 1, "rtt": "5"}, BAD),
    ("ping-rtt-bool", {"type": "ping", "t0": 1, "rtt": True}, BAD),
    ("ping-rtt-negative", {"type": "ping", "t0": 1, "rtt": -1}, RANGE),
    ("ping-rtt-huge", {"type": "ping", "t0": 1, "rtt": MAX_RTT_US + 1}, RANGE),
    ("ping-rtt-nan", {"type": "ping", "t0": 1, "rtt": math.nan}, RANGE),
    # rtc
    ("rtc-not-str", {"type": "rtc", "sdp": 5}, BAD),
    ("rtc-not-sdp", {"type": "rtc", "sdp": "hello"}, BAD),
    ("rtc-huge", {"type": "rtc", "sdp": "v=0" + "x" * MAX_SDP_LEN}, LARGE),
    # mix
    ("mix-not-map", {"type": "mix", "gains": [1]}, BAD),
    ("mix-bad-key", {"type": "mix", "gains": {"bad id!": 1}}, BAD),
    ("mix-gain-str", {"type": "mix", "gains": {"c1": "1"}}, BAD),
    ("mix-gain-bool", {"type": "mix", "gains": {"c1": True}}, BAD),
    ("mix-gain-negative", {"type": "mix", "gains": {"c1": -0.1}}, RANGE),
    ("mix-gain-loud", {"type": "mix", "gains": {"c1": MAX_GAIN + 0.1}}, RANGE),
    ("mix-gain-nan", {"type": "mix", "gains": {"c1": math.nan}}, RANGE),
    ("mix-too-many", {"type": "mix", "gains": {f"c{i}": 1 for i in range(MAX_GAINS + 1)}}, LARGE),
    # record
    ("record-unknown-action", {"type": "record", "action": "pause"}, RANGE),
    ("record-action-int", {"type": "record", "action": 1}, BAD),
    ("record-action-none", {"type": "record", "action": None}, BAD),
    # admin requests
    ("kick-bad-client", {"type": "kick", "id": 1, "client": "bad id!"}, BAD),
    ("kick-id-str", {"type": "kick", "id": "1", "client": "c1"}, BAD),
    ("kick-id-zero", {"type": "kick", "id": 0, "client": "c1"}, RANGE),
    ("role-unknown", {"type": "role", "id": 1, "client": "c1", "role": "admin"}, BAD),
    ("role-not-str", {"type": "role", "id": 1, "client": "c1", "role": 1}, BAD),
    ("lock-not-bool", {"type": "lock", "id": 1, "locked": 1}, BAD),
    ("delete-id-bool", {"type": "delete", "id": True}, BAD),
    ("delete-id-huge", {"type": "delete", "id": 2**53}, RANGE),
    ("viewer-audio-not-bool", {"type": "viewer_audio", "id": 1, "allowed": "yes"}, BAD),
    ("viewer-audio-no-id", {"type": "viewer_audio", "allowed": True}, BAD),
    ("invite-role-unknown", {"type": "invite", "id": 1, "role": "admin"}, BAD),
    ("invite-uses-zero", {"type": "invite", "id": 1, "role": "editor", "uses": 0}, RANGE),
    ("invite-uses-huge", {"type": "invite", "id": 1, "role": "editor", "uses": 10**6}, RANGE),
    ("invite-uses-float", {"type": "invite", "id": 1, "role": "editor", "uses": 1.0}, BAD),
    ("invite-ttl-negative", {"type": "invite", "id": 1, "role": "editor", "expires_in": -5}, RANGE),
    (
        "invite-ttl-forever",
        {"type": "invite", "id": 1, "role": "editor", "expires_in": 10**9},
        RANGE,
    ),
    ("invite-ttl-null", {"type": "invite", "id": 1, "role": "editor", "expires_in": None}, BAD),
    ("invite-name-long", {"type": "invite", "id": 1, "role": "editor", "name": "x" * 999}, LARGE),
    ("revoke-nothing", {"type": "revoke", "id": 1}, BAD),
    ("revoke-two", {"type": "revoke", "id": 1, "client": "c1", "invite": "i1"}, BAD),
    ("revoke-bad-id", {"type": "revoke", "id": 1, "invite": "bad id!"}, BAD),
    ("access-id-str", {"type": "access", "id": "x"}, BAD),
    ("history-what", {"type": "history", "id": 1, "what": "everything"}, BAD),
    ("history-at-neither", {"type": "history", "id": 1, "what": "at"}, BAD),
    ("history-at-both", {"type": "history", "id": 1, "what": "at", "version": 1, "time": 1}, BAD),
    ("history-at-negative", {"type": "history", "id": 1, "what": "at", "version": -1}, RANGE),
    ("history-at-float", {"type": "history", "id": 1, "what": "at", "version": 1.0}, BAD),
    ("history-time-str", {"type": "history", "id": 1, "what": "at", "time": "now"}, BAD),
    ("history-count-big", {"type": "history", "id": 1, "what": "versions", "count": 10**6}, RANGE),
    ("history-count-zero", {"type": "history", "id": 1, "what": "versions", "count": 0}, RANGE),
    ("history-diff-one", {"type": "history", "id": 1, "what": "diff", "version": 1}, BAD),
    ("history-blame-extra", {"type": "history", "id": 1, "what": "blame", "version": 1}, BAD),
    ("label-empty", {"type": "label", "id": 1, "name": ""}, RANGE),
    ("label-long", {"type": "label", "id": 1, "name": "x" * 999}, LARGE),
    ("restore-no-version", {"type": "restore", "seq": 1}, BAD),
    ("restore-negative", {"type": "restore", "seq": 1, "version": -2}, RANGE),
    ("fork-bad-name", {"type": "fork", "id": 1, "session": "bad name!"}, BAD),
    ("import-format", {"type": "import", "seq": 1, "format": "mp3", "data": b""}, BAD),
    ("import-midi-str", {"type": "import", "seq": 1, "format": "midi", "data": "MThd"}, BAD),
    ("import-project-list", {"type": "import", "seq": 1, "format": "project", "project": []}, BAD),
    ("import-midi-project", {"type": "import", "seq": 1, "format": "midi", "project": {}}, BAD),
    ("live-no-event", {"type": "live", "pitch": 60, "vel": 1}, BAD),
    ("live-unknown-event", {"type": "live", "event": "cc", "pitch": 60}, BAD),
    ("live-pitch-high", {"type": "live", "event": "on", "pitch": 128, "vel": 1}, RANGE),
    ("live-vel-zero", {"type": "live", "event": "on", "pitch": 60, "vel": 0}, RANGE),
    ("live-vel-float", {"type": "live", "event": "on", "pitch": 60, "vel": 1.0}, BAD),
    ("live-off-no-pitch", {"type": "live", "event": "off"}, BAD),
    ("live-bend-far", {"type": "live", "event": "bend", "value": 1.5}, RANGE),
    ("live-bend-nan", {"type": "live", "event": "bend", "value": math.nan}, RANGE),
    ("live-sustain-int", {"type": "live", "event": "sustain", "on": 1}, BAD),
    ("live-bad-track", {"type": "live", "event": "off", "pitch": 1, "track": "bad id!"}, BAD),
    ("live-extra-vel", {"type": "live", "event": "off", "pitch": 1, "vel": 3}, BAD),
]


@pytest.mark.parametrize(
    ("message", "code"), [pytest.param(m, c, id=name) for name, m, c in BAD_FIELDS]
)
def test_bad_fields_have_stable_codes(message: dict[str, Any], code: ErrorCode) -> None:
    """Wrong type: bad_field; right type out of range: out_of_range; over a limit: too_large."""
    refused(message, code)


def test_every_client_type_has_refusal_cases() -> None:
    covered = {m["type"] for _, m, _ in BAD_FIELDS}
    assert covered | {"bye"} == {t.value for t in ClientType}


@pytest.mark.parametrize(
    ("limits", "ok", "bad"),
    [
        pytest.param(
            Limits(max_ops_per_batch=2),
            {"type": "op", "seq": 1, "ops": [OP] * 2},
            {"type": "op", "seq": 1, "ops": [OP] * 3},
            id="max_ops_per_batch",
        ),
        pytest.param(
            Limits(max_chat_len=5),
            {"type": "chat", "text": "x" * 5},
            {"type": "chat", "text": "x" * 6},
            id="max_chat_len",
        ),
        pytest.param(
            Limits(max_name_len=3), {**HELLO, "name": "abc"}, {**HELLO, "name": "abcd"}, id="name"
        ),
        pytest.param(
            Limits(max_name_len=3), _presence(name="abc"), _presence(name="abcd"), id="presence"
        ),
        pytest.param(
            Limits(max_presence_bytes=64),
            _presence(cursor={"a": "x" * 40}),
            _presence(cursor={"a": "x" * 40, "b": "y" * 20}),
            id="max_presence_bytes",
        ),
    ],
)
def test_configured_limits_are_too_large(limits: Limits, ok: dict[str, Any], bad: Any) -> None:
    parse_client(ok, limits)
    refused(bad, LARGE, limits)


@pytest.mark.parametrize(
    ("limits", "ok", "bad"),
    [
        (Limits(max_id_len=3), {**HELLO, "session": "abc"}, {**HELLO, "session": "abcd"}),
        (Limits(max_id_len=3), {**HELLO, "client": "abc"}, {**HELLO, "client": "abcd"}),
        (Limits(max_id_len=3), _presence(selection=["abc"]), _presence(selection=["abcd"])),
    ],
)
def test_configured_id_length(limits: Limits, ok: dict[str, Any], bad: dict[str, Any]) -> None:
    parse_client(ok, limits)
    refused(bad, RANGE, limits)


def test_default_presence_byte_limit() -> None:
    """Each key is within its own limit, but together they exceed max_presence_bytes."""
    state = {"name": "n" * 64, "selection": [f"{i:032x}" for i in range(64)]}
    assert len(encode(state)) > DEFAULT_LIMITS.max_presence_bytes
    refused(_presence(**state), LARGE)


def test_frame_types_are_server_types() -> None:
    for frame in (frames.error("x", "y"), frames.reject(1, "x", "y"), frames.ops_frame([])):
        assert ServerType(frame["type"])
    assert {t.value for t in ServerType} == {
        "welcome",
        "ops",
        "reject",
        "presence",
        "chat",
        "pong",
        "error",
        "rtc",
        "recording",
        "done",
        "admin",
        "access",
        "live",
        "history",
    }


def test_batch_wire_roundtrip() -> None:
    batch = Batch(9, "c:1", 4, [OP, {"op": "move", "id": "t", "index": 0}])
    assert Batch.from_wire(decode(encode({"type": "x", **batch.to_wire()}))) == batch


def test_roles() -> None:
    assert [r.value for r in Role] == ["owner", "editor", "viewer"]
    assert Role.OWNER.can_edit and Role.EDITOR.can_edit
    assert not Role.VIEWER.can_edit


# -- error codes -----------------------------------------------------------------------


def test_error_codes_never_change() -> None:
    """Clients match on these strings; a rename is a breaking protocol change."""
    assert {c.name: c.value for c in ErrorCode} == {
        "BAD_FRAME": "bad_frame",
        "UNKNOWN_TYPE": "unknown_type",
        "BAD_FIELD": "bad_field",
        "OUT_OF_RANGE": "out_of_range",
        "OVERLAP": "overlap",
        "NOT_FOUND": "not_found",
        "CONFLICT": "conflict",
        "TOO_LARGE": "too_large",
        "LIMIT_EXCEEDED": "limit_exceeded",
        "FORBIDDEN": "forbidden",
        "NOT_JOINED": "not_joined",
        "ALREADY_JOINED": "already_joined",
        "NOTHING_TO_UNDO": "nothing_to_undo",
        "NOTHING_SELECTED": "nothing_selected",
        "DUPLICATE": "duplicate",
        "UNAUTHORIZED": "unauthorized",
        "UNAVAILABLE": "unavailable",
        "INTERNAL": "internal",
        "RATE_LIMITED": "rate_limited",
        "SERVER_FULL": "server_full",
        "SESSION_FULL": "session_full",
        "LOCKED": "locked",
        "KICKED": "kicked",
        "SESSION_DELETED": "session_deleted",
        "REVOKED": "revoked",
        "INVITE_USED": "invite_used",
        "BAD_IMPORT": "bad_import",
        "SESSION_EXISTS": "session_exists",
        "SESSION_MISMATCH": "session_mismatch",
    }


def test_close_codes_never_change() -> None:
    assert {c.name: int(c) for c in CloseCode} == {
        "SERVER_SHUTDOWN": 4000,
        "HELLO_TIMEOUT": 4001,
        "PROTOCOL_VIOLATION": 4002,
        "SLOW_CONSUMER": 4008,
        "REPLACED": 4009,
        "SERVER_FULL": 4010,
        "SESSION_FULL": 4011,
        "KICKED": 4012,
        "SESSION_DELETED": 4013,
        "SESSION_NOT_FOUND": 4014,
        "SESSION_MISMATCH": 4015,
        "RATE_ABUSE": 4029,
        "BAD_TOKEN": 4401,
        "TOKEN_EXPIRED": 4402,
        "WRONG_SESSION": 4403,
        "BAD_RESUME": 4404,
        "REVOKED": 4405,
        "INVITE_USED": 4406,
    }
    assert all(4000 <= c <= 4999 for c in CloseCode)


def _error_classes() -> list[type[BacklineError]]:
    return [
        cls
        for name in errors.__all__
        if isinstance(cls := getattr(errors, name), type)
        and issubclass(cls, BacklineError)
        and cls is not BacklineError
    ]


def test_every_code_has_an_exception_class() -> None:
    codes = {cls.code for cls in _error_classes()}
    assert codes == set(ErrorCode)


@pytest.mark.parametrize("code", list(ErrorCode))
def test_error_for_code_rebuilds_the_typed_exception(code: ErrorCode) -> None:
    """What the SDK raises for a received code carries the same code and message."""
    exc = error_for_code(code.value, "why")
    assert exc.code is code
    assert exc.message == "why"
    assert isinstance(exc, BacklineError)
    assert repr(exc) == f"{type(exc).__name__}('why')"


@pytest.mark.parametrize("code", ["", "nope", "BAD_FIELD", "4401"])
def test_unknown_codes_become_internal(code: str) -> None:
    exc = error_for_code(code, "m")
    assert type(exc) is errors.Internal
    assert exc.code is ErrorCode.INTERNAL


def test_the_close_policy_explains_every_code_and_names_the_final_ones() -> None:
    from backline.protocol.errors import CLOSE_REASONS, FINAL_CLOSE_CODES

    assert set(CloseCode) <= CLOSE_REASONS.keys()
    assert CLOSE_REASONS.keys() >= FINAL_CLOSE_CODES
    final = {CloseCode(c).name for c in FINAL_CLOSE_CODES if c >= 4000}
    assert final == {
        "PROTOCOL_VIOLATION", "REPLACED", "KICKED", "SESSION_DELETED", "RATE_ABUSE",
        "BAD_TOKEN", "TOKEN_EXPIRED", "WRONG_SESSION", "BAD_RESUME",
        "SESSION_NOT_FOUND", "REVOKED", "INVITE_USED", "SESSION_MISMATCH",
    }  # fmt: skip
    assert {1000, 1002} <= FINAL_CLOSE_CODES
    # retried: shutdown, too slow, full, a lost connection
    for code in (4000, 4001, 4008, 4010, 4011, 1006, 1011, 1013):
        assert code not in FINAL_CLOSE_CODES


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (4401, "BadToken"), (4402, "TokenExpired"), (4403, "WrongSession"), (4404, "BadResume"),
        (4010, "ServerFull"), (4011, "SessionFull"), (4012, "Kicked"), (4013, "SessionDeleted"),
        (4029, "RateAbuse"), (4008, "Unavailable"), (1006, "Unavailable"),
        (4014, "SessionNotFound"), (4405, "Revoked"), (4406, "InviteUsed"),
        (4015, "SessionMismatch"),
    ],
)  # fmt: skip
def test_a_close_rebuilds_its_typed_error(code: int, kind: str) -> None:
    from backline.protocol.errors import error_for_close

    error = error_for_close(code, "why")
    assert type(error).__name__ == kind
    assert "why" in error.message
