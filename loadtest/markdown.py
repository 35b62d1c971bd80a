"""The run's tables: as Markdown for the report, as plain text for the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["fanout_ratios", "render_report", "terminal_summary", "versus_ratios"]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "-"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> list[str]:
    lines = ["| " + " | ".join(title for _, title in columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(key, "")) for key, _ in columns) + " |")
    return lines


def _plain(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> list[str]:
    cells = [[title for _, title in columns]] + [
        [_fmt(row.get(key, "")) for key, _ in columns] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]


SUMMARY_COLUMNS = [
    ("config", "config"),
    ("target", "target"),
    ("max_sustained_deliveries_per_s", "max deliveries/s"),
    ("deliveries_per_server_cpu_s", "per server CPU-s"),
    ("rtt_p99_ms_at_max", "p99 ms at max"),
    ("rtt_p99_ms_at_half", "p99 ms at half"),
    ("server_cpu_pct_at_max", "server CPU %"),
    ("generator_cpu_pct_at_max", "generator CPU %"),
    ("stopped_because", "ramp stopped"),
]
RATIO_COLUMNS = [
    ("config", "config"),
    ("target", "Backline target"),
    ("vs_node", "max / Node ws"),
    ("vs_minimal", "max / minimal"),
    ("vs_node_cpu", "per CPU-s / Node ws"),
    ("node_cpu_at", "at offered/s"),
    ("vs_minimal_cpu", "per CPU-s / minimal"),
    ("minimal_cpu_at", "at offered/s"),
]
STEP_COLUMNS = [
    ("config", "config"),
    ("target", "target"),
    ("step", "step"),
    ("offered_deliveries_per_s", "offered/s"),
    ("deliveries_per_s", "delivered/s"),
    ("frames_per_s", "frames/s"),
    ("rtt_p50_ms", "p50 ms"),
    ("rtt_p99_ms", "p99 ms"),
    ("server_cpu_pct", "server CPU %"),
    ("helper_cpu_pct", "redis CPU %"),
    ("generator_cpu_pct", "gen CPU %"),
    ("server_rss_mb", "RSS MiB"),
    ("passed", "passed"),
]
VERSUS_COLUMNS = [
    ("target", "target"),
    ("generator", "generator"),
    ("max_sustained_deliveries_per_s", "max deliveries/s"),
    ("deliveries_per_server_cpu_s", "per server CPU-s"),
    ("rtt_p99_ms_at_max", "p99 ms at max"),
    ("rtt_p99_ms_at_half", "p99 ms at half"),
    ("server_cpu_pct_at_max", "server CPU %"),
    ("generator_cpu_pct_at_max", "generator CPU % at max"),
    ("stopped_because", "ramp stopped"),
]
VERSUS_RATIO_COLUMNS = [
    ("config", "config"),
    ("versus", "Backline SQLite (node generator) over"),
    ("max_ratio", "max deliveries/s"),
    ("cpu_ratio", "per server CPU-s"),
    ("cpu_at", "per CPU-s at offered/s"),
]
VERSUS_STEP_COLUMNS = [
    ("config", "config"),
    ("target", "target"),
    ("generator", "generator"),
    ("step", "step"),
    ("offered_deliveries_per_s", "offered/s"),
    ("deliveries_per_s", "delivered/s"),
    ("frames_per_s", "frames/s"),
    ("rtt_p50_ms", "p50 ms"),
    ("rtt_p99_ms", "p99 ms"),
    ("rtt_echo_p99_ms", "own copy p99 ms"),
    ("server_cpu_pct", "server CPU %"),
    ("generator_cpu_pct", "gen CPU %"),
    ("server_rss_mb", "RSS MiB"),
    ("passed", "passed"),
]
VERSUS_REFERENCE = "backline-sqlite"
VERSUS_OTHERS = ("hocuspocus", "hocuspocus-sqlite", "node")
JOIN_COLUMNS = [
    ("target", "target"),
    ("clients", "clients"),
    ("notes", "notes"),
    ("welcome_bytes", "welcome bytes"),
    ("joins_per_s", "joins/s"),
    ("join_p50_ms", "p50 ms"),
    ("join_p99_ms", "p99 ms"),
    ("join_max_ms", "max ms"),
    ("server_cpu_pct", "server CPU %"),
    ("generator_cpu_pct", "gen CPU %"),
    ("server_rss_mb", "RSS MiB"),
]
PRESENCE_COLUMNS = [
    ("target", "target"),
    ("clients", "clients"),
    ("hz", "Hz"),
    ("updates_sent_per_s", "updates sent/s"),
    ("frames_per_s", "frames delivered/s"),
    ("entries_per_s", "peer entries/s"),
    ("latency_p50_ms", "p50 ms"),
    ("latency_p99_ms", "p99 ms"),
    ("server_cpu_pct", "server CPU %"),
    ("generator_cpu_pct", "gen CPU %"),
]
IDLE_COLUMNS = [
    ("target", "target"),
    ("connections", "connections"),
    ("rss_before_mb", "RSS before MiB"),
    ("rss_after_mb", "RSS after MiB"),
    ("kib_per_connection", "KiB per connection"),
]


def _common_step(
    steps: list[dict[str, Any]], config: str, a: str, b: str
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The steps of `a` and `b` at the highest offered rate both ran (their best try)."""

    def measured(target: str) -> dict[float, dict[str, Any]]:
        best: dict[float, dict[str, Any]] = {}
        for s in steps:
            if s["config"] != config or s["target"] != target or s["server_cpu_pct"] <= 0:
                continue
            rate = s["offered_deliveries_per_s"]
            if rate not in best or s["deliveries_per_s"] > best[rate]["deliveries_per_s"]:
                best[rate] = s
        return best

    mine, theirs = measured(a), measured(b)
    common = sorted(set(mine) & set(theirs))
    return (mine[common[-1]], theirs[common[-1]]) if common else None


