"""The musical edit helpers: tracks, patterns, steps, notes, clips, tempo, transport.

Each helper only builds ops and hands them to `edit`; none keeps state. So
they live in a base class of `Session` (`Editing`) rather than in a
collaborator: a collaborator would cost one forwarding method per helper on
the facade, and a base class whose whole contract is two abstract methods
(`edit`, `new_id`) keeps the vocabulary in one place that owns nothing and can
be read, and tested, on its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from backline.client.mirror import Edit
from backline.protocol import editing as note_editing
from backline.protocol import harmony
from backline.protocol.errors import NotFound
from backline.protocol.model import PPQ, PROJECT_ID, Document
from backline.protocol.ops import Op

__all__ = ["Editing"]


class Editing(ABC):
    """Musical helpers over `edit`; every one returns the `Edit` (await it for the ack).

    Times are in ticks (`PPQ`, 960 per quarter note) unless a helper says beats.
    """

    @abstractmethod
    def edit(self, ops: list[Op], entity_id: str | None = None) -> Edit:
        """Apply ops atomically here and send them; raises at once if invalid here."""

    @abstractmethod
    def new_id(self) -> str:
        """A fresh entity id no other client can produce."""

    def set(self, entity_id: str, field: str, value: Any) -> Edit:
        """Set one field (last writer wins): `s.set(track, "volume", 0.8)`."""
        return self.edit([{"op": "set", "id": entity_id, "field": field, "value": value}])

    def _insert(self, kind: str, value: dict[str, Any], index: int | None = None) -> Edit:
        """Insert a new entity of `kind`; the `Edit` carries its fresh id."""
        entity_id = self.new_id()
        op: Op = {"op": "insert", "kind": kind, "id": entity_id, "value": value}
        if index is not None:
            op["index"] = index
        return self.edit([op], entity_id)

    # -- transport ------------------------------------------------------------

    def play(self, beat: float | None = None, count_in: int = 0) -> Edit:
        """Start everyone together, a lead time ahead (the server picks the time; 200 ms
        or more when someone's connection is slow): from where the transport stands, or
        from `beat`, after `count_in` bars (0-4) of count-in."""
        op: dict[str, Any] = {"op": "play"}
        if beat is not None:
            op["beat"] = float(beat)
        if count_in:
            op["count_in"] = int(count_in)
        return self.edit([op])

    def stop(self, back: bool = False) -> Edit:
        """Stop where the music is now, or, with `back`, where this play began."""
        return self.edit([{"op": "stop", "back": True}] if back else [{"op": "stop"}])

    def seek(self, beat: float) -> Edit:
        """Move the playhead to ``beat`` (quarter notes from 0); while playing, everyone
        continues from there after the lead time."""
        return self.edit([{"op": "seek", "beat": float(beat)}])

    # -- the project ----------------------------------------------------------

    def set_tempo(self, bpm: float) -> Edit:
        return self.set(PROJECT_ID, "tempo", float(bpm))

    def set_meter(self, numerator: int, denominator: int) -> Edit:
        return self.set(PROJECT_ID, "meter", [numerator, denominator])

    def set_swing(self, amount: float) -> Edit:
        return self.set(PROJECT_ID, "swing", float(amount))

    def set_key(self, key: str, *, transpose: bool = False) -> Edit:
        """The project's key (``"A minor"``); with `transpose`, every pitched note and chord
        moves to the new key the shortest way, in the same edit (`harmony.key_change_ops`)."""
        if not transpose:
            return self.set(PROJECT_ID, "key", key)
        return self.edit(harmony.key_change_ops(self.project, key, transpose))

    def set_loop(self, start: int, end: int, on: bool = True) -> Edit:
        """Loop region in ticks (960 per quarter note)."""
        return self.set(PROJECT_ID, "loop", {"start": start, "end": end, "on": on})

    # -- tracks and their contents ---------------------------------------------

    def add_track(
        self,
        name: str = "Track",
        *,
        kind: str = "instrument",
        index: int | None = None,
        **fields: Any,
    ) -> Edit:
        """Add a track (kind: drums, instrument or audio); `edit.id` is its id."""
        return self._insert("track", {"name": name, "kind": kind, **fields}, index)

    def add_pattern(
        self,
        track: str,
        *,
        sounds: Sequence[int] = (),
        length: int = 16,
        steps_per_beat: int = 4,
        name: str = "Pattern",
    ) -> Edit:
        """A step pattern with one empty lane per sound (GM drum note numbers)."""
        lanes = [{"sound": sound, "steps": [0] * length} for sound in sounds]
        value = {
            "track": track,
            "name": name,
            "length": length,
            "steps_per_beat": steps_per_beat,
            "lanes": lanes,
        }
        return self._insert("pattern", value)

    def set_step(self, pattern: str, lane: int, step: int, velocity: int = 100) -> Edit:
        """Set one step's velocity (0 turns it off)."""
        op: Op = {
            "op": "set",
            "id": pattern,
            "field": "steps",
            "at": [lane, step],
            "value": velocity,
        }
        return self.edit([op])

    def add_note(
        self,
        track: str,
        pitch: int,
        start: int,
        dur: int = PPQ // 4,
        vel: int = 100,
        *,
        clip: str | None = None,
    ) -> Edit:
        """A note; `start` and `dur` in ticks (960 per quarter note). In a notes `clip`
        (on the same track), `start` counts from the clip's start."""
        value = {"track": track, "pitch": pitch, "start": start, "dur": dur, "vel": vel}
        if clip is not None:
            value["clip"] = clip
        return self._insert("note", value)

    def add_clip(
        self, track: str, pattern: str | None, start: int, length: int | None = None
    ) -> Edit:
        """Place `pattern` on `track` at tick `start` (for `length` ticks; default one
        pass of it), or, with `pattern` None, a notes clip of `length` ticks to hold
        notes (`add_note(..., clip=)`). Clips on a track may not overlap (`overlap`)."""
        value: dict[str, Any] = {"track": track, "pattern": pattern, "start": start}
        if length is not None:
            value["length"] = length
        return self._insert("clip", value)

    def add_section(
        self,
        name: str,
        start: int,
        length: int = 16 * PPQ,
        *,
        color: str | None = None,
    ) -> Edit:
        """A song section (intro, verse, chorus…) over ticks ``[start, start + length)``;
        sections may not overlap (`overlap`). `color` as ``#rrggbb``."""
        value: dict[str, Any] = {"name": name, "start": start, "length": length}
        if color is not None:
            value["color"] = color
        return self._insert("section", value)

    # -- the chord track (protocol/harmony.py spells the chords) -------------------------

    @property
    def chords(self) -> list[dict[str, Any]]:
        """The chord track in timeline order, each with its ``symbol``."""
        return [
            {**chord, "symbol": harmony.chord_symbol(_chord_of(chord))}
            for chord in self.project.ordered_chords()
        ]

    def chord_at(self, tick: int) -> dict[str, Any] | None:
        """The chord sounding at `tick`, or None."""
        for chord in self.chords:
            if chord["start"] <= tick < chord["start"] + chord["length"]:
                return chord
        return None

    def add_chord(self, chord: str | harmony.Chord, start: int, length: int = 4 * PPQ) -> Edit:
        """A chord on the chord track over ticks ``[start, start + length)``, from a symbol
        (``"Am7"``, ``"C/E"``; an unknown one raises `BadField` and sends nothing) or a
        `Chord`. Chords may not overlap (`overlap`)."""
        parsed = harmony.parse_chord(chord) if isinstance(chord, str) else chord
        harmony.check_chord(parsed)
        value = {"start": start, "length": length, **parsed.to_fields()}
        return self._insert("chord", value)

    def set_chord(self, chord_id: str, chord: str | harmony.Chord) -> Edit:
        """Respell one chord (root, quality, inversion and bass in one edit)."""
        parsed = harmony.parse_chord(chord) if isinstance(chord, str) else chord
        harmony.check_chord(parsed)
        # root position first: a quality with fewer tones never meets a higher inversion
        fields = [("inversion", 0), *parsed.to_fields().items()]
        return self.edit(
            [
                {"op": "set", "id": chord_id, "field": field, "value": value}
                for field, value in fields
            ]
        )

    def move_track(self, track: str, index: int) -> Edit:
        return self.edit([{"op": "move", "id": track, "index": index}])

    def remove(self, entity_id: str) -> Edit:
        """Delete an entity; a track takes its patterns, clips and notes with it."""
        return self.edit([{"op": "delete", "id": entity_id}])

    # -- a selection of notes (protocol/editing.py): each ONE edit, one undo step ---------

    @property
    def project(self) -> Document:
        """The document the note commands read the selected notes from (`Session`'s mirror)."""
        raise NotImplementedError("a note command needs the project: override `project`")

    def _selection(self, notes: Iterable[str]) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """The records of the note ids, and the starts of the notes clips they are in."""
        doc = self.project
        records = []
        for note_id in notes:
            note = doc.notes.get(note_id)
            if note is None:
                raise NotFound(f"no note {note_id!r}")
            records.append(note)
        origins = {c["id"]: c["start"] for c in doc.clips.values() if c["pattern"] is None}
        return records, origins

    def _send(self, ops: list[Op]) -> Edit | None:
        return self.edit(ops) if ops else None

    def quantize(
        self, notes: Iterable[str], grid: int = PPQ // 4, strength: float = 1.0
    ) -> Edit | None:
        """Move the notes' starts toward the nearest line of a `grid` of ticks (240: 1/16,
        320: 1/8 triplets) by `strength` (0-1), in one edit; None when nothing moves."""
        records, origins = self._selection(notes)
        return self._send(note_editing.quantize(records, grid, strength, origins))

    def transpose(self, notes: Iterable[str], semitones: int) -> Edit | None:
        """Shift the notes' pitches in one edit; `OutOfRange` (nothing sent) if one would
        leave 0-127."""
        records, origins = self._selection(notes)
        return self._send(note_editing.transpose(records, semitones, origins))

    def move_notes(self, notes: Iterable[str], ticks: int = 0, semitones: int = 0) -> Edit | None:
        """Shift the notes in time and pitch in one edit (`OutOfRange` past an edge)."""
        records, origins = self._selection(notes)
        return self._send(note_editing.move(records, ticks, semitones, origins))

    def resize_notes(self, notes: Iterable[str], ticks: int) -> Edit | None:
        """Lengthen (negative: shorten, to one tick at least) the notes in one edit."""
        records, origins = self._selection(notes)
        return self._send(note_editing.resize(records, ticks, origins))

    def set_velocity(self, notes: Iterable[str], vel: int) -> Edit | None:
        """Give the notes velocity `vel` (1-127) in one edit."""
        records, origins = self._selection(notes)
        return self._send(note_editing.set_velocity(records, vel, origins))

    def duplicate_notes(self, notes: Iterable[str], grid: int = PPQ) -> Edit:
        """Copies of the notes right after their span (rounded up to `grid` ticks), one
        edit; the copies' ids come in selection order (absolute start, pitch, id)."""
        records, origins = self._selection(notes)
        ids = [self.new_id() for _ in records]
        return self.edit(note_editing.duplicate(records, ids, grid, origins))

    def paste_notes(
        self,
        clipboard: Sequence[Mapping[str, Any]],
        at: int,
        track: str,
        clip: str | None = None,
    ) -> Edit:
        """Insert copies of note records on `track` (in notes `clip`, `at` then counting
        from its start), keeping their relative positions, the first at tick `at`."""
        ids = [self.new_id() for _ in clipboard]
        return self.edit(note_editing.paste(clipboard, at, track, clip, ids))

    def delete_notes(self, notes: Iterable[str]) -> Edit:
        """Delete the notes in one edit."""
        records, origins = self._selection(notes)
        return self.edit(note_editing.delete(records, origins))


def _chord_of(entity: Mapping[str, Any]) -> harmony.Chord:
    return harmony.Chord(entity["root"], entity["quality"], entity["inversion"], entity["bass"])
