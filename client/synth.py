"""Sounds a bot plays, made with numpy: a metronome click, a small drum kit and pitched
tones (bass, pluck, pad) for the chord-following bots.

Every function here is pure and deterministic (noise comes from a fixed seed),
so a test can check a sound by its numbers. Sounds are mono float32 at
`SAMPLE_RATE`, peak at most 1.0 before any gain.

`Voices` mixes one-shot sounds into consecutive frames: a sound started near a
frame's end carries on into the next ones.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from backline.protocol.audio import SAMPLE_RATE

__all__ = [
    "ACCENT_HZ",
    "CLICK_HZ",
    "DRUM_NAMES",
    "SAMPLE_RATE",
    "TIMBRES",
    "Voices",
    "click",
    "drum",
    "tone",
    "voice_of",
]

CLICK_HZ = 1_000.0  # an ordinary beat
ACCENT_HZ = 2_000.0  # the first beat of a bar: an octave up, and louder
Samples = npt.NDArray[np.float32]


def click(
    frequency: float = CLICK_HZ,
    level: float = 0.5,
    duration: float = 0.03,
    sample_rate: int = SAMPLE_RATE,
) -> Samples:
    """A metronome click: a sine burst that starts at full ``level`` and decays fast.

    It starts at a zero crossing rising at once (sine phase 0, 1 ms attack
    ramp to avoid a DC step), so its onset is sharp and easy to find;
    ``duration`` (s) is where it has decayed to about -60 dB.
    """
    n = max(1, round(duration * sample_rate))
    t = np.arange(n) / sample_rate
    envelope = np.exp(-t * (6.9 / duration))  # e^-6.9 ≈ 0.001: -60 dB at the end
    attack = min(n, sample_rate // 1000)
    envelope[:attack] *= np.linspace(0.0, 1.0, attack, endpoint=False) ** 0.5
    return (level * envelope * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


# -- the drum kit --------------------------------------------------------------------

DRUM_NAMES: dict[str, tuple[int, ...]] = {
    # voice: General MIDI percussion note numbers (channel 10) that use it
    "kick": (35, 36),
    "rim": (37,),
    "snare": (38, 40),
    "clap": (39,),
    "closed_hat": (42, 44),
    "open_hat": (46,),
    "low_tom": (41, 43, 45),
    "mid_tom": (47, 48),
    "high_tom": (50,),
    "crash": (49, 52, 55, 57),
    "ride": (51, 53, 59),
    "cowbell": (56,),
    "tambourine": (54,),
}
_VOICE_OF_NOTE = {note: name for name, notes in DRUM_NAMES.items() for note in notes}


def voice_of(sound: int) -> str:
    """The kit voice for a lane's sound: its General MIDI drum note, or the closest
    family for notes outside the kit (low notes are kicks, high ones hats)."""
    if sound in _VOICE_OF_NOTE:
        return _VOICE_OF_NOTE[sound]
    if sound < 35:
        return "kick"
    if sound > 59:
        return "closed_hat" if sound % 2 == 0 else "rim"
    return "cowbell"


def _time(seconds: float, sample_rate: int) -> npt.NDArray[np.float64]:
    return np.arange(round(seconds * sample_rate)) / sample_rate


def _noise(n: int, seed: int) -> npt.NDArray[np.float64]:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, n)


def _bright(noise: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The hiss of cymbals: noise band-passed around a quarter of the sample rate
    (12 kHz at 48 kHz; a difference then a two-sample average, ``sin(2πf/fs)``),
    so it keeps its energy below the 20 kHz that Opus carries."""
    padded = np.concatenate(([0.0, 0.0], noise))
    return (padded[2:] - padded[:-2]) / 2


def _swept(
    t: npt.NDArray[np.float64], start_hz: float, end_hz: float, fall: float, rate: int
) -> npt.NDArray[np.float64]:
    """A sine whose pitch glides from start_hz to end_hz with time constant ``fall`` (s)."""
    frequency = end_hz + (start_hz - end_hz) * np.exp(-t / fall)
    return np.sin(2 * np.pi * np.cumsum(frequency) / rate)


def _normalised(sound: npt.NDArray[np.float64] | Samples, peak: float) -> Samples:
    top = float(np.max(np.abs(sound))) if len(sound) else 0.0
    scaled = sound * (peak / top) if top > 0 else sound
    return np.asarray(scaled, dtype=np.float32)