def fanout_ratios(
    summary: list[dict[str, Any]], steps: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Backline over each baseline, per config, same run.

    ``vs_X``: max sustained deliveries/s over X's (nan when either ramp had no
    passing step). ``vs_X_cpu``: deliveries per server CPU-second over X's, at
    the highest offered rate both were measured at, whatever the latency: the
    same offered work, so the ratio holds even when other load on the machine
    decides how much of the core each server gets.
    """
    by = {(s["config"], s["target"]): s for s in summary}
    ratios = []
    for s in summary:
        if not s["target"].startswith("backline"):
            continue
        row: dict[str, Any] = {"config": s["config"], "target": s["target"]}
        for baseline in ("node", "minimal"):
            base = by.get((s["config"], baseline))
            mine, theirs = (
                s["max_sustained_deliveries_per_s"],
                base and base["max_sustained_deliveries_per_s"],
            )
            row[f"vs_{baseline}"] = round(mine / theirs, 2) if mine and theirs else float("nan")
            pair = _common_step(steps, s["config"], s["target"], baseline)
            if pair is None or not pair[1]["deliveries_per_server_cpu_s"]:
                row[f"vs_{baseline}_cpu"] = float("nan")
                row[f"{baseline}_cpu_at"] = float("nan")
            else:
                row[f"vs_{baseline}_cpu"] = round(
                    pair[0]["deliveries_per_server_cpu_s"] / pair[1]["deliveries_per_server_cpu_s"],
                    2,
                )
                row[f"{baseline}_cpu_at"] = pair[0]["offered_deliveries_per_s"]
        ratios.append(row)
    return ratios


def versus_ratios(
    summary: list[dict[str, Any]], steps: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Backline SQLite over Hocuspocus (both stores) and the Node relay, all driven by
    the Node generator, per config.

    ``max_ratio``: max sustained deliveries/s over the other's (nan when either
    ramp had no passing step); ``cpu_ratio``: deliveries per server CPU-second
    over the other's at the highest offered rate both were measured at.
    """
    node_steps = [s for s in steps if s.get("generator") == "node"]
    by = {(s["config"], s["target"]): s for s in summary if s.get("generator") == "node"}
    ratios = []
    for config in dict.fromkeys(s["config"] for s in summary):
        mine = by.get((config, VERSUS_REFERENCE))
        if mine is None:
            continue
        for other in VERSUS_OTHERS:
            theirs = by.get((config, other))
            if theirs is None:
                continue
            a = mine["max_sustained_deliveries_per_s"]
            b = theirs["max_sustained_deliveries_per_s"]
            row: dict[str, Any] = {
                "config": config,
                "versus": other,
                "max_ratio": round(a / b, 2) if a and b and a == a and b == b else float("nan"),
                "cpu_ratio": float("nan"),
                "cpu_at": float("nan"),
            }
            pair = _common_step(node_steps, config, VERSUS_REFERENCE, other)
            if pair is not None and pair[1]["deliveries_per_server_cpu_s"]:
                row["cpu_ratio"] = round(
                    pair[0]["deliveries_per_server_cpu_s"] / pair[1]["deliveries_per_server_cpu_s"],
                    2,
                )
                row["cpu_at"] = pair[0]["offered_deliveries_per_s"]
            ratios.append(row)
    return ratios


