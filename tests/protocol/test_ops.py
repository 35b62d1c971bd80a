"""The op engine without any I/O: every op kind, every schema field, limits and inverses."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest

from backline.protocol.codec import encode
from backline.protocol.errors import BacklineError, ErrorCode
from backline.protocol.limits import DEFAULT_LIMITS, Limits
from backline.protocol.mixer import PROJECT_PARAMS, TRACK_PARAMS, Param
from backline.protocol.model import KINDS, PPQ, PROJECT_ID, SCHEMAS, Document
from backline.protocol.ops import OP_TYPES, Op, apply, apply_all

BAD = ErrorCode.BAD_FIELD
RANGE = ErrorCode.OUT_OF_RANGE
LARGE = ErrorCode.TOO_LARGE
MISSING = ErrorCode.NOT_FOUND

MAX_TICK = DEFAULT_LIMITS.max_tick

# -- helpers -------------------------------------------------------------------


def snapshot(doc: Document) -> tuple[dict[str, Any], bytes]:
    """The canonical form and its exact bytes (bytes also catch 1 vs 1.0 vs True)."""
    data = doc.to_data()
    return data, encode(data)


def apply_and_undo(doc: Document, op: Any) -> Op:
    """Apply `op`; check its inverse restores `doc` exactly and redo gets back. Leaves `op` applied."""
    before = snapshot(doc)
    inverse = apply(doc, op)
    after = snapshot(doc)
    assert not _nested(inverse), "inverses are never nested batches"
    redo = apply(doc, inverse)
    assert snapshot(doc) == before
    apply(doc, redo)
    assert snapshot(doc) == after
    return inverse


def _nested(op: Op) -> bool:
    return op["op"] == "batch" and any(o["op"] == "batch" for o in op["ops"])


def rejected(doc: Document, op: Any, code: ErrorCode) -> BacklineError:
    """Apply `op`, expect a refusal with `code`, and check `doc` did not change at all."""
    before = snapshot(doc)
    with pytest.raises(BacklineError) as info:
        apply(doc, op)
    assert info.value.code is code, info.value.message
    assert snapshot(doc) == before
    return info.value


def ins(kind: str, eid: str, /, index: Any = None, **value: Any) -> Op:
    op: Op = {"op": "insert", "kind": kind, "id": eid, "value": value}
    if index is not None:
        op["index"] = index
    return op


def set_(eid: Any, field: Any, value: Any, at: Any = None) -> Op:
    op: Op = {"op": "set", "id": eid, "field": field, "value": value}
    if at is not None:
        op["at"] = at
    return op


def kick(n: int = 16) -> list[int]:
    return [100 if i % 4 == 0 else 0 for i in range(n)]


def build() -> Document:
    """Three tracks; p1 and p3 on t1, a clip of p1 on t1; p2 on t2 with two clips; a free
    note on t1 and t2; a notes clip r1 on t1 holding n3; one section."""
    doc = Document()
    for op in (
        ins("track", "t1", name="Drums", kind="drums"),
        ins("track", "t2", name="Bass"),
        ins("track", "t3"),
        ins(
            "pattern",
            "p1",
            track="t1",
            lanes=[{"sound": 36, "steps": kick()}, {"sound": 38, "steps": [0] * 16}],
        ),
        ins("pattern", "p2", track="t2", length=8, steps_per_beat=2),
        ins("note", "n1", track="t1", pitch=60, start=0),
        ins("note", "n2", track="t2", pitch=64, start=PPQ),
        ins("pattern", "p3", track="t1", length=4),
        ins("clip", "c1", track="t1", pattern="p1", start=0),
        ins("clip", "c2", track="t2", pattern="p2", start=4 * PPQ),
        ins("clip", "c3", track="t2", pattern="p2", start=0),
        ins("clip", "r1", track="t1", start=8 * PPQ, length=4 * PPQ),
        ins("note", "n3", track="t1", clip="r1", pitch=67, start=PPQ),
        ins("section", "s1", name="Intro", start=0, length=16 * PPQ),
        ins("chord", "h1", start=0, length=4 * PPQ, root="A", quality="m7"),
    ):
        apply(doc, op)
    return doc


@pytest.fixture
def doc() -> Document:
    return build()


# Existing entity of each kind in `build()`, and the fields an insert of each kind needs.
TARGET = {
    "project": PROJECT_ID,
    "track": "t1",
    "pattern": "p1",
    "note": "n1",
    "clip": "c1",
    "section": "s1",
    "chord": "h1",
}
REQUIRED: dict[str, dict[str, Any]] = {
    "track": {},
    "pattern": {"track": "t1"},
    "note": {"track": "t1", "pitch": 60, "start": 0},
    "clip": {"track": "t1", "pattern": "p1", "start": 40 * PPQ},
    "section": {"start": 32 * PPQ},
    "chord": {"start": 32 * PPQ},
}


# -- every field of every schema -------------------------------------------------


@dataclass(frozen=True)
class FieldCase:
    valid: tuple[tuple[Any, Any], ...]  # (given, stored)
    wrong_type: tuple[Any, ...]  # -> bad_field
    refused: tuple[tuple[Any, ErrorCode], ...]  # right type, refused with this code
    target: str | None = None  # set on this entity instead of TARGET[kind]
    insert_with: tuple[tuple[str, Any], ...] = ()  # other fields an insert of this case needs


NOT_INT = (1.0, True, "1", None, [1])
NOT_NUMBER = (True, "1", None, [1.0], {"v": 1})
NOT_BOOL = (0, 1, "true", None)
NOT_STR = (5, None, b"name", ["a"])
NOT_ID = (5, None, b"t1", ["t1"], "has space", "semi;colon", "t1\n")
ID_RANGE = (("", RANGE), ("x" * 65, RANGE))


def name_case(stored: str) -> FieldCase:
    return FieldCase(
        valid=((stored, stored), ("", ""), ("x" * 64, "x" * 64)),
        wrong_type=NOT_STR,
        refused=(("x" * 65, LARGE),),
    )


def int_case(lo: int, hi: int, valid: int) -> FieldCase:
    return FieldCase(
        valid=((valid, valid), (lo, lo), (hi, hi)),
        wrong_type=NOT_INT,
        refused=((lo - 1, RANGE), (hi + 1, RANGE)),
    )


def float_case(lo: float, hi: float, valid: float) -> FieldCase:
    return FieldCase(
        # the low end given as an integer where it is one (a msgpack int is a number too)
        valid=(
            (valid, float(valid)),
            (int(lo) if lo == int(lo) else lo, float(lo)),
            (hi, float(hi)),
        ),
        wrong_type=NOT_NUMBER,
        refused=(
            (lo - 0.01, RANGE),
            (hi + 0.01, RANGE),
            (math.nan, RANGE),
            (math.inf, RANGE),
            (10**400, RANGE),
        ),
    )


BOOL_CASE = FieldCase(valid=((True, True),), wrong_type=NOT_BOOL, refused=())


def ref_case(valid: str) -> FieldCase:
    return FieldCase(valid=((valid, valid),), wrong_type=NOT_ID, refused=ID_RANGE)


LANE16 = [{"sound": 42, "steps": [127] * 16}]


def color_case(valid: str) -> FieldCase:
    return FieldCase(
        valid=((valid, valid), ("#000000", "#000000")),
        wrong_type=(5, None, ["#000000"], b"#000000"),
        refused=(
            ("#FFFFFF", RANGE),  # lower-case only: one spelling per colour
            ("red", RANGE),
            ("#fff", RANGE),
            ("#0000000", RANGE),
            ("#00000g", RANGE),
            ("#000000\n", RANGE),
        ),
    )


def span_start_case(valid: int, last: int) -> FieldCase:
    """A clip's or section's start: the span must also end by the last tick."""
    return FieldCase(
        valid=((valid, valid), (last, last)),
        wrong_type=NOT_INT,
        refused=((-1, RANGE), (MAX_TICK + 1, RANGE), (MAX_TICK, RANGE)),
    )


def span_length_case() -> FieldCase:
    return FieldCase(
        valid=((960, 960), (1, 1)),
        wrong_type=NOT_INT,
        refused=((0, RANGE), (MAX_TICK + 1, RANGE)),
    )


FIELD_CASES: dict[tuple[str, str], FieldCase] = {
    ("project", "name"): name_case("Song"),
    ("project", "tempo"): float_case(20.0, 999.0, 90),
    ("project", "meter"): FieldCase(
        valid=(([7, 8], [7, 8]), ([1, 1], [1, 1]), ([32, 32], [32, 32])),
        wrong_type=("4/4", None, [4], [4, 4, 4], (4, 4), [4.0, 4], [True, 4], [4, "4"], [4, 4.0]),
        refused=(([0, 4], RANGE), ([33, 4], RANGE), ([4, 3], RANGE), ([4, 64], RANGE)),
    ),
    ("project", "swing"): float_case(0.0, 1.0, 0.5),
    ("project", "key"): FieldCase(
        valid=(("F# minor", "F# minor"), ("Bb dorian", "Bb dorian"), ("G locrian", "G locrian")),
        wrong_type=(1, None, ["C", "major"]),
        refused=(
            ("H major", RANGE),
            ("C Major", RANGE),
            ("c major", RANGE),
            ("C  major", RANGE),
            ("C major\n", RANGE),
            ("", RANGE),
        ),
    ),
    ("project", "loop"): FieldCase(
        valid=(
            ({"start": 0, "end": PPQ, "on": True}, {"start": 0, "end": PPQ, "on": True}),
            (
                {"on": False, "end": MAX_TICK, "start": 1},
                {"start": 1, "end": MAX_TICK, "on": False},
            ),
        ),
        wrong_type=(
            [0, PPQ, True],
            None,
            {"start": 0, "end": PPQ},
            {"start": 0, "end": PPQ, "on": True, "x": 1},
            {"start": 0, "end": PPQ, "on": 1},
            {"start": 0.0, "end": PPQ, "on": True},
            {"start": 0, "end": "960", "on": True},
        ),
        refused=(
            ({"start": PPQ, "end": PPQ, "on": True}, RANGE),
            ({"start": PPQ, "end": 0, "on": True}, RANGE),
            ({"start": -1, "end": PPQ, "on": True}, RANGE),
            ({"start": 0, "end": MAX_TICK + 1, "on": True}, RANGE),
        ),
    ),
    ("project", "transport"): FieldCase(
        valid=(
            (
                {"playing": True, "beat": 4, "time": 123},
                {"playing": True, "beat": 4.0, "time": 123},
            ),
            (
                {"time": 2**62, "beat": 1e9, "playing": False},
                {"playing": False, "beat": 1e9, "time": 2**62},
            ),
        ),
        wrong_type=(
            None,
            {"playing": True, "beat": 0.0},
            {"playing": 1, "beat": 0.0, "time": 0},
            {"playing": True, "beat": "0", "time": 0},
            {"playing": True, "beat": 0.0, "time": 1.5},
            {"playing": True, "beat": 0.0, "time": 0, "extra": 0},
        ),
        refused=(
            ({"playing": True, "beat": -1, "time": 0}, RANGE),
            ({"playing": True, "beat": 1e10, "time": 0}, RANGE),
            ({"playing": True, "beat": 0, "time": -1}, RANGE),
            ({"playing": True, "beat": 0, "time": 2**62 + 1}, RANGE),
        ),
    ),
    ("track", "name"): name_case("Keys"),
    ("track", "color"): color_case("#00ff88"),
    ("track", "kind"): FieldCase(
        valid=(("audio", "audio"), ("drums", "drums"), ("instrument", "instrument")),
        wrong_type=(3, None, True, ["drums"]),
        refused=(("guitar", RANGE), ("Drums", RANGE), ("", RANGE)),
    ),
    ("track", "instrument"): int_case(0, 127, 42),
    ("track", "volume"): float_case(0.0, 2.0, 1.5),
    ("track", "pan"): float_case(-1.0, 1.0, -0.25),
    ("track", "mute"): BOOL_CASE,
    ("track", "solo"): BOOL_CASE,
    ("pattern", "track"): FieldCase(  # p3 has no clips (p1's would overlap c3 on t2)
        valid=(("t2", "t2"),), wrong_type=NOT_ID, refused=ID_RANGE, target="p3"
    ),
    ("pattern", "name"): name_case("Groove"),
    ("pattern", "length"): int_case(1, DEFAULT_LIMITS.max_steps, 12),
    ("pattern", "steps_per_beat"): int_case(1, 16, 3),
    ("pattern", "lanes"): FieldCase(
        valid=((LANE16, LANE16), ([], [])),
        wrong_type=(
            "lanes",
            None,
            {"sound": 36, "steps": [0] * 16},
            [[36, [0] * 16]],
            [{"sound": 36}],
            [{"sound": 36, "steps": [0] * 16, "x": 1}],
            [{"sound": 36, "steps": "x" * 16}],
            [{"sound": "36", "steps": [0] * 16}],
            [{"sound": 36, "steps": [True] * 16}],
            [{"sound": 36, "steps": [0.0] * 16}],
        ),
        refused=(
            ([{"sound": 128, "steps": [0] * 16}], RANGE),
            ([{"sound": -1, "steps": [0] * 16}], RANGE),
            ([{"sound": 36, "steps": [128] + [0] * 15}], RANGE),
            ([{"sound": 36, "steps": [-1] + [0] * 15}], RANGE),
            ([{"sound": 36, "steps": [0] * 15}], RANGE),  # not the pattern's length
            ([{"sound": 36, "steps": [0] * 17}], RANGE),
            ([{"sound": 36, "steps": [0] * 257}], LARGE),
            ([{"sound": 36, "steps": [0] * 16}] * 65, LARGE),
        ),
    ),
    ("note", "track"): ref_case("t2"),
    ("note", "clip"): FieldCase(
        valid=(("r1", "r1"), (None, None)),
        wrong_type=tuple(v for v in NOT_ID if v is not None),
        refused=ID_RANGE,
    ),
    ("note", "pitch"): int_case(0, 127, 72),
    ("note", "start"): int_case(0, MAX_TICK, 480),
    ("note", "dur"): int_case(1, MAX_TICK, 1920),
    ("note", "vel"): int_case(1, 127, 64),
    # a notes clip can move to another track (a pattern clip stays with its pattern)
    ("clip", "track"): FieldCase(
        valid=(("t3", "t3"),),
        wrong_type=NOT_ID,
        refused=ID_RANGE,
        target="r1",
        insert_with=(("pattern", None), ("length", PPQ)),
    ),
    ("clip", "pattern"): FieldCase(
        valid=(("p3", "p3"),),
        wrong_type=tuple(v for v in NOT_ID if v is not None),
        refused=ID_RANGE,
    ),
    ("clip", "start"): span_start_case(16 * PPQ, MAX_TICK - 4 * PPQ),
    ("clip", "length"): span_length_case(),
    ("section", "name"): name_case("Chorus"),
    ("section", "color"): color_case("#ff3366"),
    ("section", "start"): span_start_case(16 * PPQ, MAX_TICK - 16 * PPQ),
    ("section", "length"): span_length_case(),
    ("chord", "start"): span_start_case(16 * PPQ, MAX_TICK - 4 * PPQ),
    ("chord", "length"): span_length_case(),
    ("chord", "root"): FieldCase(
        valid=(("F#", "F#"), ("Bb", "Bb"), ("C", "C")),
        wrong_type=(5, None, ["C"], True),
        refused=(("H", RANGE), ("c", RANGE), ("C##", RANGE), ("", RANGE)),
    ),
    ("chord", "quality"): FieldCase(
        valid=(("maj7", "maj7"), ("m7b5", "m7b5"), ("9", "9")),
        wrong_type=(7, None, ["maj"]),
        refused=(("major13", RANGE), ("", RANGE), ("M7", RANGE)),
    ),
    # h1 is an Am7: four tones, so inversions 0 to 3
    ("chord", "inversion"): FieldCase(
        valid=((1, 1), (0, 0), (3, 3)),
        wrong_type=NOT_INT,
        refused=((-1, RANGE), (5, RANGE), (4, RANGE)),
        insert_with=(("quality", "m7"),),
    ),
    ("chord", "bass"): FieldCase(
        valid=(("G", "G"), (None, None), ("Eb", "Eb")),
        wrong_type=(5, ["C"], True),
        refused=(("X", RANGE),),
    ),
}


def _mixer_cases(kind: str, params: tuple[Param, ...]) -> dict[tuple[str, str], FieldCase]:
    """Every mixer parameter (protocol/mixer.py): a switch, or a number in its range."""
    return {
        (kind, p.name): BOOL_CASE
        if p.lo is None
        else float_case(p.lo, p.hi or 0.0, (p.lo + (p.hi or 0.0)) / 2)
        for p in params
    }


FIELD_CASES.update(_mixer_cases("track", TRACK_PARAMS))
FIELD_CASES.update(_mixer_cases("project", PROJECT_PARAMS))


def test_field_cases_cover_every_schema_field() -> None:
    """A field added to a schema must get cases here (and nothing here may be stale)."""
    schema_fields = {(kind, name) for kind, schema in SCHEMAS.items() for name in schema}
    assert set(FIELD_CASES) == schema_fields
    assert set(SCHEMAS) == {"project", *KINDS}


def _target(kind: str, name: str) -> str:
    return FIELD_CASES[kind, name].target or TARGET[kind]


def _insert_value(kind: str, name: str, value: Any) -> dict[str, Any]:
    return {**REQUIRED[kind], **dict(FIELD_CASES[kind, name].insert_with), name: value}


def _params(which: str) -> list[Any]:
    out = []
    for (kind, name), case in FIELD_CASES.items():
        if which == "valid":
            out += [
                pytest.param(kind, name, given, stored, id=f"{kind}.{name}-{i}")
                for i, (given, stored) in enumerate(case.valid)
            ]
        elif which == "wrong_type":
            out += [
                pytest.param(kind, name, value, BAD, id=f"{kind}.{name}-{i}")
                for i, value in enumerate(case.wrong_type)
            ]
        else:
            out += [
                pytest.param(kind, name, value, code, id=f"{kind}.{name}-{i}")
                for i, (value, code) in enumerate(case.refused)
            ]
    return out


REFUSALS = _params("wrong_type") + _params("refused")


@pytest.mark.parametrize(("kind", "field", "given", "stored"), _params("valid"))
def test_set_stores_the_normalised_value(
    doc: Document, kind: str, field: str, given: Any, stored: Any
) -> None:
    """A valid `set` stores the value (numbers as floats) and its inverse restores the doc."""
    eid = _target(kind, field)
    apply_and_undo(doc, set_(eid, field, given))
    entity = doc.get(eid)
    assert entity is not None
    assert encode(entity[field]) == encode(stored)


@pytest.mark.parametrize(("kind", "field", "value", "code"), REFUSALS)
def test_set_refuses_bad_values(
    doc: Document, kind: str, field: str, value: Any, code: ErrorCode
) -> None:
    """A wrong type is bad_field; a right type out of its range has its own stable code."""
    rejected(doc, set_(_target(kind, field), field, value), code)


@pytest.mark.parametrize(
    ("kind", "field", "given", "stored"), [p for p in _params("valid") if p.values[0] != "project"]
)
def test_insert_accepts_every_valid_value(
    doc: Document, kind: str, field: str, given: Any, stored: Any
) -> None:
    """Inserting with a valid field value stores it normalised; the inverse is a delete."""
    value = _insert_value(kind, field, given)
    inverse = apply_and_undo(doc, ins(kind, "new", **value))
    assert inverse == {"op": "delete", "id": "new"}
    assert encode(doc.table(kind)["new"][field]) == encode(stored)


@pytest.mark.parametrize(
    ("kind", "field", "value", "code"), [p for p in REFUSALS if p.values[0] != "project"]
)
def test_insert_refuses_bad_values(
    doc: Document, kind: str, field: str, value: Any, code: ErrorCode
) -> None:
    """Insert validates each given field exactly like `set` does, and inserts nothing."""
    rejected(doc, ins(kind, "new", **_insert_value(kind, field, value)), code)
    assert "new" not in doc.kind_of


REF_FIELDS = [
    pytest.param(kind, name, spec.ref, id=f"{kind}.{name}")
    for kind, schema in SCHEMAS.items()
    for name, spec in schema.items()
    if spec.ref is not None
]


def test_reference_fields_are_the_expected_ones() -> None:
    assert [p.values for p in REF_FIELDS] == [
        ("pattern", "track", "track"),
        ("note", "track", "track"),
        ("note", "clip", "clip"),
        ("clip", "track", "track"),
        ("clip", "pattern", "pattern"),
    ]


@pytest.mark.parametrize(("kind", "field", "ref"), REF_FIELDS)
def test_references_must_point_at_an_entity_of_the_right_kind(
    doc: Document, kind: str, field: str, ref: str
) -> None:
    """A missing id, the project, or an id of another kind is not_found, on set and insert."""
    wrong_kind = next(eid for eid, k in doc.kind_of.items() if k != ref)
    for target in ("nope", PROJECT_ID, wrong_kind):
        rejected(doc, set_(_target(kind, field), field, target), MISSING)
        rejected(doc, ins(kind, "new", **_insert_value(kind, field, target)), MISSING)


def test_required_fields_are_the_documented_ones() -> None:
    required = {
        (kind, name)
        for kind, schema in SCHEMAS.items()
        for name, spec in schema.items()
        if spec.required
    }
    assert required == {
        ("pattern", "track"),
        ("note", "track"),
        ("note", "pitch"),
        ("note", "start"),
        ("clip", "track"),
        ("clip", "start"),
        ("section", "start"),
        ("chord", "start"),
    }
    optional = {
        (k, n) for k, schema in SCHEMAS.items() for n, spec in schema.items() if spec.optional
    }
    assert optional == {("note", "clip"), ("clip", "pattern"), ("chord", "bass")}  # absent: None
    derived = {
        (k, n) for k, schema in SCHEMAS.items() for n, spec in schema.items() if spec.derived
    }
    assert derived == {("clip", "length")}  # from the pattern when omitted


@pytest.mark.parametrize(
    ("kind", "field"),
    [(kind, name) for kind, value in REQUIRED.items() for name in value],
)
def test_insert_without_a_required_field_is_bad_field(doc: Document, kind: str, field: str) -> None:
    value = {k: v for k, v in REQUIRED[kind].items() if k != field}
    rejected(doc, ins(kind, "new", **value), BAD)


@pytest.mark.parametrize("kind", KINDS)
def test_insert_fills_defaults_with_fresh_copies(doc: Document, kind: str) -> None:
    """Omitted fields get their schema default; mutable defaults are never shared."""
    apply(doc, ins(kind, "new", **REQUIRED[kind]))
    entity = doc.table(kind)["new"]
    assert set(entity) == {"id", *SCHEMAS[kind]}
    assert entity["id"] == "new"
    assert doc.kind_of["new"] == kind
    for name, spec in SCHEMAS[kind].items():
        if spec.default is not None:
            assert encode(entity[name]) == encode(spec.default), name
            if isinstance(spec.default, list | dict):
                assert entity[name] is not spec.default, name


def test_project_defaults_are_fresh_copies() -> None:
    one, two = Document(), Document()
    for name, spec in SCHEMAS["project"].items():
        assert encode(one.project[name]) == encode(spec.default), name
        if isinstance(spec.default, list | dict):
            assert one.project[name] is not spec.default
            assert one.project[name] is not two.project[name]


@pytest.mark.parametrize(
    ("length", "steps_per_beat", "ticks"), [(16, 4, 4 * PPQ), (10, 4, 2400), (7, 3, 2240)]
)
def test_clip_length_defaults_to_its_pattern_length_in_ticks(
    doc: Document, length: int, steps_per_beat: int, ticks: int
) -> None:
    apply(doc, ins("pattern", "px", track="t1", length=length, steps_per_beat=steps_per_beat))
    apply_and_undo(doc, ins("clip", "cx", track="t1", pattern="px", start=40 * PPQ))
    assert doc.clips["cx"]["length"] == ticks


# -- relations: clips, notes clips, sections -------------------------------------------

OVERLAP = ErrorCode.OVERLAP


@pytest.mark.parametrize(
    ("op", "code"),
    [
        # clips on one track never share a tick (c1 is [0, 4 beats) on t1, r1 [8, 12))
        (ins("clip", "x", track="t1", pattern="p1", start=3 * PPQ), OVERLAP),
        (ins("clip", "x", track="t1", pattern="p3", start=0), OVERLAP),
        (ins("clip", "x", track="t1", start=7 * PPQ, length=2 * PPQ), OVERLAP),
        (ins("clip", "x", track="t1", start=5 * PPQ, length=10 * PPQ), OVERLAP),  # covers r1
        (ins("clip", "x", track="t1", start=11 * PPQ + 959, length=1), OVERLAP),
        (set_("c1", "length", 8 * PPQ + 1), OVERLAP),
        (set_("c1", "start", 5 * PPQ), OVERLAP),
        (set_("r1", "start", 3 * PPQ), OVERLAP),
        (set_("c2", "start", 0), OVERLAP),
        (set_("r1", "start", 0), OVERLAP),
        (set_("p1", "track", "t2"), OVERLAP),  # p1's clip c1 would land on c3
        # a clip's pattern is on the clip's track; a clip stays what it was made as
        (ins("clip", "x", track="t2", pattern="p1", start=40 * PPQ), BAD),
        (set_("c1", "pattern", "p2"), BAD),
        (set_("c1", "track", "t3"), BAD),
        (set_("c1", "pattern", None), BAD),
        (set_("r1", "pattern", "p3"), BAD),
        (ins("clip", "x", track="t1", start=40 * PPQ), BAD),  # a notes clip needs a length
        (ins("clip", "x", track="t1", pattern=None, start=40 * PPQ), BAD),
        (ins("clip", "x", track="t1", start=MAX_TICK - 10, length=11), RANGE),
        (set_("c1", "length", MAX_TICK + 1), RANGE),
        (set_("r1", "length", MAX_TICK - 8 * PPQ + 1), RANGE),
        # a note is only in a notes clip of its own track
        (ins("note", "x", track="t1", clip="c1", pitch=60, start=0), BAD),
        (ins("note", "x", track="t2", clip="r1", pitch=60, start=0), BAD),
        (ins("note", "x", track="t1", clip="nope", pitch=60, start=0), MISSING),
        (ins("note", "x", track="t1", clip="p1", pitch=60, start=0), MISSING),
        (set_("n3", "track", "t2"), BAD),
        (set_("n2", "clip", "r1"), BAD),
        (set_("n1", "clip", "c1"), BAD),
        # sections never overlap and end by the last tick (s1 is bars 1-4)
        (ins("section", "x", start=15 * PPQ), OVERLAP),
        (ins("section", "x", start=0, length=PPQ), OVERLAP),
        (ins("section", "x", start=MAX_TICK - 100, length=101), RANGE),
        (ins("section", "x", start=16 * PPQ, length=0), RANGE),
        (set_("s1", "length", MAX_TICK + 1), RANGE),
    ],
)
def test_relations_are_checked(doc: Document, op: Op, code: ErrorCode) -> None:
    """Illegal overlaps, clips and notes in the wrong place: a stable code, nothing changes."""
    rejected(doc, op, code)


def test_spans_may_touch(doc: Document) -> None:
    """[0, 4) and [4, 8) share no tick: clips and sections may sit edge to edge."""
    apply_and_undo(doc, ins("clip", "x", track="t1", pattern="p3", start=4 * PPQ))
    apply_and_undo(doc, ins("clip", "y", track="t1", start=12 * PPQ, length=PPQ))
    apply_and_undo(doc, ins("section", "z", start=16 * PPQ, length=PPQ))
    apply_and_undo(doc, set_("r1", "track", "t2"))  # c2 is [4, 8) on t2, r1 [8, 12)


def test_a_notes_clip_takes_its_notes_to_another_track(doc: Document) -> None:
    inverse = apply_and_undo(doc, set_("r1", "track", "t3"))
    assert inverse == set_("r1", "track", "t1")  # the notes come back with the clip
    assert doc.notes["n3"]["track"] == "t3"
    apply(doc, ins("note", "n4", track="t3", clip="r1", pitch=70, start=0))
    assert doc.clip_notes["r1"] == {"n3", "n4"}


def test_moving_a_clip_keeps_its_neighbours_check(doc: Document) -> None:
    """A clip moved past a neighbour is checked where it lands, not where it was."""
    apply(doc, set_("r1", "start", 20 * PPQ))
    apply(doc, ins("clip", "x", track="t1", start=8 * PPQ, length=4 * PPQ))  # r1's old place
    rejected(doc, set_("r1", "start", 9 * PPQ), OVERLAP)
    apply_and_undo(doc, set_("r1", "start", 4 * PPQ))


def test_a_note_can_leave_and_join_a_clip(doc: Document) -> None:
    apply_and_undo(doc, set_("n3", "clip", None))
    assert doc.clip_notes["r1"] == set()
    apply_and_undo(doc, set_("n3", "clip", "r1"))
    apply_and_undo(doc, set_("n1", "clip", "r1"))
    assert doc.clip_notes["r1"] == {"n1", "n3"}
    apply_and_undo(doc, {"op": "delete", "id": "r1"})
    assert "n1" not in doc.notes and "n3" not in doc.notes


def test_sections_in_timeline_order(doc: Document) -> None:
    apply(doc, ins("section", "b", name="Verse", start=32 * PPQ))
    apply(doc, ins("section", "a", name="Chorus", start=16 * PPQ))
    assert [s["name"] for s in doc.ordered_sections()] == ["Intro", "Chorus", "Verse"]
    apply(doc, set_("s1", "start", 64 * PPQ))
    assert [s["name"] for s in doc.ordered_sections()] == ["Chorus", "Verse", "Intro"]


def test_old_snapshots_open_with_defaults() -> None:
    """A snapshot stored before colours, sections and notes clips existed still loads."""
    old = {
        "project": Document().to_data()["project"],
        "tracks": [{"id": "t", "name": "T", "kind": "drums", "instrument": 0, "volume": 1.0,
                    "pan": 0.0, "mute": False, "solo": False}],
        "patterns": [],
        "notes": [{"id": "n", "track": "t", "pitch": 36, "start": 0, "dur": 240, "vel": 100}],
        "clips": [],
    }  # fmt: skip
    doc = Document.from_data(old)
    assert doc.tracks["t"]["color"] == SCHEMAS["track"]["color"].default
    assert doc.notes["n"]["clip"] is None
    assert doc.to_data()["sections"] == []
    apply_and_undo(doc, ins("section", "s", start=0))


# -- insert ----------------------------------------------------------------------


@pytest.mark.parametrize(("index", "order"), [(0, "x123"), (1, "1x23"), (2, "12x3"), (3, "123x")])
def test_insert_track_at_index(doc: Document, index: int, order: str) -> None:
    apply_and_undo(doc, ins("track", "tx", index=index))
    assert doc.track_order == ["t" + c for c in order]
    assert [t["id"] for t in doc.to_data()["tracks"]] == doc.track_order


def test_insert_track_without_index_goes_last(doc: Document) -> None:
    apply(doc, {"op": "insert", "kind": "track", "id": "tx", "value": {}, "index": None})
    assert doc.track_order[-1] == "tx"


@pytest.mark.parametrize(
    ("index", "code"), [(4, RANGE), (-1, RANGE), (True, BAD), (1.0, BAD), ("0", BAD)]
)
def test_insert_track_index_checked(doc: Document, index: Any, code: ErrorCode) -> None:
    rejected(doc, ins("track", "tx", index=index), code)


@pytest.mark.parametrize("kind", ["pattern", "note", "clip", "section"])
def test_index_only_for_tracks(doc: Document, kind: str) -> None:
    rejected(doc, ins(kind, "new", index=0, **REQUIRED[kind]), BAD)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("existing", ["t1", "p1", "n1", "c1", "s1", PROJECT_ID])
def test_insert_existing_id_conflicts(doc: Document, kind: str, existing: str) -> None:
    """Ids are unique across kinds, and `project` is taken."""
    rejected(doc, ins(kind, existing, **REQUIRED[kind]), ErrorCode.CONFLICT)


@pytest.mark.parametrize(
    ("op", "code"),
    [
        ({"op": "insert", "kind": "project", "id": "x", "value": {}}, BAD),
        ({"op": "insert", "kind": "tracks", "id": "x", "value": {}}, BAD),
        ({"op": "insert", "kind": 1, "id": "x", "value": {}}, BAD),
        ({"op": "insert", "kind": "track", "id": "x", "value": []}, BAD),
        ({"op": "insert", "kind": "track", "id": "x", "value": None}, BAD),
        ({"op": "insert", "kind": "track", "id": "x", "value": {"id": "x"}}, BAD),
        ({"op": "insert", "kind": "track", "id": "x", "value": {"colour": 1}}, BAD),
        ({"op": "insert", "kind": "track", "id": "", "value": {}}, RANGE),
        ({"op": "insert", "kind": "track", "id": "x" * 65, "value": {}}, RANGE),
        ({"op": "insert", "kind": "track", "id": "a b", "value": {}}, BAD),
        ({"op": "insert", "kind": "track", "id": "x\n", "value": {}}, BAD),
        ({"op": "insert", "kind": "track", "id": 7, "value": {}}, BAD),
    ],
)
def test_insert_refusals(doc: Document, op: Op, code: ErrorCode) -> None:
    rejected(doc, op, code)


def test_inserted_values_are_not_aliased_to_the_op(doc: Document) -> None:
    """Later edits must not reach back into the op (the replica keeps and replays it)."""
    lanes = [{"sound": 36, "steps": [0] * 16}]
    op = ins("pattern", "px", track="t1", lanes=lanes)
    apply(doc, op)
    apply(doc, set_("px", "steps", 99, at=[0, 3]))
    assert lanes == [{"sound": 36, "steps": [0] * 16}]
    meter = [3, 4]
    apply(doc, set_(PROJECT_ID, "meter", meter))
    doc.project["meter"][0] = 5
    assert meter == [3, 4]


# -- limits ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_entity_limit_is_limit_exceeded(kind: str) -> None:
    """A project holds at most max_<kind>s; freeing one makes room again."""
    doc = Document(
        Limits(max_tracks=1, max_patterns=1, max_notes=1, max_clips=1, max_sections=1,
               max_chords=1)
    )  # fmt: skip
    for op in (
        ins("track", "t1"),
        ins("pattern", "p1", track="t1"),
        ins("note", "n1", track="t1", pitch=1, start=0),
        ins("clip", "c1", track="t1", pattern="p1", start=0),
        ins("section", "s1", start=0),
        ins("chord", "h1", start=0),
    ):
        apply(doc, op)
    first = {"track": "t1", "pattern": "p1", "note": "n1", "clip": "c1", "section": "s1",
             "chord": "h1"}[kind]  # fmt: skip
    rejected(doc, ins(kind, "extra", **REQUIRED[kind]), ErrorCode.LIMIT_EXCEEDED)
    apply(doc, {"op": "delete", "id": first})
    apply(doc, ins(kind, "extra", **REQUIRED[kind]))
    assert doc.count(kind) == 1


def test_default_track_limit() -> None:
    doc = Document()
    apply_all(doc, [ins("track", f"t{i}") for i in range(DEFAULT_LIMITS.max_tracks)])
    assert doc.count("track") == DEFAULT_LIMITS.max_tracks == 128
    rejected(doc, ins("track", "one-more"), ErrorCode.LIMIT_EXCEEDED)


def _limited(limits: Limits) -> Document:
    doc = Document(limits)
    apply(doc, ins("track", "t"))
    return doc


@pytest.mark.parametrize(
    ("limits", "ok", "bad", "code"),
    [
        pytest.param(
            Limits(max_name_len=5),  # the default name "Track" must still fit
            set_("t", "name", "abcde"),
            set_("t", "name", "abcdef"),
            LARGE,
            id="max_name_len",
        ),
        pytest.param(
            Limits(max_id_len=4),
            ins("track", "abcd"),
            ins("track", "abcde"),
            RANGE,
            id="max_id_len",
        ),
        pytest.param(
            Limits(max_id_len=4),
            ins("note", "n", track="t", pitch=1, start=0),
            ins("note", "n", track="t2345", pitch=1, start=0),
            RANGE,
            id="max_id_len-ref",
        ),
        pytest.param(
            Limits(max_steps=4),
            ins("pattern", "p", track="t", length=4, lanes=[{"sound": 1, "steps": [1] * 4}]),
            ins("pattern", "p", track="t", length=5),
            RANGE,
            id="max_steps-length",
        ),
        pytest.param(
            Limits(max_steps=4),
            ins("pattern", "p", track="t", length=4),
            ins("pattern", "p", track="t", length=4, lanes=[{"sound": 1, "steps": [1] * 5}]),
            LARGE,
            id="max_steps-lane",
        ),
        pytest.param(
            Limits(max_lanes=1),
            ins("pattern", "p", track="t", lanes=[{"sound": 1, "steps": [0] * 16}]),
            ins("pattern", "p", track="t", lanes=[{"sound": 1, "steps": [0] * 16}] * 2),
            LARGE,
            id="max_lanes",
        ),
        pytest.param(
            Limits(max_tick=100),
            ins("note", "n", track="t", pitch=1, start=100, dur=100),
            ins("note", "n", track="t", pitch=1, start=101),
            RANGE,
            id="max_tick-start",
        ),
        pytest.param(
            Limits(max_tick=100),
            ins("note", "n", track="t", pitch=1, start=0, dur=100),
            ins("note", "n", track="t", pitch=1, start=0, dur=101),
            RANGE,
            id="max_tick-dur",
        ),
        pytest.param(
            Limits(max_tick=20_000),  # the default loop (4 bars) must still fit
            set_(PROJECT_ID, "loop", {"start": 0, "end": 20_000, "on": True}),
            set_(PROJECT_ID, "loop", {"start": 0, "end": 20_001, "on": True}),
            RANGE,
            id="max_tick-loop",
        ),
    ],
)
def test_configured_limits_apply(limits: Limits, ok: Op, bad: Op, code: ErrorCode) -> None:
    """The document's own `Limits` (not the defaults) bound names, ids, steps, lanes, ticks."""
    doc = _limited(limits)
    rejected(doc, bad, code)
    apply_and_undo(doc, ok)


