"""Soak: steady edit, presence and chat load for minutes; does server memory grow?

    python -m loadtest.soak --minutes 10          # the figure for the issue
    python -m loadtest.soak --seconds 30 --clients 8

A real server process (SQLite store by default, ``--redis URL`` for Redis) and
``--clients`` SDK clients spread over ``--sessions`` sessions. Each client, in
a loop: one edit (a field set, or a note added or removed so that each
session's note count stays near ``--notes``: the document does not grow),
then a presence update, and a chat message every ``--chat-every`` seconds;
``--rate`` loops per second. Every ``--sample`` seconds the server's resident
memory (``/proc/PID/status``), its asyncio tasks and connections (/metrics)
are sampled.

The RSS trend is the least-squares slope of RSS over time, in KiB per
minute, over the samples after the warm-up (the first ``--warm-up`` share of
the run, 20% by default: allocator pools and caches fill once). A JSON file
with every sample and a Markdown report go to loadtest/results/ (or
``--results DIR``); the slope is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from backline.client import connect
from backline.client.session import Session
from backline.protocol.errors import BacklineError
from backline.testing import ServerProcess

from .report import RESULTS, run

__all__ = ["Sample", "Soak", "main", "trend_kib_per_min"]


@dataclass
class Sample:
    seconds: float  # since the load started
    rss_kib: int
    tasks: int
    connections: int
    edits_acked: int
    presence_sent: int
    chats_sent: int


@dataclass
class Soak:
    started: str
    seconds: float
    clients: int
    sessions: int
    rate_per_client: float
    store: str
    warm_up_share: float
    samples: list[Sample] = field(default_factory=list)
    edits_acked: int = 0
    edits_rejected: int = 0
    rss_start_kib: int = 0
    rss_end_kib: int = 0
    rss_max_kib: int = 0
    trend_kib_per_min: float = 0.0
    trend_all_kib_per_min: float = 0.0


def trend_kib_per_min(samples: list[Sample]) -> float:
    """Least-squares slope of RSS over time, KiB per minute (0 with fewer than 2 samples)."""
    if len(samples) < 2:
        return 0.0
    xs = [s.seconds / 60 for s in samples]
    ys = [float(s.rss_kib) for s in samples]
    if max(xs) == min(xs):
        return 0.0
    return statistics.linear_regression(xs, ys).slope


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("backline_asyncio_tasks ", "backline_connections ")):
            name, value = line.split()
            found[name] = float(value)
    return found


@dataclass
class Counts:
    acked: int = 0
    rejected: int = 0
    presence: int = 0
    chats: int = 0


async def client_loop(
    s: Session,
    track: str,
    rng: random.Random,
    counts: Counts,
    args: argparse.Namespace,
    stop: asyncio.Event,
) -> None:
    """Edit, presence, now and then chat, `args.rate` times a second, until `stop`."""
    period = 1.0 / args.rate
    next_chat = time.monotonic() + rng.uniform(0, args.chat_every)
    x = 0
    while not stop.is_set():
        started = time.monotonic()
        notes = [n for n, v in s.project.notes.items() if v["track"] == track]
        choice = rng.random()
        try:
            if choice < 0.35 and len(notes) < args.notes:
                edit = s.add_note(track, rng.randrange(36, 90), rng.randrange(0, 3840 * 8, 240))
            elif choice < 0.35 and notes:
                edit = s.remove(rng.choice(notes))
            elif choice < 0.55 and notes:
                edit = s.set(rng.choice(notes), "vel", rng.randrange(1, 128))
            elif choice < 0.8:
                edit = s.set(track, "volume", round(rng.random() * 2, 3))
            else:
                edit = s.set(track, "pan", round(rng.random() * 2 - 1, 3))
            await edit
            counts.acked += 1
        except BacklineError:
            counts.rejected += 1  # e.g. a note someone else removed first
        x = (x + 7) % 1000
        s.set_presence(cursor={"view": "grid", "x": x, "y": rng.randrange(128)})
        counts.presence += 1
        if time.monotonic() >= next_chat:
            await s.chat(f"soak {counts.chats}")
            counts.chats += 1
            next_chat += args.chat_every
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, period - (time.monotonic() - started)))


async def soak(args: argparse.Namespace) -> Soak:
    seconds = args.seconds if args.seconds is not None else args.minutes * 60
    result = Soak(
        started=time.strftime("%Y-%m-%d %H:%M:%S"),
        seconds=seconds,
        clients=args.clients,
        sessions=args.sessions,
        rate_per_client=args.rate,
        store="redis" if args.redis else "sqlite",
        warm_up_share=args.warm_up,
    )
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="backline-soak-") as tmp:
        extra = ["--redis", args.redis] if args.redis else []
        server = ServerProcess(Path(tmp), extra_args=extra, cpu=0 if cores > 1 else None)
        await server.astart()
        counts = Counts()
        stop = asyncio.Event()
        try:
            async with contextlib.AsyncExitStack() as stack:
                loops = []
                rng = random.Random(args.seed)
                for c in range(args.clients):
                    name = f"soak{c % args.sessions}"
                    s = await stack.enter_async_context(
                        connect(server.url, session=name, token=server.token(name), name=f"c{c}")
                    )
                    track = s.add_track(f"track {c}")
                    await track
                    track_id = track.id or ""
                    loops.append(
                        asyncio.create_task(
                            client_loop(
                                s, track_id, random.Random(rng.random()), counts, args, stop
                            )
                        )
                    )
                started = time.monotonic()
                while (elapsed := time.monotonic() - started) < seconds:
                    metrics = await asyncio.to_thread(scrape, server.http_url)
                    sample = Sample(
                        seconds=round(elapsed, 2),
                        rss_kib=rss_kib(server.pid),
                        tasks=int(metrics.get("backline_asyncio_tasks", 0)),
                        connections=int(metrics.get("backline_connections", 0)),
                        edits_acked=counts.acked,
                        presence_sent=counts.presence,
                        chats_sent=counts.chats,
                    )
                    result.samples.append(sample)
                    print(
                        f"{sample.seconds:7.1f} s  RSS {sample.rss_kib / 1024:6.1f} MiB  "
                        f"tasks {sample.tasks:4d}  edits {sample.edits_acked}",
                        file=sys.stderr,
                    )
                    remaining = seconds - (time.monotonic() - started)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), min(args.sample, max(remaining, 0)))
                stop.set()
                await asyncio.gather(*loops)
        finally:
            await server.astop()
    result.edits_acked, result.edits_rejected = counts.acked, counts.rejected
    rss = [s.rss_kib for s in result.samples]
    result.rss_start_kib, result.rss_end_kib, result.rss_max_kib = rss[0], rss[-1], max(rss)
    steady = [s for s in result.samples if s.seconds >= seconds * args.warm_up]
    result.trend_kib_per_min = round(trend_kib_per_min(steady), 1)
    result.trend_all_kib_per_min = round(trend_kib_per_min(result.samples), 1)
    return result


def markdown(result: Soak) -> str:
    lines = [
        f"# Soak {result.started}",
        "",
        f"{result.clients} clients in {result.sessions} sessions, {result.rate_per_client:g} "
        f"edit+presence loops per second each, chat now and then; {result.store} store; "
        f"{result.seconds / 60:.1f} minutes.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| edits acknowledged | {result.edits_acked} |",
        f"| edits rejected (lost races) | {result.edits_rejected} |",
        f"| RSS at start / end / max | {result.rss_start_kib / 1024:.1f} / "
        f"{result.rss_end_kib / 1024:.1f} / {result.rss_max_kib / 1024:.1f} MiB |",
        f"| RSS trend after warm-up ({result.warm_up_share:.0%}) | "
        f"{result.trend_kib_per_min:+.1f} KiB/min |",
        f"| RSS trend, whole run | {result.trend_all_kib_per_min:+.1f} KiB/min |",
        "",
        "| t (s) | RSS (MiB) | tasks | connections | edits acked |",
        "|---|---|---|---|---|",
    ]
    for s in result.samples:
        lines.append(
            f"| {s.seconds:.0f} | {s.rss_kib / 1024:.1f} | {s.tasks} | {s.connections} "
            f"| {s.edits_acked} |"
        )
    return "\n".join(lines) + "\n"


def write(result: Soak, results: Path) -> tuple[Path, Path]:
    results.mkdir(parents=True, exist_ok=True)
    stem = results / f"soak-{time.strftime('%Y%m%d-%H%M%S')}"
    json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    json_path.write_text(json.dumps(asdict(result), indent=2))
    md_path.write_text(markdown(result))
    return json_path, md_path


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.soak", description=__doc__)
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, default=10.0, help="length of the run")
    length.add_argument("--seconds", type=float, default=None, help="length, in seconds")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--rate", type=float, default=5.0, help="loops per second per client")
    parser.add_argument("--notes", type=int, default=64, help="notes kept per client's track")
    parser.add_argument("--chat-every", type=float, default=10.0, help="seconds between chats")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--warm-up", type=float, default=0.2, help="share left out of the trend")
    parser.add_argument("--redis", default=None, help="redis://HOST:PORT/DB: use a Redis store")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--results", type=Path, default=RESULTS, help="where reports go")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    holder: list[Soak] = []

    async def go() -> None:
        holder.append(await soak(args))

    run(go)
    result = holder[0]
    json_path, md_path = write(result, args.results)
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    print(
        f"soak: {result.seconds / 60:.1f} min, {result.clients} clients, "
        f"{result.edits_acked} edits acknowledged; RSS {result.rss_start_kib / 1024:.1f} -> "
        f"{result.rss_end_kib / 1024:.1f} MiB (max {result.rss_max_kib / 1024:.1f}); "
        f"trend {result.trend_kib_per_min:+.1f} KiB/min after warm-up "
        f"({result.trend_all_kib_per_min:+.1f} KiB/min whole run)"
    )


if __name__ == "__main__":
    main()