@functools.cache
def drum(name: str, sample_rate: int = SAMPLE_RATE) -> Samples:
    """One hit of the kit voice ``name`` (a key of `DRUM_NAMES`) at full velocity.

    The result is cached and must not be modified (it is marked read-only).

    Raises:
        KeyError: not a voice of the kit.
    """
    if name not in DRUM_NAMES:
        raise KeyError(name)
    rate = sample_rate
    if name == "kick":
        t = _time(0.35, rate)
        sound = _swept(t, 160.0, 45.0, 0.03, rate) * np.exp(-t / 0.09)
    elif name == "snare":
        t = _time(0.22, rate)
        body = np.sin(2 * np.pi * 185.0 * t) * np.exp(-t / 0.04)
        sound = 0.5 * body + 0.8 * _noise(len(t), 38) * np.exp(-t / 0.06)
    elif name == "clap":
        t = _time(0.25, rate)
        bursts = sum(np.where(t >= at, np.exp(-(t - at) / 0.008), 0.0) for at in (0, 0.01, 0.02))
        tail = np.where(t >= 0.03, np.exp(-(t - 0.03) / 0.06), 0.0)
        sound = _noise(len(t), 39) * (bursts + tail)
    elif name in ("closed_hat", "open_hat"):
        t = _time(0.06 if name == "closed_hat" else 0.35, rate)
        decay = 0.012 if name == "closed_hat" else 0.09
        sound = _bright(_noise(len(t), 42)) * np.exp(-t / decay)
    elif name.endswith("tom"):
        pitch = {"low_tom": 90.0, "mid_tom": 130.0, "high_tom": 180.0}[name]
        t = _time(0.3, rate)
        sound = _swept(t, pitch * 1.6, pitch, 0.04, rate) * np.exp(-t / 0.1)
    elif name in ("crash", "ride"):
        t = _time(1.2 if name == "crash" else 0.8, rate)
        partials = sum(
            np.sign(np.sin(2 * np.pi * hz * t)) for hz in (3120.0, 4230.0, 5380.0, 6710.0)
        )
        decay = 0.35 if name == "crash" else 0.25
        mix = (0.7 if name == "crash" else 0.3) * _bright(_noise(len(t), 49)) + 0.05 * partials
        sound = mix * np.exp(-t / decay)
    elif name == "rim":
        t = _time(0.04, rate)
        sound = np.sin(2 * np.pi * 1_700.0 * t) * np.exp(-t / 0.006)
    elif name == "cowbell":
        t = _time(0.25, rate)
        tone = np.sign(np.sin(2 * np.pi * 540.0 * t)) + np.sign(np.sin(2 * np.pi * 800.0 * t))
        sound = tone * np.exp(-t / 0.06)
    else:  # tambourine
        t = _time(0.2, rate)
        sound = _bright(_noise(len(t), 54)) * np.exp(-t / 0.05)
    out = _normalised(sound, 0.9)
    out.flags.writeable = False
    return out


# -- pitched tones ---------------------------------------------------------------------

TIMBRES = ("bass", "pluck", "pad")
# harmonics (multiple, level) and envelope (attack s, decay time constant s or None: held)
_TIMBRE = {
    "bass": (((1, 1.0), (2, 0.35), (3, 0.1)), 0.004, None),
    "pluck": (((1, 1.0), (2, 0.5), (3, 0.25), (4, 0.12)), 0.002, 0.25),
    "pad": (((1, 1.0), (2, 0.3), (3, 0.15)), 0.08, None),
}
_RELEASE_S = 0.04


def midi_hz(pitch: int) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


@functools.lru_cache(maxsize=512)
def tone(pitch: int, seconds: float, timbre: str, sample_rate: int = SAMPLE_RATE) -> Samples:
    """A note of `pitch` held `seconds` (then a short release), in one of `TIMBRES`: its
    fundamental is the note's frequency, so a test finds the pitch by its spectrum.

    Cached and read-only, like `drum`."""
    partials, attack, decay = _TIMBRE[timbre]
    hold = max(1, round(seconds * sample_rate))
    n = hold + round(_RELEASE_S * sample_rate)
    t = np.arange(n) / sample_rate
    f = midi_hz(pitch)
    sound = sum(level * np.sin(2 * np.pi * f * k * t) for k, level in partials if f * k < 18_000)
    envelope = np.minimum(1.0, t / attack) if attack > 0 else np.ones(n)
    if decay is not None:
        envelope = envelope * np.exp(-t / decay)
    release = np.ones(n)
    release[hold:] = np.linspace(1.0, 0.0, n - hold)
    out = _normalised(np.asarray(sound) * envelope * release, 0.8)
    out.flags.writeable = False
    return out


# -- mixing one-shots into frames ------------------------------------------------------


@dataclass(slots=True)
class _Playing:
    sound: Samples
    gain: float
    position: int  # next sample of `sound` to play


class Voices:
    """One-shot sounds started at sample offsets, mixed frame after frame."""

    def __init__(self, max_voices: int = 64) -> None:
        self._playing: list[_Playing] = []
        self.max_voices = max_voices  # beyond it, the oldest voices are cut

    @property
    def active(self) -> int:
        return len(self._playing)

    def render(self, samples: int, starts: list[tuple[int, Samples, float]]) -> Samples:
        """The next frame of ``samples`` samples; ``starts`` are ``(offset, sound, gain)``
        to begin in it, ``offset`` samples from its start."""
        out = np.zeros(samples, dtype=np.float32)
        carried = []
        for voice in self._playing:
            end = min(len(voice.sound) - voice.position, samples)
            out[:end] += voice.gain * voice.sound[voice.position : voice.position + end]
            voice.position += end
            if voice.position < len(voice.sound):
                carried.append(voice)
        for offset, sound, gain in starts:
            if not 0 <= offset < samples:
                raise ValueError(f"offset {offset} outside a frame of {samples} samples")
            end = min(len(sound), samples - offset)
            out[offset : offset + end] += gain * sound[:end]
            if end < len(sound):
                carried.append(_Playing(sound, gain, end))
        self._playing = carried[-self.max_voices :]
        return out
