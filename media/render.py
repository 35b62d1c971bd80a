"""The project rendered offline: the arrangement through the whole signal chain.

What plays when is `protocol.arrangement`'s (the browser's and the bots'
rule), the instruments are `soundfont.SampleBank`'s samples (the very ones the
browser downloads) and every stage is `chain`'s, the numpy form of
`protocol/dsp.py`. So a render is what everyone heard, sample for sample up to
the browser's float32 arithmetic.

Per heard track: its notes placed as samples (`dsp.note_gain`, and the fade of
`dsp.release_gain` after a pitched note shorter than its sample) → EQ →
compressor → volume → pan; that is the track's *dry stem* (post-fader). Its
sends feed the reverb and delay returns; the master sums the stems and the
returns, applies the master gain and the limiter. A *wet stem* is the dry stem
plus what its own sends make of the returns (the returns are linear, so the
wet stems add up to the master before its gain and limiter).

The render covers the song (`arrangement.song_end`, from bar 1), plus what
rings after it: the notes' own tails and the returns' (reverb length, delay
echoes until they fall under -60 dB), at most `MAX_TAIL_S`; trailing silence
is cut.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from backline.media import chain
from backline.protocol import dsp
from backline.protocol.arrangement import audible_tracks, song_end, sounds_between
from backline.protocol.dsp import SampleKey
from backline.protocol.errors import NotFound, TooLarge
from backline.protocol.model import PPQ, Document

__all__ = [
    "MAX_TAIL_S",
    "Progress",
    "Render",
    "Samples",
    "StemMode",
    "loudness",
    "render",
]

MAX_TAIL_S = 12.0
SILENCE = 10 ** (-100 / 20)  # trailing samples under -100 dBFS are cut

StemMode = Literal["none", "dry", "wet"]
Progress = Callable[[float, str], None]  # (share done 0..1, stage)


class Samples(Protocol):
    """Where the instruments come from: a (2, frames) float32 sample per key."""

    def get(self, key: SampleKey) -> NDArray[np.float32]: ...


@dataclass
class Render:
    """A finished render: the mix, the stems (track id → signal), and what it measures."""

    mix: chain.Signal
    stems: dict[str, chain.Signal] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # track id → name
    order: list[str] = field(default_factory=list)  # track ids with a stem, in track order
    seconds: float = 0.0
    song_seconds: float = 0.0

    @property
    def true_peak_db(self) -> float:
        return chain.true_peak_db(self.mix)

    @property
    def sample_peak(self) -> float:
        return float(np.abs(self.mix).max()) if self.mix.size else 0.0

    @property
    def lufs(self) -> float:
        """Integrated loudness (ITU-R BS.1770-4, pyloudnorm); -inf for silence."""
        return loudness(self.mix)


def loudness(x: chain.Signal) -> float:
    """Integrated loudness of a (2, frames) signal in LUFS (-inf when too short or silent)."""
    import pyloudnorm

    if x.shape[1] < int(0.4 * dsp.RATE):  # less than one gating block
        return -math.inf
    value = float(pyloudnorm.Meter(dsp.RATE).integrated_loudness(x.T))
    return value if math.isfinite(value) else -math.inf


def _note(
    out: chain.Signal, sample: NDArray[np.float32], at: int, gain: float, fade_at: int | None
) -> int:
    """Add a note's sample into `out` from frame `at`; returns where it stops sounding."""
    length = sample.shape[1]
    if fade_at is not None:  # a pitched note shorter than its sample: fade from its end
        length = min(length, fade_at + round(dsp.RELEASE_END_S * dsp.RATE))
    end = min(at + length, out.shape[1])
    if end <= at:
        return at
    part = sample[:, : end - at] * np.float32(gain)
    if fade_at is not None and fade_at < end - at:
        t = np.arange(end - at - fade_at, dtype=np.float64) / dsp.RATE
        fade = np.where(t >= dsp.RELEASE_END_S, 0.0, np.exp(-t / dsp.RELEASE_S))  # release_gain
        part[:, fade_at:] *= fade.astype(np.float32)
    out[:, at:end] += part
    return int(end)


def _tails(project: dict[str, Any], sends: tuple[bool, bool]) -> int:
    """Frames the returns ring on after the last sound (only those that get a send)."""
    tail = 0.0
    if sends[0] and project["reverb_level"] > 0:
        tail = max(tail, dsp.reverb_length(project["reverb_decay"], project["reverb_predelay"]))
    if sends[1] and project["delay_level"] > 0:
        delay = dsp.delay_samples(project["delay_beats"], project["tempo"])
        fb = float(project["delay_feedback"])
        echoes = 1 + (math.ceil(math.log(1e-3) / math.log(fb)) if fb > 0 else 0)
        tail = max(tail, delay * (echoes + 1))
    return min(round(tail), round(MAX_TAIL_S * dsp.RATE))


