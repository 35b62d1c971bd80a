"""The server's instruments in a bot: SoundFont samples over HTTP, through each track's strip.

The server renders every General MIDI note once (FluidSynth) and serves it as
FLAC (``GET /samples/<bank>/<program>/<pitch>/<layer>.flac``); the browser and
the renders play those samples, and so does a bot: `SampleSet` downloads them
(the session's token as a Bearer header) on a few worker threads, so the
audio path never waits on the network, and keeps them decoded in a bounded
LRU. Which sample a note plays, at what gain, is `protocol/dsp.py`'s rule.

`SampledTrack` is a `TimelineTrack` whose sounds are those samples: each
track's hits go through a `LiveStrip` (its EQ, compressor, volume and pan,
`media/chain.py`'s math on a stream), its sends feed the project's reverb and
delay returns (`LiveReturns`, the render's returns frame by frame), all is
summed and, the room being mono, folded to mono as Web Audio folds stereo
(the mean of the two channels). A hit whose sample has not arrived yet plays the built-in synth
once instead (and fetches it for next time); without a SoundFont on the
server everything is the synth (`available` is false, said once in the log).
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backline.client.clock import Clock
from backline.client.httpapi import http_base, request
from backline.client.playback import SendLatency, TimelineTrack
from backline.client.synth import drum, voice_of
from backline.media.live_returns import LiveReturns
from backline.media.live_strip import LiveStrip
from backline.protocol import dsp
from backline.protocol.arrangement import audible_tracks, sounds_between
from backline.protocol.dsp import SampleKey
from backline.protocol.errors import BacklineError
from backline.protocol.model import Document
from backline.protocol.timeline import Timeline

__all__ = ["SampleSet", "SampledHit", "SampledTrack", "drum_keys", "sampled_drum_score"]

log = logging.getLogger("backline.sampled")

Stereo = NDArray[np.float32]
MAX_BYTES = 256 * 1024 * 1024
PREFETCH_EVERY = 50  # frames (half a second) between looks at what the project now needs


class SampleSet:
    """The server's samples, fetched ahead of need and kept decoded (thread-safe)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        workers: int = 4,
        max_bytes: int = MAX_BYTES,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._base = http_base(url)
        self._token = token
        self._timeout = timeout
        self._ssl = ssl_context
        self._lock = threading.Lock()
        self._samples: OrderedDict[SampleKey, Stereo] = OrderedDict()
        self._bytes = 0
        self._max_bytes = max_bytes
        self._pending: set[SampleKey] = set()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="samples")
        self.info: dict[str, Any] | None = None
        self.failed = 0

    def index(self) -> dict[str, Any]:
        """``GET /samples`` (once): whether the server has a SoundFont, which, or why not."""
        if self.info is None:
            try:
                body = request(
                    "GET", f"{self._base}/samples", self._token, self._timeout, self._ssl
                )
                self.info = json.loads(body)
            except BacklineError as error:
                self.info = {"available": False, "soundfont": None, "reason": error.message}
            if not self.info.get("available"):
                log.warning("no instruments on the server (%s): the built-in synth plays",
                            self.info.get("reason"))  # fmt: skip
        return self.info

    @property
    def available(self) -> bool:
        return bool(self.info and self.info.get("available"))

    def get(self, key: SampleKey) -> Stereo | None:
        """The decoded sample if it is here (never waits)."""
        with self._lock:
            found = self._samples.get(key)
            if found is not None:
                self._samples.move_to_end(key)
            return found

    def load(self, key: SampleKey) -> Stereo:
        """The sample, fetched now if need be (waits: not for the audio path)."""
        found = self.get(key)
        if found is not None:
            return found
        from backline.media.soundfont import decode_flac

        data = request("GET", f"{self._base}/samples/{key.name}", self._token, self._timeout,
                       self._ssl)  # fmt: skip
        sample = decode_flac(data)
        with self._lock:
            if key not in self._samples:
                self._samples[key] = sample
                self._bytes += sample.nbytes
                while self._bytes > self._max_bytes and len(self._samples) > 1:
                    _, old = self._samples.popitem(last=False)
                    self._bytes -= old.nbytes
        return sample

    def want(self, keys: Iterable[SampleKey]) -> None:
        """Fetch these samples in the background (each once, however often wanted)."""
        with self._lock:
            new = [k for k in keys if k not in self._samples and k not in self._pending]
            self._pending.update(new)
        for key in new:
            self._pool.submit(self._fetch, key)

    def _fetch(self, key: SampleKey) -> None:
        try:
            self.load(key)
        except (BacklineError, OSError, RuntimeError, ValueError) as error:
            self.failed += 1
            log.warning("sample %s: %s", key.name, error)
        finally:
            with self._lock:
                self._pending.discard(key)

    def wait(self, keys: Iterable[SampleKey]) -> None:
        """Fetch these samples now, in parallel, and return once all are in (or failed)."""
        missing = [k for k in keys if self.get(k) is None]
        for future in [self._pool.submit(self._fetch, k) for k in missing]:
            future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class SampledHit:
    """One sound of a track: its sample's key, its gain (`dsp.note_gain`) and velocity."""

    track: str
    key: SampleKey
    gain: float
    velocity: int = 127


