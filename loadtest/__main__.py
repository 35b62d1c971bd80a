"""python -m loadtest SCENARIO: drive a real server, print a summary, write a report.

Scenarios:

  fanout     edit fan-out at 1x100, 100x10 and 1000x2 on Backline (SQLite) and
             both baselines (Node.js ws, minimal Python websockets), rate ramped
             until the round trip's p99 passes 50 ms
  stores     the same ramp on every store: memory, SQLite, Redis, Redis with
             two server processes (config 100x10)
  join       join storm: 500 clients join a session holding 10,000 notes
  presence   presence storm: 50 clients move their cursors at 30 Hz
  idle       server RSS per idle connection (Backline and both baselines)
  versus     one Node.js load generator drives Backline (SQLite, memory),
             Hocuspocus (memory, SQLite) and the Node.js ws relay with the fan-out
             ramp; the Python generator drives Backline SQLite too, for reference
  all        every scenario above but versus, one report

Every run writes loadtest/results/<time>/ (or --out): result.json, report.md
and PNG plots. See loadtest/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .fanout import FANOUT_CONFIGS, RampOptions, run_fanout
from .idle import run_idle
from .join import run_join
from .markdown import fanout_ratios, render_report, terminal_summary, versus_ratios
from .node_generator import GENERATORS, VERSUS_TARGETS, run_versus, versus_units
from .presence import run_presence
from .report import RESULTS, run
from .targets import (
    BACKLINE_TARGETS,
    BASELINES,
    GENERATOR_CPU,
    HOCUSPOCUS_TARGETS,
    SERVER_CPU,
    pin_generator,
)

SCENARIOS = ("fanout", "stores", "join", "presence", "idle", "versus", "all")


class Progress:
    """A one-line progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, total: int) -> None:
        self.total = max(1, total)
        self.done = 0
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()

    def say(self, message: str) -> None:
        width = 24
        filled = int(width * self.done / self.total)
        bar = "#" * filled + "." * (width - filled)
        elapsed = time.monotonic() - self.started
        line = f"[{bar}] {self.done}/{self.total} {elapsed:5.0f}s  {message}"
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + line[: shutil.get_terminal_size().columns - 1])
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def advance(self) -> None:
        self.done += 1
        self.say("")

    def finish(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    node = "absent"
    if shutil.which("node"):
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "node": node,
        "server_cpu": SERVER_CPU,
        "generator_cpu": GENERATOR_CPU,
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _split(text: str) -> list[str]:
    return [part for part in text.split(",") if part]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest",
        description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("--out", type=Path, help="report folder (default loadtest/results/<time>)")
    fan = parser.add_argument_group("fanout, stores and versus")
    fan.add_argument(
        "--targets",
        type=_split,
        help="comma-separated: " + ",".join(BACKLINE_TARGETS + BASELINES + HOCUSPOCUS_TARGETS),
    )
    fan.add_argument(
        "--configs", type=_split, help="comma-separated SESSIONSxMEMBERS, e.g. 1x100,100x10"
    )
    fan.add_argument("--seconds", type=float, default=3.0, help="measured seconds per step")
    fan.add_argument("--max-steps", type=int, default=20, help="steps per ramp, retries included")
    fan.add_argument("--start", type=float, default=4000.0, help="offered deliveries/s of step 1")
    fan.add_argument("--factor", type=float, default=1.5, help="rate multiplier per step")
    fan.add_argument("--p99-limit", type=float, default=50.0, help="ms; the ramp stops above it")
    fan.add_argument(
        "--p99-retries", type=int, default=2, help="retries at one rate after a failed step"
    )
    fan.add_argument(
        "--generators",
        type=_split,
        default=list(GENERATORS),
        help="versus: comma-separated node,python (python drives backline-sqlite only)",
    )
    join = parser.add_argument_group("join, presence and idle")
    join.add_argument("--store", default="sqlite", choices=("memory", "sqlite", "redis"))
    join.add_argument("--join-clients", type=int, default=500)
    join.add_argument("--notes", type=int, default=10_000)
    join.add_argument("--presence-clients", type=int, default=50)
    join.add_argument("--hz", type=float, default=30.0)
    join.add_argument("--presence-seconds", type=float, default=10.0)
    join.add_argument("--idle-connections", type=int, default=1000)
    join.add_argument("--idle-targets", type=_split, default=["backline-memory", "node", "minimal"])
    args = parser.parse_args(argv)
    unknown = set(args.generators) - set(GENERATORS)
    if unknown:
        parser.error(f"--generators: unknown {', '.join(sorted(unknown))}")
    return args


async def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    pin_generator()
    scenario = args.scenario
    fanout_targets = args.targets
    configs = args.configs
    runs_fanout = scenario in ("fanout", "stores", "all")
    versus_targets = fanout_targets or list(VERSUS_TARGETS)
    if scenario == "stores":
        fanout_targets = fanout_targets or list(BACKLINE_TARGETS)
        configs = configs or ["100x10"]
    elif scenario == "all":
        fanout_targets = fanout_targets or [*BACKLINE_TARGETS, *BASELINES]
    fanout_targets = fanout_targets or ["backline-sqlite", *BASELINES]
    configs = configs or list(FANOUT_CONFIGS)
    if runs_fanout and set(fanout_targets) & set(HOCUSPOCUS_TARGETS):
        raise SystemExit("Hocuspocus speaks Yjs, which only the Node generator does: use versus")
    units = (len(fanout_targets) * len(configs) if runs_fanout else 0) + (
        (scenario in ("join", "all")) + (scenario in ("presence", "all"))
    )
    units += len(args.idle_targets) if scenario in ("idle", "all") else 0
    if scenario == "versus":
        units += versus_units(versus_targets, configs, args.generators)
    progress = Progress(units)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    folder = args.out or RESULTS / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "started": started,
        "command": "python -m loadtest " + shlex.join(sys.argv[1:] if argv is None else argv),
        "machine": _machine(),
    }
    options = RampOptions(
        seconds=args.seconds,
        max_steps=args.max_steps,
        start_deliveries=args.start,
        factor=args.factor,
        p99_limit_ms=args.p99_limit,
        p99_retries=args.p99_retries,
    )
    if runs_fanout:
        ramps = await run_fanout(fanout_targets, configs, options, progress.say, progress.advance)
        summary = [r.summary() for r in ramps]
        steps = [asdict(s) for r in ramps for s in r.steps]
        result["fanout"] = {
            "options": asdict(options),
            "summary": summary,
            "ratios": fanout_ratios(summary, steps),
            "steps": steps,
        }
    if scenario == "versus":
        versus = await run_versus(
            versus_targets, configs, args.generators, options, progress.say, progress.advance
        )
        summary = [r.summary() for r in versus]
        steps = [row for r in versus for row in r.rows()]
        result["versus"] = {
            "options": asdict(options),
            "generators": args.generators,
            "summary": summary,
            "ratios": versus_ratios(summary, steps),
            "steps": steps,
        }
    if scenario in ("join", "all"):
        joined = await run_join(args.store, args.join_clients, args.notes, progress.say)
        result["join"] = asdict(joined)
        progress.advance()
    if scenario in ("presence", "all"):
        storm = await run_presence(
            args.store, args.presence_clients, args.hz, args.presence_seconds, progress.say
        )
        result["presence"] = asdict(storm)
        progress.advance()
    if scenario in ("idle", "all"):
        idle = []
        for name in args.idle_targets:
            idle += await run_idle([name], args.idle_connections, progress.say)
            progress.advance()
        result["idle"] = [asdict(r) for r in idle]
    progress.finish()
    result["machine"]["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    (folder / "result.json").write_text(json.dumps(result, indent=2))
    from .plots import draw_all  # matplotlib loads only once there is something to draw

    images = draw_all(result, folder)
    (folder / "report.md").write_text(render_report(result, images))
    print(terminal_summary(result))
    print(f"\nreport: {folder / 'report.md'}", file=sys.stderr)
    return folder


if __name__ == "__main__":
    run(main)
