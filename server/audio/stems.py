"""Multitrack recording, the pure part: each sender's audio placed on the server clock, and the mix.

Where a frame belongs
---------------------
A sender's frames reach the server at irregular times (network jitter, a busy
event loop on either side), and the room's jitter buffer releases them later
still, by a depth that differs per sender and changes over time. Placing
frames by either time would misalign the stems by up to the buffer depth
(tens of ms) and smear every onset with the jitter. What *is* regular is the
sender's own RTP timeline: its frame ``k`` carries timestamp ``ts0 + k * n``,
in samples of the sender's clock. So a stem is laid out by RTP timestamp, and
that timeline is mapped to the server clock through the sender's fastest
path (`StemAligner`)::

    deviation = arrival_us - ts_us                  ts unwrapped past 2**32, in µs
    offset    = min(deviation) over the last `window_us` of arrivals
    start     = ts_us + offset - duration           the frame's first sample, server µs

A frame that took the fastest route thus *ends* at its arrival time (a
capturing sender sends a frame once its last sample exists); a frame held up
by jitter lands where its timestamp says, not later. A lost frame leaves
silence of exactly its length. The window lets the offset follow a slow drift
between the sender's clock and the server's; the residual error of a stem is
the spread of the fastest transit, well under a millisecond on a LAN.

When the mapping moves, the stem does not jitter with it: a frame placed within
`tolerance_us` of the stem's end is written right after it; one placed further
ahead is preceded by silence, and the part of one placed further back (its
head overlaps what is written) is dropped. Every stem therefore starts at the
recording's start, is contiguous, and is written by appending only.

The mix
-------
The mix is every stem summed at unity gain through the project's master
true-peak limiter (`StreamLimiter`: `chain.limit` in real time), so a take of
several loud players never clips, nor overshoots between samples (the gains
`chain.limit` would give the whole take, at -1 dBTP unless told another
ceiling). It is sample-aligned with the stems (not the room's live
output, whose senders sit at different jitter-buffer depths): the limiter holds
back `LIMITER_DELAY` samples, so the mix file starts with its output from that
many samples in, trails the mixed position by as much while recording, and
`finish` flushes the limiter with silence. It is produced `mix_lag_us` behind
the newest audio so that frames arriving late still make it; a frame later than
that is in its stem but missing from the mix.

Positions are samples since the recording's start (server time ``start_us``)
at `SAMPLE_RATE`. Time is always an argument; nothing here reads a clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from backline.media.frames import SAMPLE_RATE, US_PER_SECOND, to_int16
from backline.media.stream_limiter import StreamLimiter
from backline.protocol.dsp import LIMITER_DELAY

__all__ = ["Chunk", "Multitrack", "StemAligner"]

_WRAP = 2**32  # RTP timestamps are 32-bit
_HALF = 2**31


class StemAligner:
    """Maps one sender's RTP timestamps to server time by its fastest observed transit.

    Args:
        sample_rate: the RTP clock rate (Opus: 48 kHz).
        window_us: how far back the minimum transit is taken (follows clock drift).
        reset_us: a frame whose transit differs from the current minimum by more
            than this starts a new mapping (the sender restarted its timeline).
    """

    def __init__(
        self,
        sample_rate: int = SAMPLE_RATE,
        *,
        window_us: int = 2_000_000,
        reset_us: int = 1_000_000,
    ) -> None:
        if sample_rate < 1 or window_us < 1 or reset_us < 1:
            raise ValueError("sample_rate, window_us and reset_us must be positive")
        self.sample_rate = sample_rate
        self.window_us = window_us
        self.reset_us = reset_us
        self._last_ts: int | None = None
        self._ext = 0  # the unwrapped timestamp of the latest frame
        self._window: deque[tuple[int, int]] = deque()  # (arrival, deviation), deviation rising
        self.resets = 0

    def reset(self) -> None:
        """Forget the mapping (a new connection: a new RTP timeline)."""
        self._last_ts = None
        self._window.clear()

    @property
    def offset_us(self) -> int | None:
        """The current mapping: server µs = timestamp µs + offset (None before any frame)."""
        return self._window[0][1] if self._window else None

    def place(self, timestamp: int, arrival_us: int, samples: int) -> int:
        """Server time (µs) of the first sample of a frame of ``samples`` samples.

        Args:
            timestamp: the frame's RTP timestamp (32-bit, wraps around).
            arrival_us: when the frame arrived (server clock).
            samples: the frame's length per channel.
        """
        return self.start_of(self.observe(timestamp, arrival_us), samples)

    def start_of(self, ts_us: int, samples: int) -> int:
        """Where a frame observed earlier (its `observe` result) starts, by the current mapping."""
        offset = self.offset_us
        assert offset is not None, "observe a frame first"
        return ts_us + offset - samples * US_PER_SECOND // self.sample_rate

    def observe(self, timestamp: int, arrival_us: int) -> int:
        """Learn from one frame's arrival; return its unwrapped timestamp in µs."""
        ts_us = self._unwrap(timestamp % _WRAP) * US_PER_SECOND // self.sample_rate
        deviation = arrival_us - ts_us
        current = self.offset_us
        if current is not None and abs(deviation - current) > self.reset_us:
            self.resets += 1
            self._window.clear()
        window = self._window
        while window and window[-1][1] >= deviation:
            window.pop()  # never the minimum again: this frame is newer and as fast
        window.append((arrival_us, deviation))
        while window[0][0] < arrival_us - self.window_us:
            window.popleft()
        return ts_us

    def _unwrap(self, timestamp: int) -> int:
        if self._last_ts is None:
            self._ext = timestamp
        else:
            delta = (timestamp - self._last_ts) % _WRAP
            if delta >= _HALF:
                delta -= _WRAP
            self._ext += delta
        self._last_ts = timestamp
        return self._ext


