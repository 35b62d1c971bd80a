"""Every frame the server sends is built by `protocol/frames.py`, with the documented shape."""

from __future__ import annotations

from typing import Any

from backline.protocol import frames
from backline.protocol.codec import decode, encode
from backline.protocol.errors import ErrorCode
from backline.protocol.messages import Batch, ServerType, request_id

OP: dict[str, Any] = {"op": "set", "id": "project", "field": "tempo", "value": 100}


def test_admin_answers_carry_the_request_id() -> None:
    assert frames.error("forbidden", "no", 7) == {
        "type": "error",
        "code": "forbidden",
        "message": "no",
        "id": 7,
    }
    assert frames.done(7) == {"type": "done", "id": 7}
    assert request_id({"type": "lock", "id": 7, "locked": "x"}) == 7
    assert request_id({"type": "lock", "id": "7"}) is None
    assert request_id({"type": "op", "id": 7}) is None


def test_error_frame_shape() -> None:
    frame = frames.error(ErrorCode.NOT_JOINED, "say hello first")
    assert frame == {"type": "error", "code": "not_joined", "message": "say hello first"}
    assert decode(encode(frame)) == frame


def test_reject_frame_shape() -> None:
    frame = frames.reject(42, ErrorCode.CONFLICT, "gone")
    assert frame == {"type": "reject", "seq": 42, "code": "conflict", "message": "gone"}
    assert decode(encode(frame)) == frame


def test_ops_frame_shape() -> None:
    batches = [Batch(1, "c1", 3, [OP]).to_wire(), Batch(2, "c2", 1, [OP, OP]).to_wire()]
    frame = frames.ops_frame(batches)
    assert frame == {"type": "ops", "batches": batches}
    assert batches[0] == {"v": 1, "by": "c1", "seq": 3, "ops": [OP]}
    assert decode(encode(frame)) == frame


def test_every_server_type_has_a_builder() -> None:
    built = {
        ServerType.WELCOME: decode(
            b"".join(frames.welcome_parts({"version": 3}, encode({}), None))
        ),
        ServerType.OPS: decode(frames.ops([encode(Batch(1, "c", 1, [OP]).to_wire())])),
        ServerType.REJECT: frames.reject(1, "conflict", "m"),
        ServerType.PRESENCE: frames.presence([]),
        ServerType.CHAT: frames.chat({"by": "c", "name": "n", "text": "t", "time": 1}),
        ServerType.PONG: frames.pong(1.0, 2, 3),
        ServerType.ERROR: frames.error("bad_field", "m"),
        ServerType.RTC: frames.rtc("v=0"),
        ServerType.RECORDING: frames.recording(True, "r1", "c", 5, "started"),
        ServerType.DONE: frames.done(1),
        ServerType.ADMIN: frames.admin("lock", "c", locked=True),
        ServerType.ACCESS: frames.access(2, [], []),
        ServerType.LIVE: frames.live("c", {"event": "off", "pitch": 60, "track": None}, 5),
        ServerType.HISTORY: frames.history(3, "blame", version=2, blame={}, names={}),
    }
    assert set(built) == set(ServerType)
    for kind, frame in built.items():
        assert frame["type"] == kind


def test_a_welcome_carries_either_a_snapshot_or_batches() -> None:
    records = [encode(Batch(v, "c", v, [OP]).to_wire()) for v in (4, 5)]
    caught = decode(b"".join(frames.welcome_parts({"version": 5}, None, records)))
    assert caught["snapshot"] is None and [b["v"] for b in caught["batches"]] == [4, 5]
    fresh = decode(b"".join(frames.welcome_parts({"version": 5}, encode({"p": 1}), None)))
    assert fresh["batches"] is None and fresh["snapshot"] == {"p": 1}


def test_ops_splices_encoded_batches() -> None:
    batches = [Batch(v, "c1", v, [OP]).to_wire() for v in (1, 2)]
    raw = frames.ops([encode(b) for b in batches])
    assert raw == encode(frames.ops_frame(batches))