# -- set -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "code"),
    [
        (set_(PROJECT_ID, "colour", 1), BAD),
        (set_(PROJECT_ID, "id", "x"), BAD),
        (set_("t1", "id", "x"), BAD),
        (set_("t1", "track", "t2"), BAD),  # tracks have no `track` field
        (set_("n1", 5, 1), BAD),
        (set_("n1", None, 1), BAD),
        (set_("ghost", "name", "x"), MISSING),
        (set_("bad id", "name", "x"), BAD),
        (set_("", "name", "x"), RANGE),
        (set_(None, "name", "x"), BAD),
    ],
)
def test_set_refusals(doc: Document, op: Op, code: ErrorCode) -> None:
    rejected(doc, op, code)


def test_set_returns_the_old_value(doc: Document) -> None:
    inverse = apply(doc, set_(PROJECT_ID, "tempo", 100))
    assert inverse == {"op": "set", "id": PROJECT_ID, "field": "tempo", "value": 120.0}
    assert doc.project["tempo"] == 100.0
    assert type(doc.project["tempo"]) is float


@pytest.mark.parametrize(("length", "expect"), [(4, kick(4)), (20, kick(16) + [0] * 4)])
def test_pattern_length_pads_or_truncates_lanes(
    doc: Document, length: int, expect: list[int]
) -> None:
    inverse = apply_and_undo(doc, set_("p1", "length", length))
    assert inverse["op"] == "batch"
    assert doc.patterns["p1"]["length"] == length
    assert [lane["steps"] for lane in doc.patterns["p1"]["lanes"]] == [expect, [0] * length]
    assert [lane["sound"] for lane in doc.patterns["p1"]["lanes"]] == [36, 38]


