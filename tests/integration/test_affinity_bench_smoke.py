"""The affinity benchmark runs end to end at a small size (its numbers are never asserted)."""

from __future__ import annotations

import shutil

import pytest

from loadtest.affinity_bench import measure, report


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs Debian's haproxy")
async def test_affinity_bench_runs_the_three_configs_and_reports() -> None:
    rows = await measure(sessions=4, members=3, rate=40.0, seconds=1.0)
    assert [r.processes for r in rows] == [1, 1, 2]
    assert all(r.deliveries_per_s > 0 and r.server_cpu_s > 0 for r in rows)
    assert rows[0].ratio == 1.0 and rows[0].haproxy_cpu_s == 0.0
    assert "2 processes behind HAProxy" in report(rows)
