"""The signal chain's definitions: dynamics, true peak, the effect returns, pan, instruments.

One definition for three players: the browser (``web/dsp.js`` and its
AudioWorklets mirror this module line for line), the bots and the server
render (``backline.media.chain`` computes the same formulas over numpy
arrays). Tests hold the three together.

The chain, per track: instrument → EQ (`mixer.track_eq`) → compressor →
volume and pan → post-fader sends; then every track, the reverb return and
the delay return sum on the master bus → master gain → true-peak limiter.

- **Compressor.** A feed-forward, stereo-linked compressor working on control
  blocks of `BLOCK` samples: the block's peak level (dB) goes through the
  static curve `mixer.compressor_gain_db`; the resulting gain change is
  smoothed with one-pole attack and release (`compressor_step`) and applied
  ramped linearly across the block (`ramp`). Web Audio's own
  DynamicsCompressorNode follows no published law (and differs between
  engines), so the browser runs this one in an AudioWorklet.
- **Limiter.** Look-ahead, true-peak: the signal's peak between samples is
  estimated by 4x oversampling (`TRUE_PEAK_PHASES`), the gain each block needs
  to stay under the ceiling is reached *before* the block (one block of
  look-ahead, `limiter_step`), and recovers with `LIMITER_RELEASE_MS`. It
  delays what it passes by `LIMITER_DELAY` samples in real time; a render
  drops that delay.
- **Reverb.** A convolution with a synthetic impulse response (`reverb_ir`):
  decaying noise, darker as it decays, built from a counter-based hash
  (`noise`) so numpy and JavaScript compute the same samples.
- **Delay.** A tempo-synced feedback delay with a one-pole low-pass in the
  loop (`delay_samples`, `one_pole`).
- **Pan.** Web Audio's StereoPannerNode law (`pan_gains`).
- **Instruments.** SoundFont notes rendered by FluidSynth once per
  (bank, program, pitch, layer) and played as samples (`sample_key`,
  `note_gain`, `release_gain`).

Pure: no I/O, no numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .mixer import compressor_gain_db, db_to_gain

__all__ = [
    "BLOCK",
    "DRUM_BANK",
    "DRUM_HOLD_S",
    "LAYERS",
    "LEVEL_FLOOR_DB",
    "LIMITER_DELAY",
    "LIMITER_MARGIN_DB",
    "LIMITER_RELEASE_MS",
    "MIN_DELAY_SAMPLES",
    "NOTE_HOLD_S",
    "RATE",
    "RELEASE_END_S",
    "RELEASE_S",
    "SAMPLE_TAIL_S",
    "TRUE_PEAK_PHASES",
    "TRUE_PEAK_TAPS",
    "SampleKey",
    "block_coefficient",
    "compressor_step",
    "delay_samples",
    "level_db",
    "limiter_need",
    "limiter_step",
    "noise",
    "note_gain",
    "one_pole",
    "pan_gains",
    "ramp",
    "release_gain",
    "reverb_envelope",
    "reverb_length",
    "sample_key",
    "smooth_gain",
    "true_peak_kernel",
]

RATE = 48_000
"""Samples per second of every render, of the browser's AudioContext and of the room."""

BLOCK = 32
"""Samples per control block of the compressor and the limiter (0.67 ms at 48 kHz;
four per Web Audio render quantum of 128)."""

LEVEL_FLOOR_DB = -120.0
"""Silence, as the detectors see it (the level of an all-zero block)."""


def block_coefficient(ms: float, rate: float = RATE) -> float:
    """The one-pole coefficient per control block for a time constant of `ms`."""
    return math.exp(-BLOCK / (rate * ms / 1000.0))


def level_db(peak: float) -> float:
    """A block's peak magnitude in dB, floored at `LEVEL_FLOOR_DB`."""
    return 20.0 * math.log10(peak) if peak > 10 ** (LEVEL_FLOOR_DB / 20) else LEVEL_FLOOR_DB


def compressor_step(
    gain_db: float,
    peak: float,
    threshold: float,
    ratio: float,
    knee: float,
    attack: float,
    release: float,
) -> float:
    """The compressor's smoothed gain change (dB, ≤ 0) after a block whose peak
    magnitude (both channels) is `peak`, from `gain_db` after the block before.

    `attack` and `release` are `block_coefficient`s: the attack applies while the
    gain goes down (more reduction), the release while it comes back.
    """
    return smooth_gain(gain_db, compressor_gain_db(level_db(peak), threshold, ratio, knee),
                       attack, release)  # fmt: skip