def render(
    doc: Document,
    samples: Samples,
    *,
    stems: StemMode = "none",
    progress: Progress | None = None,
    max_seconds: float | None = None,
) -> Render:
    """Render `doc` from bar 1 to its end (and what rings after); a song longer than
    `max_seconds` is refused (`TooLarge`) before any work."""
    report = progress or (lambda share, stage: None)
    project = doc.project
    tempo = float(project["tempo"])
    end_beats = song_end(doc) / PPQ
    if end_beats <= 0:
        raise NotFound("the project has nothing to play yet: add a pattern, notes or a clip")
    frames_per_beat = 60.0 / tempo * dsp.RATE
    song_frames = math.ceil(end_beats * frames_per_beat)
    if max_seconds is not None and song_frames > max_seconds * dsp.RATE:
        raise TooLarge(
            f"the song lasts {song_frames / dsp.RATE:.0f} s; renders here stop at {max_seconds:.0f} s"
        )
    heard = audible_tracks(doc)
    tracks = [
        doc.tracks[t] for t in doc.track_order if t in heard and doc.tracks[t]["kind"] != "audio"
    ]
    by_track: dict[str, list[Any]] = {t["id"]: [] for t in tracks}
    for sound in sounds_between(doc, 0.0, end_beats):
        if sound.track in by_track:
            by_track[sound.track].append(sound)

    # the instruments first (the slow part on a cold cache): each sample once
    keys: dict[SampleKey, NDArray[np.float32]] = {}
    wanted = {
        dsp.sample_key(t["kind"], int(t["instrument"]), s.pitch, s.velocity)
        for t in tracks
        for s in by_track[t["id"]]
    }
    for i, key in enumerate(sorted(wanted, key=lambda k: (k.bank, k.program, k.pitch, k.layer))):
        keys[key] = samples.get(key)
        report(0.3 * (i + 1) / len(wanted), "instruments")

    longest = max((s.shape[1] for s in keys.values()), default=0)
    sends = (
        any(t["send_reverb"] > 0 for t in tracks),
        any(t["send_delay"] > 0 for t in tracks),
    )
    frames = song_frames + longest + _tails(project, sends)
    master = np.zeros((2, frames), dtype=np.float32)
    reverb_bus = np.zeros((2, frames), dtype=np.float32) if sends[0] else None
    delay_bus = np.zeros((2, frames), dtype=np.float32) if sends[1] else None
    result = Render(mix=master, song_seconds=song_frames / dsp.RATE)
    ir = (
        chain.reverb_ir(
            project["reverb_decay"], project["reverb_predelay"], project["reverb_damping"]
        )
        if sends[0]
        else None
    )
    delay = dsp.delay_samples(project["delay_beats"], tempo)
    pole = dsp.one_pole(project["delay_tone"])
    last = song_frames

    for i, track in enumerate(tracks):
        signal = np.zeros((2, frames), dtype=np.float32)
        for sound in by_track[track["id"]]:
            key = dsp.sample_key(
                track["kind"], int(track["instrument"]), sound.pitch, sound.velocity
            )
            at = round(sound.beat * frames_per_beat)
            fade = None
            seconds = sound.beats * 60.0 / tempo
            if not key.drum and seconds < dsp.NOTE_HOLD_S:
                fade = round(seconds * dsp.RATE)
            gain = dsp.note_gain(sound.velocity, key.layer)
            last = max(last, _note(signal, keys[key], at, gain, fade))
        signal = chain.eq(signal, track)
        signal, _ = chain.compress(signal, track)
        signal *= np.float32(track["volume"])
        signal = chain.pan(signal, float(track["pan"]))
        master += signal
        if reverb_bus is not None and track["send_reverb"] > 0:
            reverb_bus += signal * np.float32(track["send_reverb"])
        if delay_bus is not None and track["send_delay"] > 0:
            delay_bus += signal * np.float32(track["send_delay"])
        if stems != "none":
            stem = signal
            if stems == "wet":
                stem = stem + _wet(signal, track, project, ir, delay, pole)
            result.stems[track["id"]] = stem
            result.order.append(track["id"])
            result.names[track["id"]] = str(track["name"])
        report(0.3 + 0.5 * (i + 1) / max(1, len(tracks)), "tracks")

    if reverb_bus is not None and ir is not None:
        master += chain.reverb_return(reverb_bus, ir) * np.float32(project["reverb_level"])
        report(0.88, "effects")
    if delay_bus is not None:
        echoes = chain.delay_return(delay_bus, delay, project["delay_feedback"], pole)
        master += echoes * np.float32(project["delay_level"])
        report(0.92, "effects")
    master *= np.float32(project["master_gain"])
    if project["limiter_on"]:
        master, _ = chain.limit(master, float(project["limiter_ceiling"]))
    report(0.98, "master")

    end = _sounding_end(master, max(last, song_frames))
    result.mix = master[:, :end]
    for track_id, stem in result.stems.items():
        result.stems[track_id] = stem[:, :end]
    result.seconds = end / dsp.RATE
    return result


def _wet(
    signal: chain.Signal,
    track: dict[str, Any],
    project: dict[str, Any],
    ir: chain.Signal | None,
    delay: int,
    pole: float,
) -> chain.Signal:
    """What one track's sends make of the returns."""
    wet = np.zeros_like(signal)
    if ir is not None and track["send_reverb"] > 0:
        wet += chain.reverb_return(signal * float(track["send_reverb"]), ir) * float(
            project["reverb_level"]
        )
    if track["send_delay"] > 0:
        send = signal * float(track["send_delay"])
        wet += chain.delay_return(send, delay, project["delay_feedback"], pole) * float(
            project["delay_level"]
        )
    return wet


def _sounding_end(x: chain.Signal, at_least: int) -> int:
    """Frames up to the last one above `SILENCE` (never before `at_least`)."""
    loud = np.flatnonzero(np.abs(x).max(axis=0) > SILENCE)
    end = int(loud[-1]) + 1 if loud.size else 0
    return int(min(x.shape[1], max(end, at_least)))
