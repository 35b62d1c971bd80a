"""Testing helpers for timed sound: clicks at chosen server times, their onsets in a file.

A `ClickTrack` plays short bursts at given *server* times, as a microphone
would capture them, so a recording's stems can be checked for alignment.
"""

from __future__ import annotations

import asyncio
import io
import math
import wave

import numpy as np

from backline.client.audio import FRAME, SAMPLE_RATE, ArrayTrack
from backline.client.session import Session

__all__ = ["CLICK_HZ", "FRAME_US", "ClickTrack", "onset", "wav_samples"]

FRAME_US = FRAME * 1_000_000 // SAMPLE_RATE
CLICK_HZ = 3_000.0


class ClickTrack(ArrayTrack):
    """Short clicks at given *server* times, as a microphone would capture them.

    Frame k is sent when its last sample exists, so it holds the server times
    ``[t0 + (k - 1) * F, t0 + k * F)``, where t0 is the server clock (as this
    session estimates it) when frame 0 was sent: the frame's content follows
    its place in the sender's timeline, however late the event loop runs.
    """

    def __init__(self, s: Session, clicks_us: list[float], sound: np.ndarray | None = None) -> None:
        self.t0: float | None = None
        self.until = -math.inf  # server µs up to which frames were handed to the sender
        self._waiters: list[tuple[float, asyncio.Future[None]]] = []
        burst = (0.6 * np.sin(2 * np.pi * CLICK_HZ * np.arange(96) / SAMPLE_RATE)).astype(
            np.float32
        )  # 2 ms
        if sound is not None:
            burst = sound

        def produce(k: int) -> np.ndarray:
            if self.t0 is None:
                self.t0 = s.clock.now()
            start = self.t0 + (k - 1) * FRAME_US
            out = np.zeros(FRAME + len(burst), dtype=np.float32)
            for click in clicks_us:
                at = round((click - start) * SAMPLE_RATE / 1e6)
                if -len(burst) < at < FRAME:
                    lo = max(at, 0)
                    out[lo : at + len(burst)] += burst[lo - at :]
            frame: np.ndarray = out[:FRAME]
            self._reached(start + FRAME_US)
            return frame

        super().__init__(produce)

    def _reached(self, until: float) -> None:
        self.until = until
        for target, done in self._waiters:
            if target <= until and not done.done():
                done.set_result(None)
        self._waiters = [(t, f) for t, f in self._waiters if not f.done()]

    async def sent_past(self, us: float) -> None:
        """Until this track has sent its frames up to server time `us` (however late
        its event loop produced them: on a loaded machine, later than the clock says)."""
        if self.until >= us:
            return
        done = asyncio.get_running_loop().create_future()
        self._waiters.append((us, done))
        await done


def onset(audio: np.ndarray, near: int, span: int = 4_800) -> int:
    """The first sample above a third of the loudest one within ``span`` of ``near``."""
    lo = max(0, near - span)
    window = np.abs(audio[lo : near + span].astype(np.float32))
    return lo + int(np.flatnonzero(window > window.max() / 3)[0])


def wav_samples(data: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(data), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 48_000)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