def smooth_gain(gain_db: float, target: float, attack: float, release: float) -> float:
    """One block of the compressor's smoothing: towards `target` with the `attack`
    coefficient while the gain goes down, with `release` while it comes back."""
    coef = attack if target < gain_db else release
    return coef * gain_db + (1.0 - coef) * target


def ramp(before: float, after: float, i: int) -> float:
    """The linear gain on sample `i` (0‥BLOCK-1) of a block that moves from `before`
    (the previous block's gain) to `after`: the last sample has `after` exactly."""
    return before + (after - before) * (i + 1) / BLOCK


# -- the true-peak limiter ---------------------------------------------------------

TRUE_PEAK_PHASES = 4
"""Oversampling of the true-peak estimate: each sample interval is looked at at 1/4, 1/2, 3/4."""

TRUE_PEAK_TAPS = 12
"""Input samples per interpolated point: x[m-5] … x[m+6] for the points between x[m] and x[m+1]."""

LIMITER_RELEASE_MS = 80.0
LIMITER_MARGIN_DB = 0.5
"""The limiter aims this far under its ceiling: its 4x estimate can miss a little of a
peak that finer oversampling finds."""

LIMITER_DELAY = 2 * BLOCK + TRUE_PEAK_TAPS // 2
"""Samples the real-time limiter holds back: to emit a block it needs the next block
(the look-ahead) and the 6 samples after that (the true-peak estimator's future taps)."""


def _window_sinc(t: float) -> float:
    if t == 0:
        return 1.0
    span = TRUE_PEAK_TAPS / 2
    return math.sin(math.pi * t) / (math.pi * t) * 0.5 * (1 + math.cos(math.pi * t / span))


def true_peak_kernel() -> list[list[float]]:
    """For each phase p = 1‥3, the taps that interpolate x at m + p/4 from
    x[m-5] … x[m+6] (a Hann-windowed sinc, each phase normalised to unit gain at DC)."""
    phases = []
    for p in range(1, TRUE_PEAK_PHASES):
        frac = p / TRUE_PEAK_PHASES
        taps = [_window_sinc(j - frac) for j in range(-5, 7)]
        total = math.fsum(taps)
        phases.append([t / total for t in taps])
    return phases


def limiter_step(gain: float, need: float, need_next: float, release: float) -> float:
    """The limiter's linear gain at the end of a block, from `gain` at its start (the
    first block starts at ``min(1, need)``, its own need: the look-ahead covers it too):
    at most `need` (what this block's true peak allows) and `need_next` (the next
    block's: the gain is down before that block starts), and otherwise recovering
    towards 1 in dB with the `release` coefficient."""
    recovered = 1.0 if gain >= 1.0 else gain**release  # the dB gain times `release`
    return min(recovered, need, need_next, 1.0)


def limiter_need(true_peak: float, ceiling_db: float) -> float:
    """The largest gain that keeps a block whose true peak is `true_peak` under the ceiling."""
    limit = db_to_gain(ceiling_db - LIMITER_MARGIN_DB)
    return 1.0 if true_peak <= limit else limit / true_peak


# -- pan ---------------------------------------------------------------------------


def pan_gains(pan: float) -> tuple[float, float, float, float]:
    """Web Audio's StereoPannerNode on a stereo input, as (ll, rl, lr, rr):
    ``out_l = ll·in_l + rl·in_r``, ``out_r = lr·in_l + rr·in_r``."""
    if pan <= 0:
        x = (pan + 1) * math.pi / 2
        return 1.0, math.cos(x), 0.0, math.sin(x)
    x = pan * math.pi / 2
    return math.cos(x), 0.0, math.sin(x), 1.0


# -- reverb --------------------------------------------------------------------------


def reverb_length(decay_s: float, predelay_ms: float, rate: float = RATE) -> int:
    """Samples of the impulse response: the pre-delay, then `decay_s` (RT60: -60 dB)."""
    return max(1, round((predelay_ms / 1000 + decay_s) * rate))


def noise(n: int, channel: int) -> float:
    """Deterministic white noise in [-1, 1): sample `n` of `channel` (murmur3's
    32-bit finaliser over the index, so any sample can be computed on its own)."""
    h = (n * 0x9E3779B1 + channel * 0x632BE5AB + 0x5BD1E995) & 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h / 2**31 - 1.0