def test_pattern_length_without_lanes_is_a_plain_set(doc: Document) -> None:
    assert apply(doc, set_("p2", "length", 4)) == set_("p2", "length", 8)


def test_lanes_must_match_a_changed_length(doc: Document) -> None:
    apply(doc, set_("p2", "length", 4))
    rejected(doc, set_("p2", "lanes", [{"sound": 1, "steps": [0] * 8}]), RANGE)
    apply_and_undo(doc, set_("p2", "lanes", [{"sound": 1, "steps": [0] * 4}]))


# -- set with `at` (pattern steps) ---------------------------------------------------


@pytest.mark.parametrize(("lane", "step", "value"), [(0, 0, 0), (0, 15, 127), (1, 7, 1)])
def test_set_step(doc: Document, lane: int, step: int, value: int) -> None:
    """`at` [lane, step] sets one velocity; the inverse sets the old one back."""
    old = doc.patterns["p1"]["lanes"][lane]["steps"][step]
    inverse = apply_and_undo(doc, set_("p1", "steps", value, at=[lane, step]))
    assert inverse == set_("p1", "steps", old, at=[lane, step])
    lanes = doc.patterns["p1"]["lanes"]
    assert lanes[lane]["steps"][step] == value
    others = [(li, si) for li in range(2) for si in range(16) if (li, si) != (lane, step)]
    fresh = build().patterns["p1"]["lanes"]
    assert all(lanes[li]["steps"][si] == fresh[li]["steps"][si] for li, si in others)


