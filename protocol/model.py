"""The shared music project: entities, their fields and every field's range.

A `Document` is plain data (dicts, lists, ints, floats, strings, bools) so it
encodes to msgpack and JSON without conversion. Only `ops.apply` mutates it;
this module defines the shape, the validators and the canonical encoding.

Time positions are integer ticks at `PPQ` (960) per quarter note.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import BadField, OutOfRange, TooLarge
from .harmony import MODES, NOTE_NAMES, QUALITIES
from .limits import DEFAULT_LIMITS, Limits
from .mixer import PROJECT_PARAMS, TRACK_PARAMS, Param

__all__ = [
    "KINDS",
    "MODES",
    "PPQ",
    "PROJECT_ID",
    "SCHEMAS",
    "TRACK_KINDS",
    "Document",
    "FieldSpec",
    "check_id",
]

PPQ = 960
PROJECT_ID = "project"
TRACK_KINDS = ("drums", "instrument", "audio")
METER_DENOMINATORS = (1, 2, 4, 8, 16, 32)
KINDS = ("track", "pattern", "note", "clip", "section", "chord")

ID_RE = re.compile(r"^[A-Za-z0-9_.:\-]+$")
_COLOR_RE = re.compile(r"^#[0-9a-f]{6}$")
_KEY_RE = re.compile(r"^[A-G](#|b)? (" + "|".join(MODES) + r")$")

Validator = Callable[[str, Any, Limits], Any]

# What each validator accepts, as plain data, for clients in other languages
# (the browser's /protocol.js): filled in by the validator factories below.
_DESCRIBED: dict[Validator, dict[str, Any]] = {}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """How one field is checked; `ref` names the kind a reference points to."""

    check: Validator
    default: Any = None  # None: required on insert (unless optional or derived)
    ref: str | None = None
    optional: bool = False  # may be absent or None (stored as None): e.g. a clip's pattern
    derived: bool = False  # may be absent when the op engine can work it out

    @property
    def required(self) -> bool:
        """Must an insert give this field?"""
        return self.default is None and not self.optional and not self.derived


# -- validators: each returns the normalised value or raises ------------------


def _type_name(value: Any) -> str:
    return type(value).__name__


def int_in(lo: int | Callable[[Limits], int], hi: int | Callable[[Limits], int]) -> Validator:
    def check(name: str, value: Any, limits: Limits) -> int:
        if type(value) is not int:
            raise BadField(f"{name} must be an integer, not {_type_name(value)}")
        low = lo(limits) if callable(lo) else lo
        high = hi(limits) if callable(hi) else hi
        if not low <= value <= high:
            raise OutOfRange(f"{name} must be between {low} and {high}, got {value}")
        return value

    _DESCRIBED[check] = {"type": "int", "min": lo, "max": hi}
    return check


def float_in(lo: float, hi: float) -> Validator:
    def check(name: str, value: Any, limits: Limits) -> float:
        if type(value) not in (int, float):
            raise BadField(f"{name} must be a number, not {_type_name(value)}")
        # Compare before float(): float() of a huge int raises OverflowError.
        if not lo <= value <= hi:  # also rejects NaN
            raise OutOfRange(f"{name} must be between {lo} and {hi}, got {value}")
        return float(value)

    _DESCRIBED[check] = {"type": "number", "min": lo, "max": hi}
    return check


def boolean(name: str, value: Any, limits: Limits) -> bool:
    if type(value) is not bool:
        raise BadField(f"{name} must be true or false, not {_type_name(value)}")
    return value


def text(name: str, value: Any, limits: Limits) -> str:
    if type(value) is not str:
        raise BadField(f"{name} must be a string, not {_type_name(value)}")
    if len(value) > limits.max_name_len:
        raise TooLarge(f"{name} is longer than {limits.max_name_len} characters")
    return value


def one_of(*choices: Any) -> Validator:
    types = {type(c) for c in choices}

    def check(name: str, value: Any, limits: Limits) -> Any:
        if type(value) not in types:  # wrong type is bad_field, as everywhere else
            raise BadField(f"{name} must be one of {', '.join(map(str, choices))}")
        if value not in choices:
            raise OutOfRange(f"{name} must be one of {', '.join(map(str, choices))}")
        return value

    _DESCRIBED[check] = {"type": "choice", "choices": list(choices)}
    return check


def reference(name: str, value: Any, limits: Limits) -> str:
    return check_id(value, limits, name)


def color(name: str, value: Any, limits: Limits) -> str:
    """A colour as ``#rrggbb`` (lower-case hex, as an ``<input type=color>`` gives it)."""
    if type(value) is not str:
        raise BadField(f"{name} must be a colour string like '#4f8cff', not {_type_name(value)}")
    if not _COLOR_RE.fullmatch(value):
        raise OutOfRange(f"{name} must look like '#4f8cff' (six lower-case hex digits)")
    return value


