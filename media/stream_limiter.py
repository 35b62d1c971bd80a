"""The master true-peak limiter in real time: `chain.limit`, frame by frame.

`chain.limit` sees a whole render at once; the room mixes 10 ms at a time
and cannot wait for the end. `StreamLimiter` computes the same gains
(`dsp.limiter_need`, `dsp.limiter_step`, ramped per block as `dsp.ramp`)
from frames of any length, and pays for its look-ahead the way the
definition says: its output is its input `dsp.LIMITER_DELAY` samples later
(a block's gain needs the next block's true peak, and that needs 6 samples
past it). Fed the pieces of a signal, it returns `chain.limit` of the whole,
delayed; tests hold the two together for every split. Like the rest of the
room's core it is pure numpy over `dsp`'s definitions (`chain` imports scipy
for its filters; the room never needs them).

Cost per call: one reduction over the new input when it is quiet (then the
gains are 1 and the samples are only copied through); otherwise one Python
step per 32-sample block, and the 4x interpolation only on blocks whose
neighbourhood is loud enough for a point between samples to reach the limit.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import NDArray

from backline.protocol import dsp
from backline.protocol.mixer import db_to_gain

__all__ = ["StreamLimiter"]

B = dsp.BLOCK
_BEFORE = dsp.TRUE_PEAK_TAPS // 2 - 1  # 5: past samples a block's interpolated points use
_WINDOW = B + dsp.TRUE_PEAK_TAPS - 1  # 43: a block's samples with 5 before and 6 after
_TAPS = np.array(dsp.true_peak_kernel(), dtype=np.float32).T.copy()  # (12 taps, 3 phases)
_REACH = float(np.abs(_TAPS).sum(axis=0).max())  # a point is at most this times its window's peak
_STEPS = np.arange(1, B + 1, dtype=np.float64) / B  # `dsp.ramp`'s (i + 1) / BLOCK
_HUGE = float(2**20)  # +120 dBFS: no float32 sum of taps overflows below it


def _per_block(data: NDArray[np.float32], width: int, count: int) -> NDArray[np.float32]:
    """A read-only (channels, count, width) view: block k's `width` samples from 32·k on."""
    step = data.strides[1]
    view: NDArray[np.float32] = as_strided(
        data, (data.shape[0], count, width), (data.strides[0], B * step, step), writeable=False
    )
    return view


def _between(data: NDArray[np.float32], count: int, loud: NDArray[np.intp]) -> NDArray[np.float32]:
    """The peak of the points between samples (`dsp.true_peak_kernel`) of the `loud`
    blocks among `count`, as one matrix product over a strided view: 4x faster than
    `chain`'s tap-by-tap sums on a tick's few blocks. The sums run in another order,
    so the peaks agree with `chain` to float32 rounding, not bit for bit."""
    step = data.strides[1]
    taps = as_strided(
        data,
        (data.shape[0], count, B, dsp.TRUE_PEAK_TAPS),
        (data.strides[0], B * step, step, step),
        writeable=False,
    )[:, loud]  # (channels, loud, 32 points, 12 taps)
    points = np.abs(taps.reshape(-1, dsp.TRUE_PEAK_TAPS) @ _TAPS)
    peak: NDArray[np.float32] = points.reshape(data.shape[0], len(loud), -1).max(axis=(0, 2))
    return peak