@pytest.mark.parametrize(
    ("op", "code"),
    [
        (set_("p1", "steps", 1, at=[2, 0]), RANGE),
        (set_("p1", "steps", 1, at=[-1, 0]), RANGE),
        (set_("p1", "steps", 1, at=[0, 16]), RANGE),
        (set_("p1", "steps", 1, at=[0, -1]), RANGE),
        (set_("p2", "steps", 1, at=[0, 0]), RANGE),  # p2 has no lanes
        (set_("p1", "steps", 128, at=[0, 0]), RANGE),
        (set_("p1", "steps", -1, at=[0, 0]), RANGE),
        (set_("p1", "steps", 1.0, at=[0, 0]), BAD),
        (set_("p1", "steps", True, at=[0, 0]), BAD),
        (set_("p1", "steps", None, at=[0, 0]), BAD),
        (set_("p1", "steps", 1, at=[0]), BAD),
        (set_("p1", "steps", 1, at=[0, 0, 0]), BAD),
        (set_("p1", "steps", 1, at=[0, 0.0]), BAD),
        (set_("p1", "steps", 1, at=[False, 0]), BAD),
        (set_("p1", "steps", 1, at={"lane": 0, "step": 0}), BAD),
        (set_("p1", "lanes", 1, at=[0, 0]), BAD),
        (set_("p1", "name", "x", at=[0, 0]), BAD),
        (set_("t1", "steps", 1, at=[0, 0]), BAD),
        (set_(PROJECT_ID, "steps", 1, at=[0, 0]), BAD),
        (set_("p1", "steps", [1] * 16), BAD),  # `steps` is not a field without `at`
        (set_("ghost", "steps", 1, at=[0, 0]), MISSING),
    ],
)
def test_set_step_refusals(doc: Document, op: Op, code: ErrorCode) -> None:
    rejected(doc, op, code)


