"""MIDI clock from the shared timeline: 24 pulses per quarter note, Start, Continue,
Stop and Song Position Pointer, each at the server time the timeline gives it.

Every pulse is placed where the *musical* position crosses a multiple of 1/24
beat, at ``Timeline.time_at`` of that linear position: computed from the
anchor each time, never by adding intervals, so a clock that runs for hours
does not drift, and any window of time gives the same pulses however it is
cut (`pulses(lo, mid) + pulses(mid, hi) == pulses(lo, hi)`).

A device follows the song position in sixteenth notes (MIDI beats, six
pulses each); it cannot be told a position between two. So music starting
(or a loop wrapping) between sixteenths is sent from the next sixteenth: the
pulses before it are left out, and Start/Continue comes with that sixteenth's
first pulse. At a loop wrap the device is told the new position (Stop, Song
Position Pointer, Continue), which is what most hardware needs to jump.

`changes` says what a transport change means to a device (start, stop,
locate: the messages and their times); `encode` gives the bytes. Pure: no
clock is read here, times are always arguments.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from .timeline import BEAT_EPSILON, Timeline

__all__ = [
    "PPQN",
    "SPP_MAX",
    "ClockEvent",
    "ClockKind",
    "TempoFollower",
    "changes",
    "encode",
    "pulses",
    "sixteenth_at_or_after",
]

PPQN = 24  # pulses per quarter note
PULSES_PER_SIXTEENTH = PPQN // 4
SPP_MAX = 0x3FFF  # the largest Song Position Pointer: 14 bits of sixteenths


class ClockKind(StrEnum):
    CLOCK = "clock"  # 0xF8: one pulse
    START = "start"  # 0xFA: from the beginning (position 0)
    CONTINUE = "continue"  # 0xFB: from the last position told
    STOP = "stop"  # 0xFC
    POSITION = "position"  # 0xF2: Song Position Pointer, in sixteenths


@dataclass(frozen=True, slots=True)
class ClockEvent:
    time: float  # server time (µs) it is due
    kind: ClockKind
    position: int = 0  # sixteenths, for POSITION
    beat: float = 0.0  # the musical position it stands for (CLOCK, START, CONTINUE)
    linear: float = 0.0  # its unfolded position: ``time == timeline.time_at(linear)``


def sixteenth_at_or_after(beat: float) -> int:
    """The first sixteenth at or after `beat` (a beat within epsilon before one is on it)."""
    return max(0, math.ceil(beat * 4 - BEAT_EPSILON * 4))


def _spp(sixteenths: int) -> int:
    return min(SPP_MAX, sixteenths)


def _segments(
    timeline: Timeline, linear_lo: float, linear_hi: float
) -> list[tuple[float, float, float, bool]]:
    """The stretches of straight musical motion that meet ``[linear_lo, linear_hi)``:
    ``(linear start, linear end, musical start, entered by a loop wrap)``, each
    computed from the anchor alone (so every window agrees on them exactly)."""
    loop = timeline.loop if timeline.looping else None
    if loop is None:
        return [(timeline.beat, math.inf, timeline.beat, False)]
    loop_lo, loop_hi = loop
    length = loop_hi - loop_lo
    out = []
    if linear_lo < loop_hi:
        out.append((timeline.beat, loop_hi, timeline.beat, False))
    n = 1 if linear_lo < loop_hi else math.floor((linear_lo - loop_hi) / length) + 1
    while True:
        seg_lo = loop_hi + (n - 1) * length
        if seg_lo >= linear_hi:
            return out
        out.append((seg_lo, loop_hi + n * length, loop_lo, True))
        n += 1


def pulses(timeline: Timeline, lo: float, hi: float) -> list[ClockEvent]:
    """Every clock pulse due in server time ``[lo, hi)``, with the loop wraps' locates.

    Nothing while stopped or counting in (before the anchor). A stretch that
    does not begin on a sixteenth has its pulses from the next sixteenth on.
    """
    if not timeline.playing:
        return []
    lo = max(lo, timeline.time)
    if hi <= lo:
        return []
    linear_lo, linear_hi = timeline.linear_at(lo), timeline.linear_at(hi)
    out: list[ClockEvent] = []
    for seg_lo, seg_hi, musical, wrapped in _segments(timeline, linear_lo, linear_hi):
        first = sixteenth_at_or_after(musical)
        if first / 4 >= musical + (seg_hi - seg_lo) - BEAT_EPSILON:
            continue  # a stretch shorter than the way to its first sixteenth
        if wrapped:
            linear = seg_lo + (first / 4 - musical)
            at = timeline.time_at(linear)
            if lo <= at < hi:
                out.append(ClockEvent(at, ClockKind.STOP, linear=linear))
                out.append(ClockEvent(at, ClockKind.POSITION, _spp(first), linear=linear))
                out.append(ClockEvent(at, ClockKind.CONTINUE, beat=first / 4, linear=linear))
        # pulse k is at musical k / PPQN: linear seg_lo + (k / PPQN - musical)
        reached = musical + max(0.0, linear_lo - seg_lo)
        k = max(first * PULSES_PER_SIXTEENTH, math.floor(reached * PPQN) - 1)
        while True:
            beat = k / PPQN
            linear = seg_lo + (beat - musical)
            if linear >= seg_hi - BEAT_EPSILON:
                break
            at = timeline.time_at(linear)
            if at >= hi:
                break
            if at >= lo:
                out.append(ClockEvent(at, ClockKind.CLOCK, beat=beat, linear=linear))
            k += 1
    return out


def changes(old: Timeline | None, new: Timeline, now: float) -> list[ClockEvent]:
    """What a device is told when the transport changes from `old` to `new` at `now`.

    Play: the position (the first sixteenth at or after the start), then
    Start (from 0) or Continue at that sixteenth's time. Stop: Stop at `now`,
    then where it stopped. A jump while playing (a seek, a restart): Stop now,
    the new position, Continue when it sounds. A tempo or meter change that
    keeps the position: nothing (the pulses simply follow the new tempo).
    """
    was_playing = old is not None and old.playing
    if not new.playing:
        if not was_playing:
            if old is not None and abs(old.beat - new.beat) <= BEAT_EPSILON:
                return []
            return [ClockEvent(now, ClockKind.POSITION, _spp(math.floor(new.beat * 4 + 1e-9)))]
        where = math.floor(new.beat * 4 + BEAT_EPSILON * 4)
        return [ClockEvent(now, ClockKind.STOP), ClockEvent(now, ClockKind.POSITION, _spp(where))]
    linear = max(new.beat, new.linear_at(now))  # joined mid-song: from where it is now
    musical = new.position(linear)
    first = sixteenth_at_or_after(musical)
    sounds = new.time_at(linear + (first / 4 - musical))
    begin = ClockKind.START if first == 0 else ClockKind.CONTINUE
    if not was_playing:
        return [
            ClockEvent(now, ClockKind.POSITION, _spp(first)),
            ClockEvent(sounds, begin, beat=first / 4),
        ]
    assert old is not None
    at = max(now, new.time)
    expected = old.beat_at(at)
    if abs(new.beat_at(at) - expected) <= 1e-6:
        return []  # the same motion, maybe at another tempo
    return [
        ClockEvent(now, ClockKind.STOP),
        ClockEvent(now, ClockKind.POSITION, _spp(first)),
        ClockEvent(sounds, begin, beat=first / 4),
    ]


_STATUS = {
    ClockKind.CLOCK: 0xF8,
    ClockKind.START: 0xFA,
    ClockKind.CONTINUE: 0xFB,
    ClockKind.STOP: 0xFC,
}


def encode(event: ClockEvent) -> bytes:
    """The MIDI bytes of `event` (Song Position Pointer: 0xF2, LSB, MSB)."""
    if event.kind is ClockKind.POSITION:
        value = _spp(event.position)
        return bytes((0xF2, value & 0x7F, value >> 7))
    return bytes((_STATUS[event.kind],))


class TempoFollower:
    """The tempo of incoming MIDI clock: the mean pulse interval over the last `window`
    pulses (48: two beats, which smooths a sender's jitter), from arrival times."""

    def __init__(self, window: int = 48) -> None:
        if window < 1:
            raise ValueError("window must be at least one pulse")
        self.window = window
        self._times: deque[float] = deque(maxlen=window + 1)

    def pulse(self, at_us: float) -> float | None:
        """One pulse arrived at `at_us`; the tempo (bpm) once a window is full."""
        if self._times and at_us - self._times[-1] > 2_000_000:
            self._times.clear()  # over 2 s without a pulse (under 1.25 bpm): a new start
        self._times.append(at_us)
        if len(self._times) <= self.window:
            return None
        interval = (self._times[-1] - self._times[0]) / self.window
        return 60_000_000 / (interval * PPQN) if interval > 0 else None

    def reset(self) -> None:
        self._times.clear()
