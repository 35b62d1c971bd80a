"""Backline's media layer: audio frames, Opus, jitter buffering, frame timing, the aiortc adapter.

Shared by the server (the audio room) and the SDK (bots that publish audio),
so that neither imports the other. Dependencies point one way:
``backline.protocol`` ← ``backline.media`` ← ``backline.server`` / ``backline.client``.
Everything but `rtc` (and `opus`'s codec objects) is pure numpy over
fixed-size frames with time passed in; importing the package loads no aiortc.

- `frames`: sample rate, frame durations and lengths, int16 <-> float32, re-chunking.
- `clock`: drift-free frame due times and the catch-up policy after a stall.
- `jitter`: an adaptive jitter buffer fed by sequence numbers and arrival times.
- `packets`: what an Opus packet holds (its duration) without decoding it.
- `opus`: the Opus encoder and decoder (PyAV).
- `rtc`: the aiortc adapter: frames in and out of tracks, receive buffers that release at once.
"""
