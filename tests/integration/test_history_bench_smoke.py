"""The history benchmark runs end to end at a small size (its numbers are never asserted)."""

from __future__ import annotations

from loadtest.history_bench import measure


async def test_history_bench_rebuilds_and_reports() -> None:
    run = await measure(versions=600, every=50, samples=5)
    assert run.versions == 600 and run.milestones == 12
    assert run.rebuild_p50_ms > 0 and run.load_baseline_ms > 0
    assert run.entry_bytes_per_version > 0 and run.milestone_kib > 0