def test_step_is_within_a_shortened_pattern(doc: Document) -> None:
    apply(doc, set_("p1", "length", 8))
    rejected(doc, set_("p1", "steps", 1, at=[0, 8]), RANGE)
    apply_and_undo(doc, set_("p1", "steps", 1, at=[0, 7]))


# -- delete --------------------------------------------------------------------------


def _ids(doc: Document) -> set[str]:
    return set(doc.kind_of)


ALL = {"t1", "t2", "t3", "p1", "p2", "p3", "n1", "n2", "n3", "c1", "c2", "c3", "r1", "s1", "h1"}


@pytest.mark.parametrize(
    ("target", "gone"),
    [
        ("n1", {"n1"}),
        ("n3", {"n3"}),
        ("c2", {"c2"}),
        ("r1", {"r1", "n3"}),  # a notes clip takes its notes
        ("s1", {"s1"}),
        ("h1", {"h1"}),
        ("p2", {"p2", "c2", "c3"}),
        ("p1", {"p1", "c1"}),
        ("t3", {"t3"}),
        ("t1", {"t1", "p1", "p3", "c1", "r1", "n1", "n3"}),
        ("t2", {"t2", "p2", "c2", "c3", "n2"}),
    ],
)
def test_delete_cascades_to_dependents(doc: Document, target: str, gone: set[str]) -> None:
    """A track takes its patterns, their clips, its clips and notes; a pattern takes its
    clips; a notes clip its notes."""
    inverse = apply_and_undo(doc, {"op": "delete", "id": target})
    assert inverse["op"] == ("insert" if gone == {target} else "batch")
    assert _ids(doc) == ALL - gone
    for kind in KINDS:
        assert set(doc.table(kind)) == {i for i in ALL - gone if doc.kind_of[i] == kind}
    assert doc.track_order == [t for t in ("t1", "t2", "t3") if t not in gone]
    for entity in [*doc.patterns.values(), *doc.notes.values(), *doc.clips.values()]:
        assert entity["track"] in doc.tracks
    for clip in doc.clips.values():
        assert clip["pattern"] is None or clip["pattern"] in doc.patterns
    for note in doc.notes.values():
        assert note["clip"] is None or note["clip"] in doc.clips
    assert doc == Document.from_data(doc.to_data())  # the indexes agree with the tables
    assert doc.spans == Document.from_data(doc.to_data()).spans
    assert doc.clip_notes == Document.from_data(doc.to_data()).clip_notes


