"""Backline's Python SDK: join a session, mirror its project, edit it live.

async with backline.client.connect(url, session="jam", token=token, name="me") as s:
    track = s.add_track("Bass")
    s.add_note(track.id, pitch=36, start=0, dur=480)

The names are those of the facade, `backline.client.session`, and `Bot`.
"""

from backline.client import session
from backline.client.bot import Bot
from backline.client.events import *  # noqa: F403  (the facade's names: its events ...)
from backline.client.session import *  # noqa: F403  (... and the rest of its __all__)
from backline.protocol.harmony import (  # chord spelling and scales, for bots and scripts
    Chord,
    chord_pitches,
    chord_symbol,
    detect_chord,
    diatonic_chords,
    in_scale,
    parse_chord,
    snap_to_scale,
)

__all__ = [
    "Bot",
    "Chord",
    "chord_pitches",
    "chord_symbol",
    "detect_chord",
    "diatonic_chords",
    "in_scale",
    "parse_chord",
    "snap_to_scale",
]
__all__ += session.__all__