def _versus_tables(versus: dict[str, Any], markdown: bool) -> list[str]:
    """One summary table per config, then its ratios (Markdown or plain)."""
    table = _table if markdown else _plain
    lines: list[str] = []
    for config in dict.fromkeys(s["config"] for s in versus["summary"]):
        rows = [s for s in versus["summary"] if s["config"] == config]
        ratios = [r for r in versus["ratios"] if r["config"] == config]
        lines += [f"### {config}" if markdown else f"{config}:", ""]
        lines += [*table(rows, VERSUS_COLUMNS), ""]
        if ratios:
            lines += [*table(ratios, VERSUS_RATIO_COLUMNS), ""]
    return lines


def terminal_summary(result: dict[str, Any]) -> str:
    lines: list[str] = []
    fanout = result.get("fanout")
    if fanout:
        lines += ["", "fan-out (max sustained, p99 within the limit):"]
        lines += _plain(fanout["summary"], SUMMARY_COLUMNS)
        if fanout["ratios"]:
            lines += ["", "ratios, same run:"]
            lines += _plain(fanout["ratios"], RATIO_COLUMNS)
    versus = result.get("versus")
    if versus:
        lines += ["", "versus (max sustained, p99 within the limit), per config:", ""]
        lines += _versus_tables(versus, markdown=False)
    if result.get("join"):
        lines += ["", "join storm:", *_plain([result["join"]], JOIN_COLUMNS)]
    if result.get("presence"):
        lines += ["", "presence storm:", *_plain([result["presence"]], PRESENCE_COLUMNS)]
    if result.get("idle"):
        lines += ["", "idle connections:", *_plain(result["idle"], IDLE_COLUMNS)]
    return "\n".join(lines)


def render_report(result: dict[str, Any], images: list[Path]) -> str:
    machine = result["machine"]
    lines = [
        f"# Backline load test, {result['started']}",
        "",
        f"Command: `{result['command']}`",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, "
        f"Node {machine['node']}; load average {machine['load_before']} before, "
        f"{machine['load_after']} after (the machine is shared: compare ratios within one run). "
        f"Server pinned to CPU {machine['server_cpu']}, load generator to CPU {machine['generator_cpu']}.",
        "",
    ]
    fanout = result.get("fanout")
    if fanout:
        lines += [
            "## Edit fan-out",
            "",
            f"Offered rate raised x{fanout['options']['factor']} per step "
            f"({fanout['options']['seconds']} s measured per step) until the edit round trip's "
            f"p99 exceeded {fanout['options']['p99_limit_ms']} ms or less than 90 % of the "
            "offered deliveries arrived. *Max deliveries/s* is the best step before that, "
            "with the server on one core.",
            "",
            *_table(fanout["summary"], SUMMARY_COLUMNS),
            "",
        ]
        if fanout["ratios"]:
            lines += [
                "### Ratios to the baselines (same run)",
                "",
                "*max*: max sustained deliveries/s over the baseline's (- when a ramp had no "
                "step within the p99 limit); *per CPU-s*: deliveries per second of server CPU "
                "over the baseline's, at the highest offered rate both were measured at (the "
                "same offered work, whatever the latency), less sensitive to other load on "
                "the machine.",
                "",
                *_table(fanout["ratios"], RATIO_COLUMNS),
                "",
            ]
        lines += ["### Every step", "", *_table(fanout["steps"], STEP_COLUMNS), ""]
    versus = result.get("versus")
    if versus:
        lines += [
            "## Versus: Backline, Hocuspocus and the Node ws relay, one generator",
            "",
            "The Node.js generator (`node/generator.js`) drives every target with the same "
            "fan-out ramp (the Python generator also drives Backline SQLite, for reference). "
            "A delivery is one member receiving one edit (the sender's own copy included); "
            "the round trip is send → the sender's acknowledgement: Backline's own copy "
            "(after the store), the relay's own copy, Hocuspocus' SyncStatus (after "
            "applying in memory; *own copy p99* in the steps is its broadcast copy). "
            "See loadtest/README.md.",
            "",
            *_versus_tables(versus, markdown=True),
            "#### Every step",
            "",
            *_table(versus["steps"], VERSUS_STEP_COLUMNS),
            "",
        ]
    if result.get("join"):
        lines += [
            "## Join storm",
            "",
            "All clients send `hello` at once; latency is `hello` sent → complete `welcome` received.",
            "",
            *_table([result["join"]], JOIN_COLUMNS),
            "",
        ]
    if result.get("presence"):
        lines += [
            "## Presence storm",
            "",
            "Latency is cursor sent → peer entry received; presence is coalesced every 1/30 s.",
            "",
            *_table([result["presence"]], PRESENCE_COLUMNS),
            "",
        ]
    if result.get("idle"):
        lines += ["## Memory per idle connection", "", *_table(result["idle"], IDLE_COLUMNS), ""]
    if images:
        lines += ["## Plots", ""]
        lines += [f"![{image.stem}]({image.name})" for image in images]
        lines.append("")
    return "\n".join(lines)