def test_delete_follows_references_changed_by_set(doc: Document) -> None:
    """Cascades use current references, not the ones at insert time."""
    apply(doc, set_("p1", "track", "t3"))  # its clip c1 goes along
    assert doc.clips["c1"]["track"] == "t3"
    apply(doc, set_("n2", "track", "t3"))
    apply(doc, set_("r1", "track", "t3"))  # and n3 with it
    assert doc.notes["n3"]["track"] == "t3"
    apply_and_undo(doc, {"op": "delete", "id": "t3"})
    assert _ids(doc) == ALL - {"t3", "p1", "c1", "n2", "r1", "n3"}


def test_deleted_track_comes_back_in_place(doc: Document) -> None:
    inverse = apply(doc, {"op": "delete", "id": "t2"})
    assert inverse["ops"][0] == {
        "op": "insert",
        "kind": "track",
        "id": "t2",
        "value": {
            "name": "Bass",
            "kind": "instrument",
            "color": "#4f8cff",
            "instrument": 0,
            "volume": 1.0,
            "pan": 0.0,
            "mute": False,
            "solo": False,
            **{p.name: p.default for p in TRACK_PARAMS},  # the mixer strip as it was
        },
        "index": 1,
    }
    apply(doc, inverse)
    assert doc.track_order == ["t1", "t2", "t3"]


