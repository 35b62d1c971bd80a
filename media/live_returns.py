"""The shared effect returns on a stream: `chain.reverb_return` and `chain.delay_return`, frame by frame.

A bot plays 10 ms at a time; what its tracks send to the reverb and the delay
must ring on across frames exactly as the render's whole-signal returns do.

- **Delay**: ``w = LP(z^-D (x + fb·w))``. The last `D` samples of
  ``u = x + fb·w`` are kept; a frame is computed a delay's length at a time
  (within such a chunk every ``u[n - D]`` is already known), the one-pole
  low-pass carrying its state.
- **Reverb**: uniformly partitioned convolution (overlap-save): the impulse
  response cut into frame-long partitions, each frame's spectrum kept in a
  frequency-domain delay line, one multiply-add per partition per frame. Exact
  (a linear convolution), and the cost per frame grows with the reverb's
  length: a 2 s reverb is 200 partitions of a 10 ms frame.

Frames are (2, n) float32 of a fixed length per instance (the room's frame).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from backline.media import chain
from backline.protocol import dsp

__all__ = ["LiveDelay", "LiveReturns", "LiveReverb"]


class LiveDelay:
    """The tempo-synced feedback delay with its low-pass, stateful across frames."""

    def __init__(self, delay: int, feedback: float, pole: float) -> None:
        self.delay = delay
        self.feedback = feedback
        self.pole = pole
        self._u = np.zeros((2, delay))  # the last D samples of x + fb·w
        self._zi = np.zeros((2, 1))

    def process(self, x: chain.Signal) -> chain.Signal:
        from scipy.signal import lfilter

        frames = x.shape[1]
        out = np.empty((2, frames))
        b, a = [1.0 - self.pole], [1.0, -self.pole]
        history = self._u
        for lo in range(0, frames, self.delay):
            hi = min(lo + self.delay, frames)
            m = hi - lo
            src = history[:, :m]  # u[n - D] for n in [lo, hi)
            w, self._zi = lfilter(b, a, src, axis=1, zi=self._zi)
            out[:, lo:hi] = w
            u = x[:, lo:hi] + self.feedback * w
            history = np.concatenate([history[:, m:], u], axis=1)
        self._u = history
        return out.astype(np.float32)


class LiveReverb:
    """Convolution with the reverb's impulse response, one frame at a time."""

    def __init__(self, ir: chain.Signal, frame: int) -> None:
        self.frame = frame
        size = 2 * frame
        parts = -(-ir.shape[1] // frame)
        padded = np.zeros((2, parts * frame))
        padded[:, : ir.shape[1]] = ir
        blocks = padded.reshape(2, parts, frame).transpose(1, 0, 2)  # (parts, 2, frame)
        self._spectra = np.fft.rfft(blocks, size, axis=2)  # (parts, 2, frame + 1)
        self._line = np.zeros_like(self._spectra)  # the inputs' spectra, newest first
        self._last = np.zeros((2, frame))

    def process(self, x: chain.Signal) -> chain.Signal:
        if x.shape[1] != self.frame:
            raise ValueError(f"frames of {self.frame} samples, got {x.shape[1]}")
        window = np.concatenate([self._last, x.astype(np.float64)], axis=1)
        self._last = x.astype(np.float64)
        self._line = np.roll(self._line, 1, axis=0)
        self._line[0] = np.fft.rfft(window, 2 * self.frame, axis=1)
        acc = np.einsum("pcf,pcf->cf", self._line, self._spectra)
        y = np.fft.irfft(acc, 2 * self.frame, axis=1)[:, self.frame :]  # overlap-save
        return y.astype(np.float32)


class LiveReturns:
    """Both returns at the project's settings: sends in, what they add to the mix out."""

    def __init__(self, project: dict[str, Any], frame: int) -> None:
        self.frame = frame
        self._key: tuple[Any, ...] | None = None
        self._reverb: LiveReverb | None = None
        self._delay: LiveDelay | None = None
        self.set(project)

    def set(self, project: dict[str, Any]) -> None:
        """Follow the project's return fields (a change of shape starts that return afresh)."""
        self._reverb_level = np.float32(project["reverb_level"])
        self._delay_level = np.float32(project["delay_level"])
        ir_key = (project["reverb_decay"], project["reverb_predelay"], project["reverb_damping"])
        delay = dsp.delay_samples(project["delay_beats"], project["tempo"])
        delay_key = (delay, project["delay_feedback"], project["delay_tone"])
        if self._key is None or self._key[0] != ir_key:
            self._reverb = LiveReverb(chain.reverb_ir(*ir_key), self.frame)
        if self._key is None or self._key[1] != delay_key:
            self._delay = LiveDelay(delay, float(project["delay_feedback"]),
                                    dsp.one_pole(project["delay_tone"]))  # fmt: skip
        self._key = (ir_key, delay_key)

    def process(self, reverb_send: chain.Signal, delay_send: chain.Signal) -> chain.Signal:
        assert self._reverb is not None and self._delay is not None
        out: NDArray[np.float32] = self._reverb.process(reverb_send) * self._reverb_level
        out += self._delay.process(delay_send) * self._delay_level
        return out
