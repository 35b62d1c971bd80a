"""A track's channel strip on a stream: `chain`'s EQ, compressor, volume and pan, frame by frame.

`media.chain` sees a whole render at once; a bot plays 10 ms at a time. A
`LiveStrip` keeps what the stages carry from one frame to the next (the EQ's
filter state, the compressor's smoothed gain and the gain the last block
ended on), so the frames it returns, put end to end, are what `chain.eq`,
`chain.compress`, the volume and `chain.pan` give over the whole signal;
tests hold the two together for any split into whole control blocks.

Frames are (2, n) float32 with n a multiple of `dsp.BLOCK` (the room's 480
and 960 are). A change of the track's fields applies from the next frame;
the EQ keeps its state while the same bands stay on (a new frequency bends
the sound, it does not click from an emptied filter).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from backline.media import chain
from backline.protocol import dsp
from backline.protocol.mixer import db_to_gain, track_eq

__all__ = ["LiveStrip"]

B = dsp.BLOCK


class LiveStrip:
    """One track's strip, stateful across frames."""

    def __init__(self, track: dict[str, Any]) -> None:
        self._shape: tuple[str, ...] | None = None
        self._sos: NDArray[np.float64] | None = None
        self._zi: NDArray[np.float64] | None = None
        self._gain_db = 0.0  # the compressor's smoothed gain change after the last block
        self._last = 1.0  # the linear gain the last block ended on
        self.set(track)

    def set(self, track: dict[str, Any]) -> None:
        """Follow the track's fields from the next frame on."""
        bands = track_eq(track, dsp.RATE)
        shape = tuple(prefix for prefix, _ in bands)
        self._sos = (
            np.array([[c.b0, c.b1, c.b2, 1.0, c.a1, c.a2] for _, c in bands]) if bands else None
        )
        if shape != self._shape:
            self._shape = shape
            self._zi = np.zeros((len(bands), 2, 2)) if bands else None
        self._comp = bool(track["comp_on"])
        if not self._comp:
            self._gain_db, self._last = 0.0, 1.0  # switched on later: from rest, as a render
        self._threshold = float(track["comp_threshold"])
        self._ratio = float(track["comp_ratio"])
        self._knee = float(track["comp_knee"])
        self._attack = dsp.block_coefficient(float(track["comp_attack"]))
        self._release = dsp.block_coefficient(float(track["comp_release"]))
        self._makeup = np.float32(db_to_gain(float(track["comp_makeup"])))
        self._volume = np.float32(track["volume"])
        self._pan = float(track["pan"])

    def process(self, x: chain.Signal) -> chain.Signal:
        """The next frame through EQ → compressor → volume → pan."""
        if x.shape[1] % B:
            raise ValueError(
                f"a frame of {x.shape[1]} samples is no whole number of {B}-sample blocks"
            )
        if self._sos is not None and self._zi is not None:
            from scipy.signal import sosfilt

            y, self._zi = sosfilt(self._sos, x.astype(np.float64), axis=1, zi=self._zi)
            x = np.asarray(y, dtype=np.float32)
        if self._comp:
            x = self._compress(x)
        return chain.pan(x * self._volume, self._pan)

    def _compress(self, x: chain.Signal) -> chain.Signal:
        blocks = x.shape[1] // B
        peaks = np.abs(x).max(axis=0).reshape(blocks, B).max(axis=1)
        levels = chain.gain_curve_db(
            np.where(peaks > 10 ** (dsp.LEVEL_FLOOR_DB / 20),
                     20 * np.log10(np.maximum(peaks, 1e-30)), dsp.LEVEL_FLOOR_DB),
            self._threshold, self._ratio, self._knee,
        ).tolist()  # fmt: skip
        after = np.empty(blocks)
        g = self._gain_db
        for k, target in enumerate(levels):
            g = dsp.smooth_gain(g, target, self._attack, self._release)
            after[k] = db_to_gain(g)
        self._gain_db = g
        before = np.concatenate([[self._last], after[:-1]])
        self._last = float(after[-1])
        steps = np.arange(1, B + 1, dtype=np.float64) / B
        gains = (before[:, None] + (after - before)[:, None] * steps[None, :]).reshape(1, -1)
        out: chain.Signal = x * gains.astype(np.float32) * self._makeup
        return out
