"""The signal chain over whole numpy arrays: `protocol/dsp.py`'s definitions, vectorised.

Signals are (2, frames) float32 arrays at `dsp.RATE` (the browser's sample
format; filters and recursions run in float64 inside). Each function computes
exactly what its definition in `backline.protocol.dsp` (or `mixer`) says,
and what the browser's nodes and AudioWorklets compute sample by sample;
tests hold them together. Only the recursions that cannot be vectorised
(the compressor's and the limiter's smoothing, one step per control block)
loop in Python, over blocks rather than samples.

scipy is imported where it is used: it is slow to import and only renders need it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backline.protocol import dsp
from backline.protocol.mixer import db_to_gain, track_eq

__all__ = [
    "Signal",
    "compress",
    "delay_return",
    "eq",
    "gain_curve_db",
    "limit",
    "pan",
    "reverb_ir",
    "reverb_return",
    "true_peak_blocks",
    "true_peak_db",
]

Signal = NDArray[np.float32]
B = dsp.BLOCK


def _blocks(x: Signal) -> tuple[Signal, int]:
    """`x` zero-padded to whole blocks, and its original length."""
    frames = x.shape[1]
    pad = -frames % B
    return (np.pad(x, ((0, 0), (0, pad))) if pad else x), frames


def _ramped(x: Signal, before: NDArray[np.float64], after: NDArray[np.float64]) -> Signal:
    """x (whole blocks) times gains ramping per block from `before[k]` to `after[k]` (`dsp.ramp`)."""
    steps = np.arange(1, B + 1, dtype=np.float64) / B
    gains = before[:, None] + (after - before)[:, None] * steps[None, :]
    return x * gains.reshape(1, -1).astype(np.float32)


# -- EQ -------------------------------------------------------------------------------


def eq(x: Signal, track: dict[str, Any]) -> Signal:
    """The track's switched-on EQ bands in order (`mixer.track_eq`), as cascaded biquads."""
    bands = track_eq(track, dsp.RATE)
    if not bands:
        return x
    from scipy.signal import sosfilt

    sos = np.array([[c.b0, c.b1, c.b2, 1.0, c.a1, c.a2] for _, c in bands])
    return np.asarray(sosfilt(sos, x.astype(np.float64), axis=1), dtype=np.float32)


# -- the compressor ---------------------------------------------------------------------


def gain_curve_db(level: Signal, threshold: float, ratio: float, knee: float) -> Signal:
    """`mixer.compressor_gain_db` over an array of levels."""
    over = level - threshold
    slope = 1.0 / ratio - 1.0
    hard = np.where(over > 0, slope * over, 0.0)
    if knee <= 0:
        return hard
    soft = slope * (over + knee / 2) ** 2 / (2 * knee)
    return np.where(np.abs(over) <= knee / 2, soft, hard)


def compress(x: Signal, track: dict[str, Any]) -> tuple[Signal, NDArray[np.float64]]:
    """The compressor (`dsp.compressor_step`, ramped per block), when the track has it
    on: the output and the gain change per block (dB)."""
    if not track["comp_on"]:
        return x, np.zeros(0)
    padded, frames = _blocks(x)
    peaks = np.abs(padded).max(axis=0).reshape(-1, B).max(axis=1)
    floor = 10 ** (dsp.LEVEL_FLOOR_DB / 20)
    levels = np.where(peaks > floor, 20 * np.log10(np.maximum(peaks, floor)), dsp.LEVEL_FLOOR_DB)
    targets = gain_curve_db(
        levels,
        float(track["comp_threshold"]),
        float(track["comp_ratio"]),
        float(track["comp_knee"]),
    ).tolist()
    attack = dsp.block_coefficient(float(track["comp_attack"]))
    release = dsp.block_coefficient(float(track["comp_release"]))
    gains = [0.0] * len(targets)
    g = 0.0
    for k, target in enumerate(targets):  # compressor_step, its static curve vectorised above
        g = gains[k] = dsp.smooth_gain(g, target, attack, release)
    gain_db = np.array(gains)
    after = 10 ** (gain_db / 20)
    before = np.concatenate([[1.0], after[:-1]])
    makeup = db_to_gain(float(track["comp_makeup"]))
    return _ramped(padded, before, after)[:, :frames] * np.float32(makeup), gain_db


# -- the true-peak limiter ------------------------------------------------------------


_KERNEL = np.array(dsp.true_peak_kernel(), dtype=np.float32)  # (3 phases, 12 taps)
_REACH = float(
    np.abs(_KERNEL).sum(axis=1).max()
)  # an interpolated point is at most this times the window's peak


def _between(windows: Signal) -> Signal:
    """Peak magnitude of the points between samples: `windows` is (n, 2, B + 11), the
    block's samples with 5 before and 6 after; the result is (n,) per block."""
    peak = np.zeros(windows.shape[0], dtype=np.float32)
    for taps in _KERNEL:  # the value at m + p/4 is sum_j x[m+j] taps[j+5], j = -5..6
        acc = np.zeros((*windows.shape[:2], B), dtype=np.float32)
        for j, tap in enumerate(taps):
            acc += tap * windows[:, :, j : j + B]
        np.maximum(peak, np.abs(acc).max(axis=(1, 2)), out=peak)
    return peak


