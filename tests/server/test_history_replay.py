"""Any version rebuilt from the kept log equals the session as it was then (property tests).

A small session driver does what `Session` does with each entry (append,
decide in log order, take the journal and save a milestone every few
versions) over random edits: inserts, sets, deletes, undo, redo, restores of
earlier versions, labels, invalid edits. Afterwards `History.rebuild(v)`
must equal the document recorded right after version v, for every v, on
every store, and the timeline must list every version with its author.
"""

from __future__ import annotations

import contextlib
import random
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backline.protocol.codec import decode_record, encode
from backline.protocol.entry import EntryKind, LogEntry
from backline.protocol.errors import BacklineError, BadImport, NotFound
from backline.protocol.history import changes, project_from_data, restore_ops
from backline.protocol.model import Document
from backline.protocol.ops import apply_all
from backline.protocol.sequencer import Sequencer
from backline.server.history import History
from backline.server.storage.base import Store
from backline.server.storage.memory import MemoryStore

AUTHORS = ("ann", "bob", "cy")


def random_ops(rnd: random.Random, doc: Document, n: int) -> list[dict[str, Any]]:
    """Some ops on `doc`, mostly valid (a few are refused, which must change nothing)."""
    ops: list[dict[str, Any]] = []
    tracks = list(doc.track_order)
    for _ in range(n):
        roll = rnd.random()
        if roll < 0.25 or not tracks:
            tid = f"t{rnd.randrange(10**6)}"
            kind = rnd.choice(["instrument", "drums"])
            ops.append({"op": "insert", "kind": "track", "id": tid, "value": {"kind": kind}})
            tracks.append(tid)
        elif roll < 0.55:
            ops.append(
                {
                    "op": "insert",
                    "kind": "note",
                    "id": f"n{rnd.randrange(10**6)}",
                    "value": {
                        "track": rnd.choice(tracks),
                        "pitch": rnd.randrange(128),
                        "start": rnd.randrange(0, 960 * 16, 120),
                        "dur": rnd.choice([120, 240, 960]),
                    },
                }
            )
        elif roll < 0.7:
            ops.append(
                {"op": "set", "id": rnd.choice(tracks), "field": "volume", "value": rnd.random()}
            )
        elif roll < 0.78:
            ops.append(
                {
                    "op": "set",
                    "id": "project",
                    "field": "tempo",
                    "value": rnd.randint(60, 180) * 1.0,
                }
            )
        elif roll < 0.86:
            start = rnd.randrange(0, 64) * 960
            ops.append(
                {
                    "op": "insert",
                    "kind": "section",
                    "id": f"s{rnd.randrange(10**6)}",
                    "value": {"start": start, "length": 3840, "name": rnd.choice("ABC")},
                }
            )
        elif roll < 0.95 and doc.kind_of:
            ops.append({"op": "delete", "id": rnd.choice(sorted(doc.kind_of))})
        else:
            ops.append({"op": "set", "id": "project", "field": "tempo", "value": 5000.0})  # refused
    return ops


class Driver:
    """What `Session` does with entries, on one process: append, decide, milestones."""

    def __init__(self, store: Store, every: int) -> None:
        self.store, self.every = store, every
        self.seq = Sequencer()
        self.seqs = dict.fromkeys(AUTHORS, 0)
        self.docs: dict[int, dict[str, Any]] = {0: Document().to_data()}
        self.authors: dict[int, str] = {}

    async def submit(self, entry: LogEntry, wall: int) -> None:
        stamped = LogEntry(
            **{**{f: getattr(entry, f) for f in entry.__dataclass_fields__}, "wall": wall}
        )
        [entry_id] = await self.store.append("s", [encode(stamped.to_wire())])
        before = self.seq.version
        try:
            self.seq.apply_entry(decode_record(encode(stamped.to_wire())))
        except BacklineError:
            return
        if self.seq.version == before:
            return
        self.docs[self.seq.version] = self.seq.doc.to_data()
        self.authors[self.seq.version] = entry.by
        if self.seq.version % self.every == 0:
            journal = encode(self.seq.take_journal())
            snapshot = encode(self.seq.snapshot())
            await self.store.save_snapshot(
                "s", entry_id, snapshot, version=self.seq.version, journal=journal
            )

    def next_seq(self, by: str) -> int:
        self.seqs[by] += 1
        return self.seqs[by]


