"""msgpack framing: bytes in, one checked map out; spliced and array encodings."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backline.protocol.codec import (
    SUBPROTOCOL,
    decode,
    decode_record,
    encode,
    encode_array,
    encode_spliced,
)
from backline.protocol.errors import BacklineError, BadFrame, ErrorCode, TooLarge
from backline.protocol.frames import ops_frame
from backline.protocol.limits import DEFAULT_LIMITS, Limits
from backline.protocol.messages import Batch
from backline.protocol.model import Document
from backline.protocol.ops import apply_all


def test_subprotocol_name_is_stable() -> None:
    assert SUBPROTOCOL == "backline.v1"


def test_encode_uses_bin_for_bytes_and_str_for_text() -> None:
    """bytes stay bytes and str stays str across the wire (use_bin_type)."""
    message = {"type": "x", "blob": b"\x00\xff", "text": "héllo"}
    raw = encode(message)
    assert msgpack.unpackb(raw, raw=False) == message
    assert b"\xc4\x02\x00\xff" in raw  # bin 8 header, not a raw str
    assert decode(raw) == message


def test_decode_keeps_lists_and_nested_maps() -> None:
    message = {"type": "op", "seq": 1, "ops": [{"op": "move", "id": "t", "index": 0}]}
    decoded = decode(encode(message))
    assert decoded == message
    assert type(decoded["ops"]) is list


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xc1", id="never-used-byte"),
        pytest.param(b"\x81\xa4type", id="truncated"),
        pytest.param(encode({"type": "ping", "t0": 1}) + b"\x00", id="trailing-bytes"),
        pytest.param(encode([1, 2]), id="array"),
        pytest.param(encode("type"), id="string"),
        pytest.param(encode(None), id="nil"),
        pytest.param(encode(7), id="int"),
        pytest.param(encode({}), id="no-type"),
        pytest.param(encode({"t": "ping"}), id="no-type-key"),
        pytest.param(encode({"type": 1}), id="int-type"),
        pytest.param(encode({"type": None}), id="nil-type"),
        pytest.param(encode({"type": b"ping"}), id="bin-type"),
        pytest.param(encode({"type": ["ping"]}), id="list-type"),
        pytest.param(encode({1: "x", "type": "ping"}), id="int-key"),
        pytest.param(b"\x81\xa4type\xa2\xff\xfe", id="invalid-utf8"),
    ],
)
def test_bad_frames_are_bad_frame(raw: bytes) -> None:
    with pytest.raises(BadFrame) as info:
        decode(raw)
    assert info.value.code is ErrorCode.BAD_FRAME


def test_a_text_frame_is_bad_frame() -> None:
    """websockets hands text frames over as str; they are refused like any other junk."""
    with pytest.raises(BadFrame):
        decode('{"type": "ping"}')  # type: ignore[arg-type]


def test_frame_size_limit_is_inclusive() -> None:
    fits = next(
        raw for n in range(64) if len(raw := encode({"type": "chat", "text": "x" * n})) == 64
    )
    assert decode(fits, Limits(max_frame_bytes=64))["type"] == "chat"
    with pytest.raises(TooLarge) as info:
        decode(fits, Limits(max_frame_bytes=63))
    assert info.value.code is ErrorCode.TOO_LARGE


def test_default_frame_limit() -> None:
    big = encode({"type": "chat", "text": "x" * DEFAULT_LIMITS.max_frame_bytes})
    with pytest.raises(TooLarge):
        decode(big)


def test_size_is_checked_before_parsing() -> None:
    """An oversized frame is too_large even when it is also garbage."""
    with pytest.raises(TooLarge):
        decode(b"\xc1" * 65, Limits(max_frame_bytes=64))


def test_decode_errors_are_backline_errors() -> None:
    for raw in (b"\xc1", b"\x00" * 10):
        with pytest.raises(BacklineError) as info:
            decode(raw, Limits(max_frame_bytes=5))
        assert info.value.code in (ErrorCode.BAD_FRAME, ErrorCode.TOO_LARGE)


# -- spliced and array encodings ---------------------------------------------------------


def test_encode_spliced_equals_plain_encoding() -> None:
    """Pre-encoded values splice in byte for byte, after the plain keys."""
    doc = Document()
    apply_all(doc, [{"op": "insert", "kind": "track", "id": "t1", "value": {"name": "Bass"}}])
    snapshot = doc.to_data()
    message = {"type": "welcome", "version": 3, "batches": None}
    raw = encode_spliced(message, {"snapshot": encode(snapshot)})
    assert raw == encode({**message, "snapshot": snapshot})
    assert decode(raw) == {**message, "snapshot": snapshot}


def test_encode_spliced_with_no_raw_values_is_encode() -> None:
    message = {"type": "pong", "t0": 1.5, "t1": 2, "t2": 3}
    assert encode_spliced(message, {}) == encode(message)


def test_encode_spliced_large_maps_use_the_right_header() -> None:
    """16+ entries need a map16 header, 65536+ a map32 one."""
    for size in (15, 16, 70_000):
        message = {f"k{i}": i for i in range(size)}
        raw = {"type": encode("big"), "last": encode([1, 2])}
        assert encode_spliced(message, raw) == encode({**message, "type": "big", "last": [1, 2]})


@pytest.mark.parametrize("count", [0, 1, 15, 16, 70_000])
def test_encode_array_equals_plain_encoding(count: int) -> None:
    batches = [Batch(v, "c1", v, [{"op": "delete", "id": f"n{v}"}]).to_wire() for v in range(count)]
    raw = encode_array([encode(b) for b in batches])
    assert raw == encode(batches)
    assert decode_record(raw) == batches


def test_arrays_splice_into_frames() -> None:
    """The server encodes each batch once and reuses the bytes in every `ops` frame."""
    batches = [Batch(v, "c1", v, [{"op": "delete", "id": "x"}]).to_wire() for v in (1, 2)]
    raw = encode_spliced({"type": "ops"}, {"batches": encode_array([encode(b) for b in batches])})
    assert raw == encode(ops_frame(batches))
    assert decode(raw) == ops_frame(batches)


KEYS = st.text(max_size=6).filter(lambda k: k != "type")
VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**64 - 1),
        st.floats(allow_nan=False),
        st.text(max_size=8),
        st.binary(max_size=8),
    ),
    lambda c: st.one_of(
        st.lists(c, max_size=4), st.dictionaries(st.text(max_size=4), c, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(KEYS, VALUES, max_size=5),
    st.dictionaries(KEYS, VALUES, max_size=5),
    st.lists(VALUES, max_size=5),
)
def test_spliced_and_array_encodings_match_plain(
    plain: dict[str, Any], spliced: dict[str, Any], items: list[Any]
) -> None:
    plain = {"type": "t", **{k: v for k, v in plain.items() if k not in spliced}}
    raw = encode_spliced(plain, {k: encode(v) for k, v in spliced.items()})
    assert raw == encode({**plain, **spliced})
    assert decode(raw) == {**plain, **spliced}
    array = encode_array([encode(item) for item in items])
    assert array == encode(items)
    assert decode_record(array) == items


def test_decode_record_reads_snapshots() -> None:
    doc = Document()
    apply_all(
        doc,
        [
            {"op": "insert", "kind": "track", "id": "t1", "value": {}},
            {"op": "insert", "kind": "pattern", "id": "p1", "value": {"track": "t1"}},
        ],
    )
    data = decode_record(encode(doc.to_data()))
    assert data == doc.to_data()
    assert Document.from_data(data) == doc