def true_peak_blocks(x: Signal, above: float = 0.0) -> Signal:
    """The true peak (linear) of each block: samples and the points between them.

    Blocks whose neighbourhood is too quiet for any point between samples to
    reach `above` keep their sample peak (the exact true peak is then at most
    `above` too): the limiter asks only which blocks exceed its limit, and by how much.
    """
    padded, _ = _blocks(x)
    blocks = padded.shape[1] // B
    sample_peak = np.abs(padded).max(axis=0).reshape(blocks, B).max(axis=1)
    near = np.maximum(sample_peak, np.maximum(np.roll(sample_peak, 1), np.roll(sample_peak, -1)))
    candidates = np.flatnonzero(near * _REACH > above)
    if candidates.size == 0:
        return np.asarray(sample_peak)
    wide = np.pad(padded, ((0, 0), (5, 6)))
    peak = sample_peak.copy()
    for lo in range(0, candidates.size, 1 << 14):  # bounded memory: 16k blocks at a time
        chosen = candidates[lo : lo + (1 << 14)]
        index = chosen[:, None] * B + np.arange(B + 11)[None, :]
        windows = np.moveaxis(wide[:, index], 0, 1)  # (n, 2, B + 11)
        peak[chosen] = np.maximum(peak[chosen], _between(windows))
    return np.asarray(peak)


def true_peak_db(x: Signal) -> float:
    """The signal's true peak in dBTP, by the limiter's own 4x estimate."""
    if x.size == 0:
        return -math.inf
    peak = float(true_peak_blocks(x).max())
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def limit(x: Signal, ceiling_db: float) -> tuple[Signal, NDArray[np.float64]]:
    """The look-ahead true-peak limiter (`dsp.limiter_step`) without its real-time
    delay: the output and the gain per block."""
    padded, frames = _blocks(x)
    limit_gain = db_to_gain(ceiling_db - dsp.LIMITER_MARGIN_DB)
    peaks = true_peak_blocks(padded, above=limit_gain).tolist()
    needs = [dsp.limiter_need(p, ceiling_db) for p in peaks] + [1.0]
    release = dsp.block_coefficient(dsp.LIMITER_RELEASE_MS)
    ends = [1.0] * len(peaks)
    e = 1.0
    for k in range(len(peaks)):
        e = ends[k] = dsp.limiter_step(e, needs[k], needs[k + 1], release)
    after = np.array(ends)
    before = np.concatenate([[min(1.0, needs[0])], after[:-1]])  # looks ahead at the start too
    return _ramped(padded, before, after)[:, :frames], after


# -- pan ----------------------------------------------------------------------------------


def pan(x: Signal, position: float) -> Signal:
    """StereoPannerNode's law on a stereo signal (`dsp.pan_gains`)."""
    ll, rl, lr, rr = dsp.pan_gains(position)
    out = np.empty_like(x)
    np.multiply(x[0], np.float32(ll), out=out[0])
    np.multiply(x[1], np.float32(rr), out=out[1])
    if rl:
        out[0] += np.float32(rl) * x[1]
    if lr:
        out[1] += np.float32(lr) * x[0]
    return out


# -- the returns ---------------------------------------------------------------------------


def _noise(n: NDArray[np.int64], channel: int) -> NDArray[np.float64]:
    """`dsp.noise` over an array of indices (uint32 arithmetic wraps as the definition masks)."""
    h = (n.astype(np.uint64) * 0x9E3779B1 + channel * 0x632BE5AB + 0x5BD1E995) & 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    out: NDArray[np.float64] = h.astype(np.float64) / 2**31 - 1.0
    return out


def reverb_ir(decay_s: float, predelay_ms: float, damping: float) -> Signal:
    """The reverb's impulse response (`dsp.reverb_sample`), each channel at unit energy."""
    length = dsp.reverb_length(decay_s, predelay_ms)
    start = round(predelay_ms / 1000 * dsp.RATE)
    n = np.arange(length, dtype=np.int64)
    t = (n - start) / dsp.RATE
    amplitude = 10 ** (-3 * t / decay_s)
    dark = 1 - 10 ** (-3 * t * damping * 4 / decay_s) if damping > 0 else np.zeros(length)
    channels = []
    for channel in (0, 1):
        w = [_noise(n - lag, channel) for lag in range(4)]
        smooth = (w[0] + w[1] + w[2] + w[3]) / 2
        ir = np.where(n < start, 0.0, amplitude * ((1 - dark) * w[0] + dark * smooth))
        energy = float(np.sqrt(np.sum(ir * ir)))
        channels.append(ir / energy if energy > 0 else ir)
    return np.stack(channels).astype(np.float32)


def reverb_return(send: Signal, ir: Signal) -> Signal:
    """The send convolved with the IR, channel by channel (a ConvolverNode, not normalised)."""
    from scipy.signal import oaconvolve

    frames = send.shape[1]
    wet = oaconvolve(send, ir, mode="full", axes=1)
    return np.asarray(wet[:, :frames], dtype=np.float32)


def delay_return(send: Signal, delay: int, feedback: float, pole: float) -> Signal:
    """The feedback delay: ``w = LP(z^-D (x + fb·w))`` with the one-pole low-pass
    ``LP = (1-p) / (1 - p z^-1)``, computed a delay's length at a time (within a
    chunk, the fed-back part comes from the chunk before)."""
    from scipy.signal import lfilter

    frames = send.shape[1]
    out = np.zeros(send.shape)
    state = np.zeros((2, 1))
    b, a = [1.0 - pole], [1.0, -pole]
    for lo in range(0, frames, delay):
        hi = min(lo + delay, frames)
        src = np.zeros((2, hi - lo))  # x[n-D] + fb w[n-D]
        if lo - delay >= 0:
            src += send[:, lo - delay : hi - delay] + feedback * out[:, lo - delay : hi - delay]
        chunk, state = lfilter(b, a, src, axis=1, zi=state)
        out[:, lo:hi] = chunk
    return out.astype(np.float32)
