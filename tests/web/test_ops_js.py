"""web/ops.js applies ops exactly as protocol/ops.py does.

A seeded stream of ops, valid and invalid (wrong types, out of range,
unknown ids, conflicts, nested batches, cascades, resizes), runs through
both engines: every op must give the same inverse or the same error code,
and the documents must stay equal after each step. The replica's rebase is
checked the same way against protocol/replica.py.
"""

from __future__ import annotations

import contextlib
import math
import random
from typing import Any

import pytest
from playwright.sync_api import Page
from test_protocol_js import exact, next_out  # tests/web is on the path, as for sound_page

from backline.protocol import model
from backline.protocol.browser import protocol_constants, protocol_module
from backline.protocol.errors import BacklineError
from backline.protocol.limits import DEFAULT_LIMITS, Limits
from backline.protocol.messages import Batch
from backline.protocol.model import Document
from backline.protocol.ops import apply
from backline.protocol.replica import Replica
from backline.protocol.transport import resolve
from backline.testing import ServerProcess

RUN_JS = """async (ops) => {
  const { Document, apply } = await import("/ops.js");
  const doc = new Document();
  return ops.map((op, i) => {
    const snap = () => (i % 10 === 9 || i === ops.length - 1 ? doc.toData() : null);
    try {
      return { inverse: apply(doc, op), doc: snap() };
    } catch (error) {
      if (error.code === undefined) throw error;
      return { error: error.code, doc: snap() };
    }
  });
}"""


class Picker:
    """Fresh ids, and existing ids picked at random (or, now and then, one that is not)."""

    def __init__(self, rng: random.Random, prefix: str, hit: float) -> None:
        self.rng, self.prefix, self.hit, self.n = rng, prefix, hit, 0

    def new_id(self) -> str:
        self.n += 1
        return f"{self.prefix}:{self.n}"

    def some(self, table: dict[str, Any]) -> str:
        rng = self.rng
        return rng.choice(sorted(table)) if table and rng.random() < self.hit else "nope"