def optional(check: Validator) -> Validator:
    """`check`, or None (the field is unset)."""

    def maybe(name: str, value: Any, limits: Limits) -> Any:
        return None if value is None else check(name, value, limits)

    _OPTIONAL[maybe] = check
    return maybe


_OPTIONAL: dict[Validator, Validator] = {}


def check_id(value: Any, limits: Limits = DEFAULT_LIMITS, name: str = "id") -> str:
    """An entity id: 1..max_id_len characters of ``[A-Za-z0-9_.:-]``."""
    if type(value) is not str:
        raise BadField(f"{name} must be a string id, not {_type_name(value)}")
    if not value or len(value) > limits.max_id_len:
        raise OutOfRange(f"{name} must be 1 to {limits.max_id_len} characters")
    if not ID_RE.fullmatch(value):  # match() lets a trailing newline through
        raise BadField(f"{name} may only hold letters, digits and _ . : -")
    return value


def _max_tick(lim: Limits) -> int:
    return lim.max_tick


def _max_steps(lim: Limits) -> int:
    return lim.max_steps


# The ranges inside structured fields, built once (each validator is also described
# for other clients, see `described.describe_schemas`).
MIDI_NUMBER = int_in(0, 127)  # a pitch, a program, a drum sound
STEP_VELOCITY = int_in(0, 127)  # a step of a drum lane: 0 is off
METER_NUMERATOR = int_in(1, 32)
METER_DENOMINATOR = one_of(*METER_DENOMINATORS)
TICK = int_in(0, _max_tick)  # a position on the timeline
BEAT = float_in(0.0, 1e9)  # a transport position in beats
TIME_US = int_in(0, 2**62)  # a server time in µs


def meter(name: str, value: Any, limits: Limits) -> list[int]:
    if type(value) is not list or len(value) != 2:
        raise BadField(f"{name} must be [numerator, denominator]")
    num = METER_NUMERATOR(f"{name} numerator", value[0], limits)
    den = METER_DENOMINATOR(f"{name} denominator", value[1], limits)
    return [num, den]


def key_signature(name: str, value: Any, limits: Limits) -> str:
    if type(value) is not str:
        raise BadField(f"{name} must be a string like 'C major', not {_type_name(value)}")
    if not _KEY_RE.fullmatch(value):
        raise OutOfRange(f"{name} must look like 'C major', 'F# minor' or 'Bb dorian'")
    return value


