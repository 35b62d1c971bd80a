"""The server clock: monotonic microseconds, what clients sync to and the room ticks by."""

from __future__ import annotations

import time

__all__ = ["server_time_us"]


def server_time_us() -> int:
    """Monotonic microseconds: the time base of pongs, transports, recordings and the room."""
    return time.monotonic_ns() // 1000
