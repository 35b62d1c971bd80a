"""The audio room. Its pure core: frames, mixing, metering, jitter buffering and frame timing.

The core modules below are synchronous numpy over fixed-size frames of 48 kHz
audio, with time (server-clock microseconds) always passed in as an argument:
no event loop, no sockets, no clock reads. The aiortc side (Opus in and out,
the tick loop) lives in separate adapter modules that only drive these, and
importing `backline.server.audio` itself loads no aiortc
(``tests/audio/test_audio_purity.py`` checks both).

- `frames`: sample rate, frame durations and lengths, int16 <-> float32.
- `mixer`: one personal mix per listener (everyone but themselves, per-listener
  gains, mute/solo), one matrix product per tick, with a soft limiter.
- `meter`: RMS and peak in dBFS with PPM-like ballistics.
- `jitter`: an adaptive jitter buffer policy fed by sequence numbers and arrival times.
- `clock`: a drift-free frame scheduler with an explicit catch-up policy.
"""

from __future__ import annotations

from backline.media.clock import CatchUp, FrameClock
from backline.media.frames import (
    FRAME_DURATIONS_MS,
    SAMPLE_RATE,
    frame_samples,
    frame_us,
    to_float32,
    to_int16,
)
from backline.media.jitter import Arrival, JitterBuffer, JitterStats
from backline.server.audio.meter import (
    FLOOR_DBFS,
    Ballistics,
    LevelMeter,
    Levels,
    RoomMeter,
    measure,
)
from backline.server.audio.mixer import Mixer, TrackState, audible_view, soft_limit

__all__ = [
    "FLOOR_DBFS",
    "FRAME_DURATIONS_MS",
    "SAMPLE_RATE",
    "Arrival",
    "Ballistics",
    "CatchUp",
    "FrameClock",
    "JitterBuffer",
    "JitterStats",
    "LevelMeter",
    "Levels",
    "Mixer",
    "RoomMeter",
    "TrackState",
    "audible_view",
    "frame_samples",
    "frame_us",
    "measure",
    "soft_limit",
    "to_float32",
    "to_int16",
]