def _record(name: str, value: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    if type(value) is not dict:
        raise BadField(f"{name} must be a map with keys {', '.join(keys)}")
    if set(value) != set(keys):
        raise BadField(f"{name} must have exactly the keys {', '.join(keys)}")
    return value


def loop_region(name: str, value: Any, limits: Limits) -> dict[str, Any]:
    rec = _record(name, value, ("start", "end", "on"))
    start = TICK(f"{name}.start", rec["start"], limits)
    end = TICK(f"{name}.end", rec["end"], limits)
    if end <= start:
        raise OutOfRange(f"{name}.end must be after {name}.start")
    return {"start": start, "end": end, "on": boolean(f"{name}.on", rec["on"], limits)}


def transport(name: str, value: Any, limits: Limits) -> dict[str, Any]:
    """Playing flag plus the anchor: `beat` happens at server time `time` (µs); while
    playing, `start` is where this play began (absent in transports logged before it)."""
    keys = ("playing", "beat", "time", "start")
    rec = _record(name, value, keys if type(value) is dict and "start" in value else keys[:3])
    out = {
        "playing": boolean(f"{name}.playing", rec["playing"], limits),
        "beat": BEAT(f"{name}.beat", rec["beat"], limits),
        "time": TIME_US(f"{name}.time", rec["time"], limits),
    }
    if "start" in rec:
        out["start"] = BEAT(f"{name}.start", rec["start"], limits)
    return out


def velocity_or_off(name: str, value: Any, limits: Limits) -> int:
    velocity: int = STEP_VELOCITY(name, value, limits)
    return velocity


def lanes(name: str, value: Any, limits: Limits) -> list[dict[str, Any]]:
    """Lanes of a pattern; the pattern's `length` is checked by the op engine."""
    if type(value) is not list:
        raise BadField(f"{name} must be a list of lanes")
    if len(value) > limits.max_lanes:
        raise TooLarge(f"{name} has more than {limits.max_lanes} lanes")
    out = []
    for i, lane in enumerate(value):
        rec = _record(f"{name}[{i}]", lane, ("sound", "steps"))
        steps = rec["steps"]
        if type(steps) is not list:
            raise BadField(f"{name}[{i}].steps must be a list of velocities")
        if len(steps) > limits.max_steps:
            raise TooLarge(f"{name}[{i}].steps has more than {limits.max_steps} steps")
        out.append(
            {
                "sound": MIDI_NUMBER(f"{name}[{i}].sound", rec["sound"], limits),
                "steps": [velocity_or_off(f"{name}[{i}].steps", s, limits) for s in steps],
            }
        )
    return out


# -- schemas -------------------------------------------------------------------

DEFAULT_TRANSPORT = {"playing": False, "beat": 0.0, "time": 0}

PROJECT_SCHEMA: dict[str, FieldSpec] = {
    "name": FieldSpec(text, "Untitled"),
    "tempo": FieldSpec(float_in(20.0, 999.0), 120.0),
    "meter": FieldSpec(meter, [4, 4]),
    "swing": FieldSpec(float_in(0.0, 1.0), 0.0),
    "key": FieldSpec(key_signature, "C major"),
    "loop": FieldSpec(loop_region, {"start": 0, "end": 4 * 4 * PPQ, "on": False}),
    "transport": FieldSpec(transport, DEFAULT_TRANSPORT),
}


def _mixer_fields(params: tuple[Param, ...]) -> dict[str, FieldSpec]:
    """The mixer's parameters (``protocol/mixer.py``) as fields: a number or a switch."""
    return {
        p.name: FieldSpec(boolean if p.lo is None else float_in(p.lo, p.hi or 0.0), p.default)
        for p in params
    }


PROJECT_SCHEMA.update(_mixer_fields(PROJECT_PARAMS))

DEFAULT_TRACK_COLOR = "#4f8cff"
DEFAULT_SECTION_COLOR = "#8a93a6"

SCHEMAS: dict[str, dict[str, FieldSpec]] = {
    "track": {
        "name": FieldSpec(text, "Track"),
        "kind": FieldSpec(one_of(*TRACK_KINDS), "instrument"),
        "color": FieldSpec(color, DEFAULT_TRACK_COLOR),
        "instrument": FieldSpec(int_in(0, 127), 0),
        "volume": FieldSpec(float_in(0.0, 2.0), 1.0),
        "pan": FieldSpec(float_in(-1.0, 1.0), 0.0),
        "mute": FieldSpec(boolean, False),
        "solo": FieldSpec(boolean, False),
        **_mixer_fields(TRACK_PARAMS),
    },
    "pattern": {
        "track": FieldSpec(reference, ref="track"),
        "name": FieldSpec(text, "Pattern"),
        "length": FieldSpec(int_in(1, _max_steps), 16),
        "steps_per_beat": FieldSpec(int_in(1, 16), 4),
        "lanes": FieldSpec(lanes, []),
    },
    "note": {
        "track": FieldSpec(reference, ref="track"),
        # a notes clip the note belongs to (then `start` counts from the clip's start),
        # or None: a free note, at `start` from bar 1
        "clip": FieldSpec(optional(reference), ref="clip", optional=True),
        "pitch": FieldSpec(int_in(0, 127)),
        "start": FieldSpec(int_in(0, _max_tick)),
        "dur": FieldSpec(int_in(1, _max_tick), PPQ // 4),
        "vel": FieldSpec(int_in(1, 127), 100),
    },
    # A clip places a pattern on its track's timeline (repeating it for `length`), or,
    # with no pattern, is a region of notes (the notes whose `clip` it is).
    "clip": {
        "track": FieldSpec(reference, ref="track"),
        "pattern": FieldSpec(optional(reference), ref="pattern", optional=True),
        "start": FieldSpec(int_in(0, _max_tick)),
        "length": FieldSpec(int_in(1, _max_tick), derived=True),  # a pattern's own length
    },
    # A chord of the chord track: a span of the timeline (chords never overlap) with a root,
    # a quality, an inversion and an optional slash bass (protocol/harmony.py spells them).
    "chord": {
        "start": FieldSpec(int_in(0, _max_tick)),
        "length": FieldSpec(int_in(1, _max_tick), 4 * PPQ),
        "root": FieldSpec(one_of(*NOTE_NAMES), "C"),
        "quality": FieldSpec(one_of(*QUALITIES), "maj"),
        "inversion": FieldSpec(int_in(0, 4), 0),
        "bass": FieldSpec(optional(one_of(*NOTE_NAMES)), optional=True),
    },
    # A song section (intro, verse, chorus…): a named, coloured span of the timeline.
    # Sections never overlap, so their starts order them.
    "section": {
        "name": FieldSpec(text, "Section"),
        "color": FieldSpec(color, DEFAULT_SECTION_COLOR),
        "start": FieldSpec(int_in(0, _max_tick)),
        "length": FieldSpec(int_in(1, _max_tick), 4 * 4 * PPQ),
    },
}
SCHEMAS["project"] = PROJECT_SCHEMA


def default_project() -> dict[str, Any]:
    return {name: _copy(spec.default) for name, spec in PROJECT_SCHEMA.items()}


def _copy(value: Any) -> Any:
    """Deep copy of plain data (dicts, lists, scalars); much faster than copy.deepcopy."""
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) for v in value]
    return value


