"""Plays the project's drum patterns into the audio room, in time with the transport.

Every drums track plays the server's GM drum-kit samples of its kit (the
browser's and the renders' very samples, `client/sampled.py`), through the
track's EQ, compressor, volume and pan; without a SoundFont on the server the
built-in synth plays instead (`synth.drum`, one voice per General MIDI drum
note). Either way the hits are rendered against server time (`TimelineTrack`):
a track with clips plays its clips, a track without clips loops its patterns
from bar 1 (`drums.hits_between`). The project is read again for every audio
frame, so a toggled step, a new pattern, a mute, solo or volume change is
heard the next time its beat comes round; tempo, play, stop and seek apply at
once. Silent while stopped.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Iterable

from backline.client.bot import Bot
from backline.client.drums import hits_between
from backline.client.playback import Score, Sound, TimelineTrack
from backline.client.sampled import SampledTrack, SampleSet, drum_keys, sampled_drum_score
from backline.client.session import Session
from backline.client.synth import drum, voice_of
from backline.protocol.model import Document
from backline.protocol.timeline import Timeline

__all__ = ["DrummerBot", "drum_score"]

log = logging.getLogger("backline.bots.drummer")


def drum_score(project: Callable[[], Document]) -> Score:
    """The drum hits of the project as it is when asked, as sounds with their gain."""

    def score(timeline: Timeline, lo: float, hi: float) -> Iterable[tuple[float, Sound]]:
        for beat, hit in hits_between(project(), lo, hi):
            yield beat, (drum(voice_of(hit.sound)), hit.level)

    return score


class DrummerBot(Bot):
    name = "drummer"
    color = "#3cb44b"

    def __init__(self) -> None:
        self.track: TimelineTrack | None = None

    async def main(self, s: Session) -> None:
        await s.clock.wait_synced()
        samples = SampleSet(s.url, s._o.token, ssl_context=s._o.ssl)
        await asyncio.to_thread(samples.index)
        if samples.available:
            await asyncio.to_thread(samples.wait, drum_keys(s.project))
            # the strips' EQ needs scipy.signal (a second to import): not in the first frame
            await asyncio.to_thread(importlib.import_module, "scipy.signal")
            self.track = SampledTrack(
                lambda: s.timeline.current,
                s.clock,
                sampled_drum_score(lambda: s.project),
                lambda: s.project,
                samples,
            )
            sound = f"the {samples.info and samples.info.get('soundfont')} drum kits"
        else:
            self.track = TimelineTrack(
                lambda: s.timeline.current, s.clock, drum_score(lambda: s.project)
            )
            sound = "the built-in synth"
        await s.audio.publish(self.track)
        log.info("drummer playing the drum patterns of %s with %s", s._o.session, sound)
