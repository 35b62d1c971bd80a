"""msgpack on the wire: one map per frame, bytes in and bytes out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgpack

from .errors import BadFrame, TooLarge
from .limits import DEFAULT_LIMITS, Limits

__all__ = [
    "NIL",
    "SUBPROTOCOL",
    "array_parts",
    "decode",
    "decode_record",
    "encode",
    "encode_array",
    "encode_spliced",
    "encode_spliced_parts",
]

SUBPROTOCOL = "backline.v1"


_packer = msgpack.Packer(use_bin_type=True)
"""Reused for every encode: building a Packer per call (what `msgpack.packb` does)
costs about a third of encoding a small message. Sharing it is safe: `pack` runs
in C without releasing the GIL for plain data, and resets its buffer on errors."""


def encode(message: Any) -> bytes:
    """Encode one message (a map of plain data)."""
    return _packer.pack(message)


def encode_spliced(message: dict[str, Any], raw: Mapping[str, bytes | list[bytes]]) -> bytes:
    """Encode a map whose `raw` values are already msgpack bytes.

    Lets the server encode a record or a snapshot once and reuse the bytes in
    every frame that carries it (store, broadcast, welcome).
    """
    return b"".join(encode_spliced_parts(message, raw))


def encode_spliced_parts(
    message: dict[str, Any], raw: Mapping[str, bytes | list[bytes]]
) -> list[bytes]:
    """`encode_spliced` as pieces to write one after the other, the `raw` values
    among them as given (a large snapshot is then never copied into a new frame);
    a list value is one encoded value in pieces (see `array_parts`)."""
    parts = [_packer.pack_map_header(len(message) + len(raw))]
    for key, value in message.items():
        parts.append(_packer.pack(key))
        parts.append(_packer.pack(value))
    for key, value in raw.items():
        parts.append(_packer.pack(key))
        if isinstance(value, list):
            parts.extend(value)
        else:
            parts.append(value)
    return parts


NIL = _packer.pack(None)
"""msgpack's nil, for a spliced value that is absent."""


def array_parts(items: list[bytes]) -> list[bytes]:
    """A msgpack array from already-encoded items, as pieces (the items not copied)."""
    return [_packer.pack_array_header(len(items)), *items]


def encode_array(items: list[bytes]) -> bytes:
    """A msgpack array from already-encoded items."""
    return b"".join(array_parts(items))


def decode_record(data: bytes) -> Any:
    """Decode trusted msgpack written by the server itself (stored batches, snapshots)."""
    return msgpack.unpackb(data, raw=False)


def decode(
    frame: bytes, limits: Limits = DEFAULT_LIMITS, *, from_server: bool = False
) -> dict[str, Any]:
    """Decode one frame into a map with a string `type`, or raise `BadFrame`/`TooLarge`.

    `max_frame_bytes` bounds what a client may send. A frame *from the server* is not
    bounded by it (`from_server`): a welcome carries the whole project, and one `ops`
    frame every batch accepted in a round, either of which may be megabytes.
    """
    if not from_server and len(frame) > limits.max_frame_bytes:
        raise TooLarge(f"frame of {len(frame)} bytes exceeds the {limits.max_frame_bytes} limit")
    try:
        message = msgpack.unpackb(
            frame,
            raw=False,
            strict_map_key=True,
            use_list=True,
        )
    except Exception as exc:  # msgpack raises many unrelated types for bad input
        raise BadFrame(f"frame is not valid msgpack ({type(exc).__name__})") from None
    if type(message) is not dict:
        raise BadFrame("a frame must be a msgpack map")
    if type(message.get("type")) is not str:
        raise BadFrame("a frame needs a string 'type'")
    return message
