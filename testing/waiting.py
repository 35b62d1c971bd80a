"""Waiting for state that announces nothing (a server's counters, a file), in bounded time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

__all__ = ["eventually"]


async def eventually(condition: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Wait until ``condition()`` (awaited if it returns an awaitable) is truthy; returns it.

    For state that announces nothing (a server's counters, a file): checked at
    once, then after waits that grow from 5 ms to 200 ms, until `timeout`.
    Raises AssertionError naming `what` when it never holds.
    """
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or condition}")
        await asyncio.sleep(pause)  # nothing to await: this state is only readable
        pause = min(pause * 2, 0.2)