class StreamLimiter:
    """`chain.limit` over a stream of ``(channels, n)`` float32 frames, delayed by
    `dsp.LIMITER_DELAY` samples (the first ones out are silence).

    State kept between calls: the input not yet emitted (at most a block, its
    look-ahead and the taps), the needs of blocks whose successor has not
    arrived, the last block's gain, and the delayed output.

    NaN comes in as silence and anything beyond ±2**20 as ±2**20: one broken
    source must not poison the gain, which would stay NaN for good.
    """

    def __init__(self, channels: int, ceiling_db: float = -1.0) -> None:
        if channels < 1:
            raise ValueError(f"need at least 1 channel, got {channels}")
        self.channels = channels
        self.ceiling_db = ceiling_db
        self._release = dsp.block_coefficient(dsp.LIMITER_RELEASE_MS)
        # Input from sample 32·e - 5 on, e being the next block to emit: the 5 zeros
        # before the stream are the zero history `chain.true_peak_blocks` pads with.
        self._input = np.zeros((channels, _BEFORE), dtype=np.float32)
        self._needs: list[float] = []  # of blocks e, e+1, ... whose windows are complete
        self._gain: float | None = None  # the gain at the end of block e-1 (None: e = 0)
        self._output = np.zeros((channels, dsp.LIMITER_DELAY), dtype=np.float32)
        self.limited = 0  # samples per channel of the last call's blocks with a gain < 1

    @property
    def ceiling_db(self) -> float:
        """The ceiling (dBTP); a change applies from the next block of input."""
        return self._ceiling_db

    @ceiling_db.setter
    def ceiling_db(self, value: float) -> None:
        self._ceiling_db = float(value)
        self._limit = db_to_gain(self._ceiling_db - dsp.LIMITER_MARGIN_DB)

    @property
    def gain(self) -> float:
        """The gain of the latest block (1.0: not limiting)."""
        return 1.0 if self._gain is None else self._gain

    def process(self, frame: NDArray[np.float32]) -> NDArray[np.float32]:
        """The next ``n`` samples out for ``n`` in: a new ``(channels, n)`` float32 array."""
        if frame.ndim != 2 or frame.shape[0] != self.channels:
            raise ValueError(f"expected a ({self.channels}, n) frame, got {frame.shape}")
        n = frame.shape[1]
        x = frame.astype(np.float32, copy=False)
        if n and not (x.max() <= _HUGE and x.min() >= -_HUGE):  # (NaN fails both)
            x = np.clip(np.nan_to_num(x, nan=0.0), -_HUGE, _HUGE)
        data = np.concatenate([self._input, x], axis=1)
        known = len(self._needs)
        complete = (data.shape[1] - _WINDOW) // B + 1 if data.shape[1] >= _WINDOW else 0
        if complete > known:
            self._needs += self._block_needs(data, known, complete)
        ready = max(0, len(self._needs) - 1)  # blocks whose next block's need is known
        if ready:
            produced = self._apply(data[:, _BEFORE : _BEFORE + ready * B], ready)
            self._needs = self._needs[ready:]
            self._input = data[:, ready * B :].copy()
            out = np.concatenate([self._output, produced], axis=1)
        else:
            self.limited = 0
            self._input = data
            out = self._output
        self._output = out[:, n:].copy()
        return np.ascontiguousarray(out[:, :n])

    def _block_needs(self, data: NDArray[np.float32], lo: int, hi: int) -> list[float]:
        """The needs of blocks ``lo``‥``hi-1`` (counted from block e) by their true peak."""
        count = hi - lo
        region = data[:, lo * B : (hi - 1) * B + _WINDOW]
        if float(np.abs(region).max(initial=0.0)) * _REACH <= self._limit:
            return [1.0] * count  # too quiet for any point to reach the limit: the usual case
        magnitude = np.abs(_per_block(region, _WINDOW, count))  # (channels, count, 43)
        peak = magnitude[:, :, _BEFORE : _BEFORE + B].max(axis=(0, 2))
        loud = np.flatnonzero(magnitude.max(axis=(0, 2)) * _REACH > self._limit)
        if loud.size:
            peak[loud] = np.maximum(peak[loud], _between(region, count, loud))
        if float(peak.max()) <= self._limit:
            return [1.0] * count  # loud, but nothing reaches the limit
        return [dsp.limiter_need(p, self._ceiling_db) for p in peak.tolist()]

    def _apply(self, blocks: NDArray[np.float32], ready: int) -> NDArray[np.float32]:
        """`ready` whole blocks times their ramped gains (`chain.limit`'s recursion)."""
        needs, release = self._needs, self._release
        start = self._gain
        gain = 1.0 if start is None else start
        if gain == 1.0 and all(need == 1.0 for need in needs[: ready + 1]):
            self.limited = 0
            self._gain = 1.0
            return blocks.copy()
        after = np.empty(ready)
        for k in range(ready):
            gain = after[k] = dsp.limiter_step(gain, needs[k], needs[k + 1], release)
        before = np.empty(ready)
        before[0] = min(1.0, needs[0]) if start is None else start  # chain.limit's start
        before[1:] = after[:-1]
        self._gain = gain
        self.limited = B * int(np.count_nonzero((before < 1.0) | (after < 1.0)))
        gains = before[:, None] + (after - before)[:, None] * _STEPS[None, :]  # `dsp.ramp`
        ramped: NDArray[np.float32] = blocks * gains.reshape(1, -1).astype(np.float32)
        return ramped
