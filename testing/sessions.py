"""SDK sessions for tests: one on its own thread for synchronous code, random edits."""

from __future__ import annotations

import asyncio
import inspect
import random
import threading
from collections.abc import Callable
from typing import Any

from backline.client.session import Session, connect
from backline.protocol.errors import BacklineError

__all__ = ["SessionThread", "random_edit"]


def random_edit(s: Session, rng: random.Random, tracks: list[str]) -> None:
    """One random edit that is valid locally (it may still be rejected by the server).

    For convergence tests and benchmarks: tracks, notes, volumes, tempo, moves, deletes.
    """
    doc = s.project
    live = [t for t in tracks if t in doc.tracks]
    choice = rng.random()
    try:
        if not live or choice < 0.1:
            tracks.append(s.add_track(f"t{rng.randrange(100)}", kind="drums").id or "")
        elif choice < 0.45:
            s.add_note(rng.choice(live), rng.randrange(128), rng.randrange(0, 3840 * 4, 240))
        elif choice < 0.6:
            s.set(rng.choice(live), "volume", round(rng.random() * 2, 3))
        elif choice < 0.7:
            s.set_tempo(rng.choice([90, 100, 120, 128, 140]))
        elif choice < 0.8 and doc.notes:
            s.set(rng.choice(sorted(doc.notes)), "vel", rng.randrange(1, 128))
        elif choice < 0.87 and doc.notes:
            s.remove(rng.choice(sorted(doc.notes)))
        elif choice < 0.92 and len(live) > 1:
            s.move_track(rng.choice(live), rng.randrange(len(doc.track_order)))
        elif choice < 0.95 and len(live) > 3:
            s.remove(rng.choice(live))
        else:
            s.set(rng.choice(live), "mute", rng.random() < 0.5)
    except BacklineError:
        pass  # invalid against this client's current view; skip it


class SessionThread:
    """An SDK session on its own event loop thread, driven from synchronous code.

    For browser tests, which are synchronous (Playwright's sync API): a Python
    participant beside the browsers. `run(fn)` calls ``fn(session)`` on the
    loop and returns its result, awaiting it first if it is awaitable.
    """

    def __init__(
        self, url: str, *, session: str, token: str, name: str = "bot", **options: Any
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"sdk {name}", daemon=True
        )
        self._args = (url, session, token, name, options)
        self._session: Session | None = None
        self._stop: asyncio.Event | None = None
        self._main: Any = None

    async def _hold(self, ready: asyncio.Future[Session]) -> None:
        url, session, token, name, options = self._args
        self._stop = asyncio.Event()
        try:
            async with connect(url, session=session, token=token, name=name, **options) as s:
                ready.set_result(s)
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    def __enter__(self) -> SessionThread:
        self._thread.start()

        async def start() -> Session:
            ready: asyncio.Future[Session] = asyncio.get_running_loop().create_future()
            self._main = asyncio.ensure_future(self._hold(ready))
            return await ready

        self._session = asyncio.run_coroutine_threadsafe(start(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        async def finish() -> None:
            assert self._stop is not None
            self._stop.set()
            await self._main

        try:
            asyncio.run_coroutine_threadsafe(finish(), self._loop).result(30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    @property
    def session(self) -> Session:
        assert self._session is not None, "use SessionThread as a context manager"
        return self._session

    def run(self, fn: Callable[[Session], Any], timeout: float = 30.0) -> Any:
        """``fn(session)`` on the session's loop (awaited if it returns an awaitable)."""

        async def call() -> Any:
            result = fn(self.session)
            if inspect.isawaitable(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout)

    def wait_until(
        self, predicate: Callable[[Session], bool], timeout: float = 20.0, what: str = ""
    ) -> None:
        """Wait (on the session's events, not by polling a clock) until ``predicate(session)``."""

        async def wait() -> None:
            s = self.session
            async with s.events() as events:
                if predicate(s):
                    return
                async for _ in events:
                    if predicate(s):
                        return

        try:
            self.run(lambda _: asyncio.wait_for(wait(), timeout), timeout + 5)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what or predicate}") from None
