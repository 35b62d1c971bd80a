"""The wake-up a store's `tail` waits on: set by appends, cleared by each round.

`asyncio.Event.wait` under `asyncio.wait_for` costs a task, a future and a
running-loop lookup (on Python 3.11 a `getpid` system call) every time the
follower sleeps, which is once per commit when the server is busy. This is the
same contract with one future and one timer handle per wait.
"""

from __future__ import annotations

import asyncio

__all__ = ["News"]


class News:
    """A flag waiters sleep on, each with a timeout; `set` wakes them all."""

    __slots__ = ("_is_set", "_waiters")

    def __init__(self) -> None:
        self._is_set = False
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        return self._is_set

    def set(self) -> None:
        self._is_set = True
        if self._waiters:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._waiters.clear()

    def clear(self) -> None:
        self._is_set = False

    async def wait(self, timeout: float) -> bool:
        """Whether news came within `timeout` seconds (at once if already set)."""
        if self._is_set:
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            if waiter in self._waiters:  # timed out or cancelled, not woken
                self._waiters.remove(waiter)
        return self._is_set


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