copy_value = _copy


class Document:
    """One project. Mutate only through `backline.protocol.ops.apply`.

    Besides the tables it keeps two derived indexes, rebuilt by `from_data`, so
    the op engine's checks stay O(log n) however big a project grows:
    `spans` (per track, and for sections) sorted ``(start, id)`` pairs, to find
    an overlap from the neighbours alone; `clip_notes`, a notes clip's notes.
    """

    __slots__ = (
        "chords",
        "clip_notes",
        "clips",
        "kind_of",
        "limits",
        "notes",
        "patterns",
        "project",
        "sections",
        "spans",
        "track_order",
        "tracks",
    )

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.project: dict[str, Any] = default_project()
        self.tracks: dict[str, dict[str, Any]] = {}
        self.track_order: list[str] = []
        self.patterns: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, dict[str, Any]] = {}
        self.clips: dict[str, dict[str, Any]] = {}
        self.sections: dict[str, dict[str, Any]] = {}
        self.chords: dict[str, dict[str, Any]] = {}
        self.kind_of: dict[str, str] = {}  # entity id -> kind, for every entity
        # track id (or SECTIONS) -> sorted [(start, id)] of its clips (of the sections)
        self.spans: dict[str, list[tuple[int, str]]] = {}
        self.clip_notes: dict[str, set[str]] = {}  # notes clip id -> its notes' ids

    def table(self, kind: str) -> dict[str, dict[str, Any]]:
        tables: dict[str, dict[str, dict[str, Any]]] = {
            "track": self.tracks,
            "pattern": self.patterns,
            "note": self.notes,
            "clip": self.clips,
            "section": self.sections,
            "chord": self.chords,
        }
        return tables[kind]

    def get(self, entity_id: str) -> dict[str, Any] | None:
        """The entity's fields (including `id`), the project for ``"project"``."""
        if entity_id == PROJECT_ID:
            return self.project
        kind = self.kind_of.get(entity_id)
        return None if kind is None else self.table(kind)[entity_id]

    def count(self, kind: str) -> int:
        return len(self.table(kind))

    def ordered_sections(self) -> list[dict[str, Any]]:
        """The song's sections in timeline order."""
        return [self.sections[i] for _, i in self.spans.get(SECTIONS, [])]

    def ordered_chords(self) -> list[dict[str, Any]]:
        """The chord track in timeline order."""
        return [self.chords[i] for _, i in self.spans.get(CHORDS, [])]

    # -- the derived indexes (kept by the op engine) ----------------------------

    def index(self, kind: str, entity: dict[str, Any]) -> None:
        """Add `entity` (just stored in its table) to the indexes."""
        if kind in SPAN_KINDS:
            self.add_span(span_key(kind, entity), entity)
            if kind == "clip" and entity["pattern"] is None:
                self.clip_notes.setdefault(entity["id"], set())
        elif kind == "note" and entity["clip"] is not None:
            self.clip_notes.setdefault(entity["clip"], set()).add(entity["id"])

    def unindex(self, kind: str, entity: dict[str, Any]) -> None:
        """Take `entity` (still as stored) out of the indexes."""
        if kind in SPAN_KINDS:
            self.remove_span(span_key(kind, entity), entity)
            if kind == "clip":
                self.clip_notes.pop(entity["id"], None)
        elif kind == "note" and entity["clip"] is not None:
            notes = self.clip_notes.get(entity["clip"])
            if notes is not None:
                notes.discard(entity["id"])

    def add_span(self, key: str, entity: dict[str, Any]) -> None:
        bisect.insort(self.spans.setdefault(key, []), (entity["start"], entity["id"]))

    def remove_span(self, key: str, entity: dict[str, Any]) -> None:
        spans = self.spans[key]
        del spans[bisect.bisect_left(spans, (entity["start"], entity["id"]))]
        if not spans:
            del self.spans[key]

    def overlapping(self, key: str, start: int, length: int, own_id: str) -> str | None:
        """The id of a span under `key` (a track's clips, or SECTIONS) that overlaps
        ``[start, start + length)``, other than `own_id`'s; None when there is none.

        Spans under a key never overlap, so only the neighbours need a look.
        """
        spans = self.spans.get(key)
        if not spans:
            return None
        table = {SECTIONS: self.sections, CHORDS: self.chords}.get(key, self.clips)
        i = bisect.bisect_left(spans, (start, ""))
        before = i - 1
        if before >= 0 and spans[before][1] == own_id:
            before -= 1
        if before >= 0:
            other = table[spans[before][1]]
            if other["start"] + other["length"] > start:
                return str(other["id"])
        after = i
        if after < len(spans) and spans[after][1] == own_id:
            after += 1
        if after < len(spans) and spans[after][0] < start + length:
            return spans[after][1]
        return None

    # -- canonical form -------------------------------------------------------

    def to_data(self) -> dict[str, Any]:
        """Plain data with a canonical order: tracks in track order, others by id."""

        def sorted_table(table: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
            return [_sorted_fields(table[i]) for i in sorted(table)]

        return {
            "project": _sorted_fields(self.project),
            "tracks": [_sorted_fields(self.tracks[i]) for i in self.track_order],
            "patterns": sorted_table(self.patterns),
            "notes": sorted_table(self.notes),
            "clips": sorted_table(self.clips),
            "sections": sorted_table(self.sections),
            "chords": sorted_table(self.chords),
        }

    @classmethod
    def from_data(
        cls, data: dict[str, Any], limits: Limits = DEFAULT_LIMITS, *, owned: bool = False
    ) -> Document:
        """Rebuild from `to_data()` output (trusted: snapshots from the server or store).

        A snapshot written before a field or kind existed gets its default (an
        optional field: None), so old stores open as current documents. With
        `owned` (data just decoded, nobody else holds it) its maps become the
        document's own instead of being copied: a 20,000-note snapshot opens in
        a third of the time (a history rebuild, a session load).
        """
        doc = cls(limits)
        upgrade = _upgraded_in_place if owned else _upgraded
        doc.project = upgrade(PROJECT_SCHEMA, data["project"])
        for kind in KINDS:
            table = doc.table(kind)
            schema = SCHEMAS[kind]
            for entity in data.get(TABLE_NAMES[kind], ()):
                ent = upgrade(schema, entity)
                table[ent["id"]] = ent
                doc.kind_of[ent["id"]] = kind
        for kind in ("clip", "section", "chord", "note"):  # clips before the notes they hold
            for ent in doc.table(kind).values():
                doc.index(kind, ent)
        doc.track_order = [t["id"] for t in data["tracks"]]
        return doc

    def copy(self) -> Document:
        return Document.from_data(self.to_data(), self.limits, owned=True)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Document) and self.to_data() == other.to_data()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"<Document tracks={len(self.tracks)} patterns={len(self.patterns)} "
            f"notes={len(self.notes)} clips={len(self.clips)} sections={len(self.sections)} "
            f"chords={len(self.chords)}>"
        )


