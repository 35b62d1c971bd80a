"""Instrument samples from a General MIDI SoundFont, rendered by FluidSynth.

Every note the project plays is a sample: FluidSynth plays the note once (held
`dsp.NOTE_HOLD_S`, or `dsp.DRUM_HOLD_S` for a drum hit, then released for up to
`dsp.SAMPLE_TAIL_S`), at one of the velocity `dsp.LAYERS`, and the result is
kept as 16-bit stereo at 48 kHz. The browser downloads the same samples as
FLAC, lossless, and bots and renders read them here or over HTTP: every player
plays the very same numbers, so their instruments cannot drift apart.

FluidSynth's own reverb and chorus are off (the project's returns do that),
and every render starts from a silent synth at the start of one of
FluidSynth's 64-frame blocks, rendered in float and rounded to 16 bits
without dither: a sample is the same numbers whichever process renders it
and whatever it rendered before (the browser's copy comes from the server,
a render's from its own process; the parity tests compare them).

`find_soundfont` looks where Debian's packages put General MIDI fonts;
`scripts/bootstrap.sh` installs ``libfluidsynth3`` and ``timgm6mb-soundfont``.
Without them there are no samples (`SoundFontMissing`), and players fall back
to their built-in synth, saying so.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backline.protocol import dsp
from backline.protocol.dsp import SampleKey
from backline.protocol.errors import Unavailable

__all__ = [
    "FONT_PATHS",
    "GAIN",
    "SampleBank",
    "SoundFontMissing",
    "decode_flac",
    "encode_flac",
    "find_soundfont",
]

FONT_PATHS = (
    "/usr/share/sounds/sf2/default-GM.sf2",  # Debian's alternative: the installed GM font
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
)

GAIN = 1.0
"""FluidSynth's master gain: TimGM6mb's piano peaks near -18 dBFS at velocity 100."""

SILENT = 1  # an int16 magnitude at or under this is silence (trailing samples are trimmed)
FLUID_BLOCK = 64  # FluidSynth renders in blocks of this many frames; a note starts on one
SETTLE = 4096  # frames rendered after a reset: the voices it stops fade out over ~1000
RENDER_VERSION = 2  # bump when a change to _render changes the samples: old caches are left alone
_CACHE_BYTES = 256 * 1024 * 1024


class SoundFontMissing(Unavailable):
    """No SoundFont or no FluidSynth here: instruments fall back to the built-in synth."""


def find_soundfont(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The SoundFont to use: `explicit` if given (it must exist), else the first of `FONT_PATHS`."""
    if explicit:
        path = Path(explicit)
        return path if path.is_file() else None
    for candidate in FONT_PATHS:
        path = Path(candidate)
        if path.is_file():
            return path.resolve()
    return None


def encode_flac(samples: NDArray[np.int16]) -> bytes:
    """A (frames, 2) int16 array as a FLAC file (lossless: decoding gives it back)."""
    import soundfile

    out = io.BytesIO()
    soundfile.write(out, samples, dsp.RATE, format="FLAC", subtype="PCM_16")
    return out.getvalue()


def _pcm(data: bytes) -> NDArray[np.int16]:
    """A FLAC file's samples as (frames, 2) int16."""
    import soundfile

    pcm, rate = soundfile.read(io.BytesIO(data), dtype="int16", always_2d=True)
    if rate != dsp.RATE:
        raise ValueError(f"sample rate {rate}, not {dsp.RATE}")
    return np.ascontiguousarray(pcm, dtype=np.int16)


def _as_float(pcm: NDArray[np.int16]) -> NDArray[np.float32]:
    """(frames, 2) int16 as (2, frames) float32 in [-1, 1): int16 / 32768, as browsers decode."""
    out: NDArray[np.float32] = (pcm.T.astype(np.float32) / 32768.0).copy()
    return out


def decode_flac(data: bytes) -> NDArray[np.float32]:
    """A FLAC file as (2, frames) float32 (`_as_float`)."""
    return _as_float(_pcm(data))


def _write_float(fluidsynth: Any) -> Any:
    """``fluid_synth_write_float`` (pyfluidsynth only wraps the dithered int16 one)."""
    import ctypes

    function = fluidsynth._fl.fluid_synth_write_float
    function.restype = ctypes.c_int
    function.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                         ctypes.c_void_p, ctypes.c_int, ctypes.c_int]  # fmt: skip
    return function


