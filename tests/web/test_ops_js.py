"""web/ops.js applies ops exactly as protocol/ops.py does.

A seeded stream of ops, valid and invalid (wrong types, out of range,
unknown ids, conflicts, nested batches, cascades, resizes), runs through
both engines: every op must give the same inverse or the same error code,
and the documents must stay equal after each step. The replica's rebase is
checked the same way against protocol/replica.py.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

from playwright.sync_api import Page

from backline.protocol.errors import BacklineError
from backline.protocol.messages import Batch
from backline.protocol.model import Document
from backline.protocol.ops import apply
from backline.protocol.replica import Replica
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


def random_ops(rng: random.Random, count: int) -> list[Any]:
    """Ops against a document that evolves as the Python engine applies them."""
    doc = Document()
    ops: list[Any] = []
    n = 0

    def new_id() -> str:
        nonlocal n
        n += 1
        return f"c:{n}"

    def some(table: dict[str, Any]) -> str:
        return rng.choice(sorted(table)) if table and rng.random() < 0.9 else "nope"

    for _ in range(count):
        r = rng.random()
        tracks, patterns, notes = doc.tracks, doc.patterns, doc.notes
        if r < 0.12 or not tracks:
            value: dict[str, Any] = {
                "name": f"t{n}",
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
