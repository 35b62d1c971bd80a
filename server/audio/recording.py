"""A multitrack recording being written: stems and mix to WAV files, off the event loop.

The room hands every decoded frame to `Recording.frame` as it arrives (one
thread-safe queue put, nothing else on the tick path). A writer thread feeds
them to the pure `Multitrack`, which places them on the server clock (see
`stems`), and appends the resulting chunks to one WAV file per participant
plus ``mix.wav``. Every second it flushes the files and rewrites their WAV
headers, so a recording in progress is readable up to the last second, and a
stopped one is a complete, valid WAV whatever happened before.

A sidecar ``recording.json`` says how the files sit on the musical grid: the
server time of sample 0, the tempo, meter and transport then, the beat at
sample 0, and who is in which file. It is written at the start and rewritten
at the end.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from backline.media.frames import SAMPLE_RATE
from backline.server.audio.stems import Chunk, Multitrack

__all__ = [
    "MIX_FILE",
    "SIDECAR_FILE",
    "Recording",
    "WavWriter",
    "new_recording_id",
    "wav_header",
]

log = logging.getLogger("backline.audio.recording")

MIX_FILE = "mix.wav"
SIDECAR_FILE = "recording.json"
FORMAT = "backline.recording.v1"
FLUSH_EVERY = 1.0  # seconds between header rewrites (how fresh a partial file is)
MIX_EVERY = 0.1  # seconds between mix steps
_SILENCE_BLOCK = np.zeros(SAMPLE_RATE, dtype="<i2").tobytes()
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def wav_header(samples: int, sample_rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    """The 44-byte header of a 16-bit PCM WAV file holding ``samples`` frames."""
    data = samples * channels * 2
    return b"".join(
        (
            b"RIFF",
            (36 + data).to_bytes(4, "little"),
            b"WAVEfmt ",
            (16).to_bytes(4, "little"),  # fmt chunk size
            (1).to_bytes(2, "little"),  # PCM
            channels.to_bytes(2, "little"),
            sample_rate.to_bytes(4, "little"),
            (sample_rate * channels * 2).to_bytes(4, "little"),  # bytes per second
            (channels * 2).to_bytes(2, "little"),  # bytes per frame
            (16).to_bytes(2, "little"),  # bits per sample
            b"data",
            data.to_bytes(4, "little"),
        )
    )


class WavWriter:
    """An append-only mono 16-bit WAV file whose header is kept true on `flush`."""

    def __init__(self, path: Path, sample_rate: int = SAMPLE_RATE) -> None:
        self.path = path
        self.sample_rate = sample_rate
        self.samples = 0
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 (closed by close())
        self._file.write(wav_header(0, sample_rate))

    def write(self, pcm: NDArray[np.int16]) -> None:
        self._file.write(pcm.astype("<i2", copy=False).tobytes())
        self.samples += len(pcm)

    def write_silence(self, samples: int) -> None:
        left = samples
        while left > 0:
            n = min(left, SAMPLE_RATE)
            self._file.write(_SILENCE_BLOCK[: 2 * n])
            left -= n
        self.samples += samples

    def flush(self) -> None:
        """Make the file a valid WAV of everything written so far."""
        end = self._file.tell()
        self._file.seek(0)
        self._file.write(wav_header(self.samples, self.sample_rate))
        self._file.seek(end)
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            os.fsync(self._file.fileno())
            self._file.close()


def new_recording_id(now: float | None = None) -> str:
    """``YYYYMMDD-HHMMSS-xxxx`` (UTC, then random): unique, and sorts by start."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"{stamp}-{secrets.token_hex(2)}"


def _slug(name: str) -> str:
    return _UNSAFE.sub("-", name).strip("-")[:32] or "participant"


@dataclass(frozen=True, slots=True)
class _Frame:
    client: str
    samples: NDArray[np.float32]
    timestamp: int
    arrival_us: int


@dataclass(frozen=True, slots=True)
class _Restart:
    client: str


@dataclass(frozen=True, slots=True)
class _Stop:
    end_us: int
    reason: str