@pytest.mark.parametrize(
    ("target", "code"), [(PROJECT_ID, BAD), ("ghost", MISSING), ("", RANGE), (3, BAD)]
)
def test_delete_refusals(doc: Document, target: Any, code: ErrorCode) -> None:
    rejected(doc, {"op": "delete", "id": target}, code)


# -- move ----------------------------------------------------------------------------


@pytest.mark.parametrize("track", ["t1", "t2", "t3"])
@pytest.mark.parametrize("index", [0, 1, 2])
def test_move_track(doc: Document, track: str, index: int) -> None:
    old = doc.track_order.index(track)
    inverse = apply(doc, {"op": "move", "id": track, "index": index})
    assert inverse == {"op": "move", "id": track, "index": old}
    assert doc.track_order.index(track) == index
    assert sorted(doc.track_order) == ["t1", "t2", "t3"]
    assert [t["id"] for t in doc.to_data()["tracks"]] == doc.track_order
    apply(doc, inverse)
    assert snapshot(doc) == snapshot(build())


@pytest.mark.parametrize(
    ("op", "code"),
    [
        ({"op": "move", "id": "t1", "index": 3}, RANGE),
        ({"op": "move", "id": "t1", "index": -1}, RANGE),
        ({"op": "move", "id": "t1", "index": True}, BAD),
        ({"op": "move", "id": "t1", "index": "0"}, BAD),
        ({"op": "move", "id": "t1", "index": None}, BAD),
        ({"op": "move", "id": "p1", "index": 0}, BAD),
        ({"op": "move", "id": "n1", "index": 0}, BAD),
        ({"op": "move", "id": PROJECT_ID, "index": 0}, BAD),
        ({"op": "move", "id": "ghost", "index": 0}, MISSING),
    ],
)
def test_move_refusals(doc: Document, op: Op, code: ErrorCode) -> None:
    rejected(doc, op, code)


# -- op shape ------------------------------------------------------------------------

SAMPLES: dict[str, Op] = {
    "set": set_(PROJECT_ID, "tempo", 100),
    "insert": ins("track", "t9", index=0),
    "delete": {"op": "delete", "id": "n1"},
    "move": {"op": "move", "id": "t1", "index": 2},
    "batch": {"op": "batch", "ops": [set_(PROJECT_ID, "swing", 0.5), ins("track", "t9")]},
}


def test_samples_cover_every_op_type() -> None:
    assert set(SAMPLES) == set(OP_TYPES) == {"set", "insert", "delete", "move", "batch"}


@pytest.mark.parametrize("kind", OP_TYPES)
def test_every_op_type_applies_and_inverts(doc: Document, kind: str) -> None:
    apply_and_undo(doc, SAMPLES[kind])


@pytest.mark.parametrize(
    ("kind", "key"),
    [(k, key) for k, op in SAMPLES.items() for key in op if key not in ("op", "index")],
)
def test_missing_key_is_bad_field(doc: Document, kind: str, key: str) -> None:
    rejected(doc, {k: v for k, v in SAMPLES[kind].items() if k != key}, BAD)


