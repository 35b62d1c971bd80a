"""Rebuilding any version of a long session: the target is under 200 ms at 100,000 versions.

    python -m loadtest.history_bench                 # 100,000 versions, SQLite, 200 samples
    python -m loadtest.history_bench --versions 20000 --every 500 --samples 50

Writes a session of `--versions` versions straight into a SQLite store the
way the server does (log entries decided by the real `Sequencer`, a milestone
every `--every` versions, as ``--snapshot-every``), a song that grows: tracks,
then notes, with tempo and name changes and an undo now and then. Then it
rebuilds random versions through `server.history.History.rebuild` (the code
``at(v)``, restores, forks and renders use), and the worst case (the version
just before a milestone: the longest replay) on its own.

The baseline, measured in the same run, is loading the session as a server
does on first join (its latest snapshot plus the entries after it): the ratio
says what reaching an arbitrary version costs beyond that, whatever the
machine's speed. Also reported: the SQLite file's bytes per edit and per
milestone, for docs/SCALING.md. Prints the figures and writes
``loadtest/results/history-<time>.json`` and ``.md``; nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backline.protocol.codec import decode_record, encode
from backline.protocol.entry import EntryKind, LogEntry
from backline.protocol.errors import BacklineError
from backline.protocol.sequencer import Sequencer
from backline.server.history import History
from backline.server.storage.sqlite import SQLiteStore

from .report import publish, run

BATCH = 500  # entries per append while building


@dataclass
class HistoryRun:
    versions: int
    every: int
    samples: int
    build_s: float
    rebuild_p50_ms: float
    rebuild_p99_ms: float
    rebuild_max_ms: float
    worst_case_ms: float
    load_baseline_ms: float
    p99_over_baseline: float
    timeline_ms: float
    db_bytes: int
    bytes_per_version: float
    entry_bytes_per_version: float
    milestones: int
    milestone_kib: float


def _ops(rnd: random.Random, seq: Sequencer, n: int) -> list[dict[str, Any]]:
    doc = seq.doc
    tracks = doc.track_order
    roll = rnd.random()
    if not tracks or (roll < 0.02 and len(tracks) < 16):
        kind = rnd.choice(["instrument", "drums"])
        return [{"op": "insert", "kind": "track", "id": f"t{n}", "value": {"kind": kind}}]
    if roll < 0.05:
        return [{"op": "set", "id": "project", "field": "tempo", "value": 80.0 + n % 80}]
    if roll < 0.10:
        return [{"op": "set", "id": rnd.choice(tracks), "field": "volume", "value": rnd.random()}]
    if roll < 0.2 and len(doc.notes) > 100:
        return [{"op": "delete", "id": next(iter(doc.notes))}]
    if len(doc.notes) >= 20_000:
        return [{"op": "set", "id": next(iter(doc.notes)), "field": "vel", "value": 1 + n % 127}]
    note = {"track": rnd.choice(tracks), "pitch": rnd.randrange(36, 96),
            "start": rnd.randrange(0, 960 * 4 * 256, 120), "dur": 240}  # fmt: skip
    return [{"op": "insert", "kind": "note", "id": f"n{n}", "value": note}]


async def build(store: SQLiteStore, versions: int, every: int, rnd: random.Random) -> Sequencer:
    seq = Sequencer()
    seqs = {"ann": 0, "bob": 0, "cy": 0}
    n = 0
    wall = 1_760_000_000_000
    while seq.version < versions:
        records: list[bytes] = []
        # (index in records, journal, snapshot, version): saved once the entry has its id
        milestones: list[tuple[int, bytes, bytes, int]] = []
        while len(records) < BATCH and seq.version < versions:
            n += 1
            by = ("ann", "bob", "cy")[n % 3]
            seqs[by] += 1
            if rnd.random() < 0.03:
                entry = LogEntry(EntryKind.UNDO, by, seqs[by], wall=wall + n * 500)
            else:
                ops = _ops(rnd, seq, n)
                entry = LogEntry(EntryKind.OP, by, seqs[by], ops=ops, wall=wall + n * 500)
            record = encode(entry.to_wire())
            before = seq.version
            with contextlib.suppress(BacklineError):  # refused: no version, as on a server
                seq.apply_entry(decode_record(record))
            records.append(record)
            if seq.version != before and seq.version % every == 0:  # as Session does
                journal, snapshot = encode(seq.take_journal()), encode(seq.snapshot())
                milestones.append((len(records) - 1, journal, snapshot, seq.version))
        ids = await store.append("bench", records)
        for index, journal, snapshot, version in milestones:
            await store.save_snapshot(
                "bench", ids[index], snapshot, version=version, journal=journal
            )
    return seq


async def measure(versions: int, every: int, samples: int) -> HistoryRun:
    rnd = random.Random(1)
    with tempfile.TemporaryDirectory() as where:
        store = SQLiteStore(Path(where))
        try:
            started = time.perf_counter()
            final = await build(store, versions, every, rnd)
            build_s = time.perf_counter() - started
            history = History(store)
            t = time.perf_counter()
            loaded = await history.rebuild("bench")
            baseline = (time.perf_counter() - t) * 1000
            assert loaded.sequencer.doc == final.doc
            times = []
            for _ in range(samples):
                version = rnd.randrange(1, versions + 1)
                t = time.perf_counter()
                rebuilt = await history.rebuild("bench", version)
                times.append((time.perf_counter() - t) * 1000)
                assert rebuilt.sequencer.version == version
            worst_version = (versions // every - 1) * every + every - 1
            worst = []
            for _ in range(5):
                t = time.perf_counter()
                await history.rebuild("bench", worst_version)
                worst.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            rows = await history.versions("bench")
            timeline = (time.perf_counter() - t) * 1000
            assert len(rows) == versions
            milestones = len(await store.milestones("bench"))
        finally:
            await store.close()
        size = sum(p.stat().st_size for p in Path(where).glob("backline.db*"))
        with sqlite3.connect(Path(where) / "backline.db") as db:
            entry_bytes = db.execute("SELECT sum(length(data)) FROM entries").fetchone()[0]
            kept = db.execute("SELECT avg(length(data) + length(journal)) FROM milestones")
            milestone_bytes = kept.fetchone()[0] or 0
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return HistoryRun(
        versions, every, samples, round(build_s, 1), round(statistics.median(times), 1),
        round(p99, 1), round(times[-1], 1), round(statistics.median(worst), 1),
        round(baseline, 1), round(p99 / baseline, 2), round(timeline, 1), size,
        round(size / versions, 1), round(entry_bytes / versions, 1), milestones,
        round(milestone_bytes / 1024, 1),
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.history_bench", description=__doc__)
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=500, help="as --snapshot-every")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args(argv)

    async def go() -> None:
        r = await measure(args.versions, args.every, args.samples)
        text = (
            "# Rebuilding any version (SQLite, one process)\n\n"
            "| versions | every | rebuild p50 ms | p99 ms | max ms | worst case ms |"
            " load baseline ms | p99/baseline | timeline ms | file bytes/version |"
            " entry bytes/version | milestones | KiB/milestone |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
            f"| {r.versions} | {r.every} | {r.rebuild_p50_ms} | {r.rebuild_p99_ms} |"
            f" {r.rebuild_max_ms} | {r.worst_case_ms} | {r.load_baseline_ms} |"
            f" {r.p99_over_baseline} | {r.timeline_ms} | {r.bytes_per_version} |"
            f" {r.entry_bytes_per_version} | {r.milestones} | {r.milestone_kib} |\n\nTarget: any version of a 100,000-version session in under"
            " 200 ms.\n"
        )
        publish("history", [r], text)

    run(go)


if __name__ == "__main__":
    main()
