"""The mixer: its parameters (fields of tracks and of the project) and its math.

Every parameter is a plain field of the document (a number or a switch), so
two people turning two knobs of one strip never overwrite each other: edits
are last-writer-wins per field. `model.py` builds the fields' validators from
`TRACK_PARAMS` and `PROJECT_PARAMS`; the browser gets them through
``/protocol.js`` like every other field.

The EQ is the RBJ Audio EQ Cookbook's biquads exactly as Web Audio's
``BiquadFilterNode`` defines them (a high-pass whose Q is given linearly here and
in decibels to Web Audio; shelves with the slope S = 1), so a strip in the
browser, a bot and a render filter alike. `biquad` gives the normalised
coefficients, `response_db` the gain at a frequency; `web/mixer.js` is the same
math for the browser (checked against these, and against Chromium's own
``getFrequencyResponse``).

The compressor's law is `compressor_gain_db` (a static curve with a soft knee
of `knee` dB around the threshold; attack and release smooth it over time).

Pure: no I/O, no numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BANDS",
    "PROJECT_PARAMS",
    "TRACK_PARAMS",
    "Biquad",
    "Param",
    "biquad",
    "compressor_gain_db",
    "db_to_gain",
    "gain_to_db",
    "response_db",
    "track_eq",
]


@dataclass(frozen=True, slots=True)
class Param:
    """One mixer parameter: a number in ``[lo, hi]`` (in `unit`), or a switch."""

    name: str
    default: float | bool
    lo: float | None = None  # None: a switch (true or false)
    hi: float | None = None
    unit: str = ""
    doc: str = ""


def _band(prefix: str, kind: str, freq: float, q: float | None, what: str) -> list[Param]:
    out = [
        Param(f"{prefix}_on", False, doc=f"{what} on"),
        Param(f"{prefix}_freq", freq, 20.0, 20_000.0, "Hz", f"{what} frequency"),
    ]
    if kind != "highpass":
        out.append(Param(f"{prefix}_gain", 0.0, -24.0, 24.0, "dB", f"{what} gain"))
    if q is not None:
        out.append(Param(f"{prefix}_q", q, 0.1, 18.0, "", f"{what} Q"))
    return out


# (field prefix, filter type): the strip's EQ, in signal order
BANDS: tuple[tuple[str, str], ...] = (
    ("eq_hp", "highpass"),
    ("eq_low", "lowshelf"),
    ("eq_mid1", "peaking"),
    ("eq_mid2", "peaking"),
    ("eq_high", "highshelf"),
)

TRACK_PARAMS: tuple[Param, ...] = (
    *_band("eq_hp", "highpass", 80.0, math.sqrt(0.5), "high-pass"),
    *_band("eq_low", "lowshelf", 120.0, None, "low shelf"),
    *_band("eq_mid1", "peaking", 500.0, 1.0, "low-mid band"),
    *_band("eq_mid2", "peaking", 2500.0, 1.0, "high-mid band"),
    *_band("eq_high", "highshelf", 8000.0, None, "high shelf"),
    Param("comp_on", False, doc="compressor on"),
    Param("comp_threshold", -18.0, -60.0, 0.0, "dB", "level where compression starts"),
    Param("comp_ratio", 4.0, 1.0, 20.0, ":1", "input dB over the threshold per output dB"),
    Param("comp_attack", 10.0, 0.1, 1000.0, "ms", "how fast it clamps down"),
    Param("comp_release", 150.0, 10.0, 5000.0, "ms", "how fast it lets go"),
    Param("comp_knee", 6.0, 0.0, 40.0, "dB", "width of the soft knee"),
    Param("comp_makeup", 0.0, 0.0, 24.0, "dB", "gain after compression"),
    Param("send_reverb", 0.0, 0.0, 1.0, "", "post-fader send to the reverb return"),
    Param("send_delay", 0.0, 0.0, 1.0, "", "post-fader send to the delay return"),
)

PROJECT_PARAMS: tuple[Param, ...] = (
    Param("reverb_level", 1.0, 0.0, 2.0, "", "reverb return level (linear)"),
    Param("reverb_decay", 2.0, 0.1, 20.0, "s", "reverb time (RT60)"),
    Param("reverb_predelay", 20.0, 0.0, 250.0, "ms", "reverb pre-delay"),
    Param("reverb_damping", 0.5, 0.0, 1.0, "", "how fast highs die in the reverb"),
    Param("delay_level", 1.0, 0.0, 2.0, "", "delay return level (linear)"),
    Param("delay_beats", 0.75, 0.0625, 4.0, "beats", "delay time, in beats of the tempo"),
    Param("delay_feedback", 0.35, 0.0, 0.95, "", "share of each echo fed back"),
    Param("delay_tone", 6000.0, 500.0, 20_000.0, "Hz", "low-pass on the echoes"),
    Param("master_gain", 1.0, 0.0, 2.0, "", "master bus gain (linear)"),
    Param("limiter_on", True, doc="true-peak limiter on the master"),
    Param("limiter_ceiling", -1.0, -12.0, 0.0, "dBTP", "the limiter's ceiling"),
)


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def gain_to_db(gain: float) -> float:
    return -math.inf if gain <= 0 else 20.0 * math.log10(gain)


@dataclass(frozen=True, slots=True)
class Biquad:
    """Normalised coefficients (a0 = 1): y = b0 x + b1 x1 + b2 x2 - a1 y1 - a2 y2."""

    b0: float
    b1: float
    b2: float
    a1: float
    a2: float


def biquad(kind: str, freq: float, gain_db: float, q: float, rate: float) -> Biquad:
    """The coefficients Web Audio's BiquadFilterNode of type `kind` computes (for a
    highpass, `q` is the linear Q whose decibels Web Audio takes)."""
    nyquist = rate / 2
    f = min(freq, nyquist) / rate
    w0 = 2 * math.pi * f
    cos, sin = math.cos(w0), math.sin(w0)
    a = 10.0 ** (gain_db / 40.0)
    if kind == "highpass":
        alpha = sin / (2 * q)
        b0, b1, b2 = (1 + cos) / 2, -(1 + cos), (1 + cos) / 2
        a0, a1, a2 = 1 + alpha, -2 * cos, 1 - alpha
    elif kind == "peaking":
        alpha = sin / (2 * q)
        b0, b1, b2 = 1 + alpha * a, -2 * cos, 1 - alpha * a
        a0, a1, a2 = 1 + alpha / a, -2 * cos, 1 - alpha / a
    elif kind in ("lowshelf", "highshelf"):
        k = 2 * math.sqrt(a) * (sin / 2 * math.sqrt(2))  # 2 sqrt(A) alpha, with S = 1
        sign = 1 if kind == "lowshelf" else -1
        b0 = a * ((a + 1) - sign * (a - 1) * cos + k)
        b1 = sign * 2 * a * ((a - 1) - sign * (a + 1) * cos)
        b2 = a * ((a + 1) - sign * (a - 1) * cos - k)
        a0 = (a + 1) + sign * (a - 1) * cos + k
        a1 = -sign * 2 * ((a - 1) + sign * (a + 1) * cos)
        a2 = (a + 1) + sign * (a - 1) * cos - k
    else:
        raise ValueError(f"unknown filter type {kind!r}")
    return Biquad(b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0)


def response_db(coeffs: Biquad, freq: float, rate: float) -> float:
    """The filter's gain at `freq`, in dB."""
    w = 2 * math.pi * freq / rate
    z1 = complex(math.cos(w), -math.sin(w))  # e^{-jw}
    z2 = z1 * z1
    h = (coeffs.b0 + coeffs.b1 * z1 + coeffs.b2 * z2) / (1 + coeffs.a1 * z1 + coeffs.a2 * z2)
    return gain_to_db(abs(h))


def track_eq(track: dict[str, Any], rate: float) -> list[tuple[str, Biquad]]:
    """The strip's switched-on EQ bands, in signal order, as (band prefix, coefficients)."""
    out = []
    for prefix, kind in BANDS:
        if track[f"{prefix}_on"]:
            gain = 0.0 if kind == "highpass" else float(track[f"{prefix}_gain"])
            q = float(track.get(f"{prefix}_q", 1.0))
            out.append((prefix, biquad(kind, float(track[f"{prefix}_freq"]), gain, q, rate)))
    return out


def compressor_gain_db(level_db: float, threshold: float, ratio: float, knee: float) -> float:
    """The gain change (dB, at most 0) the compressor applies to a signal at `level_db`:
    none below the knee, ``(1 / ratio - 1)`` per dB over the threshold above it, and a
    quadratic blend across the knee ``[threshold - knee/2, threshold + knee/2]``."""
    over = level_db - threshold
    slope = 1.0 / ratio - 1.0
    if knee > 0 and abs(over) <= knee / 2:
        return slope * (over + knee / 2) ** 2 / (2 * knee)
    return slope * over if over > 0 else 0.0