def random_ops(rng: random.Random, count: int) -> list[Any]:
    """Ops against a document that evolves as the Python engine applies them."""
    doc = Document()
    ops: list[Any] = []
    pick = Picker(rng, "c", 0.9)
    new_id, some = pick.new_id, pick.some

    for _ in range(count):
        r = rng.random()
        tracks, patterns, notes = doc.tracks, doc.patterns, doc.notes
        if r < 0.12 or not tracks:
            value: dict[str, Any] = {
                "name": f"t{pick.n}",
                "kind": rng.choice(["drums", "instrument", "audio", "bad"]),
            }
            if rng.random() < 0.3:
                value["volume"] = rng.choice([0.5, 2, 2.5, -1, "loud", 1])
            op: Any = {"op": "insert", "kind": "track", "id": new_id(), "value": value}
            if rng.random() < 0.3:
                op["index"] = rng.randrange(-1, len(tracks) + 2)
        elif r < 0.22:
            length = rng.choice([4, 8, 16, 0, 300])
            lanes = [
                {"sound": rng.randrange(35, 60), "steps": [0] * length}
                for _ in range(rng.randrange(0, 4))
            ]
            op = {"op": "insert", "kind": "pattern", "id": new_id(),
                  "value": {"track": some(tracks), "length": length, "lanes": lanes}}  # fmt: skip
        elif r < 0.4:
            op = {"op": "insert", "kind": "note", "id": new_id(),
                  "value": {"track": some(tracks), "pitch": rng.choice([60, 64, 127, 128, -1]),
                            "start": rng.choice([0, 240, 960, 38_400_001]),
                            "dur": rng.choice([1, 240, 0, 1.5])}}  # fmt: skip
        elif r < 0.55 and patterns:
            pid = some(patterns)
            op = {"op": "set", "id": pid, "field": "steps",
                  "at": [rng.randrange(-1, 4), rng.randrange(-1, 18)], "value": rng.choice([0, 100, 127, 128, True])}  # fmt: skip
        elif r < 0.62 and patterns:
            op = {"op": "set", "id": some(patterns), "field": rng.choice(["length", "steps_per_beat", "name"]),
                  "value": rng.choice([8, 12, 32, 0, 17, "x"])}  # fmt: skip
        elif r < 0.72:
            eid = rng.choice([some(tracks), some(notes), "project"])
            field, value = rng.choice([
                ("volume", 0.3), ("pan", -1.5), ("mute", True), ("mute", 1), ("name", "y" * 65),
                ("pitch", 61), ("vel", 0), ("start", 480), ("tempo", 96.5), ("tempo", 10),
                ("meter", [7, 8]), ("meter", [4, 3]), ("key", "F# minor"), ("key", "H major"),
                ("loop", {"start": 0, "end": 960, "on": True}), ("swing", 0.5), ("nofield", 1),
                ("transport", {"playing": True, "beat": 0.0, "time": 5}),
            ])  # fmt: skip
            op = {"op": "set", "id": eid, "field": field, "value": value}
        elif r < 0.8:
            op = {
                "op": "delete",
                "id": rng.choice([some(tracks), some(notes), some(patterns), "project"]),
            }
        elif r < 0.86:
            op = {"op": "move", "id": some(tracks), "index": rng.randrange(-1, len(tracks) + 1)}
        elif r < 0.95:
            inner = [
                {"op": "set", "id": some(tracks), "field": "volume", "value": 0.25},
                {
                    "op": "insert",
                    "kind": "note",
                    "id": new_id(),
                    "value": {"track": some(tracks), "pitch": 50, "start": 0},
                },
            ]
            if rng.random() < 0.3:
                inner.append(
                    rng.choice(
                        [
                            {"op": "batch", "ops": []},
                            {"op": "set", "id": "nope", "field": "x", "value": 1},
                        ]
                    )
                )
            op = {"op": "batch", "ops": inner}
        else:
            op = rng.choice([{"op": "nope"}, {"op": "set", "id": "project"}, {"op": "delete", "id": "p", "x": 1},
                             {"op": "insert", "kind": "clip", "id": new_id(), "value": {"track": some(tracks), "pattern": some(patterns), "start": 0}},
                             {"op": "insert", "kind": "wat", "id": new_id(), "value": {}}, []])  # fmt: skip
        ops.append(op)
        with contextlib.suppress(BacklineError):
            apply(doc, op)
    return ops