def reverb_envelope(t: float, decay_s: float, damping: float) -> tuple[float, float]:
    """At `t` seconds after the pre-delay: the amplitude (-60 dB at `decay_s`) and the
    share of darkened noise (grows with time, faster with more `damping`)."""
    amplitude = 10 ** (-3 * t / decay_s)
    dark = 1 - 10 ** (-3 * t * damping * 4 / decay_s) if damping > 0 else 0.0
    return amplitude, dark


def reverb_sample(n: int, channel: int, decay_s: float, predelay_ms: float, damping: float,
                  rate: float = RATE) -> float:  # fmt: skip
    """Sample `n` of the impulse response before normalisation: zero during the
    pre-delay, then noise (bright and dark blended by `reverb_envelope`) times the
    decay. The dark noise is the mean of four consecutive samples, doubled (the
    same power as the bright for white noise)."""
    start = round(predelay_ms / 1000 * rate)
    if n < start:
        return 0.0
    amplitude, dark = reverb_envelope((n - start) / rate, decay_s, damping)
    bright = noise(n, channel)
    smooth = (noise(n, channel) + noise(n - 1, channel) + noise(n - 2, channel)
              + noise(n - 3, channel)) / 2  # fmt: skip
    return amplitude * ((1 - dark) * bright + dark * smooth)


# -- delay --------------------------------------------------------------------------

MIN_DELAY_SAMPLES = 256
"""The shortest echo: two Web Audio render quanta. A DelayNode inside a feedback loop is
at least one quantum, and Chromium's loop adds one more (the browser sets its loop's
delay one quantum short), so any delay from here up is realised exactly."""


def delay_samples(beats: float, tempo: float, rate: float = RATE) -> int:
    """The echo's delay, whole samples: `beats` at `tempo` BPM."""
    return max(MIN_DELAY_SAMPLES, round(beats * 60.0 / tempo * rate))


def one_pole(cutoff_hz: float, rate: float = RATE) -> float:
    """The pole p of the loop's low-pass ``y[n] = (1-p)·x[n] + p·y[n-1]``."""
    return math.exp(-2 * math.pi * min(cutoff_hz, rate / 2) / rate)


# -- instruments ----------------------------------------------------------------------

DRUM_BANK = 128
"""The SoundFont bank of the GM drum kits; a drums track's `instrument` is its kit."""

LAYERS = (64, 127)
"""Velocities each note is rendered at; a note plays the lowest layer at or above its velocity."""

NOTE_HOLD_S = 4.0
"""How long a pitched sample holds its note before FluidSynth releases it: a longer
note stops with the sample's own release."""

DRUM_HOLD_S = 0.2
"""How long a drum hit's note is held when rendered (drums are one-shots)."""

SAMPLE_TAIL_S = 1.5
"""Sound kept after the note-off, at most (trailing silence is trimmed)."""

RELEASE_S = 0.06
"""Time constant of the fade that ends a pitched note shorter than its sample."""

RELEASE_END_S = 8 * RELEASE_S
"""How long that fade lasts: the note stops there (at e^-8 of its level)."""


@dataclass(frozen=True, slots=True)
class SampleKey:
    """Which rendered sample plays a note: SoundFont bank, program, pitch and velocity layer."""

    bank: int
    program: int
    pitch: int
    layer: int

    @property
    def drum(self) -> bool:
        return self.bank == DRUM_BANK

    @property
    def name(self) -> str:
        """The sample's path under ``/samples/``: ``<bank>/<program>/<pitch>/<layer>.flac``."""
        return f"{self.bank}/{self.program}/{self.pitch}/{self.layer}.flac"


def sample_key(kind: str, instrument: int, pitch: int, velocity: int) -> SampleKey:
    """The sample a note of a track of `kind` plays (drums: the GM kit `instrument`)."""
    layer = next(v for v in LAYERS if v >= velocity)
    bank = DRUM_BANK if kind == "drums" else 0
    return SampleKey(bank, instrument, pitch, layer)


def note_gain(velocity: int, layer: int) -> float:
    """The gain a note at `velocity` plays its layer's sample with (square law, as
    FluidSynth's default velocity curve)."""
    return (velocity / layer) ** 2


def release_gain(t: float) -> float:
    """The fade's gain `t` seconds after a pitched note's end (silent at 8 time constants)."""
    return 0.0 if t >= RELEASE_END_S else math.exp(-t / RELEASE_S)
