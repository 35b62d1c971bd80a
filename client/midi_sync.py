"""MIDI clock out from the session's shared timeline, for a DAW or a drum machine.

`MidiClock` follows `s.timeline` and sends what `backline.protocol.midi_clock`
computes — 24 pulses per beat, Start / Continue / Stop, Song Position Pointer
— each when its server time comes (through `s.clock`), minus the listener's
own output latency (`offset_ms`), so that the first beat *sounds* together.
Pulse times come from the timeline, never from adding intervals. When the
connection drops the clock sends Stop; once the session is back it tells the
position and continues.

Where the bytes go is a `MidiOut`: a virtual ALSA sequencer port or an
existing port (`open_port`, through mido's python-rtmidi backend), or
`MemoryOut`, which keeps them (tests, `--dry-run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from backline.client.connection import ConnectionState
from backline.client.musical_time import SessionTimeline
from backline.protocol.errors import Unavailable
from backline.protocol.midi_clock import (
    ClockEvent,
    ClockKind,
    TempoFollower,
    changes,
    encode,
    pulses,
)
from backline.protocol.timeline import Timeline

__all__ = [
    "MemoryOut",
    "MidiClock",
    "MidiClockIn",
    "MidiOut",
    "MidiUnavailable",
    "open_input",
    "open_port",
]

log = logging.getLogger("backline.midi")

WINDOW_US = 20_000  # pulses are computed this far ahead, then each waits for its time
SEQUENCER = "/dev/snd/seq"


class MidiUnavailable(Unavailable):
    """No MIDI output here: no backend installed, no ALSA sequencer, no such port."""


class MidiOut(Protocol):
    def send(self, data: bytes) -> None: ...
    def close(self) -> None: ...


class MemoryOut:
    """Keeps every message with the monotonic time (µs) it was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, bytes]] = []

    def send(self, data: bytes) -> None:
        self.sent.append((time.monotonic_ns() / 1000, data))

    def close(self) -> None:
        pass


class _MidoOut:
    def __init__(self, port: Any) -> None:
        self._port = port
        import mido

        self._parse: Callable[[bytes], Any] = lambda data: mido.Message.from_bytes(list(data))

    def send(self, data: bytes) -> None:
        self._port.send(self._parse(data))

    def close(self) -> None:
        self._port.close()


def open_port(name: str | None = None, *, virtual: bool = True) -> MidiOut:
    """A MIDI output: a new virtual port called `name` (default ``Backline clock``), or,
    with ``virtual=False``, the existing port of that name.

    Raises `MidiUnavailable` with what is missing: python-rtmidi (``pip install
    python-rtmidi``), an ALSA sequencer (containers and machines without
    ``/dev/snd/seq`` have none: load ``snd-seq``, or on macOS use an IAC bus with
    ``virtual=False``), or the named port.
    """
    try:
        import mido

        mido.set_backend("mido.backends.rtmidi", load=True)
    except ImportError as exc:
        raise MidiUnavailable(
            "MIDI output needs python-rtmidi: pip install python-rtmidi "
            f"(or pip install 'backline[midi]'); {exc}"
        ) from None
    port_name = name or "Backline clock"
    try:
        if virtual:
            return _MidoOut(mido.open_output(port_name, virtual=True))
        if port_name not in mido.get_output_names():
            known = ", ".join(mido.get_output_names()) or "none"
            raise MidiUnavailable(f"no MIDI output called {port_name!r} (there are: {known})")
        return _MidoOut(mido.open_output(port_name))
    except (OSError, RuntimeError, SystemError) as exc:  # rtmidi's errors for a missing sequencer
        raise MidiUnavailable(
            f"cannot open a MIDI port ({exc}); an ALSA sequencer ({SEQUENCER}) is needed for a "
            "virtual port: on Linux `modprobe snd-seq`; in a container pass the device through"
        ) from None


