"""The versus scenario runs end to end at a tiny load: the Node.js generator drives
Backline, Hocuspocus, the Node ws relay and the picows relay, and the report holds
every row.

Only behaviour is asserted (every edit delivered once per member, round trips
measured, generator CPU reported, the report written); never a timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("backline-memory", "hocuspocus", "node", "picows")
MEMBERS = 2  # config 2x2: every edit is two deliveries, the sender's own included


def _run_versus(out: Path) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable, "-m", "loadtest", "versus", "--out", str(out),
        "--targets", ",".join(TARGETS), "--generators", "node", "--configs", f"2x{MEMBERS}",
        "--seconds", "0.3", "--max-steps", "2", "--start", "200",
    ]  # fmt: skip
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


def _by_target(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["target"], []).append(row)
    return grouped


def test_node_generator_drives_backline_hocuspocus_and_the_relay(tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = _run_versus(out)
    assert done.returncode == 0, done.stderr[-4000:]

    result = json.loads((out / "result.json").read_text())
    versus = result["versus"]
    assert {(s["target"], s["generator"]) for s in versus["summary"]} == {
        (t, "node") for t in TARGETS
    }
    steps = _by_target(versus["steps"])
    assert set(steps) == set(TARGETS)
    for target, rows in steps.items():
        assert 1 <= len(rows) <= 2, target
        for row in rows:
            assert row["edits_sent"] > 0, target
            assert row["deliveries_per_s"] > 0, target
            assert row["rtt_p50_ms"] > 0 and row["rtt_max_ms"] >= row["rtt_p50_ms"], target
            assert row["generator_cpu_pct"] > 0 and row["generator_pid_cpu_s"] > 0, target
            assert row["server_rss_mb"] > 0, target
        # after the last drain every edit sent so far has reached both members, once each
        last = rows[-1]
        assert last["sockets_lost"] == 0, target
        assert last["edits_total"] > 0, target
        expected = last["edits_total"] * MEMBERS
        assert abs(last["deliveries_total"] - expected) <= 0.05 * expected, (target, last)
    # Hocuspocus also broadcasts the update back to its sender: that copy is timed too
    assert all(row["rtt_echo_p50_ms"] > 0 for row in steps["hocuspocus"])

    report = (out / "report.md").read_text()
    assert "## Versus" in report and "### 2x2" in report
    for target in TARGETS:
        assert f"| {target} | node |" in report
    assert "hocuspocus" in done.stdout  # the terminal summary