def drum_keys(doc: Document) -> set[SampleKey]:
    """Every sample the project's drums tracks can play: each lane sound at each of its
    step velocities, each note (muted tracks too: an unmute is heard at once; a
    pattern no clip uses too: a superset is fine for a prefetch). It reads the
    patterns and notes, not the arrangement, so it costs microseconds however long
    the song: the audio path calls it."""
    kits = {t: int(doc.tracks[t]["instrument"]) for t in doc.track_order
            if doc.tracks[t]["kind"] == "drums"}  # fmt: skip
    keys = set()
    for pattern in doc.patterns.values():
        kit = kits.get(pattern["track"])
        if kit is None:
            continue
        for lane in pattern["lanes"]:
            for velocity in set(lane["steps"]) - {0}:
                keys.add(dsp.sample_key("drums", kit, int(lane["sound"]), int(velocity)))
    for note in doc.notes.values():
        kit = kits.get(note["track"])
        if kit is not None:
            keys.add(dsp.sample_key("drums", kit, int(note["pitch"]), int(note["vel"])))
    return keys


def sampled_drum_score(
    project: Callable[[], Document],
) -> Callable[[Timeline, float, float], Iterable[tuple[float, SampledHit]]]:
    """The heard drums tracks' hits of the project as it is when asked."""

    def score(timeline: Timeline, lo: float, hi: float) -> Iterable[tuple[float, SampledHit]]:
        doc = project()
        heard = audible_tracks(doc)
        for s in sounds_between(doc, lo, hi):
            track = doc.tracks.get(s.track)
            if track is None or track["kind"] != "drums" or s.track not in heard:
                continue
            key = dsp.sample_key("drums", int(track["instrument"]), s.pitch, s.velocity)
            yield s.beat, SampledHit(s.track, key, dsp.note_gain(s.velocity, key.layer), s.velocity)

    return score


@dataclass
class _Voice:
    sound: Stereo
    gain: float
    position: int


class _TrackVoices:
    """One track's samples started at offsets, carried over frame edges, into its strip."""

    def __init__(self, track: dict[str, Any], max_voices: int = 64) -> None:
        self.strip = LiveStrip(track)
        self.playing: list[_Voice] = []
        self.max_voices = max_voices

    def render(self, frames: int, starts: list[tuple[int, Stereo, float]]) -> Stereo:
        out = np.zeros((2, frames), dtype=np.float32)
        carried = []
        for voice in self.playing:
            n = min(voice.sound.shape[1] - voice.position, frames)
            out[:, :n] += (
                np.float32(voice.gain) * voice.sound[:, voice.position : voice.position + n]
            )
            voice.position += n
            if voice.position < voice.sound.shape[1]:
                carried.append(voice)
        for offset, sound, gain in starts:
            n = min(sound.shape[1], frames - offset)
            out[:, offset : offset + n] += np.float32(gain) * sound[:, :n]
            if n < sound.shape[1]:
                carried.append(_Voice(sound, gain, n))
        self.playing = carried[-self.max_voices :]
        return self.strip.process(out)


