"""A session's past as data: what changed between two projects, and the edit that undoes the difference.

Pure and deterministic (no I/O): the sequencer uses `restore_ops` to turn a
*restore* entry (the project as it was at some version, or an imported JSON
project) into one forward batch, at the moment the entry is decided, so every
process computes the same ops from the same log. The history service and the
browser's history panel use `changes` to show what two versions differ in.

The transport (playing, where) is never part of a restore: bringing back an old
arrangement must not stop or move everyone's playback.
"""

from __future__ import annotations

from typing import Any

from .errors import BacklineError, BadField, BadImport, Internal
from .limits import DEFAULT_LIMITS, Limits
from .model import KINDS, PROJECT_ID, PROJECT_SCHEMA, TABLE_NAMES, Document
from .ops import Op, apply

__all__ = [
    "CREATION_ORDER",
    "changes",
    "project_from_data",
    "restore_ops",
    "summary",
    "touched",
]

CREATION_ORDER = ("track", "pattern", "clip", "note", "section", "chord")
"""Kinds in an order where every reference points at something already made."""
_DELETION_ORDER = ("note", "chord", "section", "clip", "pattern", "track")

# Fields a set may change in place. Anything else differing (where a span sits, what
# a note or clip belongs to, a pattern's grid, a chord's quality and inversion, whose
# checks depend on each other) is deleted and inserted again: never a transient
# overlap or a half-changed relation in between.
_SETTABLE = {  # a track may change every field but its kind in place
    "pattern": frozenset({"name", "lanes"}),
    "note": frozenset({"pitch", "vel"}),
    "section": frozenset({"name", "color"}),
    "clip": frozenset(),
    "chord": frozenset(),
}
_NOT_RESTORED = frozenset({"transport"})  # project fields a restore leaves as they are


def _settable(kind: str, field: str) -> bool:
    if kind == "track":
        return field != "kind"
    return field in _SETTABLE[kind]


def _differs(kind: str, old: dict[str, Any], new: dict[str, Any]) -> tuple[bool, list[str]]:
    """Whether an entity must be made again, else the fields to set."""
    fields = sorted(k for k in new.keys() | old.keys() if k != "id" and old.get(k) != new.get(k))
    if any(not _settable(kind, f) for f in fields):
        return True, []
    return False, fields


def restore_ops(doc: Document, target: Document) -> list[Op]:
    """The ops that make `doc` equal to `target` (its transport aside), in an order that
    applies cleanly; [] when they are equal already. `doc` is left unchanged."""
    scratch = doc.copy()
    ops: list[Op] = []

    def do(op: Op) -> None:
        apply(scratch, op)
        ops.append(op)

    # 1. what the target lacks, and what must be made again, leaves (children first;
    #    a delete cascades, so what went with its parent is skipped)
    remake: set[str] = set()
    for kind in _DELETION_ORDER:
        table, wanted = doc.table(kind), target.table(kind)
        for eid in sorted(table):
            new = wanted.get(eid)
            if new is not None and not _differs(kind, table[eid], new)[0]:
                continue
            remake.add(eid)
            if eid in scratch.kind_of:
                do({"op": "delete", "id": eid})
    # 2. the project's own fields
    for field in sorted(PROJECT_SCHEMA):
        if field in _NOT_RESTORED:
            continue
        if scratch.project.get(field) != target.project.get(field):
            do({"op": "set", "id": PROJECT_ID, "field": field, "value": target.project[field]})
    # 3. fields of what stays, then what is new (or made again), parents first
    for kind in CREATION_ORDER:
        table, wanted = scratch.table(kind), target.table(kind)
        for eid in sorted(wanted):
            new = wanted[eid]
            old = table.get(eid)
            if old is None:
                value = {k: v for k, v in new.items() if k != "id"}
                do({"op": "insert", "kind": kind, "id": eid, "value": value})
                continue
            _, fields = _differs(kind, old, new)
            for field in fields:
                do({"op": "set", "id": eid, "field": field, "value": new[field]})
    # 4. the tracks' order
    for index, eid in enumerate(target.track_order):
        if scratch.track_order[index] != eid:
            do({"op": "move", "id": eid, "index": index})
    scratch.project["transport"] = target.project["transport"]
    if scratch != target:  # a bug here must cost this restore, not a wrong project
        raise Internal("the restore did not reproduce the version's project")
    return ops


