"""Keep a local Ableton Link session locked to a Backline session's shared timeline.

Link's clock is the machine's monotonic clock (what `time.monotonic` reads),
and the Backline SDK maps that clock to the server's (`s.clock`). So at any
moment the Link beat should be the project's *linear* beat at the server time
of now (plus the listener's output latency, `offset_ms`, so that a DAW that
plays late by that much sounds on time): every `STEP` the bridge compares and
forces the Link beat when it is off by more than `FORCE_US`. Tempo and the
quantum (the meter's numerator) follow the session; start/stop goes both
ways (Link 3's start/stop sync), and a tempo a Link peer sets becomes a
session edit after `DEBOUNCE` seconds of quiet. What the bridge itself set is
remembered, so its own echoes are never sent back as edits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from backline.client.session import Session

__all__ = ["LinkBridge"]

log = logging.getLogger("backline.link")

STEP = 0.01  # seconds between two checks of the Link beat
FORCE_US = 200.0  # a Link beat off by more than this is forced back
DEBOUNCE = 0.15  # seconds a peer's tempo must hold before it becomes an edit
JOIN_GRACE = 1.0  # seconds after a peer joins or leaves when Link's tempo is the session's
TEMPO_RANGE = (20.0, 999.0)  # the project's (protocol/model.py)


class LinkBridge:
    def __init__(self, s: Session, link: Any, *, offset_ms: float = 0.0) -> None:
        self.s = s
        self.link = link
        self.offset_us = offset_ms * 1000
        self._tempo_set: float | None = None  # what we last told Link
        self._playing_set: bool | None = None
        self._peer_tempo: float | None = None
        self._peer_tempo_at = 0.0
        self.forced = 0  # times the Link beat was put back
        self._joined_at = 0.0  # when the number of peers last changed

    def _on_peers(self, peers: int) -> None:
        # a joining peer brings its own tempo into the Link session: the session's wins
        self._joined_at = time.monotonic()
        self._peer_tempo = None
        self._playing_set = None  # tell the newcomer the session's play state (newest wins)
        log.info("link: %d peers", peers)

    def _on_tempo(self, tempo: float) -> None:
        if self._tempo_set is not None and abs(tempo - self._tempo_set) < 1e-3:
            return  # our own
        if time.monotonic() - self._joined_at < JOIN_GRACE:
            return  # a join's merge, not a change anyone made
        self._peer_tempo, self._peer_tempo_at = float(tempo), time.monotonic()

    def _on_playing(self, playing: bool) -> None:
        if playing == self._playing_set:
            return  # our own
        if time.monotonic() - self._joined_at < JOIN_GRACE:
            return  # a newcomer's state merging in: the session's wins (re-told next step)
        self._playing_set = bool(playing)
        log.info("link: a peer %s the transport", "started" if playing else "stopped")
        if playing:
            self.s.play()
        else:
            self.s.stop()

    async def run(self) -> None:
        link = self.link
        link.enabled = True
        link.start_stop_sync_enabled = True
        link.set_tempo_callback(self._on_tempo)
        link.set_start_stop_callback(self._on_playing)
        link.set_num_peers_callback(self._on_peers)
        try:
            while True:
                self.step()
                await asyncio.sleep(STEP)  # a period: each step computes from the timeline
        finally:
            link.enabled = False

    def step(self) -> None:
        link, timeline = self.link, self.s.timeline.current
        if self._peer_tempo is not None and time.monotonic() - self._peer_tempo_at >= DEBOUNCE:
            tempo = min(max(self._peer_tempo, TEMPO_RANGE[0]), TEMPO_RANGE[1])
            self._peer_tempo = None
            if abs(tempo - timeline.tempo) > 1e-3:
                log.info("link: a peer set the tempo to %.2f", tempo)
                self.s.set_tempo(round(tempo, 3))
            return  # the edit changes the timeline: the next step follows it
        if self._peer_tempo is None and abs(link.tempo - timeline.tempo) > 1e-6:
            self._tempo_set = timeline.tempo
            link.tempo = timeline.tempo
        quantum = float(timeline.meter[0])
        if link.quantum != quantum:
            link.quantum = quantum
        if self._playing_set != timeline.playing or (
            link.playing != timeline.playing and time.monotonic() - self._joined_at < JOIN_GRACE
        ):
            self._playing_set = timeline.playing
            link.playing = timeline.playing
        if not timeline.playing:
            return  # Link's beat always runs; it is placed again when the music starts
        local_us = time.monotonic_ns() / 1000
        linear = timeline.linear_at(self.s.clock.to_server(local_us) + self.offset_us)
        off_us = (link.beat - linear) * timeline.us_per_beat
        if abs(off_us) > FORCE_US:
            # forced at the moment it is read: recompute for now (µs have passed)
            now_us = time.monotonic_ns() / 1000
            link.force_beat(timeline.linear_at(self.s.clock.to_server(now_us) + self.offset_us))
            self.forced += 1