class SampledTrack(TimelineTrack):
    """Plays a score of `SampledHit`s on the shared timeline, with the server's samples
    through each track's strip, folded to the room's mono."""

    def __init__(
        self,
        timeline: Callable[[], Timeline],
        clock: Clock,
        score: Callable[[Timeline, float, float], Iterable[tuple[float, SampledHit]]],
        project: Callable[[], Document],
        samples: SampleSet,
        latency: SendLatency | None = None,
    ) -> None:
        super().__init__(timeline, clock, score, latency)  # type: ignore[arg-type]
        self._project = project
        self._samples = samples
        self._tracks: dict[str, _TrackVoices] = {}
        self._returns: LiveReturns | None = None  # made once a track sends to them
        self.fallbacks = 0  # hits the synth played because their sample was not in yet
        self._frames = 0

    def frame(self, k: int) -> NDArray[np.float32]:
        if self._first_local is None:
            self._first_local = self._clock.local()
            if self.latency is None:
                self.latency = SendLatency.estimate(self._clock, self.frame_samples)
        timeline = self._timeline()
        start, _ = self.span(k)
        due = self.scheduler.due(timeline, start, self.frame_samples,
                                 lambda lo, hi: self._score(timeline, lo, hi))  # fmt: skip
        self.played += len(due)
        doc = self._project()
        per_track: dict[str, list[tuple[int, Stereo, float]]] = {}
        synth: list[tuple[int, NDArray[np.float32], float]] = []
        for d in due:
            hit: SampledHit = d.event  # type: ignore[assignment]
            sample = self._samples.get(hit.key)
            if sample is None:
                self._samples.want([hit.key])
                if self.fallbacks == 0:
                    log.info("sample %s not here yet: the built-in synth plays it meanwhile",
                             hit.key.name)  # fmt: skip
                self.fallbacks += 1
                track = doc.tracks.get(hit.track)
                volume = float(track["volume"]) if track else 1.0
                level = hit.velocity / 127 * volume  # as the synth's drum_score plays it
                synth.append((d.offset, drum(voice_of(hit.key.pitch)), level))
                continue
            per_track.setdefault(hit.track, []).append((d.offset, sample, hit.gain))
        n = self.frame_samples
        mix = np.zeros((2, n), dtype=np.float32)
        sends = np.zeros((2, 2, n), dtype=np.float32)  # to the reverb, to the delay
        for track_id in list(self._tracks):
            if track_id not in doc.tracks:
                del self._tracks[track_id]
        for track_id, track in doc.tracks.items():
            if track["kind"] != "drums":
                continue
            voices = self._tracks.get(track_id)
            if voices is None:
                voices = self._tracks[track_id] = _TrackVoices(track)
            else:
                voices.strip.set(track)
            out = voices.render(n, per_track.get(track_id, []))
            mix += out
            for i, field in enumerate(("send_reverb", "send_delay")):
                if track[field] > 0:
                    sends[i] += out * np.float32(track[field])
        if self._returns is None and sends.any():
            self._returns = LiveReturns(doc.project, n)
        if self._returns is not None:  # once made, they ring on as the render's do
            self._returns.set(doc.project)
            mix += self._returns.process(sends[0], sends[1])
        mono: NDArray[np.float32] = (mix[0] + mix[1]) * np.float32(0.5)
        if self._frames % PREFETCH_EVERY == 0:  # the samples edits made it need, ahead of time
            self._samples.want(drum_keys(doc))
        self._frames += 1
        return mono + self.voices.render(self.frame_samples, synth)