class SampleBank:
    """Renders and keeps samples of one SoundFont (thread-safe; FluidSynth runs
    one note at a time). ``get`` returns (2, frames) float32; ``flac`` the file."""

    def __init__(
        self, font: Path, cache_dir: Path | None = None, cache_bytes: int = _CACHE_BYTES
    ) -> None:
        try:
            import fluidsynth
        except (ImportError, OSError) as error:  # the library is missing
            raise SoundFontMissing(f"FluidSynth is not installed: {error}") from error
        self.font = font
        self.name = font.name
        data = font.read_bytes()
        self.digest = hashlib.sha256(data).hexdigest()[:16]
        self._synth: Any = fluidsynth.Synth(
            gain=GAIN,
            samplerate=float(dsp.RATE),
            channels=16,
            **{"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.polyphony": 256},
        )
        self._font_id = self._synth.sfload(str(font))
        if self._font_id < 0:
            raise SoundFontMissing(f"FluidSynth could not load {font}")
        self._lock = threading.Lock()
        self._pcm: OrderedDict[SampleKey, NDArray[np.int16]] = OrderedDict()
        self._bytes = 0
        self._limit = cache_bytes
        # rendered samples on disk, per font: later processes (renders, restarts) reuse them
        self._dir = None if cache_dir is None else cache_dir / f"{self.digest}-{RENDER_VERSION}"
        self._rendered = 0  # frames FluidSynth has rendered: where its block boundaries are
        self._write_float = _write_float(fluidsynth)
        # a fresh synth ramps its first note's start differently from every later one:
        # one throwaway note, so that every sample is rendered by a synth in the same state
        self._render(dsp.sample_key("drums", 0, 38, 127))

    def close(self) -> None:
        with self._lock:
            self._synth.delete()
            self._pcm.clear()

    # -- rendering ------------------------------------------------------------------

    def pcm(self, key: SampleKey) -> NDArray[np.int16]:
        """The sample as (frames, 2) int16, rendered on first use (kept in a bounded LRU)."""
        with self._lock:
            found = self._pcm.get(key)
            if found is not None:
                self._pcm.move_to_end(key)
                return found
            pcm = self._load(key)
            if pcm is None:
                pcm = self._render(key)
                self._store(key, pcm)
            self._pcm[key] = pcm
            self._bytes += pcm.nbytes
            while self._bytes > self._limit and len(self._pcm) > 1:
                _, old = self._pcm.popitem(last=False)
                self._bytes -= old.nbytes
            return pcm

    def get(self, key: SampleKey) -> NDArray[np.float32]:
        """The sample as (2, frames) float32 (int16 / 32768)."""
        return _as_float(self.pcm(key))

    def flac(self, key: SampleKey) -> bytes:
        """The sample as a FLAC file: the disk cache's copy when there is one (encoded once)."""
        pcm = self.pcm(key)
        if self._dir is not None:
            try:
                return (self._dir / key.name).read_bytes()
            except OSError:
                pass  # not stored (a read-only disk): encode it here
        return encode_flac(pcm)

    def preload(self, keys: Iterable[SampleKey]) -> None:
        for key in keys:
            self.pcm(key)

    def _load(self, key: SampleKey) -> NDArray[np.int16] | None:
        if self._dir is None:
            return None
        try:
            return _pcm((self._dir / key.name).read_bytes())
        except (OSError, ValueError, RuntimeError):  # absent, or damaged: render again
            return None

    def _store(self, key: SampleKey, pcm: NDArray[np.int16]) -> None:
        """Keep the sample on disk: written beside, then renamed (never half a file)."""
        if self._dir is None:
            return
        path = self._dir / key.name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
            partial.write_bytes(encode_flac(pcm))
            os.replace(partial, path)
        except OSError:
            pass  # a read-only or full disk: the sample stays in memory only

    def _frames(self, count: int) -> NDArray[np.float32]:
        """The next `count` frames of the synth as (count, 2) float32."""
        out = np.zeros((count, 2), dtype=np.float32)
        pointer = out.ctypes.data
        self._write_float(self._synth.synth, count, pointer, 0, 2, pointer + 4, 0, 2)
        self._rendered += count
        return out

    def _render(self, key: SampleKey) -> NDArray[np.int16]:
        synth = self._synth
        channel = 9 if key.drum else 0
        synth.system_reset()
        if synth.program_select(channel, self._font_id, key.bank, key.program) != 0:
            # a kit or program the font lacks: its first kit, or the piano, as GM players do
            synth.program_select(channel, self._font_id, key.bank, 0)
        # let the reset's fades finish, and start the note on a block boundary
        self._frames(SETTLE + (-self._rendered) % FLUID_BLOCK)
        hold = round((dsp.DRUM_HOLD_S if key.drum else dsp.NOTE_HOLD_S) * dsp.RATE)
        tail = round(dsp.SAMPLE_TAIL_S * dsp.RATE)
        synth.noteon(channel, key.pitch, key.layer)
        held = self._frames(hold)
        synth.noteoff(channel, key.pitch)
        released = self._frames(tail)
        synth.all_sounds_off(channel)
        wave = np.concatenate([held, released])
        pcm = np.clip(np.rint(wave * 32768.0), -32768, 32767).astype(np.int16)
        loud = np.flatnonzero(np.abs(pcm.astype(np.int32)).max(axis=1) > SILENT)
        end = int(loud[-1]) + 1 if loud.size else 1
        return np.ascontiguousarray(pcm[:end])
