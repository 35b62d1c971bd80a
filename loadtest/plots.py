"""The report's figures (matplotlib, PNG), drawn from a run's JSON result."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt

__all__ = ["draw_all"]


def _by_config_target(steps: list[dict[str, Any]]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for step in steps:
        grouped[step["config"]][step["target"]].append(step)
    return grouped


def _fanout_figure(
    steps: list[dict[str, Any]],
    out: Path,
    title: str,
    series: list[tuple[str, str, str]],
    ylabel: str,
    log_y: bool = False,
) -> Path:
    """One panel per config; x: offered deliveries/s; one line per target and series."""
    grouped = _by_config_target(steps)
    fig, axes = plt.subplots(1, len(grouped), figsize=(5.5 * len(grouped), 4.2), squeeze=False)
    for ax, (config, targets) in zip(axes[0], grouped.items(), strict=True):
        for index, (target, rows) in enumerate(targets.items()):
            x = [r["offered_deliveries_per_s"] for r in rows]
            for key, style, label in series:
                ax.plot(
                    x,
                    [r[key] for r in rows],
                    style,
                    color=f"C{index}",
                    marker="o",
                    ms=3,
                    label=f"{target} {label}".strip(),
                )
        ax.set_title(config)
        ax.set_xlabel("offered deliveries/s")
        ax.set_ylabel(ylabel)
        ax.set_xscale("log")
        if log_y:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def draw_all(result: dict[str, Any], folder: Path) -> list[Path]:
    """Every figure the result has data for; returns the files written."""
    written: list[Path] = []
    fanout = result.get("fanout")
    if fanout and fanout["steps"]:
        steps = fanout["steps"]
        written.append(
            _fanout_figure(
                steps,
                folder / "fanout_throughput.png",
                "Delivered vs offered (deliveries/s)",
                [("deliveries_per_s", "-", "")],
                "delivered deliveries/s",
            )
        )
        written.append(
            _fanout_figure(
                steps,
                folder / "fanout_latency.png",
                "Edit round trip percentiles",
                [("rtt_p50_ms", "--", "p50"), ("rtt_p99_ms", "-", "p99")],
                "ms",
                log_y=True,
            )
        )
        written.append(
            _fanout_figure(
                steps,
                folder / "fanout_cpu.png",
                "CPU: server (solid) and load generator (dotted)",
                [("server_cpu_pct", "-", "server"), ("generator_cpu_pct", ":", "generator")],
                "% of one core",
            )
        )
        written.append(
            _fanout_figure(
                steps,
                folder / "fanout_rss.png",
                "Server resident memory",
                [("server_rss_mb", "-", "")],
                "RSS MiB",
            )
        )
    join = result.get("join")
    if join:
        fig, ax = plt.subplots(figsize=(6, 4))
        latencies = join["latencies_ms"]
        ax.plot(latencies, [100 * (i + 1) / len(latencies) for i in range(len(latencies))])
        ax.set_xlabel("hello → complete welcome (ms)")
        ax.set_ylabel("% of joins")
        ax.set_title(f"Join storm: {join['clients']} clients, {join['notes']:,} notes")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(folder / "join_latency.png", dpi=90)
        plt.close(fig)
        written.append(folder / "join_latency.png")
    idle = result.get("idle")
    if idle:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.bar([r["target"] for r in idle], [r["kib_per_connection"] for r in idle])
        ax.axhline(50, color="red", linestyle="--", label="target 50 KiB")
        ax.set_ylabel("KiB RSS per idle connection")
        ax.set_title("Memory per idle connection")
        ax.legend()
        fig.tight_layout()
        fig.savefig(folder / "idle_rss.png", dpi=90)
        plt.close(fig)
        written.append(folder / "idle_rss.png")
    presence = result.get("presence")
    if presence:
        fig, ax = plt.subplots(figsize=(6, 4))
        keys = ["updates_sent_per_s", "frames_per_s", "entries_per_s"]
        ax.bar(keys, [presence[k] for k in keys])
        ax.set_title(
            f"Presence storm: {presence['clients']} clients at {presence['hz']:g} Hz "
            f"(p99 {presence['latency_p99_ms']} ms)"
        )
        ax.set_ylabel("per second")
        fig.tight_layout()
        fig.savefig(folder / "presence.png", dpi=90)
        plt.close(fig)
        written.append(folder / "presence.png")
    return written