class Recording:
    """One recording of a session's audio room, written to ``directory`` by a thread.

    Args:
        directory: created; holds the WAV files and the sidecar.
        start_us: server time of sample 0 of every file.
        info: sidecar fields known at the start (session, tempo, meter, start beat...).
        names: client id -> display name, read when a participant's stem is created
            (the caller may keep updating it).
        now_us: the server clock (passed in so that tests can drive it).
        ceiling_db: the mix's limiter ceiling (the project's ``limiter_ceiling``, dBTP).
    """

    def __init__(
        self,
        directory: Path,
        recording_id: str,
        start_us: int,
        info: Mapping[str, Any],
        names: dict[str, str],
        now_us: Any,
        ceiling_db: float = -1.0,
    ) -> None:
        self.id = recording_id
        self.directory = directory
        self.start_us = start_us
        self.names = names
        self._now_us = now_us
        self._info = dict(info)
        self._queue: queue.SimpleQueue[_Frame | _Restart | _Stop] = queue.SimpleQueue()
        self._multitrack = Multitrack(start_us, ceiling_db=ceiling_db)
        self._files: dict[str | None, WavWriter] = {}
        self._participants: list[dict[str, Any]] = []
        self._markers: list[dict[str, Any]] = []
        self._grid: tuple[Any, ...] | None = None
        self._end_us: int | None = None
        self._reason: str | None = None
        self._stopped = False
        self._done = threading.Event()
        self.error: BaseException | None = None
        directory.mkdir(parents=True, exist_ok=False)
        self._files[None] = WavWriter(directory / MIX_FILE)
        self._write_sidecar()
        self._thread = threading.Thread(
            target=self._run, name=f"recording {recording_id}", daemon=True
        )
        self._thread.start()

    # -- called on the event loop ---------------------------------------------------

    def frame(self, client: str, samples: NDArray[np.float32], timestamp: int, at_us: int) -> None:
        """A frame of ``client`` arrived at ``at_us`` (cheap: the writer does the work)."""
        if not self._stopped and not self._done.is_set():  # done early: the writer failed
            self._queue.put(_Frame(client, samples, timestamp, at_us))

    def joined(self, client: str) -> None:
        """``client`` (re)connected: its RTP timeline starts anew."""
        if not self._stopped:
            self._queue.put(_Restart(client))

    def note_grid(
        self,
        tempo: float,
        meter: list[int],
        transport: Mapping[str, Any],
        at_us: int,
        beat: float,
    ) -> None:
        """The project's tempo, meter and transport, which took effect at ``at_us``.

        Each change after the first call becomes a marker in the sidecar: from
        ``sample`` (server time ``time_us`` = ``at_us``) on, the music is at
        beat ``beat`` and moves at ``tempo`` (or stands, when not ``playing``).
        For a play, ``at_us`` is the start ahead of the edit.
        """
        grid = (float(tempo), tuple(meter), *(transport[k] for k in ("playing", "beat", "time")))
        if grid == self._grid or self._stopped:
            return
        first, self._grid = self._grid is None, grid
        if first:
            return  # the start: already in the sidecar's own fields
        sample = round((at_us - self.start_us) * self._multitrack.sample_rate / 1_000_000)
        self._markers.append(
            {"time_us": at_us, "sample": sample, "tempo": float(tempo), "meter": list(meter),
             "playing": bool(transport["playing"]), "beat": beat}
        )  # fmt: skip

    async def stop(self, end_us: int, reason: str = "stopped") -> dict[str, Any]:
        """Finish every file at ``end_us``; returns the final sidecar."""
        if not self._stopped:
            self._stopped = True
            self._queue.put(_Stop(end_us, reason))
        await asyncio.to_thread(self._done.wait)
        return self.sidecar()

    def sidecar(self) -> dict[str, Any]:
        """What ``recording.json`` says (now)."""
        mt = self._multitrack
        return {
            "format": FORMAT,
            "id": self.id,
            **self._info,
            "sample_rate": mt.sample_rate,
            "channels": 1,
            "bits": 16,
            "start_time_us": self.start_us,
            "end_time_us": self._end_us,
            "samples": mt.length() if self._end_us is not None else None,
            "stopped": self._reason,
            "mix": MIX_FILE,
            "participants": [{**p, "resets": mt.resets(p["client"])} for p in self._participants],
            "markers": list(self._markers),
        }

    # -- the writer thread ------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._write_loop()
        except BaseException as exc:  # a full disk, a bug: say so, keep the server up
            self.error = exc
            log.exception("recording %s failed", self.id)
        finally:
            for writer in self._files.values():
                try:
                    writer.close()
                except OSError:
                    log.exception("recording %s: closing %s failed", self.id, writer.path)
            self._done.set()

    def _write_loop(self) -> None:
        mt = self._multitrack
        next_mix = next_flush = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=MIX_EVERY)
            except queue.Empty:
                item = None
            while item is not None:
                if isinstance(item, _Stop):
                    mt.finish(item.end_us)
                    self._write(mt.take())
                    self._end_us, self._reason = item.end_us, item.reason
                    for writer in self._files.values():
                        writer.flush()
                    self._write_sidecar()
                    return
                if isinstance(item, _Frame):
                    mt.add(item.client, item.samples, item.timestamp, item.arrival_us)
                else:
                    mt.restart(item.client)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            now = time.monotonic()
            if now >= next_mix:
                mt.advance(int(self._now_us()))
                next_mix = now + MIX_EVERY
            self._write(mt.take())
            if now >= next_flush:
                for writer in self._files.values():
                    writer.flush()
                next_flush = now + FLUSH_EVERY

    def _write(self, chunks: list[Chunk]) -> None:
        for chunk in chunks:
            writer = self._files.get(chunk.track)
            if writer is None:
                assert chunk.track is not None
                writer = self._open_stem(chunk.track)
            if chunk.pcm is None:
                writer.write_silence(chunk.silent)
            else:
                writer.write(chunk.pcm)

    def _open_stem(self, client: str) -> WavWriter:
        name = self.names.get(client, client)
        file = f"{len(self._participants) + 1:02d}-{_slug(name)}.wav"
        writer = self._files[client] = WavWriter(self.directory / file)
        self._participants.append({"client": client, "name": name, "file": file})
        self._write_sidecar()
        return writer

    def _write_sidecar(self) -> None:
        path = self.directory / SIDECAR_FILE
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(self.sidecar(), indent=2) + "\n")
        temporary.replace(path)