def arrangement_ops(rng: random.Random, count: int) -> list[Any]:
    """Ops on the arrangement: pattern and notes clips, notes inside clips, sections and
    colours, with overlaps, wrong tracks, cascades and index-moving sets."""
    doc = Document()
    ops: list[Any] = []
    pick = Picker(rng, "a", 0.92)
    new_id, some = pick.new_id, pick.some

    bar = 4 * model.PPQ
    for _ in range(count):
        r = rng.random()
        tracks, patterns, clips = doc.tracks, doc.patterns, doc.clips
        start = rng.choice(
            [0, bar, 2 * bar, 3 * bar, bar // 2, 7 * bar, DEFAULT_LIMITS.max_tick - bar]
        )
        if r < 0.08 or len(tracks) < 2:
            value: dict[str, Any] = {"kind": rng.choice(["drums", "instrument"])}
            if rng.random() < 0.5:
                value["color"] = rng.choice(["#ff0000", "#12ab9f", "#FF0000", "red", 7, "#fff"])
            op: Any = {"op": "insert", "kind": "track", "id": new_id(), "value": value}
        elif r < 0.15:
            op = {"op": "insert", "kind": "pattern", "id": new_id(),
                  "value": {"track": some(tracks), "length": rng.choice([16, 12, 3])}}  # fmt: skip
        elif r < 0.33:
            value = {"track": some(tracks), "start": start}
            if rng.random() < 0.5:
                value["pattern"] = rng.choice([some(patterns), None])
            if rng.random() < 0.6:
                value["length"] = rng.choice([bar, 2 * bar, bar // 4, 0])
            op = {"op": "insert", "kind": "clip", "id": new_id(), "value": value}
        elif r < 0.48:
            value = {"track": some(tracks), "pitch": 60, "start": rng.choice([0, 240, 960])}
            if rng.random() < 0.75:
                value["clip"] = rng.choice([some(clips), None])
            op = {"op": "insert", "kind": "note", "id": new_id(), "value": value}
        elif r < 0.58:
            value = {"start": start}
            if rng.random() < 0.7:
                value["length"] = rng.choice([bar, 4 * bar, 8 * bar])
            if rng.random() < 0.4:
                value["name"] = rng.choice(["Verse", "Chorus", "x" * 80])
            if rng.random() < 0.3:
                value["color"] = rng.choice(["#00ff88", "#00FF88", None])
            op = {"op": "insert", "kind": "section", "id": new_id(), "value": value}
        elif r < 0.8:
            eid = rng.choice([some(clips), some(doc.sections), some(doc.notes), some(patterns)])
            field, value = rng.choice([
                ("start", start), ("start", 0), ("length", bar), ("length", 16 * bar),
                ("track", some(tracks)), ("pattern", some(patterns)), ("pattern", None),
                ("clip", some(clips)), ("clip", None), ("color", "#abcdef"), ("name", "Bridge"),
            ])  # fmt: skip
            op = {"op": "set", "id": eid, "field": field, "value": value}
        elif r < 0.92:
            ids = [some(clips), some(doc.sections), some(patterns), some(tracks), some(doc.notes)]
            op = {"op": "delete", "id": rng.choice(ids)}
        else:
            eid = some(clips)
            op = {"op": "batch", "ops": [
                {"op": "set", "id": eid, "field": "start", "value": start},
                {"op": "set", "id": eid, "field": "length", "value": rng.choice([bar, 2 * bar])},
            ]}  # fmt: skip
        ops.append(op)
        with contextlib.suppress(BacklineError):
            apply(doc, op)
    return ops


def run_python(ops: list[Any]) -> list[dict[str, Any]]:
    doc = Document()
    out: list[dict[str, Any]] = []
    for i, op in enumerate(ops):
        try:
            out.append({"inverse": apply(doc, op)})
        except BacklineError as exc:
            out.append({"error": exc.code.value})
        out[-1]["doc"] = doc.to_data() if i % 10 == 9 or i == len(ops) - 1 else None
    return out


def test_js_engine_equals_python(page: Page, server: ServerProcess) -> None:
    """Same inverse or error code for every op, same document every ten ops and at the end."""
    page.goto(server.http_url + "/")
    rng = random.Random(20261127)
    ops = random_ops(rng, 600)
    expected = run_python(ops)
    actual = page.evaluate(RUN_JS, ops)
    errors = sum("error" in e for e in expected)
    assert 60 < errors < 400, errors  # the stream exercises both paths
    for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
        assert got == want, f"op {i}: {ops[i]}"


def test_js_arrangement_equals_python(page: Page, server: ServerProcess) -> None:
    """Clips, notes clips, sections and colours: the same inverse or error code for every
    op (overlap, wrong track, notes clip without a length…), the same document."""
    page.goto(server.http_url + "/")
    ops = arrangement_ops(random.Random(20261203), 700)
    expected = run_python(ops)
    actual = page.evaluate(RUN_JS, ops)
    codes = {e.get("error") for e in expected}
    assert {"overlap", "bad_field", "not_found", "out_of_range", None} <= codes, codes
    final = expected[-1]["doc"]
    assert final["sections"] and final["clips"], "the stream leaves an arrangement behind"
    assert any(c["pattern"] is None for c in final["clips"])
    assert any(note["clip"] is not None for note in final["notes"])
    for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
        assert got == want, f"op {i}: {ops[i]}"


REPLICA_JS = """async ({ setup, ops, steps }) => {
  const { Replica } = await import("/replica.js");
  const { apply } = await import("/ops.js");
  const r = new Replica();
  r.client = "me";
  setup.forEach((op) => apply(r.doc, op));
  ops.forEach(([seq, o]) => r.local(seq, o));
  return steps.map((step) => {
    if (step.reject !== undefined) r.reject(step.reject);
    else r.confirm(step);
    return { doc: r.doc.toData(), version: r.version, pending: r.pending.map((p) => [p.seq, p.inverse !== null]) };
  });
}"""


def test_js_replica_rebases_as_python(page: Page, server: ServerProcess) -> None:
    """Local edits under remote batches, acks, an edit that stops applying and a reject:
    the same document, version and pending edits after each step."""
    page.goto(server.http_url + "/")
    track = {"op": "insert", "kind": "track", "id": "t", "value": {"kind": "drums"}}
    mine = [
        (1, [{"op": "insert", "kind": "note", "id": "me:1", "value": {"track": "t", "pitch": 60, "start": 0}}]),
        (2, [{"op": "set", "id": "t", "field": "volume", "value": 0.5}]),
        (3, [{"op": "set", "id": "me:1", "field": "pitch", "value": 62}]),
    ]  # fmt: skip
    steps: list[dict[str, Any]] = [
        {"v": 1, "by": "other", "seq": 1, "ops": [{"op": "set", "id": "t", "field": "volume", "value": 0.9}]},
        {"v": 2, "by": "me", "seq": 1, "ops": mine[0][1]},
        {"v": 3, "by": "other", "seq": 2, "ops": [{"op": "delete", "id": "me:1"}]},
        {"v": 4, "by": "me", "seq": 2, "ops": mine[1][1]},
        {"reject": 3},
    ]  # fmt: skip
    py = Replica(Document(), client="me")
    apply(py.doc, track)
    for seq, ops in mine:
        py.local(seq, ops)
    expected = []
    for step in steps:
        if "reject" in step:
            py.reject(step["reject"])
        else:
            py.confirm(Batch.from_wire(step))
        expected.append({
            "doc": py.doc.to_data(), "version": py.version,
            "pending": [[p.seq, p.inverse is not None] for p in py.pending],
        })  # fmt: skip
    actual = page.evaluate(
        REPLICA_JS, {"setup": [track], "ops": [list(m) for m in mine], "steps": steps}
    )
    assert actual == expected
    assert expected[2]["pending"] == [[2, True], [3, False]]  # the pitch change stopped applying


# -- every field's bounds, as /protocol.js describes them, under two sets of limits ----

BOUNDS_JS = """async ({ setup, vectors }) => {
  const { Document, apply } = await import("/ops.js");
  const base = new Document();
  setup.forEach((op) => apply(base, op));
  const data = base.toData();
  return vectors.map((op) => {
    const doc = Document.fromData(data);
    try {
      return { inverse: apply(doc, op), doc: doc.toData() };
    } catch (error) {
      if (error.code === undefined) throw error;
      return { error: error.code, doc: doc.toData() };
    }
  });
}"""

# one of each kind, in SETUP
ENTITY = {"track": "t", "pattern": "p", "note": "n", "clip": "c", "section": "s", "chord": "h"}
SETUP: list[Any] = [
    {"op": "insert", "kind": "track", "id": "t", "value": {"kind": "drums"}},
    {"op": "insert", "kind": "track", "id": "t2", "value": {}},
    {"op": "insert", "kind": "pattern", "id": "p",
     "value": {"track": "t", "length": 4, "lanes": [{"sound": 36, "steps": [0, 0, 0, 0]}]}},
    {"op": "insert", "kind": "pattern", "id": "p2", "value": {"track": "t2"}},
    {"op": "insert", "kind": "note", "id": "n", "value": {"track": "t", "pitch": 60, "start": 0}},
    {"op": "insert", "kind": "clip", "id": "c", "value": {"track": "t", "pattern": "p", "start": 0}},
    {"op": "insert", "kind": "clip", "id": "nc", "value": {"track": "t", "start": 1920, "length": 960}},
    {"op": "insert", "kind": "section", "id": "s", "value": {"start": 0, "length": 960}},
    {"op": "insert", "kind": "chord", "id": "h", "value": {"start": 0, "length": 960, "quality": "m7"}},
]  # fmt: skip
REQUIRED = {  # what an insert of each kind needs besides the field under test
    "track": {},
    "pattern": {"track": "t", "length": 4},
    "note": {"track": "t", "pitch": 60, "start": 0},
    "clip": {"track": "t", "pattern": "p", "start": 7680},  # clear of c and nc
    "section": {"start": 1920, "length": 960},
    "chord": {"start": 1920, "length": 960},
}
SMALL = Limits(
    max_tracks=4, max_lanes=3, max_steps=12, max_name_len=8, max_id_len=10, max_tick=10_000
)


def around(desc: dict[str, Any]) -> list[tuple[Any, bool]]:
    """(value, inside) at and just past each end of a described int or number range."""
    lo, hi = desc["min"], desc["max"]
    out = [
        (lo, True),
        (hi, True),
        (next_out(lo, -math.inf), False),
        (next_out(hi, math.inf), False),
        ("1", False),
    ]
    out.append((True, False))
    if desc["type"] == "int":
        out.append((lo + 0.5, False))
    return out


def field_values(
    kind: str, name: str, desc: dict[str, Any], limits: Limits
) -> list[tuple[Any, bool | None]]:
    """Values for one field: inside its description (True), outside (False), either (None)."""
    kind_of = desc["type"]
    either: list[tuple[Any, bool | None]] = [(None, None)] if desc["optional"] else []
    if kind == "chord" and name == "inversion":
        # the quality decides how many inversions a chord has: both engines must agree
        return [(v, None) for v, _ in around(desc)]
    if kind in ("clip", "section", "chord") and name in ("start", "length"):
        # a span must not overlap another, nor end past the last tick: at the ends of
        # its range a value may be refused for that (both engines must agree)
        return [
            (v, None if v in (desc["min"], desc["max"]) else inside) for v, inside in around(desc)
        ]
    if kind_of in ("int", "number"):
        return list(around(desc))
    if kind_of == "bool":
        return [(True, True), (False, True), (0, False), (None, False)]
    if kind_of == "text":
        n = desc["max_len"]
        return [("x" * n, True), ("x" * (n + 1), False), ("\U0001d11e" * n, True),
                ("\U0001d11e" * (n + 1), False), (5, False)]  # fmt: skip
    if kind_of == "choice":
        wrong = "nope" if isinstance(desc["choices"][0], str) else 999
        return [*((c, True) for c in desc["choices"]), (wrong, False), ([], False)]
    if kind_of == "color":
        return [("#12ab9f", True), ("#12AB9F", False), ("red", False), ("#fff", False), (5, False)]
    if kind_of == "id":
        n = limits.max_id_len
        target = {
            "track": "t2" if kind == "pattern" else "t",
            "pattern": "p",  # a clip's pattern is on the clip's track
            "clip": "nc",  # a note's clip is a notes clip on its track
        }[desc["ref"]]
        return [*either, (target, True), ("nope", False), ("", False), ("a" * (n + 1), False),
                ("\U0001d11e" * (n // 2 + 1), False), ("a b", False), (5, False)]  # fmt: skip
    if kind_of == "meter":
        lo, hi = desc["numerator"]
        out: list[tuple[Any, bool | None]] = [([lo, d], True) for d in desc["denominators"]]
        out += [([hi, 4], True), ([lo - 1, 4], False), ([hi + 1, 4], False), ([4, 3], False),
                ([4, 4.5], False), ([4], False), ("4/4", False)]  # fmt: skip
        return out
    if kind_of == "key":
        return [("F# minor", True), ("Bb dorian", True), ("H major", False), ("c major", False),
                (5, False)]  # fmt: skip
    if kind_of == "loop":
        lo, hi = desc["tick"]["min"], desc["tick"]["max"]
        loop = {"start": lo, "end": lo + 1, "on": True}
        return [
            (loop, True),
            ({**loop, "start": next_out(lo, -math.inf)}, False),
            ({**loop, "end": hi}, True),
            ({**loop, "end": next_out(hi, math.inf)}, False),
            ({**loop, "start": hi, "end": hi}, False),
            ({**loop, "start": next_out(hi, math.inf), "end": hi}, False),
            ({**loop, "on": 1}, False),
            ({"start": lo, "end": lo + 1}, False),
            ({**loop, "x": 1}, False),
        ]
    if kind_of == "transport":
        anchor = {"playing": True, "beat": 0.0, "time": 0}
        out = [({**anchor, part: v}, inside) for part in ("beat", "time")
               for v, inside in around(desc[part])]  # fmt: skip
        return [*out, ({**anchor, "playing": "yes", "beat": -1}, False), ({"beat": 0}, False)]
    if kind_of == "lanes":
        length = REQUIRED["pattern"]["length"]

        def lane(sound: Any = 36, steps: Any = None) -> dict[str, Any]:
            return {"sound": sound, "steps": [0] * length if steps is None else steps}

        out = [([lane(sound=v)], inside) for v, inside in around(desc["sound"])]
        out += [([lane(steps=[v] * length)], inside) for v, inside in around(desc["step"])]
        return [
            *out,
            ([lane()] * desc["max_lanes"], True),
            ([lane()] * (desc["max_lanes"] + 1), False),
            ([lane(steps=[0] * (desc["max_steps"] + 1))], False),
            ([lane(steps=[0] * (length + 1))], False),
            ([{"sound": 36}], False),
            (["lane"], False),
            ({}, False),
        ]
    raise AssertionError(f"no values for a field of type {kind_of}")


def bound_vectors(limits: Limits) -> tuple[list[Any], dict[str, tuple[str, str, bool | None]]]:
    """Ops exercising every field of every kind at and past its bounds (set and insert), a
    step set with `at`, ids, and the entity limits; with what each exercises."""
    schemas = protocol_constants(limits)["SCHEMAS"]
    vectors: list[Any] = []
    about: dict[str, tuple[str, str, bool | None]] = {}

    def add(op: Any, kind: str, field: str, inside: bool | None) -> None:
        about[str(len(vectors))] = (kind, field, inside)
        vectors.append(op)

    for kind, fields in schemas.items():
        for name, desc in fields.items():
            for value, inside in field_values(kind, name, desc, limits):
                target = ENTITY.get(kind, model.PROJECT_ID)
                add({"op": "set", "id": target, "field": name, "value": value}, kind, name, inside)
                if kind != "project":
                    fresh = {**REQUIRED[kind], name: value}
                    if name == "length" and kind == "pattern":
                        fresh = {"track": "t", "length": value}
                    op = {"op": "insert", "kind": kind, "id": f"new-{len(vectors)}", "value": fresh}
                    add(op, kind, name, inside)
    step = schemas["pattern"]["lanes"]["step"]
    for value, inside in around(step):
        op = {"op": "set", "id": "p", "field": "steps", "at": [0, 3], "value": value}
        add(op, "pattern", "steps", inside)
    for at, inside in (([0, 4], False), ([1, 0], False), ([-1, 0], False), ([0, 0.5], False)):
        op = {"op": "set", "id": "p", "field": "steps", "at": at, "value": 1}
        add(op, "pattern", "steps", inside)
    n = limits.max_id_len
    for eid, inside in (("a" * n, True), ("a" * (n + 1), False), ("", False),
                        ("\U0001d11e" * (n // 2 + 1), False), ("t", False), ("project", False)):  # fmt: skip
        add({"op": "insert", "kind": "track", "id": eid, "value": {}}, "track", "id", inside)
        add({"op": "delete", "id": eid}, "track", "id", None)
    room = limits.max_tracks - sum(op["kind"] == "track" for op in SETUP)
    for count, inside in ((room, True), (room + 1, False)):
        inserts = [
            {"op": "insert", "kind": "track", "id": f"x{i}", "value": {}} for i in range(count)
        ]
        add({"op": "batch", "ops": inserts}, "track", "limit", inside)
    for shape in ({"op": "toString"}, {"op": "constructor", "id": "t"}, {"op": "__proto__"},
                  {"op": "insert", "kind": "toString", "id": "z", "value": {}},
                  {"op": "set", "id": "t", "field": "toString", "value": 1},
                  {"op": "move", "id": "t", "index": 2}, {"op": "move", "id": "t", "index": 1}):  # fmt: skip
        add(shape, "op", "shape", None)
    return vectors, about


@pytest.mark.parametrize("limits", [DEFAULT_LIMITS, SMALL], ids=["default", "small"])
def test_every_field_bound_as_python(page: Page, web_server: str, limits: Limits) -> None:
    """Every field of every kind at, and just past, each end of the range /protocol.js gives
    it: ops.js and protocol/ops.py give the same inverse or error code and document. The
    page gets /protocol.js generated with the limits under test, so a range ops.js kept
    for itself (instead of reading it) fails with the small limits."""
    module = protocol_module(limits)
    page.route(
        "**/protocol.js",
        lambda route: route.fulfill(body=module, content_type="text/javascript; charset=utf-8"),
    )
    page.goto(f"{web_server}/")
    vectors, about = bound_vectors(limits)
    base = Document(limits)
    for op in SETUP:
        apply(base, op)
    expected: list[dict[str, Any]] = []
    for op in vectors:
        doc = base.copy()
        try:
            expected.append({"inverse": apply(doc, op)})
        except BacklineError as exc:
            expected.append({"error": exc.code.value})
        expected[-1]["doc"] = doc.to_data()
    actual = page.evaluate(BOUNDS_JS, {"setup": SETUP, "vectors": vectors})
    for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
        assert exact(got) == exact(want), f"vector {i} {about[str(i)]}: {vectors[i]}"
    # the vectors reach every field, on both sides of its bounds, as Python sees them
    outcomes: dict[tuple[str, str], set[bool]] = {}
    for i, want in enumerate(expected):
        kind, field, inside = about[str(i)]
        if inside is not None:
            assert ("error" not in want) is inside, f"vector {i} {about[str(i)]}: {vectors[i]}"
        outcomes.setdefault((kind, field), set()).add("error" not in want)
    for kind, fields in model.SCHEMAS.items():
        for field in fields:
            assert outcomes[(kind, field)] == {True, False}, (kind, field)


RESOLVE_JS = """async ({ setup, vectors, now, lead }) => {
  const { Document, apply } = await import("/ops.js");
  const { resolve } = await import("/replica.js");
  const base = new Document();
  setup.forEach((op) => apply(base, op));
  return vectors.map((ops) => {
    try {
      return { ops: resolve(Document.fromData(base.toData()), ops, now, lead) };
    } catch (error) {
      if (error.code === undefined) throw error;
      return { error: error.code };
    }
  });
}"""


def test_intents_resolve_as_python(page: Page, web_server: str) -> None:
    """replica.js resolves play, stop and seek (a seek beat at and past each end of
    SEEK_BEAT, intents with keys missing or extra) and re-anchors tempo and meter changes
    as protocol/transport.py does."""
    page.goto(f"{web_server}/")
    seek = protocol_constants()["SEEK_BEAT"]
    playing = {"playing": True, "beat": 2.0, "time": 500_000}
    setup = [{"op": "set", "id": "project", "field": "transport", "value": playing}]
    vectors: list[Any] = [[{"op": "seek", "beat": beat}] for beat, _ in around(seek)]
    vectors += [
        [{"op": "play"}], [{"op": "stop"}], [{"op": "play", "x": 1}], [{"op": "seek"}],
        [{"op": "stop"}, {"op": "play"}], [{"op": "batch", "ops": [{"op": "stop"}]}],
        [{"op": "set", "id": "project", "field": "transport", "value": playing}],
        [{"op": "set", "id": "project", "field": "tempo", "value": 90.0}],
        [{"op": "set", "id": "project", "field": "meter", "value": [7, 8]}],
        [{"op": "set", "id": "project", "field": "tempo", "value": 1000.0}],
        [{"op": "set", "id": "project", "field": "swing", "value": 0.5}],
    ]  # fmt: skip
    now, lead = 1_250_000, 200_000
    base = Document()
    for op in setup:
        apply(base, op)
    expected: list[dict[str, Any]] = []
    for ops in vectors:
        try:
            expected.append({"ops": resolve(base.copy(), ops, now, lead)})
        except BacklineError as exc:
            expected.append({"error": exc.code.value})
    actual = page.evaluate(
        RESOLVE_JS, {"setup": setup, "vectors": vectors, "now": now, "lead": lead}
    )
    assert sum("error" in e for e in expected) >= 5
    for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
        assert got == want, f"vector {i}: {vectors[i]}"