async def drive(store: Store, rnd: random.Random, steps: int, every: int) -> Driver:
    driver = Driver(store, every)
    for step in range(steps):
        by = rnd.choice(AUTHORS)
        roll = rnd.random()
        wall = 1_700_000_000_000 + step * 1000
        if roll < 0.12:
            entry = LogEntry(EntryKind.UNDO, by, driver.next_seq(by))
        elif roll < 0.16:
            entry = LogEntry(EntryKind.REDO, by, driver.next_seq(by))
        elif roll < 0.22 and driver.seq.version > 1:
            back = rnd.randrange(driver.seq.version)
            entry = LogEntry(
                EntryKind.RESTORE,
                by,
                driver.next_seq(by),
                project=driver.docs[back],
                source=f"v{back}",
            )
        elif roll < 0.25:
            entry = LogEntry(EntryKind.LABEL, by, 0, name=f"take {step}")
        else:
            ops = random_ops(rnd, driver.seq.doc, rnd.randint(1, 3))
            entry = LogEntry(EntryKind.OP, by, driver.next_seq(by), ops=ops)
        await driver.submit(entry, wall)
    return driver


def open_store(kind: str, path: Path) -> Store:
    if kind == "memory":
        return MemoryStore()
    from backline.server.storage.sqlite import SQLiteStore

    return SQLiteStore(path)


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
@settings(max_examples=12)
@given(seed=st.integers(0, 2**32 - 1), every=st.sampled_from([3, 7, 50]))
async def test_at_every_version_equals_the_session_then(
    store_kind: str, seed: int, every: int
) -> None:
    rnd = random.Random(seed)
    with tempfile.TemporaryDirectory() as where:
        await check_rebuilds(open_store(store_kind, Path(where)), rnd, every)


async def check_rebuilds(store: Store, rnd: random.Random, every: int) -> None:
    try:
        driver = await drive(store, rnd, 60, every)
        history = History(store)
        for version, expected in driver.docs.items():
            rebuilt = await history.rebuild("s", version)
            assert rebuilt.sequencer.version == version
            assert rebuilt.sequencer.doc.to_data() == expected, f"v{version}"
        latest = await history.rebuild("s")
        assert latest.sequencer.doc == driver.seq.doc
        rows = await history.versions("s")
        assert [row[0] for row in rows] == sorted(driver.authors)
        assert {row[0]: row[1] for row in rows} == driver.authors
        times = [row[2] for row in rows]
        assert times == sorted(times)
        if rows:
            assert await history.version_at("s", rows[-1][2]) == rows[-1][0]
            assert await history.version_at("s", rows[0][2] - 1) == 0
        with pytest.raises(NotFound):
            await history.rebuild("s", driver.seq.version + 1)
    finally:
        await store.close()


async def test_a_missing_journal_is_rebuilt_by_replay() -> None:
    """A milestone whose save failed leaves a gap the timeline fills by replaying."""
    store = MemoryStore()
    driver = await drive(store, random.Random(7), 80, 5)
    kept = await store.milestones("s")
    assert len(kept) > 3
    del store._logs["s"].milestones[kept[1].version]  # as if that save had failed
    rows = await History(store).versions("s")
    assert [row[0] for row in rows] == sorted(driver.authors)


@settings(max_examples=60)
@given(a=st.integers(0, 2**32 - 1), b=st.integers(0, 2**32 - 1))
def test_restore_ops_turn_any_project_into_any_other(a: int, b: int) -> None:
    """`restore_ops(x, y)` applied to x gives y (its transport aside), as one batch whose
    inverse gives x back; and nothing changes for equal projects."""
    x, y = Document(), Document()
    for doc, seed in ((x, a), (y, b)):
        rnd = random.Random(seed)
        for _ in range(rnd.randint(0, 6)):
            with contextlib.suppress(BacklineError):
                apply_all(doc, random_ops(rnd, doc, rnd.randint(1, 4)))
    before = x.to_data()
    ops = restore_ops(x, y)
    assert x.to_data() == before  # computed on a copy
    if not ops:
        assert not changes(x, y)
        return
    inverse = apply_all(x, ops)
    assert x == y
    assert not changes(x, y)
    apply_all(x, inverse["ops"] if inverse["op"] == "batch" else [inverse])
    assert x.to_data() == before


def test_a_project_file_is_checked_like_edits() -> None:
    doc = Document()
    apply_all(doc, random_ops(random.Random(3), doc, 8))
    assert project_from_data(doc.to_data()) == doc
    data = doc.to_data()
    for bad in (
        [],
        {"tracks": []},
        {**data, "extra": 1},
        {**data, "project": {**data["project"], "tempo": "fast"}},
        {**data, "tracks": [{"name": "no id"}]},
        {**data, "notes": [{"id": "n", "track": "missing", "pitch": 1, "start": 0}]},
        {**data, "tracks": "not a list"},
    ):
        with pytest.raises(BadImport):
            project_from_data(bad)