@dataclass(frozen=True, slots=True)
class Chunk:
    """The next piece of one output file: ``pcm`` samples, or ``silent`` samples of silence.

    ``track`` is a participant's id, or None for the mix. Each file's chunks
    follow each other without gaps from position 0, so a writer only appends.
    """

    track: str | None
    pcm: NDArray[np.int16] | None = None
    silent: int = 0

    @property
    def samples(self) -> int:
        return self.silent if self.pcm is None else len(self.pcm)


@dataclass(eq=False, slots=True)
class _Stem:
    aligner: StemAligner
    warm_from: int | None = None  # arrival of the first frame of this timeline
    held: list[tuple[NDArray[np.floating], int]] = field(default_factory=list)  # warming up
    cursor: int = 0  # samples written
    placed: bool = False  # some audio is written (before: leading silence only)
    pending: list[NDArray[np.float32]] = field(default_factory=list)  # not mixed yet
    pending_len: int = 0


class Multitrack:
    """Stems of every sender plus their mix, positioned on the server clock.

    Feed it with `add` as frames arrive, call `advance` now and then to
    produce the mix, `finish` at the end, and `take` the chunks to append to
    files after each of these.

    Args:
        start_us: server time of position 0 in every file.
        sample_rate: samples per second of every file.
        window_us, reset_us: see `StemAligner`.
        tolerance_us: how far a frame may be from the end of its stem and still
            be written right after it (larger moves pad or trim).
        warmup_us: a sender's first frames (and those after a `restart`) are held
            this long before being placed, so that the fastest path is already
            known when the stem begins: without it, the first frame's own delay
            would place it late and the next faster frame would cut into it.
        mix_lag_us: how far behind the present the mix is produced.
        ceiling_db: the mix's limiter ceiling, dBTP (the project's ``limiter_ceiling``).
    """

    def __init__(
        self,
        start_us: int,
        *,
        sample_rate: int = SAMPLE_RATE,
        window_us: int = 2_000_000,
        reset_us: int = 1_000_000,
        tolerance_us: int = 1_000,
        warmup_us: int = 200_000,
        mix_lag_us: int = 300_000,
        ceiling_db: float = -1.0,
    ) -> None:
        if tolerance_us < 0 or mix_lag_us < 0 or warmup_us < 0:
            raise ValueError("tolerance_us, warmup_us and mix_lag_us must not be negative")
        if warmup_us >= mix_lag_us > 0:
            raise ValueError("warmup_us must be shorter than mix_lag_us")
        self._warmup_us = warmup_us
        self.start_us = start_us
        self.sample_rate = sample_rate
        self._window_us = window_us
        self._reset_us = reset_us
        self._tolerance = tolerance_us * sample_rate // US_PER_SECOND
        self._mix_lag_us = mix_lag_us
        self._stems: dict[str, _Stem] = {}
        self._mixed = 0  # the mix's length: stems are mixed up to here
        self._limiter = StreamLimiter(1, ceiling_db)
        self._delayed = LIMITER_DELAY  # the limiter's leading silence, not yet dropped
        self._chunks: list[Chunk] = []
        self.finished = False
        self.trimmed = 0  # samples dropped because they overlapped what was written
        self.padded = 0  # samples of silence inserted inside stems (gaps, loss, drift)

    @property
    def tracks(self) -> tuple[str, ...]:
        """Participants with a stem, in the order their audio first arrived."""
        return tuple(self._stems)

    def length(self, track: str | None = None) -> int:
        """Samples written so far to a stem (None: mixed so far; the mix's file holds
        `LIMITER_DELAY` fewer until `finish`, the limiter's delay)."""
        return self._mixed if track is None else self._stems[track].cursor

    def resets(self, track: str) -> int:
        """How often a stem's timing was learnt afresh: its sender's frames jumped by
        more than `reset_us` against its fastest path (a stall, a restart); the frames
        after such a jump are placed by when they came."""
        stem = self._stems.get(track)
        return stem.aligner.resets if stem is not None else 0

    def position(self, time_us: int) -> int:
        """The sample position of a server time (may be negative: before the start)."""
        return round((time_us - self.start_us) * self.sample_rate / US_PER_SECOND)

    def restart(self, track: str) -> None:
        """``track`` reconnected: its next frames start a new RTP timeline."""
        stem = self._stems.get(track)
        if stem is not None:
            self._release(stem, track)
            stem.aligner.reset()
            stem.warm_from = None

    def add(
        self, track: str, samples: NDArray[np.floating], timestamp: int, arrival_us: int
    ) -> None:
        """One decoded mono frame of ``track`` with its RTP timestamp and arrival time."""
        if self.finished or samples.size == 0:
            return
        stem = self._stems.get(track)
        if stem is None:
            stem = self._stems[track] = _Stem(
                StemAligner(self.sample_rate, window_us=self._window_us, reset_us=self._reset_us)
            )
        ts_us = stem.aligner.observe(timestamp, arrival_us)
        if stem.warm_from is None:
            stem.warm_from = arrival_us
        if stem.held or arrival_us - stem.warm_from < self._warmup_us:
            stem.held.append((samples, ts_us))
            if arrival_us - stem.warm_from >= self._warmup_us:
                self._release(stem, track)
            return
        self._place(track, stem, samples, ts_us)

    def _release(self, stem: _Stem, track: str) -> None:
        """Place the frames held while warming up, by what the warm-up learnt."""
        held, stem.held = stem.held, []
        for samples, ts_us in held:
            self._place(track, stem, samples, ts_us)

    def _place(self, track: str, stem: _Stem, samples: NDArray[np.floating], ts_us: int) -> None:
        at = self.position(stem.aligner.start_of(ts_us, len(samples)))
        if stem.placed and abs(at - stem.cursor) <= self._tolerance:
            at = stem.cursor
        if at > stem.cursor:
            gap = at - stem.cursor
            if stem.placed:
                self.padded += gap
            self._silence(track, stem, gap)
        elif at < stem.cursor:
            overlap = stem.cursor - at
            if stem.placed:
                self.trimmed += min(overlap, len(samples))
            samples = samples[overlap:]
            if samples.size == 0:
                return
        stem.placed = True
        frame = np.nan_to_num(samples.astype(np.float32, copy=False), nan=0.0)
        self._chunks.append(Chunk(track, to_int16(frame)))
        self._pend(stem, frame)
        stem.cursor += len(frame)

    def advance(self, now_us: int) -> None:
        """Produce the mix up to `mix_lag_us` before ``now_us``."""
        if not self.finished:
            self._mix_until(self.position(now_us - self._mix_lag_us))

    def finish(self, end_us: int) -> None:
        """End the recording at ``end_us``: every stem and the mix get the same length."""
        if self.finished:
            return
        for track, stem in self._stems.items():
            self._release(stem, track)
        end = max(self.position(end_us), self._mixed, *(s.cursor for s in self._stems.values()))
        for track, stem in self._stems.items():
            if stem.cursor < end:
                self._silence(track, stem, end - stem.cursor)
        self._mix_until(end)
        self._write_mix(np.zeros(LIMITER_DELAY, dtype=np.float32))  # the limiter's last samples
        self.finished = True

    def take(self) -> list[Chunk]:
        """The chunks produced since the last call, in order."""
        chunks, self._chunks = self._chunks, []
        return chunks

    def _silence(self, track: str, stem: _Stem, samples: int) -> None:
        self._chunks.append(Chunk(track, silent=samples))
        skip = max(0, self._mixed - stem.cursor)
        if samples > skip:
            self._pend(stem, np.zeros(samples - skip, dtype=np.float32), skip=0)
        stem.cursor += samples

    def _pend(self, stem: _Stem, frame: NDArray[np.float32], skip: int | None = None) -> None:
        """Keep the part of a frame written at the stem's cursor that the mix still needs."""
        if skip is None:
            skip = max(0, self._mixed - stem.cursor)
        if skip < len(frame):
            part = frame[skip:]
            stem.pending.append(part)
            stem.pending_len += len(part)

    def _mix_until(self, end: int, block: int = SAMPLE_RATE) -> None:
        while self._mixed < end:
            length = min(end - self._mixed, block)
            mix = np.zeros(length, dtype=np.float32)
            for stem in self._stems.values():
                if not stem.pending:
                    continue
                held = np.concatenate(stem.pending)
                used = held[:length]
                mix[: len(used)] += used
                rest = held[length:]
                stem.pending = [rest] if len(rest) else []
                stem.pending_len = len(rest)
            self._write_mix(mix)
            self._mixed += length

    def _write_mix(self, mix: NDArray[np.float32]) -> None:
        """Mix through the limiter to the file, its delay dropped: the file stays aligned."""
        out = self._limiter.process(mix[None, :])[0]
        drop = min(self._delayed, len(out))
        self._delayed -= drop
        if drop < len(out):
            self._chunks.append(Chunk(None, to_int16(out[drop:])))