class MidiClock:
    """Sends MIDI clock for `timeline` (``s.timeline``) to `out` until cancelled.

    Args:
        timeline: the session's musical time (its clock maps server times here).
        out: where the messages go.
        offset_ms: the listener's output latency: every message leaves this much early.
        connected: whether the session is connected now (without it: always).
    """

    def __init__(
        self,
        timeline: SessionTimeline,
        out: MidiOut,
        *,
        offset_ms: float = 0.0,
        connected: Callable[[], bool] = lambda: True,
    ) -> None:
        if not -1000 <= offset_ms <= 1000:
            raise ValueError("offset_ms must be between -1000 and 1000")
        self.timeline = timeline
        self.out = out
        self.offset_us = offset_ms * 1000
        self._connected = connected
        self.sent: list[ClockEvent] = []  # the last messages sent, newest last (bounded)
        self.errors_us: list[float] = []  # how late each pulse left (µs), for reports
        self._running = False  # a Start/Continue was sent and no Stop since

    def _send(self, event: ClockEvent) -> None:
        self.out.send(encode(event))
        if event.kind is ClockKind.CLOCK:
            late = self.timeline.clock.now() - (event.time - self.offset_us)
            self.errors_us.append(late)
            del self.errors_us[:-10_000]
        elif event.kind in (ClockKind.START, ClockKind.CONTINUE):
            self._running = True
        elif event.kind is ClockKind.STOP:
            self._running = False
        self.sent.append(event)
        del self.sent[:-1000]

    def stop(self) -> None:
        """Send Stop if the clock runs (the session went away, or we are done)."""
        if self._running:
            self._send(ClockEvent(self.timeline.clock.now(), ClockKind.STOP))

    async def run(self) -> None:
        previous: Timeline | None = None
        cursor = 0.0  # server time up to which pulses were computed
        try:
            while True:
                if not self._connected():
                    self.stop()
                    previous = None  # once back, tell the position again
                    await self._changed_or(0.25)
                    continue
                current = self.timeline.current
                now = self.timeline.clock.now()
                due: list[ClockEvent] = []
                if current != previous:
                    due = changes(previous, current, now)
                    previous, cursor = current, now
                if not current.playing and not due:
                    await self._changed_or(0.25)
                    continue
                end = max(cursor, now) + WINDOW_US
                due += pulses(current, cursor, end)
                cursor = end
                await self._play(sorted(due, key=lambda e: e.time), current)
        finally:
            self.stop()

    async def _changed_or(self, seconds: float) -> None:
        change = asyncio.ensure_future(self.timeline.changed())
        try:
            await asyncio.wait({change}, timeout=seconds)
        finally:
            change.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await change

    async def _play(self, events: list[ClockEvent], timeline: Timeline) -> None:
        """Send each event at its time, until the timeline changes."""
        for event in events:
            if event.kind in (ClockKind.CLOCK, ClockKind.STOP) and not self._running:
                continue  # pulses before a Start/Continue mean nothing; a Stop was sent
            delay = (event.time - self.offset_us - self.timeline.clock.now()) / 1e6
            if delay > 0:
                await self._changed_or(delay)
            if self.timeline.current != timeline:
                return  # the next round tells the device what changed
            self._send(event)


class MidiClockIn:
    """A hardware box or a DAW as the session's tempo source: incoming MIDI clock.

    Feed it what arrives (`receive`, with the local monotonic time in µs): the
    pulses' tempo becomes a tempo edit once it moved by over `threshold` bpm and
    held for `debounce` seconds (a knob being turned sends one edit, not fifty);
    Start plays from the top, Continue plays on, Stop stops.
    """

    def __init__(
        self, s: Any, *, threshold: float = 0.1, debounce: float = 0.3, window: int = 48
    ) -> None:
        self.s = s
        self.threshold = threshold
        self.debounce_us = debounce * 1e6
        self.follower = TempoFollower(window)
        self._candidate: tuple[float, float] | None = None  # (tempo, since µs)
        self.edits = 0  # tempo edits made
        self._asked: float | None = None  # the last tempo we asked for (in flight or not)

    def receive(self, data: bytes, at_us: float) -> None:
        if not data:
            return
        status = data[0]
        if status == 0xF8:
            tempo = self.follower.pulse(at_us)
            if tempo is not None:
                self._tempo(round(tempo, 2), at_us)
        elif status == 0xFA:
            self.follower.reset()
            self.s.play(0.0)
        elif status == 0xFB:
            self.s.play()
        elif status == 0xFC:
            self.s.stop()

    def _tempo(self, tempo: float, at_us: float) -> None:
        current = float(self.s.timeline.current.tempo)
        asked = current if self._asked is None else self._asked
        if (
            abs(tempo - current) <= self.threshold
            or abs(tempo - asked) <= self.threshold
            or not 20.0 <= tempo <= 999.0
        ):
            self._candidate = None
            return
        if self._candidate is None or abs(self._candidate[0] - tempo) > self.threshold:
            self._candidate = (tempo, at_us)  # moving: wait until it holds
            return
        if at_us - self._candidate[1] >= self.debounce_us:
            self._candidate = None
            self.edits += 1
            self._asked = tempo
            self.s.set_tempo(tempo)


def open_input(name: str, receive: Callable[[bytes, float], None]) -> Callable[[], None]:
    """Call `receive(bytes, monotonic µs)` for each message of the MIDI input `name`
    (on rtmidi's thread, handed to the running event loop); returns a closer."""
    try:
        import mido

        mido.set_backend("mido.backends.rtmidi", load=True)
    except ImportError as exc:
        raise MidiUnavailable(
            f"MIDI input needs python-rtmidi: pip install python-rtmidi; {exc}"
        ) from None
    loop = asyncio.get_running_loop()

    def arrived(message: Any) -> None:
        at = time.monotonic_ns() / 1000
        loop.call_soon_threadsafe(receive, bytes(message.bytes()), at)

    try:
        port = mido.open_input(name, callback=arrived)
    except (OSError, RuntimeError, SystemError) as exc:
        raise MidiUnavailable(f"cannot open the MIDI input {name!r} ({exc})") from None
    return port.close  # type: ignore[no-any-return]


def connected_of(state: Callable[[], ConnectionState]) -> Callable[[], bool]:
    return lambda: state() is ConnectionState.CONNECTED
