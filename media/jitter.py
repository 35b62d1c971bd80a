"""An adaptive jitter buffer: the smallest delay that keeps late frames under a target.

Frames leave a sender one every ``T`` (the frame duration) but reach the server
at irregular times. The buffer delays playout just enough that almost every
frame is there when its turn comes: at each tick of the mixer's frame clock the
caller asks `JitterBuffer.pop` for the frame to play, and gets the next frame in
sequence order, or None when it is missing (the caller conceals it: Opus
packet-loss concealment, or silence). Frames are fed in with `JitterBuffer.push`
as they arrive, with their 16-bit RTP sequence number and arrival time. The
buffer keeps whatever payload it is given (encoded packets or decoded frames).
Time is always an argument, in microseconds of the server clock.

The statistic
-------------
For every arrival of frame ``s`` (sequence number unwrapped past 2**16) at time
``a(s)``, the buffer records the frame's *arrival deviation*
``d(s) = a(s) - s * T``: its arrival time measured against the sender's frame
clock. A frame that arrived on a perfect network would have the same ``d`` as
every other; the spread of ``d`` over recent frames is the jitter, whatever the
constant transit time and clock offset.

The buffer plays frame ``s`` at ``P + s * T``, where the *playout offset* ``P``
is ``now - s * T`` at the tick that plays it. A frame is late exactly when
``d(s) > P``, so over a window of the last ``W`` arrivals (4 s by default) the
late rate that an offset would give is the fraction of ``d`` above it. The
smallest offset with at most ``floor(target * W)`` values above it is the
``(floor(target * W) + 1)``-th largest ``d``, call it ``Q``. The playout can only
move in whole frames (by holding one tick, or skipping one frame), so
the target offset is the smallest ``P + j * T`` that is ``>= Q``. This is the
empirical ``1 - target`` quantile of arrival deviation relative to the frame
clock, evaluated exactly (a partial sort of the window) rather than binned.

Depth, reported in frames, is how far the playout trails the fastest arrival
in the window, ``floor((P - min d) / T) + 1``: on a network without jitter it
is 1, the frame played is the one that just arrived.

Growing and shrinking
---------------------
- **Grow fast.** A late arrival triggers a new evaluation at the next tick; if
  the target offset is above ``P``, the buffer grows at once by as many frames
  as needed: the next ticks return None (a concealment each) without
  advancing, which also gives a missing frame more time to arrive. A single
  late frame in a window of hundreds does not grow the buffer: the target is
  a late *rate*.
- **Shrink slowly.** Without late frames the statistic is evaluated every
  50 ms; if the offset one frame lower would still keep the late rate under
  *half* the target (at or above ``Q`` computed for ``target / 2``: the
  hysteresis that stops the depth from hunting up and down by a frame), the
  buffer shrinks by one frame, at most once per ``shrink_interval_us`` (0.5 s)
  after any change. A spike stays in the window for its whole length (4 s),
  so the delay comes back down only after the network has been calm that
  long, one frame at a time. A shrink skips a slot whose frame is missing
  when it can, and otherwise drops the oldest buffered frame.
- **Bounds.** The delay never exceeds ``max_depth`` frames (300 ms by
  default): growth stops there, and a backlog beyond it (a burst after a
  stall) is dropped, oldest first. A sender whose sequence numbers jump
  ahead by ``max_depth`` or more is followed at once rather than concealed
  slot by slot.
- **Start and stop.** Playout starts once the first buffered frame has waited
  ``start_depth - 1`` frames. After ``idle_after_us`` (500 ms) without any
  frame (the sender stopped, or DTX), the buffer goes idle: the empty slots
  are taken back (not lost: never sent), the statistics are forgotten, and
  playout starts afresh with the next frames. Frames older than the last
  one played stay late forever, so nothing is ever played twice or backwards.

Counters (`JitterStats`): ``late`` frames arrived after their turn and were
dropped; ``lost`` slots were passed without their frame (a late arrival for
the slot moves it from lost to late); ``concealed`` ticks returned None while
playing; ``reordered`` frames arrived after a later one and were still in
time; ``duplicates`` were dropped; ``dropped`` frames were discarded to shrink
or on overflow.

A new sender stream (new SSRC, or a restart from another sequence number)
needs a new buffer: within one stream, sequence numbers are taken to move by
less than 2**15 between arrivals.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from backline.media.frames import DEFAULT_FRAME_MS, frame_us

__all__ = ["Arrival", "JitterBuffer", "JitterStats"]

T = TypeVar("T")

SEQ_MODULUS = 1 << 16
_HALF = 1 << 15
_HISTORY = 1024  # recent played/missed sequence numbers kept to classify stragglers


class Arrival(Enum):
    """What `JitterBuffer.push` did with a frame."""

    IN_ORDER = "in_order"  # buffered; the highest sequence number so far
    REORDERED = "reordered"  # buffered; a later frame had arrived first
    LATE = "late"  # its turn had passed: dropped
    DUPLICATE = "duplicate"  # already buffered, played or dropped: dropped


@dataclass(frozen=True, slots=True)
class JitterStats:
    """Counters since the buffer was made, and its current state."""

    depth: int  # frames between the fastest arrival and the playout (0: not playing)
    delay_us: int  # the same in µs: playout offset minus the window's minimum deviation
    window_late_rate: float  # share of the window's frames that the current offset makes late
    received: int
    played: int
    late: int
    lost: int
    concealed: int
    reordered: int
    duplicates: int
    dropped: int


class _Recent:
    """A set that remembers only its last ``size`` members."""

    def __init__(self, size: int) -> None:
        self._order: deque[int] = deque()
        self._members: set[int] = set()
        self._size = size

    def add(self, value: int) -> None:
        if value in self._members:
            return
        self._order.append(value)
        self._members.add(value)
        if len(self._order) > self._size:
            self._members.discard(self._order.popleft())

    def discard(self, value: int) -> bool:
        """Forget ``value``; True if it was there."""
        if value in self._members:
            self._members.remove(value)
            return True
        return False

    def __contains__(self, value: int) -> bool:
        return value in self._members


class JitterBuffer(Generic[T]):
    """Reorders one sender's frames and releases one per tick, adapting its delay.

    Args:
        frame_us: the frame duration ``T`` in µs (both the sender's frames and
            the caller's ticks).
        target_late_rate: the largest acceptable share of late frames (0.01).
        window_us: how much recent history the statistic covers.
        start_depth: frames of delay to start with (the first frame waits
            ``start_depth - 1`` ticks before playout starts).
        max_depth: the most frames of delay the buffer will add; default 300 ms.
        shrink_interval_us: the least time between a change of depth and a
            shrink.
        eval_interval_us: how often the statistic is evaluated when no frame
            is late.
        idle_after_us: how long without any frame before playout stops and
            waits to start afresh.

    Raises:
        ValueError: a parameter is out of range.
    """

    def __init__(
        self,
        frame_us: int = frame_us(DEFAULT_FRAME_MS),
        *,
        target_late_rate: float = 0.01,
        window_us: int = 4_000_000,
        start_depth: int = 2,
        max_depth: int | None = None,
        shrink_interval_us: int = 500_000,
        eval_interval_us: int = 50_000,
        idle_after_us: int = 500_000,
    ) -> None:
        if frame_us <= 0:
            raise ValueError(f"frame_us must be positive, got {frame_us!r}")
        if not 0.0 < target_late_rate < 0.5:
            raise ValueError(f"target_late_rate must be in (0, 0.5), got {target_late_rate!r}")
        if max_depth is None:
            max_depth = max(start_depth, 300_000 // frame_us)
        if not 1 <= start_depth <= max_depth:
            raise ValueError(
                f"need 1 <= start_depth <= max_depth, got {start_depth!r} and {max_depth!r}"
            )
        if window_us < frame_us:
            raise ValueError(f"window_us must cover at least one frame, got {window_us!r}")
        if shrink_interval_us < 0 or eval_interval_us < 0 or idle_after_us < 0:
            raise ValueError("intervals must not be negative")
        self.frame_us = frame_us
        self.target_late_rate = target_late_rate
        self.start_depth = start_depth
        self.max_depth = max_depth
        self.shrink_interval_us = shrink_interval_us
        self.eval_interval_us = eval_interval_us

        self._frames: dict[int, T] = {}
        self._arrived: dict[int, int] = {}  # sequence -> arrival time, for the start
        self._capacity = 4 * max_depth + 16
        self._highest: int | None = None  # highest unwrapped sequence number seen
        self._next: int | None = None  # next sequence to play; everything below is past
        self._playing = False
        self._done = _Recent(_HISTORY)  # played or dropped: a repeat is a duplicate
        self._missed = _Recent(_HISTORY)  # slots passed without their frame

        # The statistic: deviations d relative to the first arrival (a0, s0).
        self._origin: tuple[int, int] | None = None
        self._window: NDArray[np.int64] = np.zeros(max(1, window_us // frame_us), np.int64)
        self._count = 0
        self._cursor = 0
        self._offset = 0  # P, in the same relative units, as of the latest tick
        self._pending_grow = 0
        self._want_shrink = False
        self._late_since_eval = False
        self._last_eval: int | None = None
        self._last_change = 0
        self._empty_since: int | None = None  # first slot of the current run of empty ticks
        self._idle_ticks = max(1, idle_after_us // frame_us)

        self._received = 0
        self._played = 0
        self._late = 0
        self._lost = 0
        self._concealed = 0
        self._reordered = 0
        self._duplicates = 0
        self._dropped = 0

    # -- input ---------------------------------------------------------------------------

    def push(self, seq: int, arrival_us: int, frame: T) -> Arrival:
        """Take one arriving frame with its 16-bit sequence number.

        Raises:
            ValueError: ``seq`` is not in 0..65535.
        """
        if not 0 <= seq < SEQ_MODULUS:
            raise ValueError(f"sequence number must be in 0..65535, got {seq!r}")
        highest = self._highest
        ext = self._unwrap(seq)
        self._received += 1
        if self._origin is None:
            self._origin = (arrival_us, ext)

        if self._next is not None and ext < self._next:
            if self._missed.discard(ext):
                self._lost -= 1  # its slot was counted lost; the frame came, too late
            elif ext in self._done:
                self._duplicates += 1
                return Arrival.DUPLICATE
            self._late += 1
            self._done.add(ext)  # a second copy of it is a duplicate, not another late frame
            self._record(ext, arrival_us)
            self._late_since_eval = True
            return Arrival.LATE
        if ext in self._frames:
            self._duplicates += 1
            return Arrival.DUPLICATE

        self._record(ext, arrival_us)
        self._frames[ext] = frame
        self._arrived[ext] = arrival_us
        if len(self._frames) > self._capacity:
            self._overflow()
        if highest is not None and ext < highest:
            self._reordered += 1
            return Arrival.REORDERED
        return Arrival.IN_ORDER

    # -- output --------------------------------------------------------------------------

    def pop(self, now_us: int) -> T | None:
        """The frame to play at this tick, or None: nothing to play (conceal it).

        Call once per frame period, at the ticks of the caller's frame clock,
        after pushing everything that arrived up to ``now_us``.
        """
        if not self._playing and not self._start(now_us):
            return None
        assert self._next is not None and self._origin is not None
        a0, s0 = self._origin
        self._offset = (now_us - a0) - (self._next - s0) * self.frame_us
        if self._late_since_eval or (
            self._last_eval is None or now_us - self._last_eval >= self.eval_interval_us
        ):
            self._evaluate(now_us)

        if self._pending_grow:
            # Hold: this tick plays nothing and the sequence does not advance,
            # so every later frame is played one frame period later.
            self._pending_grow -= 1
            self._concealed += 1
            self._last_change = now_us
            return None
        if self._want_shrink and self._shrink(now_us):
            self._want_shrink = False

        if self._frames and self._next not in self._frames:
            lowest = min(self._frames)
            if lowest - self._next >= self.max_depth:
                self._skip_to(lowest)  # the sender jumped ahead: play what we hold now
        assert self._highest is not None
        excess = self._highest - self._next + 1 - self.max_depth
        if excess > 0:
            # More than max_depth frames of backlog (a burst after a stall): drop the oldest.
            self._skip_to(self._next + excess)
            self._last_change = now_us

        nxt = self._next
        self._offset = (now_us - a0) - (nxt - s0) * self.frame_us  # after any skip
        frame = self._take(nxt)
        self._next = nxt + 1
        if frame is not None:
            self._played += 1
            self._empty_since = None
            return frame

        self._miss(nxt)
        self._concealed += 1
        if self._empty_since is None:
            self._empty_since = nxt
        if self._next - self._empty_since >= self._idle_ticks and not self._frames:
            self._go_idle()
        return None

    # -- state ---------------------------------------------------------------------------

    @property
    def playing(self) -> bool:
        """Whether playout has started (and not gone idle since)."""
        return self._playing

    @property
    def next_seq(self) -> int | None:
        """The unwrapped sequence number of the next frame to play (None before any)."""
        return self._next

    @property
    def last_played(self) -> int | None:
        """The unwrapped sequence number of the latest slot passed: after a `pop` that
        returned a frame, that frame's (None before playout starts)."""
        return None if self._next is None else self._next - 1

    @property
    def buffered(self) -> int:
        """Frames held, waiting for their turn."""
        return len(self._frames)

    @property
    def depth(self) -> int:
        """Frames of delay between the fastest arrival in the window and the playout."""
        if not self._playing or not self._count:
            return 0
        lowest = int(self._samples().min())
        return max(0, (self._offset - lowest) // self.frame_us + 1)

    def stats(self) -> JitterStats:
        """The counters and the current depth."""
        samples = self._samples()
        if self._playing and self._count:
            delay = self._offset - int(samples.min())
            late_rate = float(np.count_nonzero(samples > self._offset)) / self._count
        else:
            delay, late_rate = 0, 0.0
        return JitterStats(
            depth=self.depth,
            delay_us=max(0, delay),
            window_late_rate=late_rate,
            received=self._received,
            played=self._played,
            late=self._late,
            lost=self._lost,
            concealed=self._concealed,
            reordered=self._reordered,
            duplicates=self._duplicates,
            dropped=self._dropped,
        )

    # -- internals -----------------------------------------------------------------------

    def _unwrap(self, seq: int) -> int:
        """The 16-bit ``seq`` as the unwrapped number nearest the highest one seen."""
        if self._highest is None:
            self._highest = seq
            return seq
        delta = (seq - self._highest) % SEQ_MODULUS
        if delta >= _HALF:
            delta -= SEQ_MODULUS
        ext = self._highest + delta
        self._highest = max(self._highest, ext)
        return ext

    def _record(self, ext: int, arrival_us: int) -> None:
        assert self._origin is not None
        a0, s0 = self._origin
        self._window[self._cursor] = (arrival_us - a0) - (ext - s0) * self.frame_us
        self._cursor = (self._cursor + 1) % len(self._window)
        self._count = min(self._count + 1, len(self._window))

    def _samples(self) -> NDArray[np.int64]:
        return self._window[: self._count]

    def _required_offsets(self) -> tuple[int, int]:
        """Q for growing (late rate <= target) and for shrinking (<= target / 2)."""
        samples = self._samples()
        n = len(samples)
        grow = n - 1 - math.floor(self.target_late_rate * n)
        shrink = n - 1 - math.floor(self.target_late_rate * n / 2)
        ranked = np.partition(samples, (shrink, grow))
        return int(ranked[grow]), int(ranked[shrink])

    def _evaluate(self, now_us: int) -> None:
        self._last_eval = now_us
        self._late_since_eval = False
        if not self._count:
            return
        frame = self.frame_us
        required, required_to_shrink = self._required_offsets()
        planned = self._offset + self._pending_grow * frame
        if required > planned:
            steps = -(-(required - planned) // frame)  # ceil
            room = self.max_depth - self.depth - self._pending_grow
            self._pending_grow += max(0, min(steps, room))
            self._want_shrink = False
        else:
            self._want_shrink = (
                self._pending_grow == 0
                and planned - frame >= required_to_shrink
                and now_us - self._last_change >= self.shrink_interval_us
            )

    def _shrink(self, now_us: int) -> bool:
        """Play one frame less of delay, if the buffer allows it without an underrun now."""
        nxt = self._next
        assert nxt is not None
        if nxt + 1 not in self._frames:
            return False
        self._skip_to(nxt + 1)
        self._last_change = now_us
        return True

    def _start(self, now_us: int) -> bool:
        if not self._frames:
            return False
        lowest = min(self._frames)
        if now_us - self._arrived[lowest] < (self.start_depth - 1) * self.frame_us:
            return False
        self._next = lowest
        self._playing = True
        self._empty_since = None
        self._pending_grow = 0
        self._want_shrink = False
        self._last_change = now_us
        self._last_eval = None
        return True

    def _go_idle(self) -> None:
        """Stop after a silence; the silent slots were not lost, just never sent (yet)."""
        assert self._empty_since is not None and self._next is not None
        for seq in range(max(self._empty_since, self._next - _HISTORY), self._next):
            if self._missed.discard(seq):
                self._lost -= 1
        self._lost -= max(0, self._next - _HISTORY - self._empty_since)
        self._next = self._empty_since
        self._empty_since = None
        self._playing = False
        self._count = 0
        self._cursor = 0
        self._pending_grow = 0
        self._want_shrink = False

    def _take(self, seq: int) -> T | None:
        if seq not in self._frames:
            return None
        del self._arrived[seq]
        self._done.add(seq)
        return self._frames.pop(seq)

    def _drop(self, seq: int) -> None:
        del self._frames[seq]
        del self._arrived[seq]
        self._done.add(seq)
        self._dropped += 1

    def _overflow(self) -> None:
        """Too many frames held (nobody pops): drop the oldest."""
        lowest = min(self._frames)
        if self._playing:
            self._skip_to(lowest + 1)
        else:
            self._drop(lowest)
            self._next = lowest + 1

    def _skip_to(self, stop: int) -> None:
        """Pass the slots up to ``stop`` without playing them: drop what is held, miss the rest."""
        assert self._next is not None
        held = [seq for seq in self._frames if seq < stop]
        for seq in held:
            self._drop(seq)
        first, self._next = self._next, stop
        self._lost += stop - first - len(held)
        skipped = set(held)
        for seq in range(max(first, stop - _HISTORY), stop):
            if seq not in skipped:
                self._missed.add(seq)

    def _miss(self, seq: int) -> None:
        """Count the slot ``seq`` as passed without its frame (for now)."""
        self._lost += 1
        self._missed.add(seq)
