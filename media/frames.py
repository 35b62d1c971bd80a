"""Frames: the fixed-size unit of audio the room moves, mixes and meters.

The room runs at 48 kHz (Opus's native rate) in frames of 5, 10 or 20 ms. A
frame is a 1-D array of ``frame_samples(ms) * channels`` samples; multichannel
audio is interleaved, as PCM is on the wire. Inside the room samples are
float32 with full scale at ±1.0; Opus decoders and encoders speak int16, so
conversion happens at the edge with `to_float32` and `to_int16`.

Durations are exact integers: at 48 kHz every allowed frame is a whole number
of samples and of microseconds, so frame arithmetic never rounds.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from backline.protocol.audio import FRAME_MS, SAMPLE_RATE

__all__ = [
    "DEFAULT_FRAME_MS",
    "FRAME_DURATIONS_MS",
    "INT16_FULL_SCALE",
    "SAMPLE_RATE",
    "US_PER_SECOND",
    "Rechunker",
    "frame_bytes",
    "frame_samples",
    "frame_us",
    "frames_per_second",
    "silence",
    "to_float32",
    "to_int16",
]

FRAME_DURATIONS_MS = (5, 10, 20)  # the Opus frame sizes the room accepts
DEFAULT_FRAME_MS = FRAME_MS  # low-delay frames; see DESIGN.md "Latency budget"
US_PER_SECOND = 1_000_000
INT16_FULL_SCALE = 32768.0  # int16 sample value that maps to 1.0

_INT16_MIN = -32768
_INT16_MAX = 32767


def _check_duration(frame_ms: int) -> None:
    if frame_ms not in FRAME_DURATIONS_MS:
        raise ValueError(f"frame duration must be one of {FRAME_DURATIONS_MS} ms, got {frame_ms!r}")


def frame_samples(frame_ms: int = DEFAULT_FRAME_MS, sample_rate: int = SAMPLE_RATE) -> int:
    """Samples per channel in one frame: 5 ms -> 240, 10 ms -> 480, 20 ms -> 960 at 48 kHz.

    Raises:
        ValueError: ``frame_ms`` is not one of `FRAME_DURATIONS_MS`, or the frame
            would not be a whole number of samples at ``sample_rate``.
    """
    _check_duration(frame_ms)
    samples, remainder = divmod(frame_ms * sample_rate, 1000)
    if remainder or samples <= 0:
        raise ValueError(f"{frame_ms} ms is not a whole number of samples at {sample_rate} Hz")
    return samples


def frame_us(frame_ms: int = DEFAULT_FRAME_MS) -> int:
    """Duration of one frame in microseconds (the server clock's unit)."""
    _check_duration(frame_ms)
    return frame_ms * 1000


def frames_per_second(frame_ms: int = DEFAULT_FRAME_MS) -> int:
    """Frames in one second: 200, 100 or 50."""
    _check_duration(frame_ms)
    return 1000 // frame_ms


def frame_bytes(frame_ms: int = DEFAULT_FRAME_MS, channels: int = 1) -> int:
    """Bytes of one frame of int16 PCM (2 bytes per sample per channel)."""
    if channels < 1:
        raise ValueError(f"channels must be at least 1, got {channels!r}")
    return frame_samples(frame_ms) * channels * 2


def silence(samples: int, channels: int = 1) -> NDArray[np.float32]:
    """A frame of float32 zeros, ``samples`` per channel, interleaved."""
    return np.zeros(samples * channels, dtype=np.float32)


def to_float32(pcm: NDArray[np.int16]) -> NDArray[np.float32]:
    """int16 PCM to float32 in [-1.0, 1.0): ``sample / 32768``.

    Exact: every int16 value has a float32 image, and `to_int16` maps it back
    to the same integer.

    Raises:
        ValueError: ``pcm`` is not an int16 array.
    """
    if pcm.dtype != np.int16:
        raise ValueError(f"expected int16 PCM, got {pcm.dtype}")
    return pcm.astype(np.float32) * np.float32(1.0 / INT16_FULL_SCALE)


def to_int16(samples: NDArray[np.floating]) -> NDArray[np.int16]:
    """float samples to int16 PCM: scale by 32768, round, saturate.

    Rounding is to nearest with ties to even (`numpy.rint`). Values at or
    beyond full scale saturate at -32768 / 32767 instead of wrapping around,
    and NaN becomes 0, so any float input gives valid PCM. Clipping happens
    before scaling, so huge values raise no overflow warning.

    Raises:
        ValueError: ``samples`` is not a floating-point array.
    """
    if not np.issubdtype(samples.dtype, np.floating):
        raise ValueError(f"expected float samples, got {samples.dtype}")
    finite = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    scaled = np.rint(np.clip(finite, -1.0, 1.0) * INT16_FULL_SCALE)
    pcm: NDArray[np.int16] = np.clip(scaled, _INT16_MIN, _INT16_MAX).astype(np.int16)
    return pcm


class Rechunker:
    """Cuts one sender's decoded audio into the room's frames, whatever size it sends.

    Opus senders choose their own packet duration (2.5 to 60 ms): a browser
    sends 20 ms, our SDK 10 ms. The room ticks in `frame` samples, so each
    decoded chunk is split (or, for short packets, joined) into whole room
    frames on the sender's own RTP timeline. Frame ``k`` covers RTP time
    ``[phase + k * frame, phase + (k + 1) * frame)``, where ``phase`` is the
    first timestamp seen modulo ``frame``, so its index names the same slot
    whichever packet it came from. A gap (lost packet) discards the partial
    frame in hand rather than stitching audio from two different moments.
    """

    def __init__(self, frame: int) -> None:
        if frame <= 0:
            raise ValueError(f"frame must be positive, got {frame!r}")
        self.frame = frame
        self._phase: int | None = None
        self._pending: NDArray[np.float32] = np.zeros(0, dtype=np.float32)
        self._pending_pts = 0  # RTP time of the first pending sample

    def push(self, samples: NDArray[np.float32], pts: int) -> list[tuple[int, NDArray[np.float32]]]:
        """Take a decoded chunk that starts at RTP time `pts`; return the whole
        frames it completes as ``(index, frame)``, in order."""
        frame = self.frame
        if self._phase is None:
            self._phase = pts % frame
        if len(self._pending) and pts != self._pending_pts + len(self._pending):
            self._pending = self._pending[:0]  # a gap or a jump: drop the partial frame
        if not len(self._pending):
            skip = (self._phase - pts) % frame  # samples before the next frame boundary
            samples = samples[skip:]
            pts += skip
            self._pending_pts = pts
            self._pending = samples
        else:
            self._pending = np.concatenate((self._pending, samples))
        out: list[tuple[int, NDArray[np.float32]]] = []
        whole = len(self._pending) // frame
        for i in range(whole):
            start = self._pending_pts + i * frame
            out.append(((start - self._phase) // frame, self._pending[i * frame : (i + 1) * frame]))
        if whole:
            self._pending = self._pending[whole * frame :].copy()
            self._pending_pts += whole * frame
        return out