@pytest.mark.parametrize("kind", OP_TYPES)
def test_unknown_key_is_bad_field(doc: Document, kind: str) -> None:
    rejected(doc, {**SAMPLES[kind], "extra": 1}, BAD)


@pytest.mark.parametrize(
    "op",
    [
        None,
        [],
        "set",
        5,
        {},
        {"op": None},
        {"op": 1},
        {"op": "update"},
        {"op": "Set"},
        {"id": "t1"},
    ],
)
def test_malformed_ops_are_bad_field(doc: Document, op: Any) -> None:
    rejected(doc, op, BAD)


# -- batch ---------------------------------------------------------------------------

GOOD_BATCH: list[Op] = [
    set_(PROJECT_ID, "tempo", 140),
    ins("track", "t4", index=0),
    ins("pattern", "p4", track="t4", length=4, lanes=[{"sound": 40, "steps": [0] * 4}]),
    set_("p4", "steps", 90, at=[0, 2]),
    ins("clip", "c4", track="t4", pattern="p4", start=0),
    set_("p1", "length", 8),
    set_("p1", "steps", 50, at=[1, 7]),
    {"op": "delete", "id": "t2"},
    {"op": "move", "id": "t1", "index": 0},
    set_("c4", "length", 1920),
    {"op": "delete", "id": "n1"},
]


def test_batch_applies_in_order_and_inverts_flat(doc: Document) -> None:
    """Later ops see earlier ones; the inverse is one flat batch that restores everything."""
    inverse = apply_and_undo(doc, {"op": "batch", "ops": GOOD_BATCH})
    assert inverse["op"] == "batch"
    assert doc.track_order == ["t1", "t4", "t3"]
    assert doc.patterns["p4"]["lanes"][0]["steps"] == [0, 0, 90, 0]
    assert doc.patterns["p1"]["lanes"][1]["steps"] == [0] * 7 + [50]
    assert _ids(doc) == ALL - {"t2", "p2", "c2", "c3", "n2", "n1"} | {"t4", "p4", "c4"}


def test_apply_all_is_a_batch(doc: Document) -> None:
    other = build()
    assert apply_all(doc, GOOD_BATCH) == apply(other, {"op": "batch", "ops": GOOD_BATCH})
    assert snapshot(doc) == snapshot(other)


def test_one_op_batch_inverse_is_not_a_batch(doc: Document) -> None:
    assert apply_all(doc, [set_("t1", "mute", True)]) == set_("t1", "mute", False)


# Fail the same way whatever prefix of GOOD_BATCH ran before them.
FAILING: list[tuple[Any, ErrorCode]] = [
    (set_("ghost", "name", "x"), MISSING),
    (set_(PROJECT_ID, "swing", 7), RANGE),
    (ins("track", "t1"), ErrorCode.CONFLICT),
    ({"op": "batch", "ops": [set_("t1", "mute", True)]}, BAD),  # nested
    ({"op": "frobnicate"}, BAD),
    ("not an op", BAD),
]


@pytest.mark.parametrize(("bad", "code"), FAILING)
@pytest.mark.parametrize("position", [0, 1, 4, 6, 8, len(GOOD_BATCH)])
def test_batch_is_all_or_nothing(doc: Document, bad: Any, code: ErrorCode, position: int) -> None:
    """When any op fails, every earlier op of the batch is rolled back exactly."""
    ops = [*GOOD_BATCH[:position], bad, *GOOD_BATCH[position:]]
    error = rejected(doc, {"op": "batch", "ops": ops}, code)
    if type(bad) is dict and bad.get("op") == "batch":
        assert "nested" in error.message
    else:
        assert error.message.startswith(f"ops[{position}]: ")
    with pytest.raises(BacklineError) as info:
        apply_all(doc, ops)
    assert info.value.code is code
    assert snapshot(doc) == snapshot(build())


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (ins("track", "t4"), ErrorCode.CONFLICT),  # t4 was inserted earlier in the batch
        (ins("pattern", "px", track="t2"), MISSING),  # t2 was deleted earlier in the batch
        (set_("p1", "steps", 1, at=[0, 8]), RANGE),  # p1 was shortened to 8 steps
        (set_("c4", "pattern", "p2"), MISSING),  # p2 went with t2
    ],
)
def test_batch_failure_depending_on_earlier_ops_rolls_back(
    doc: Document, bad: Op, code: ErrorCode
) -> None:
    error = rejected(doc, {"op": "batch", "ops": [*GOOD_BATCH, bad]}, code)
    assert error.message.startswith(f"ops[{len(GOOD_BATCH)}]: ")
    assert snapshot(doc) == snapshot(build())


@pytest.mark.parametrize("ops", [[], None, {"op": "set"}, "ops"])
def test_batch_needs_a_nonempty_list(doc: Document, ops: Any) -> None:
    rejected(doc, {"op": "batch", "ops": ops}, BAD)
    with pytest.raises(BacklineError) as info:
        apply_all(doc, ops)
    assert info.value.code is BAD


def test_apply_all_rejects_nested_batch(doc: Document) -> None:
    before = snapshot(doc)
    with pytest.raises(BacklineError) as info:
        apply_all(doc, [set_("t1", "mute", True), {"op": "batch", "ops": [ins("track", "x")]}])
    assert info.value.code is BAD
    assert snapshot(doc) == before


# -- Document ------------------------------------------------------------------------


def test_to_data_is_canonical(doc: Document) -> None:
    """Tracks in track order, other tables by id, fields sorted; same bytes however built."""
    apply(doc, {"op": "move", "id": "t3", "index": 0})
    data = doc.to_data()
    assert list(data) == ["project", "tracks", "patterns", "notes", "clips", "sections", "chords"]
    assert [t["id"] for t in data["tracks"]] == ["t3", "t1", "t2"]
    assert [p["id"] for p in data["patterns"]] == ["p1", "p2", "p3"]
    assert [c["id"] for c in data["clips"]] == ["c1", "c2", "c3", "r1"]
    for entity in [data["project"], *data["tracks"], *data["notes"]]:
        assert list(entity) == sorted(entity)
    rebuilt = Document.from_data(data)
    assert encode(rebuilt.to_data()) == encode(data)
    assert rebuilt == doc
    assert rebuilt.track_order == ["t3", "t1", "t2"]
    assert rebuilt.kind_of == doc.kind_of


def test_to_data_and_copy_are_independent(doc: Document) -> None:
    data = doc.to_data()
    data["tracks"][0]["name"] = "changed"
    copy = doc.copy()
    apply(copy, set_("p1", "steps", 1, at=[1, 1]))
    apply(copy, {"op": "delete", "id": "t3"})
    assert snapshot(doc) == snapshot(build())
    assert copy != doc
    assert copy.limits is doc.limits


def test_document_is_unhashable_and_compares_by_content(doc: Document) -> None:
    with pytest.raises(TypeError):
        hash(doc)
    assert doc == build()
    assert doc != Document()
    assert doc != doc.to_data()


def test_get_and_count(doc: Document) -> None:
    assert doc.get(PROJECT_ID) is doc.project
    assert doc.get("p1") is doc.patterns["p1"]
    assert doc.get("ghost") is None
    assert [doc.count(k) for k in KINDS] == [3, 3, 3, 4, 1, 1]
