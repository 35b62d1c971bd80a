"""msgpack on the wire: one map per frame, bytes in and bytes out."""

from __future__ import annotations

from typing import Any

import msgpack

from .errors import BadFrame, TooLarge
from .limits import DEFAULT_LIMITS, Limits

__all__ = ["SUBPROTOCOL", "decode", "encode"]

SUBPROTOCOL = "backline.v1"


def encode(message: Any) -> bytes:
    """Encode one message (a map of plain data)."""
    return msgpack.packb(message, use_bin_type=True)  # type: ignore[no-any-return]


def decode(frame: bytes, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Decode one frame into a map with a string `type`, or raise `BadFrame`/`TooLarge`."""
    if len(frame) > limits.max_frame_bytes:
        raise TooLarge(f"frame of {len(frame)} bytes exceeds the {limits.max_frame_bytes} limit")
    try:
        message = msgpack.unpackb(
            frame,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_buffer_size=limits.max_frame_bytes,
        )
    except Exception as exc:  # msgpack raises many unrelated types for bad input
        raise BadFrame(f"frame is not valid msgpack ({type(exc).__name__})") from None
    if type(message) is not dict:
        raise BadFrame("a frame must be a msgpack map")
    if type(message.get("type")) is not str:
        raise BadFrame("a frame needs a string 'type'")
    return message
