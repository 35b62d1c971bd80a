"""The soak command, CI-sized: it runs, samples the server and writes both reports.

The real soak (`python -m loadtest.soak --minutes 10`) is run by hand; its RSS
trend is a figure, not a test assertion (RSS of a 5-second run says nothing).
"""

from __future__ import annotations

import json
from pathlib import Path

from loadtest.soak import Sample, main, trend_kib_per_min


def test_trend_is_the_least_squares_slope_per_minute() -> None:
    flat = [Sample(t, 1000, 0, 0, 0, 0, 0) for t in (0.0, 60.0, 120.0)]
    assert trend_kib_per_min(flat) == 0.0
    rising = [Sample(t, 1000 + int(t), 0, 0, 0, 0, 0) for t in (0.0, 30.0, 60.0, 90.0)]
    assert abs(trend_kib_per_min(rising) - 60.0) < 1e-9  # 1 KiB/s = 60 KiB/min
    assert trend_kib_per_min(rising[:1]) == 0.0


def test_soak_smoke_writes_json_and_markdown(tmp_path: Path) -> None:
    main(["--seconds", "5", "--clients", "4", "--sessions", "2", "--sample", "1",
          "--results", str(tmp_path)])  # fmt: skip
    (json_path,) = tmp_path.glob("soak-*.json")
    (md_path,) = tmp_path.glob("soak-*.md")
    result = json.loads(json_path.read_text())
    assert len(result["samples"]) >= 3
    assert result["edits_acked"] > 0
    assert all(s["rss_kib"] > 0 and s["connections"] == 4 for s in result["samples"])
    assert "KiB/min" in md_path.read_text()
