"""Properties of the pure core, checked on random documents, ops and byte strings.

The op strategy is built from `model.SCHEMAS`: every entity kind and field is
drawn, with values that are usually plausible and sometimes junk, so both the
accept and the refuse paths run.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from backline.protocol.codec import decode, decode_record, encode
from backline.protocol.errors import BacklineError, BadFrame, ErrorCode, NothingToUndo, TooLarge
from backline.protocol.frames import ops_frame
from backline.protocol.frames import reject as reject_frame
from backline.protocol.limits import DEFAULT_LIMITS, Limits
from backline.protocol.messages import Batch, OpMessage, Undo, parse_client
from backline.protocol.mixer import PROJECT_PARAMS, TRACK_PARAMS
from backline.protocol.model import (
    KINDS,
    MODES,
    PPQ,
    PROJECT_ID,
    SCHEMAS,
    TRACK_KINDS,
    Document,
)
from backline.protocol.ops import OP_TYPES, Op, apply, apply_all
from backline.protocol.replica import Replica

SETTINGS = settings(
    # 120 examples per run (each a whole stream of ops); BACKLINE_HYPOTHESIS_EXAMPLES
    # asks for more, e.g. 2000 for a long soak of the op engine
    max_examples=int(os.environ.get("BACKLINE_HYPOTHESIS_EXAMPLES", "120")),
    deadline=None,
    # No explain phase: on these long st.data() runs it takes minutes to add little.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

MAX_TICK = DEFAULT_LIMITS.max_tick
ID_POOL = list("abcdefghijklmnop")  # small, so clients collide on ids
ERROR_CODES = {code.value for code in ErrorCode}

Draw = Callable[[st.SearchStrategy[Any]], Any]


def snapshot(doc: Document) -> tuple[dict[str, Any], bytes]:
    data = doc.to_data()
    return data, encode(data)


# -- strategies ----------------------------------------------------------------------

JUNK: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(),
    st.text(max_size=4),
    st.binary(max_size=2),
    st.lists(st.integers(-1, 200), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(-1, 3), max_size=2),
)
TICKS = st.one_of(st.integers(-1, 16 * PPQ), st.sampled_from([MAX_TICK, MAX_TICK + 1]))
NAMES = st.one_of(st.text(max_size=6), st.text(min_size=64, max_size=65))
COLORS = st.one_of(
    st.sampled_from(["#4f8cff", "#000000", "#ffffff", "#FF0000", "red", "#12345", "#1234567"]),
    st.text(max_size=7),
)
NUMBERS = st.one_of(st.floats(-3, 3), st.integers(-2, 3))


def floats(lo: float, hi: float) -> st.SearchStrategy[Any]:
    margin = (hi - lo) / 10
    return st.one_of(
        st.floats(lo - margin, hi + margin), st.integers(math.floor(lo) - 1, math.ceil(hi) + 1)
    )


def _key(note: str, accidental: str, mode: str) -> str:
    return f"{note}{accidental} {mode}"


# Plausible values of each field, keyed like SCHEMAS; refs and lanes depend on the doc.
STATIC: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("project", "name"): NAMES,
    ("project", "tempo"): floats(20, 999),
    ("project", "meter"): st.one_of(
        st.tuples(st.integers(0, 33), st.sampled_from([1, 2, 3, 4, 8, 16, 32])).map(list),
        st.lists(st.integers(1, 8), max_size=3),
    ),
    ("project", "swing"): floats(0, 1),
    ("project", "key"): st.builds(
        _key,
        st.sampled_from("ABCDEFGH"),
        st.sampled_from(["", "#", "b", "x"]),
        st.sampled_from([*MODES, "Major"]),
    ),
    ("project", "loop"): st.fixed_dictionaries({"start": TICKS, "end": TICKS, "on": st.booleans()}),
    ("project", "transport"): st.fixed_dictionaries(
        {
            "playing": st.booleans(),
            "beat": st.one_of(st.floats(-1, 1e4), st.integers(-1, 100)),
            "time": st.integers(-1, 2**62 + 1),
        }
    ),
    ("track", "name"): NAMES,
    ("track", "kind"): st.sampled_from([*TRACK_KINDS, "guitar"]),
    ("track", "color"): COLORS,
    ("track", "instrument"): st.integers(-1, 128),
    ("track", "volume"): floats(0, 2),
    ("track", "pan"): floats(-1, 1),
    ("track", "mute"): st.booleans(),
    ("track", "solo"): st.booleans(),
    ("pattern", "name"): NAMES,
    ("pattern", "length"): st.one_of(st.integers(0, 9), st.just(DEFAULT_LIMITS.max_steps + 1)),
    ("pattern", "steps_per_beat"): st.integers(0, 17),
    ("note", "pitch"): st.integers(-1, 128),
    ("note", "start"): TICKS,
    ("note", "dur"): TICKS,
    ("note", "vel"): st.integers(0, 128),
    ("clip", "start"): TICKS,
    ("clip", "length"): TICKS,
    ("section", "name"): NAMES,
    ("section", "color"): COLORS,
    ("section", "start"): TICKS,
    ("section", "length"): TICKS,
    ("chord", "start"): TICKS,
    ("chord", "length"): TICKS,
    ("chord", "root"): st.sampled_from(["C", "F#", "Bb", "E", "H", "c"]),
    ("chord", "quality"): st.sampled_from(["maj", "m7", "dim7", "9", "M7", "major"]),
    ("chord", "inversion"): st.integers(-1, 5),
    ("chord", "bass"): st.sampled_from([None, "G", "Eb", "X"]),
}
STATIC.update(  # the mixer's parameters: switches and numbers around their ranges
    {
        (kind, p.name): st.booleans() if p.lo is None else floats(p.lo, p.hi or 0.0)
        for kind, params in (("track", TRACK_PARAMS), ("project", PROJECT_PARAMS))
        for p in params
    }
)


def test_value_strategies_cover_every_schema_field() -> None:
    """Every field is either drawn from STATIC, is a reference, or is `lanes`."""
    special = {(k, f) for k, s in SCHEMAS.items() for f, spec in s.items() if spec.ref}
    special.add(("pattern", "lanes"))
    every = {(kind, name) for kind, schema in SCHEMAS.items() for name in schema}
    assert set(STATIC) | special == every
    assert not set(STATIC) & special


def existing_ids(doc: Document) -> list[str]:
    return sorted(doc.kind_of)


def any_id(draw: Draw, doc: Document) -> Any:
    """Mostly ids that exist or may exist soon; sometimes the project, a bad id or junk."""
    choice = draw(st.integers(0, 19))
    if choice == 0:
        return draw(st.sampled_from([PROJECT_ID, "", "bad id", "x" * 65, 7]))
    pool = existing_ids(doc)
    if pool and choice < 14:
        return draw(st.sampled_from(pool))
    return draw(st.sampled_from(ID_POOL))


def new_id(draw: Draw, doc: Document, clean: bool = False) -> Any:
    """Usually an id not taken yet; sometimes (never when `clean`) a taken or bad one."""
    free = [i for i in ID_POOL if i not in doc.kind_of]
    if free and (clean or draw(st.integers(0, 3))):
        return draw(st.sampled_from(free))
    return any_id(draw, doc)


def ref_to(draw: Draw, doc: Document, kind: str, clean: bool = False) -> Any:
    """Usually an existing entity of `kind`; sometimes anything else."""
    targets = sorted(doc.table(kind))
    if targets and (clean or draw(st.integers(0, 7))):
        return draw(st.sampled_from(targets))
    return any_id(draw, doc)


def lanes_value(draw: Draw, length: Any, clean: bool = False) -> Any:
    size = length if type(length) is int and 0 <= length <= 20 else 16
    if not clean and draw(st.integers(0, 9)) == 0:
        size = max(size + draw(st.sampled_from([-1, 1])), 0)
    velocity = st.integers(0, 127) if clean else st.integers(-1, 128)
    lane = st.fixed_dictionaries(
        {"sound": velocity, "steps": st.lists(velocity, min_size=size, max_size=size)}
    )
    return draw(st.lists(lane, max_size=3))


def _passes(kind: str, name: str, value: Any) -> bool:
    try:
        SCHEMAS[kind][name].check(name, value, DEFAULT_LIMITS)
    except BacklineError:
        return False
    return True


def _valid(kind: str, name: str, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy.filter(lambda value: _passes(kind, name, value))


# The same values, kept only when the schema's own validator accepts them.
VALID: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    (kind, name): _valid(kind, name, strategy) for (kind, name), strategy in STATIC.items()
}
VALID.update(  # the mixer's many numbers: drawn inside their ranges, not filtered into them
    {
        (kind, p.name): st.booleans() if p.lo is None else st.floats(p.lo, p.hi or 0.0)
        for kind, params in (("track", TRACK_PARAMS), ("project", PROJECT_PARAMS))
        for p in params
    }
)


def field_value(
    draw: Draw, doc: Document, kind: str, name: str, length: Any = 16, clean: bool = False
) -> Any:
    """A value for one schema field: mostly valid, sometimes out of range, rarely junk."""
    roll = 19 if clean else draw(st.integers(0, 19))
    if roll == 0:
        return draw(JUNK)
    spec = SCHEMAS[kind][name]
    if spec.optional and draw(st.integers(0, 3)) == 0:
        return None  # unset: a free note, a notes clip
    if spec.ref is not None:
        return ref_to(draw, doc, spec.ref, clean)
    if (kind, name) == ("pattern", "lanes"):
        return lanes_value(draw, length, clean)
    return draw(STATIC[kind, name] if roll < 4 else VALID[kind, name])


def insert_op(draw: Draw, doc: Document, kind: str, clean: bool = False) -> Op:
    """Insert a `kind`: required fields usually given, optional ones sometimes."""
    value: dict[str, Any] = {}
    for name, spec in SCHEMAS[kind].items():
        wanted = spec.required
        if (clean and wanted) or draw(st.integers(0, 9)) < (9 if wanted else 3):
            length = value.get("length", 16)
            value[name] = field_value(draw, doc, kind, name, length, clean)
    if not clean and draw(st.integers(0, 19)) == 0:
        value[draw(st.sampled_from(["id", "colour"]))] = 1
    op: Op = {"op": "insert", "kind": kind, "id": new_id(draw, doc, clean), "value": value}
    if (kind == "track" or not clean) and draw(st.integers(0, 3)) == 0:
        low, high = (0, len(doc.track_order)) if clean else (-1, len(doc.track_order) + 1)
        op["index"] = draw(st.integers(low, high))
    return op


EDITING = ["set"] * 4 + ["insert"] * 4 + ["step"] * 2 + ["delete", "move", "junk"]
BUILDING = ["insert"] * 8 + ["set", "step", "delete", "move"]


@st.composite
def ops_on(draw: Draw, doc: Document, batch: bool = True, building: bool = False) -> Any:
    """One op, plausible for `doc` most of the time; covers every op type and entity kind."""
    which = draw(st.sampled_from([*(BUILDING if building else EDITING), *(["batch"] * batch)]))
    if which == "set":
        target = PROJECT_ID if draw(st.integers(0, 4)) == 0 else any_id(draw, doc)
        kind = PROJECT_ID if target == PROJECT_ID else doc.kind_of.get(target, "track")
        kind = kind if kind in SCHEMAS else "track"
        name = draw(st.sampled_from([*sorted(SCHEMAS[kind]), "nope"]))
        if name == "nope":
            return {"op": "set", "id": target, "field": name, "value": 1}
        entity = doc.get(target) if type(target) is str else None
        length = entity.get("length", 16) if entity else 16
        value = field_value(draw, doc, kind, name, length)
        return {"op": "set", "id": target, "field": name, "value": value}
    if which == "step":
        patterns = sorted(doc.patterns)
        target = draw(st.sampled_from(patterns)) if patterns else any_id(draw, doc)
        pattern = doc.patterns.get(target, {"lanes": [], "length": 16})
        at = [
            draw(st.integers(-1, len(pattern["lanes"]))),
            draw(st.integers(-1, pattern["length"])),
        ]
        value = draw(st.integers(-1, 128)) if draw(st.integers(0, 9)) else draw(JUNK)
        return {"op": "set", "id": target, "field": "steps", "at": at, "value": value}
    if which == "insert":
        return insert_op(draw, doc, draw(st.sampled_from(KINDS)))
    if which == "delete":
        return {"op": "delete", "id": any_id(draw, doc)}
    if which == "move":
        tracks = doc.track_order
        target = draw(st.sampled_from(tracks)) if tracks else any_id(draw, doc)
        return {"op": "move", "id": target, "index": draw(st.integers(-1, len(tracks)))}
    if which == "batch":
        inner = draw(st.lists(ops_on(doc, batch=False), min_size=1, max_size=3))
        if draw(st.integers(0, 9)) == 0:
            inner.append({"op": "batch", "ops": [inner[0]]})  # nested: always refused
        return {"op": "batch", "ops": inner}
    return draw(
        st.one_of(
            JUNK,
            st.fixed_dictionaries({"op": st.sampled_from([*OP_TYPES, "nope"])}),
            st.just({"op": "delete", "id": "a", "extra": 1}),
        )
    )


@st.composite
def documents(draw: Draw) -> Document:
    """A random project: inserts of each kind in turn, then a few random edits.

    Only the ops that apply count, so the result is always a reachable state.
    """
    doc = Document()
    for kind, most in (
        ("track", 4),
        ("pattern", 3),
        ("clip", 3),
        ("note", 3),
        ("section", 2),
        ("chord", 2),
    ):
        for _ in range(draw(st.integers(0, most))):
            with contextlib.suppress(BacklineError):  # e.g. a pattern before any track
                apply(doc, insert_op(draw, doc, kind, clean=True))
    for _ in range(draw(st.integers(0, 6))):
        with contextlib.suppress(BacklineError):
            apply(doc, draw(ops_on(doc, building=True)))
    return doc


# -- b, c: inverses and refusals ---------------------------------------------------------


@SETTINGS
@given(st.data())
def test_apply_then_inverse_restores_exactly(data: st.DataObject) -> None:
    """For every op that applies, its inverse restores the document byte for byte."""
    doc = data.draw(documents())
    applied = 0
    for _ in range(8):
        op = data.draw(ops_on(doc))
        before = snapshot(doc)
        try:
            inverse = apply(doc, op)
        except BacklineError:
            continue
        applied += 1
        after = snapshot(doc)
        assert not (inverse["op"] == "batch" and any(o["op"] == "batch" for o in inverse["ops"])), (
            "inverses are never nested"
        )
        redo = apply(doc, inverse)
        assert snapshot(doc) == before
        apply(doc, redo)
        assert snapshot(doc) == after
        assert Document.from_data(after[0]) == doc  # the canonical form always rebuilds


@SETTINGS
@given(st.data())
def test_invalid_op_changes_nothing_and_has_a_stable_code(data: st.DataObject) -> None:
    """A refused op raises a BacklineError with a known code and leaves the doc untouched."""
    doc = data.draw(documents())
    for _ in range(8):
        op = data.draw(ops_on(doc))
        before = snapshot(doc)
        try:
            apply(doc, op)
        except BacklineError as exc:
            assert exc.code in ERROR_CODES
            assert type(exc).code is exc.code
            assert exc.code not in (ErrorCode.INTERNAL, ErrorCode.UNAUTHORIZED)
            assert isinstance(exc.message, str) and exc.message
            assert snapshot(doc) == before


@SETTINGS
@given(st.data())
def test_apply_all_is_atomic(data: st.DataObject) -> None:
    """A list of ops either applies as a whole (and inverts as a whole) or not at all."""
    doc = data.draw(documents())
    ops = data.draw(st.lists(ops_on(doc, batch=False), min_size=1, max_size=5))
    before = snapshot(doc)
    try:
        inverse = apply_all(doc, ops)
    except BacklineError:
        assert snapshot(doc) == before
        return
    one_by_one = Document.from_data(before[0])
    for op in ops:
        apply(one_by_one, op)
    assert snapshot(one_by_one) == snapshot(doc)
    apply(doc, inverse)
    assert snapshot(doc) == before


# -- a: replicas converge on the server's order ------------------------------------------


@dataclass
class SimClient:
    name: str
    replica: Replica
    seq: int = 0
    to_server: deque[bytes] = field(default_factory=deque)
    to_client: deque[bytes] = field(default_factory=deque)


@dataclass
class SimServer:
    """A plain Document plus ops.apply in arrival order, with a per-client undo stack."""

    doc: Document = field(default_factory=Document)
    version: int = 0
    undo: dict[str, list[Op]] = field(default_factory=dict)
    history: list[bytes] = field(default_factory=lambda: [snapshot(Document())[1]])

    def receive(self, client: SimClient, frame: bytes, everyone: list[SimClient]) -> None:
        message = parse_client(decode(frame))
        assert isinstance(message, OpMessage | Undo)
        stack = self.undo.setdefault(client.name, [])
        try:
            if isinstance(message, OpMessage):
                ops = message.ops
                inverse = apply_all(self.doc, ops)
                stack.append(inverse)
            else:
                if not stack:
                    raise NothingToUndo("nothing to undo")
                undone = stack.pop()
                ops = undone["ops"] if undone["op"] == "batch" else [undone]
                apply_all(self.doc, ops)
        except BacklineError as exc:
            client.to_client.append(encode(reject_frame(message.seq, exc.code, exc.message)))
            return
        self.version += 1
        self.history.append(snapshot(self.doc)[1])
        batch = Batch(self.version, client.name, message.seq, ops)
        frame_out = encode(ops_frame([batch.to_wire()]))
        for other in everyone:
            other.to_client.append(frame_out)


def deliver(client: SimClient, server: SimServer) -> None:
    message = decode(client.to_client.popleft())
    replica = client.replica
    if message["type"] == "ops":
        for wire in message["batches"]:
            replica.confirm(Batch.from_wire(wire))
    else:
        assert message["type"] == "reject"
        assert message["code"] in ERROR_CODES
        assert replica.reject(message["seq"]) is not None
    if not replica.pending:
        # Nothing of mine in flight: I hold exactly the server's state at my version.
        assert snapshot(replica.doc)[1] == server.history[replica.version]


def edit(draw: Draw, client: SimClient) -> None:
    replica = client.replica
    client.seq += 1
    if draw(st.sampled_from(["op"] * 7 + ["undo"])) == "undo":
        replica.track(client.seq)
        client.to_server.append(encode({"type": "undo", "seq": client.seq}))
        return
    # Each op is drawn against the state the ops before it leave, so multi-op edits
    # (insert a track, then a pattern on it...) are often valid as a whole.
    style = draw(st.sampled_from(["edit", "build", "clean"]))
    scratch = replica.doc.copy()
    ops: list[Any] = []
    for _ in range(draw(st.integers(1, 4))):
        if style == "clean":
            op = insert_op(draw, scratch, draw(st.sampled_from(KINDS)), clean=True)
        else:
            op = draw(ops_on(scratch, False, style == "build"))
        with contextlib.suppress(BacklineError):
            apply(scratch, op)
        ops.append(op)
    before, pending = snapshot(replica.doc), len(replica.pending)
    try:
        replica.local(client.seq, ops)
    except BacklineError:
        assert snapshot(replica.doc) == before
        assert len(replica.pending) == pending
        return  # invalid here: the SDK raises at once and sends nothing
    client.to_server.append(encode({"type": "op", "seq": client.seq, "ops": ops}))


@SETTINGS
@given(st.data())
def test_replicas_converge_to_the_server_document(data: st.DataObject) -> None:
    """K clients edit optimistically; once every frame is delivered all equal the server."""
    count = data.draw(st.integers(2, 4), label="clients")
    clients = [SimClient(f"c{i}", Replica(Document(), client=f"c{i}")) for i in range(count)]
    server = SimServer()

    def step(allow_edits: bool) -> bool:
        actions: list[tuple[str, SimClient]] = []
        for client in clients:
            if allow_edits:
                actions += [("edit", client)] * 2
            if client.to_server:
                actions.append(("server", client))
            if client.to_client:
                actions.append(("deliver", client))
        if not actions:
            return False
        action, client = data.draw(st.sampled_from(actions))
        if action == "edit":
            edit(data.draw, client)
        elif action == "server":
            server.receive(client, client.to_server.popleft(), clients)
        else:
            deliver(client, server)
        return True

    for _ in range(data.draw(st.integers(1, 40), label="steps")):
        step(allow_edits=True)
    while step(allow_edits=False):
        pass

    expected = snapshot(server.doc)
    for client in clients:
        assert client.replica.pending == []
        assert client.replica.version == server.version
        assert snapshot(client.replica.doc) == expected


def test_replica_rebases_a_multi_op_edit_under_a_remote_one() -> None:
    """Regression: rewinding an edit whose inverse is a batch must not nest batches."""
    replica = Replica(Document(), client="me")
    mine = [
        {"op": "insert", "kind": "track", "id": "t1", "value": {}},
        {"op": "insert", "kind": "track", "id": "t2", "value": {}},
    ]
    replica.local(1, mine)
    remote = [{"op": "set", "id": PROJECT_ID, "field": "tempo", "value": 90}]
    replica.confirm(Batch(1, "other", 1, remote))
    assert replica.doc.track_order == ["t1", "t2"]
    assert replica.doc.project["tempo"] == 90.0
    replica.confirm(Batch(2, "me", 1, mine))
    server = Document()
    apply_all(server, remote)
    apply_all(server, mine)
    assert replica.pending == []
    assert snapshot(replica.doc) == snapshot(server)


def test_replica_reject_undoes_a_multi_op_edit() -> None:
    replica = Replica(Document(), client="me")
    replica.local(1, [{"op": "insert", "kind": "track", "id": "t1", "value": {}}])
    replica.local(
        2,
        [
            {"op": "insert", "kind": "pattern", "id": "p1", "value": {"track": "t1"}},
            {"op": "delete", "id": "t1"},
        ],
    )
    rejected = replica.reject(2)
    assert rejected is not None and rejected.seq == 2
    assert replica.reject(2) is None
    assert sorted(replica.doc.kind_of) == ["t1"]
    assert [p.seq for p in replica.pending] == [1]


def test_replica_refuses_a_version_gap() -> None:
    replica = Replica(Document(), client="me")
    with pytest.raises(BacklineError) as info:
        replica.confirm(Batch(2, "other", 1, [{"op": "delete", "id": "x"}]))
    assert info.value.code is ErrorCode.INTERNAL
    assert replica.version == 0


# -- d: codec --------------------------------------------------------------------------

SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False),
    st.text(),
    st.binary(),
)
PLAIN: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)
FRAMES: st.SearchStrategy[dict[str, Any]] = st.builds(
    lambda kind, rest: {"type": kind, **rest},
    st.text(max_size=10),
    st.dictionaries(st.text(max_size=8).filter(lambda k: k != "type"), PLAIN, max_size=5),
)


@SETTINGS
@given(PLAIN)
def test_codec_roundtrips_plain_data(value: Any) -> None:
    assert decode_record(encode(value)) == value
    assert encode(decode_record(encode(value))) == encode(value)


@SETTINGS
@given(FRAMES)
def test_decode_roundtrips_frames(frame: dict[str, Any]) -> None:
    assert decode(encode(frame)) == frame


def _check_decode(raw: bytes, limits: Limits = DEFAULT_LIMITS) -> None:
    try:
        message = decode(raw, limits)
    except (BadFrame, TooLarge) as exc:
        assert exc.code in (ErrorCode.BAD_FRAME, ErrorCode.TOO_LARGE)
        assert isinstance(exc, TooLarge) == (len(raw) > limits.max_frame_bytes)
        return
    assert type(message) is dict
    assert type(message["type"]) is str
    assert len(raw) <= limits.max_frame_bytes


@SETTINGS
@given(st.binary(max_size=64))
def test_decode_random_bytes_only_raises_codec_errors(raw: bytes) -> None:
    _check_decode(raw)


@SETTINGS
@given(FRAMES, st.data())
def test_decode_damaged_frames_only_raises_codec_errors(
    frame: dict[str, Any], data: st.DataObject
) -> None:
    raw = bytearray(encode(frame))
    for _ in range(data.draw(st.integers(1, 4))):
        how = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        at = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if how == "flip" and raw:
            raw[at] = data.draw(st.integers(0, 255))
        elif how == "cut":
            del raw[at:]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=3))
    limit = data.draw(st.integers(0, 2 * len(raw) + 1))
    _check_decode(bytes(raw))
    _check_decode(bytes(raw), Limits(max_frame_bytes=limit))