SECTIONS = "#sections"  # the key of the sections' spans (not a valid entity id)
CHORDS = "#chords"  # the key of the chord track's spans
SPAN_KINDS = ("clip", "section", "chord")  # kinds that are spans that never overlap


def span_key(kind: str, entity: dict[str, Any]) -> str:
    """Where an entity's span lives: a clip on its track, sections and chords each on their
    own lane."""
    if kind == "clip":
        return str(entity["track"])
    return SECTIONS if kind == "section" else CHORDS


TABLE_NAMES = {kind: f"{kind}s" for kind in KINDS}  # the snapshot's key of each kind


def _upgraded(schema: dict[str, FieldSpec], entity: dict[str, Any]) -> dict[str, Any]:
    ent: dict[str, Any] = _copy(entity)
    for name, spec in schema.items():
        if name not in ent and (spec.default is not None or spec.optional):
            ent[name] = _copy(spec.default)
    return ent


def _upgraded_in_place(schema: dict[str, FieldSpec], entity: dict[str, Any]) -> dict[str, Any]:
    if len(entity) <= len(schema):  # every field and the id: nothing is missing
        for name, spec in schema.items():
            if name not in entity and (spec.default is not None or spec.optional):
                entity[name] = _copy(spec.default)
    return entity


def _sorted_fields(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: _copy(entity[k]) for k in sorted(entity)}