def project_from_data(data: Any, limits: Limits = DEFAULT_LIMITS) -> Document:
    """Check an untrusted project (the JSON the page or `backline state` exports) field by
    field, exactly as edits are checked, and return it; raises `BadImport` naming the
    first problem. Its transport is ignored (a project file never starts playback)."""
    if type(data) is not dict:
        raise BadImport("a project file holds a JSON object with a 'project' key")
    known = {"project", "version", *TABLE_NAMES.values()}
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise BadImport(f"a project file has no key {unknown[0][:32]!r}")
    if type(data.get("project")) is not dict:
        raise BadImport("a project file needs a 'project' object")
    doc = Document(limits)
    try:
        for field, value in sorted(data["project"].items(), key=lambda kv: str(kv[0])):
            if field in _NOT_RESTORED:
                continue
            apply(doc, {"op": "set", "id": PROJECT_ID, "field": field, "value": value})
        for kind in CREATION_ORDER:
            rows = data.get(TABLE_NAMES[kind], [])
            if type(rows) is not list:
                raise BadField(f"{TABLE_NAMES[kind]} must be a list")
            for i, row in enumerate(rows):
                if type(row) is not dict or "id" not in row:
                    raise BadField(f"{TABLE_NAMES[kind]}[{i}] must be an object with an id")
                value = {k: v for k, v in row.items() if k != "id"}
                apply(doc, {"op": "insert", "kind": kind, "id": row["id"], "value": value})
    except BadImport:
        raise
    except BacklineError as exc:
        raise BadImport(f"not a project Backline can import: {exc.message}") from None
    return doc


def touched(op: Op) -> list[tuple[str, bool]]:
    """(entity id, made here) for each entity an accepted op writes (a batch's, in order)."""
    kind = op["op"]
    if kind == "batch":
        out: list[tuple[str, bool]] = []
        for inner in op["ops"]:
            out.extend(touched(inner))
        return out
    if kind == "delete":
        return []
    return [(str(op["id"]), kind == "insert")]


def summary(ops: list[Op]) -> str:
    """A short account of an edit for a timeline: "+3 note, ~1 track, -1 clip"."""
    if len(ops) == 1:  # most edits: one op (the hot path of every accepted batch)
        op = ops[0]
        kind = op.get("op")
        if kind == "insert":
            return f"+1 {op.get('kind')}"
        if kind == "delete":
            return "-1 entity"
        if kind == "move":
            return "~1 track"
        return "~project" if op.get("id") == PROJECT_ID else "~1 entity"
    counts: dict[tuple[str, str], int] = {}
    for op in ops:
        kind = op.get("op")
        if kind == "insert":
            key = ("+", str(op.get("kind")))
        elif kind == "delete":
            key = ("-", "")
        elif kind == "move":
            key = ("~", "track")
        elif op.get("id") == PROJECT_ID:
            key = ("~", "project")
        else:
            key = ("~", "")
        counts[key] = counts.get(key, 0) + 1
    parts = []
    for (sign, what), n in sorted(counts.items()):
        noun = what or ("entity" if n == 1 else "entities")
        parts.append(f"{sign}{n} {noun}" if what != "project" else f"{sign}project")
    return ", ".join(parts)


def changes(before: Document, after: Document) -> list[dict[str, Any]]:
    """What differs between two projects, entity by entity: ``{"id", "kind", "change"
    ("added", "removed", "changed"), "fields"}``, the project first (transport aside)."""
    out: list[dict[str, Any]] = []
    fields = sorted(
        f
        for f in PROJECT_SCHEMA
        if f not in _NOT_RESTORED and before.project.get(f) != after.project.get(f)
    )
    if fields:
        out.append({"id": PROJECT_ID, "kind": "project", "change": "changed", "fields": fields})
    for kind in KINDS:
        old, new = before.table(kind), after.table(kind)
        for eid in sorted(old.keys() | new.keys()):
            a, b = old.get(eid), new.get(eid)
            if a is None:
                out.append({"id": eid, "kind": kind, "change": "added", "fields": []})
            elif b is None:
                out.append({"id": eid, "kind": kind, "change": "removed", "fields": []})
            elif a != b:
                diff = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
                out.append({"id": eid, "kind": kind, "change": "changed", "fields": diff})
    if before.track_order != after.track_order and not any(
        c["kind"] == "track" and c["change"] != "changed" for c in out
    ):
        out.append({"id": PROJECT_ID, "kind": "project", "change": "changed", "fields": ["order"]})
    return out
