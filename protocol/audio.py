"""The audio room's fixed facts, shared by the server, the SDK, bots and the browser.

Pure constants: the sample rate every participant's audio is mixed at (Opus
runs at 48 kHz), the room's frame, and the most a listener may raise one
source in its personal mix. Exported to the browser in `/protocol.js`.
"""

from __future__ import annotations

__all__ = ["FRAME_MS", "MAX_GAIN", "SAMPLE_RATE"]

SAMPLE_RATE = 48_000  # Hz
FRAME_MS = 10  # the room's tick, mix and jitter-buffer unit
MAX_GAIN = 4.0  # linear, about +12 dB: the top of a `mix` gain
