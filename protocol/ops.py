"""The op engine: validate an edit, apply it, return the edit that undoes it.

Ops are plain maps, exactly as they travel on the wire::

    {"op": "set", "id": ID, "field": F, "value": V}            # last writer wins
    {"op": "set", "id": PATTERN, "field": "steps", "at": [lane, step], "value": VEL}
    {"op": "insert", "kind": K, "id": ID, "value": {...}, "index": N?}
    {"op": "delete", "id": ID}                                  # cascades
    {"op": "move", "id": TRACK, "index": N}
    {"op": "batch", "ops": [...]}                               # atomic

`apply(doc, op)` either raises a `BacklineError` and leaves `doc` exactly as it
was, or mutates `doc` and returns the inverse op. Inverses are never nested
batches, so applying an inverse is just another `apply`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import (
    BacklineError,
    BadField,
    Conflict,
    LimitExceeded,
    NotFound,
    OutOfRange,
    Overlap,
)
from .harmony import QUALITIES
from .model import (
    CHORDS,
    KINDS,
    PPQ,
    PROJECT_ID,
    SCHEMAS,
    SECTIONS,
    Document,
    FieldSpec,
    check_id,
    copy_value,
    span_key,
)

__all__ = ["OP_TYPES", "Op", "apply", "apply_all"]

Op = dict[str, Any]
OP_TYPES = ("set", "insert", "delete", "move", "batch")

OP_KEYS = {
    "set": ({"op", "id", "field", "value"}, {"at"}),
    "insert": ({"op", "kind", "id", "value"}, {"index"}),
    "delete": ({"op", "id"}, set()),
    "move": ({"op", "id", "index"}, set()),
    "batch": ({"op", "ops"}, set()),
}


def apply(doc: Document, op: Any) -> Op:
    """Validate and apply one op; return its inverse. Raises without changing `doc`."""
    return _APPLY[_check_shape(op)](doc, op)


def apply_all(doc: Document, ops: list[Any]) -> Op:
    """Apply a list of ops atomically (one batch); return the inverse batch."""
    return _batch(doc, ops)


def _check_shape(op: Any) -> str:
    if type(op) is not dict:
        raise BadField("an op must be a map")
    kind = op.get("op")
    if type(kind) is not str:
        raise BadField("an op needs a string 'op' key")
    shape = OP_KEYS.get(kind)
    if shape is None:
        raise BadField(f"unknown op {kind[:32]!r}; expected one of {', '.join(OP_TYPES)}")
    required, optional = shape
    keys = op.keys()
    if not required <= keys:
        missing = ", ".join(sorted(required - keys))
        raise BadField(f"{kind} op is missing {missing}")
    extra = keys - required - optional
    if extra:
        raise BadField(f"{kind} op has unknown key(s) {', '.join(sorted(map(str, extra)))}")
    return kind


# -- set -----------------------------------------------------------------------


def _entity(doc: Document, raw_id: Any) -> tuple[str, str, dict[str, Any]]:
    if raw_id == PROJECT_ID:
        return PROJECT_ID, "project", doc.project
    eid = check_id(raw_id, doc.limits)
    kind = doc.kind_of.get(eid)
    if kind is None:
        raise NotFound(f"no entity with id {eid!r}")
    return eid, kind, doc.table(kind)[eid]


def _spec(kind: str, field: Any) -> FieldSpec:
    if type(field) is not str:
        raise BadField("field must be a string")
    spec = SCHEMAS[kind].get(field)
    if spec is None:
        raise BadField(f"{kind} has no field {field[:32]!r}")
    return spec


def _check_ref(doc: Document, spec: FieldSpec, field: str, value: str | None) -> None:
    if spec.ref is not None and value is not None and doc.kind_of.get(value) != spec.ref:
        raise NotFound(f"{field} refers to {value!r}, which is not an existing {spec.ref}")


# -- relations between entities ----------------------------------------------------
#
# Checked on the entity as it would be after an insert or a set (`new`), before
# anything changes: a clip's pattern is on the clip's track, a note belongs only to
# a notes clip of its own track, clips on a track and sections never overlap.


def _check_relations(doc: Document, kind: str, new: dict[str, Any]) -> None:
    if kind == "clip":
        pattern_id = new["pattern"]
        if pattern_id is not None:
            owner = doc.patterns[pattern_id]["track"]
            if owner != new["track"]:
                raise BadField(
                    f"clip's pattern {pattern_id!r} belongs to track {owner!r},"
                    f" not {new['track']!r}"
                )
        _check_span(doc, "clip", new["track"], new)
    elif kind == "section":
        _check_span(doc, "section", SECTIONS, new)
    elif kind == "chord":
        _check_span(doc, "chord", CHORDS, new)
        tones = len(QUALITIES[new["quality"]][1])
        if new["inversion"] >= tones:
            raise OutOfRange(f"a {new['quality']} chord has inversions 0 to {tones - 1}")
    elif kind == "note" and new["clip"] is not None:
        clip = doc.clips[new["clip"]]
        if clip["pattern"] is not None:
            raise BadField(f"a note can only be in a notes clip; {clip['id']!r} places a pattern")
        if clip["track"] != new["track"]:
            raise BadField(
                f"note is on track {new['track']!r} but its clip {clip['id']!r}"
                f" is on {clip['track']!r}"
            )


def _check_span(doc: Document, kind: str, key: str, new: dict[str, Any]) -> None:
    end = new["start"] + new["length"]
    if end > doc.limits.max_tick:
        raise OutOfRange(f"{kind} ends at tick {end}, after the last tick {doc.limits.max_tick}")
    other = doc.overlapping(key, new["start"], new["length"], new["id"])
    if other is not None:
        where = {"section": "another section", "chord": "another chord"}.get(
            kind, "another clip on its track"
        )
        raise Overlap(f"{kind} [{new['start']}, {end}) overlaps {where}, {other!r}")


def _set(doc: Document, op: Op) -> Op:
    eid, kind, entity = _entity(doc, op["id"])
    field = op["field"]
    if "at" in op:
        return _set_step(doc, eid, kind, entity, field, op["at"], op["value"])
    spec = _spec(kind, field)
    value = spec.check(field, op["value"], doc.limits)
    _check_ref(doc, spec, field, value)
    old = entity[field]
    if kind in ("clip", "section", "chord", "note"):
        if kind == "clip" and field == "pattern" and (old is None) != (value is None):
            raise BadField("a clip stays what it was made as: a pattern clip or a notes clip")
        _check_relations(doc, kind, {**entity, field: value})
        if kind == "clip" and field == "track":  # a notes clip takes its notes along
            for note_id in doc.clip_notes.get(eid, ()):
                doc.notes[note_id]["track"] = value
        doc.unindex(kind, entity) if kind == "note" else _unspan(doc, kind, entity)
        entity[field] = value
        doc.index(kind, entity) if kind == "note" else _respan(doc, kind, entity)
        return {"op": "set", "id": eid, "field": field, "value": old}
    if kind == "pattern" and field == "track" and value != old:
        return _move_pattern(doc, eid, entity, value)
    if kind == "pattern":
        if field == "lanes":
            _check_lane_lengths(value, entity["length"])
        elif field == "length" and entity["lanes"]:
            old_lanes = entity["lanes"]
            entity["lanes"] = [
                {"sound": lane["sound"], "steps": _resize(lane["steps"], value)}
                for lane in old_lanes
            ]
            entity[field] = value
            return _batch_op(
                [
                    {"op": "set", "id": eid, "field": "length", "value": old},
                    {"op": "set", "id": eid, "field": "lanes", "value": old_lanes},
                ]
            )
    entity[field] = value
    return {"op": "set", "id": eid, "field": field, "value": old}


def _move_pattern(doc: Document, eid: str, pattern: dict[str, Any], track: str) -> Op:
    """A pattern moved to another track takes its clips along (refused if one would
    overlap a clip already there)."""
    clips = [c for c in doc.clips.values() if c["pattern"] == eid]
    for clip in clips:
        other = doc.overlapping(track, clip["start"], clip["length"], clip["id"])
        if other is not None:
            raise Overlap(
                f"pattern's clip {clip['id']!r} would overlap clip {other!r} on {track!r}"
            )
    old = pattern["track"]
    for clip in clips:
        doc.remove_span(clip["track"], clip)
        clip["track"] = track
        doc.add_span(track, clip)
    pattern["track"] = track
    return {"op": "set", "id": eid, "field": "track", "value": old}


def _unspan(doc: Document, kind: str, entity: dict[str, Any]) -> None:
    doc.remove_span(span_key(kind, entity), entity)


def _respan(doc: Document, kind: str, entity: dict[str, Any]) -> None:
    doc.add_span(span_key(kind, entity), entity)


def _set_step(
    doc: Document, eid: str, kind: str, entity: dict[str, Any], field: str, at: Any, value: Any
) -> Op:
    if kind != "pattern" or field != "steps":
        raise BadField("'at' is only allowed when setting a pattern's steps")
    if type(at) is not list or len(at) != 2 or any(type(i) is not int for i in at):
        raise BadField("at must be [lane, step] integers")
    lane, step = at
    if not 0 <= lane < len(entity["lanes"]):
        raise OutOfRange(f"lane {lane} does not exist (pattern has {len(entity['lanes'])} lanes)")
    if not 0 <= step < entity["length"]:
        raise OutOfRange(f"step {step} is outside the pattern's {entity['length']} steps")
    if type(value) is not int:
        raise BadField("a step's value must be an integer velocity (0 = off)")
    if not 0 <= value <= 127:
        raise OutOfRange(f"a step's velocity must be between 0 and 127, got {value}")
    steps = entity["lanes"][lane]["steps"]
    old = steps[step]
    steps[step] = value
    return {"op": "set", "id": eid, "field": "steps", "at": [lane, step], "value": old}


def _resize(steps: list[int], length: int) -> list[int]:
    return steps[:length] + [0] * (length - len(steps))


def _check_lane_lengths(lanes: list[dict[str, Any]], length: int) -> None:
    for i, lane in enumerate(lanes):
        if len(lane["steps"]) != length:
            raise OutOfRange(f"lanes[{i}] has {len(lane['steps'])} steps; the pattern has {length}")


# -- insert --------------------------------------------------------------------


def _insert(doc: Document, op: Op) -> Op:
    kind = op["kind"]
    if kind not in KINDS:
        raise BadField(f"kind must be one of {', '.join(KINDS)}")
    eid = check_id(op["id"], doc.limits)
    if eid == PROJECT_ID or eid in doc.kind_of:
        raise Conflict(f"an entity with id {eid!r} already exists")
    limit = getattr(doc.limits, f"max_{kind}s")
    if doc.count(kind) >= limit:
        raise LimitExceeded(f"a project holds at most {limit} {kind}s")
    given = op["value"]
    if type(given) is not dict:
        raise BadField("insert value must be a map of fields")
    schema = SCHEMAS[kind]
    unknown = [k for k in given if k not in schema]
    if unknown:
        raise BadField(f"{kind} has no field {str(unknown[0])[:32]!r}")
    entity: dict[str, Any] = {"id": eid}
    for name, spec in schema.items():
        if name in given:
            value = spec.check(name, given[name], doc.limits)
            _check_ref(doc, spec, name, value)
            entity[name] = value
        elif spec.default is not None or spec.optional:
            entity[name] = copy_value(spec.default)
        elif kind == "clip" and name == "length":  # derived: one pass of its pattern
            if entity["pattern"] is None:
                raise BadField("a notes clip needs a length (it has no pattern to take it from)")
            pattern = doc.patterns[entity["pattern"]]
            entity[name] = max(1, pattern["length"] * PPQ // pattern["steps_per_beat"])
        else:
            raise BadField(f"{kind} needs a {name}")
    if kind == "pattern":
        _check_lane_lengths(entity["lanes"], entity["length"])
    _check_relations(doc, kind, entity)
    index = op.get("index")
    if index is not None:
        if kind != "track":
            raise BadField("index is only allowed when inserting a track")
        if type(index) is not int:
            raise BadField("index must be an integer")
        if not 0 <= index <= len(doc.track_order):
            raise OutOfRange(f"index must be between 0 and {len(doc.track_order)}")
    doc.table(kind)[eid] = entity
    doc.kind_of[eid] = kind
    doc.index(kind, entity)
    if kind == "track":
        doc.track_order.insert(len(doc.track_order) if index is None else index, eid)
    return {"op": "delete", "id": eid}


# -- delete --------------------------------------------------------------------


def _reinsert(doc: Document, kind: str, entity: dict[str, Any]) -> Op:
    value = {k: v for k, v in entity.items() if k != "id"}
    op: Op = {"op": "insert", "kind": kind, "id": entity["id"], "value": value}
    if kind == "track":
        op["index"] = doc.track_order.index(entity["id"])
    return op


def _delete(doc: Document, op: Op) -> Op:
    eid, kind, entity = _entity(doc, op["id"])
    if kind == "project":
        raise BadField("the project itself cannot be deleted")
    doomed: list[tuple[str, dict[str, Any]]] = [(kind, entity)]
    if kind == "track":
        patterns = [p for p in doc.patterns.values() if p["track"] == eid]
        pattern_ids = {p["id"] for p in patterns}
        doomed += [("pattern", p) for p in patterns]
        doomed += [
            ("clip", c)
            for c in doc.clips.values()
            if c["track"] == eid or c["pattern"] in pattern_ids
        ]
        doomed += [("note", n) for n in doc.notes.values() if n["track"] == eid]
    elif kind == "pattern":
        doomed += [("clip", c) for c in doc.clips.values() if c["pattern"] == eid]
    elif kind == "clip":  # a notes clip's notes go with it
        doomed += [("note", doc.notes[n]) for n in sorted(doc.clip_notes.get(eid, ()))]
    inverses = [_reinsert(doc, k, e) for k, e in doomed]
    for k, e in reversed(doomed):  # notes before their clip leave the indexes
        doc.unindex(k, e)
        del doc.table(k)[e["id"]]
        del doc.kind_of[e["id"]]
    if kind == "track":
        doc.track_order.remove(eid)
    return inverses[0] if len(inverses) == 1 else _batch_op(inverses)


# -- move ----------------------------------------------------------------------


def _move(doc: Document, op: Op) -> Op:
    eid, kind, _ = _entity(doc, op["id"])
    if kind != "track":
        raise BadField("only tracks can be moved")
    index = op["index"]
    if type(index) is not int:
        raise BadField("index must be an integer")
    if not 0 <= index < len(doc.track_order):
        raise OutOfRange(f"index must be between 0 and {len(doc.track_order) - 1}")
    old = doc.track_order.index(eid)
    doc.track_order.pop(old)
    doc.track_order.insert(index, eid)
    return {"op": "move", "id": eid, "index": old}


# -- batch ---------------------------------------------------------------------


def _batch_op(ops: list[Op]) -> Op:
    return {"op": "batch", "ops": ops}


def _batch(doc: Document, ops: Any) -> Op:
    if type(ops) is not list:
        raise BadField("ops must be a list")
    if not ops:
        raise BadField("a batch needs at least one op")
    inverses: list[Op] = []
    try:
        for i, op in enumerate(ops):
            if type(op) is dict and op.get("op") == "batch":
                raise BadField("batches cannot be nested")
            try:
                inverse = apply(doc, op)
            except BacklineError as exc:
                raise type(exc)(f"ops[{i}]: {exc.message}") from None
            if inverse["op"] == "batch":
                inverses.extend(reversed(inverse["ops"]))
            else:
                inverses.append(inverse)
    except BacklineError:
        for inverse in reversed(inverses):
            apply(doc, inverse)
        raise
    inverses.reverse()
    return inverses[0] if len(inverses) == 1 else _batch_op(inverses)


_APPLY: dict[str, Callable[[Document, Any], Op]] = {  # one per OP_TYPES
    "set": _set,
    "insert": _insert,
    "delete": _delete,
    "move": _move,
    "batch": lambda doc, op: _batch(doc, op["ops"]),
}
