"""Bots that follow the chord track: a bass line, an arpeggio and a pad.

Each plays its part (`protocol/parts.py`) into the audio room on the shared grid,
as the drummer does: the part is computed from the project as it is at every
audio frame, so a chord changed while playing is heard from the next time its
notes come round (the bass: from the next bar), and tempo, play, stop and seek
apply at once. Silent while stopped.

With `write` (``backline bot bass … --write``) the bot also keeps its part
written into the project as notes on a track of its own ("Bass (bot)"…): one
batch whenever the chord track, the key or the meter changes, with note ids
derived from the chord they belong to, so the batch holds only what changed and
undo of anyone else's edit is never disturbed by a rewrite of unrelated notes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from backline.client.bot import Bot
from backline.client.playback import Score, Sound, TimelineTrack
from backline.client.session import RemoteEdit, Session
from backline.client.synth import tone
from backline.protocol.errors import BacklineError
from backline.protocol.model import PPQ, Document
from backline.protocol.ops import Op
from backline.protocol.parts import PartNote, part_notes
from backline.protocol.timeline import Timeline

__all__ = ["ArpBot", "BassBot", "ChordBot", "PadBot", "part_score", "written_part_ops"]

log = logging.getLogger("backline.bots.chords")

_GAIN = {"bass": 0.8, "arp": 0.45, "pad": 0.3}
_TIMBRE = {"bass": "bass", "arp": "pluck", "pad": "pad"}
_PROGRAM = {"bass": 33, "arp": 4, "pad": 89}  # GM: fingered bass, e-piano, warm pad


def part_score(project: Callable[[], Document], part: str) -> Score:
    """The part's notes in a beat range, as tones held for their length at the tempo."""

    def score(timeline: Timeline, lo: float, hi: float) -> Iterable[tuple[float, Sound]]:
        doc = project()
        seconds_per_beat = 60.0 / timeline.tempo
        for note in part_notes(doc, part, int(lo * PPQ), int(hi * PPQ) + 1):
            beat = note.start / PPQ
            if lo <= beat < hi:
                held = round(note.dur / PPQ * seconds_per_beat, 2)
                yield beat, (tone(note.pitch, held, _TIMBRE[part]), _GAIN[part] * note.vel / 127)

    return score


def written_part_ops(doc: Document, part: str, track: str) -> list[Op]:
    """The ops that make `track`'s free notes exactly the part (empty when they are)."""
    wanted: dict[str, PartNote] = {}
    counts: dict[str, int] = {}
    for note in part_notes(doc, part):
        n = counts[note.chord] = counts.get(note.chord, -1) + 1
        wanted[f"{track}.{note.chord}.{n}"] = note
    have = {nid: n for nid, n in doc.notes.items() if n["track"] == track}
    ops: list[Op] = [{"op": "delete", "id": nid} for nid in sorted(have) if nid not in wanted]
    for nid, note in wanted.items():
        fields = {"pitch": note.pitch, "start": note.start, "dur": note.dur, "vel": note.vel}
        old = have.get(nid)
        if old is None:
            value: dict[str, Any] = {"track": track, "clip": None, **fields}
            ops.append({"op": "insert", "kind": "note", "id": nid, "value": value})
            continue
        ops += [
            {"op": "set", "id": nid, "field": name, "value": value}
            for name, value in fields.items()
            if old[name] != value
        ]
    return ops


class ChordBot(Bot):
    """Plays `part` over the chord track; `write` keeps it written on a track of its own."""

    part: ClassVar[str] = "bass"

    def __init__(self) -> None:
        self.write = False
        self.track: TimelineTrack | None = None
        self._track_id: str | None = None

    async def on_start(self, s: Session) -> None:
        if self.write:
            self._track_id = await self._own_track(s)
            self._rewrite(s)

    async def on_edit(self, s: Session, event: RemoteEdit) -> None:
        if event.mine or not self.write:
            return
        if any(_concerns_part(s.project, op) for op in event.batch.ops):
            self._rewrite(s)

    async def main(self, s: Session) -> None:
        await s.clock.wait_synced()
        self.track = TimelineTrack(
            lambda: s.timeline.current, s.clock, part_score(lambda: s.project, self.part)
        )
        await s.audio.publish(self.track)
        log.info("%s playing the chord track of %s", self.name, s._o.session)

    async def _own_track(self, s: Session) -> str:
        name = f"{self.part.capitalize()} (bot)"
        for tid in s.project.track_order:
            if s.project.tracks[tid]["name"] == name:
                return tid
        made = s.add_track(name, instrument=_PROGRAM[self.part])
        await made
        return made.id or ""

    def _rewrite(self, s: Session) -> None:
        track = self._track_id
        if track is None or track not in s.project.tracks:
            return
        ops = written_part_ops(s.project, self.part, track)
        if not ops:
            return
        limit = s.project.limits.max_ops_per_batch
        try:
            for i in range(0, len(ops), limit):  # one batch unless the song is very long
                s.edit(ops[i : i + limit])
        except BacklineError as exc:
            log.warning("%s cannot write its part: %s", self.name, exc.message)


def _concerns_part(doc: Document, op: dict[str, Any]) -> bool:
    if op.get("op") == "batch":
        return any(_concerns_part(doc, inner) for inner in op.get("ops", []))
    target = op.get("id", "")
    if op.get("kind") == "chord" or doc.kind_of.get(target) == "chord":
        return True
    if op.get("op") == "delete" and target not in doc.kind_of:
        return True  # perhaps a chord, now gone
    return target == "project" and op.get("field") in ("meter", "key")


class BassBot(ChordBot):
    name = "bass"
    color = "#f58231"
    part = "bass"


class ArpBot(ChordBot):
    name = "arp"
    color = "#911eb4"
    part = "arp"


class PadBot(ChordBot):
    name = "pad"
    color = "#4363d8"
    part = "pad"
