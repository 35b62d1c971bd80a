"""Records what it hears — the session's mix of everyone — to a WAV file.

A listen-only participant of the audio room: 48 kHz, mono, 16-bit PCM. The
file is valid at every moment (the header is rewritten as frames arrive), so
stopping the bot at any time, even with SIGKILL, leaves a playable recording.
"""

from __future__ import annotations

import logging
import wave
from pathlib import Path

import numpy as np

from backline.client.bot import Bot
from backline.client.session import Session

__all__ = ["RecorderBot"]

log = logging.getLogger("backline.bots.recorder")


class RecorderBot(Bot):
    name = "recorder"
    color = "#e6194b"

    def __init__(self, out: Path = Path("backline-mix.wav")) -> None:
        self.out = out
        self.frames = 0  # frames written so far

    async def main(self, s: Session) -> None:
        from backline.client.audio import SAMPLE_RATE

        await s.audio.publish(None)  # listen only
        self.out.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(self.out), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(SAMPLE_RATE)
            log.info("recording session %s to %s", s._o.session, self.out)
            async for frame in s.audio.mix():
                pcm = np.clip(np.rint(frame * 32767.0), -32768, 32767).astype("<i2")
                wav.writeframes(pcm.tobytes())  # also updates the header's length
                self.frames += 1
