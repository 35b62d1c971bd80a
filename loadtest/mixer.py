"""Mixer throughput: how many participants one core can mix in real time.

    python -m loadtest.mixer                     # 10 ms frames, N = 2 … 64, then the limit
    python -m loadtest.mixer --frame-ms 20 --seconds 0.2

One tick of the audio room gives every participant a personal mix of all the
others (`backline.server.audio.Mixer.mix`: stack the frames, one float32
matrix product, the limiter check). A tick must finish within one frame
period (10 ms at 10 ms frames) on the one core that runs the room, together
with Opus decoding and encoding, which this does not measure. For N = 2, 4,
8, 16, 32 and 64 it times ticks of quiet frames (the limiter idle) and of
loud ones (every mix limited), then searches for the largest room whose
median tick still fits the budget, and half of it.

Baseline, measured in the same run: the naive mix, a Python loop per
listener adding up every other source's frame times its gain (numpy
vector operations, ``N * (N - 1)`` of them per tick). The ratio quoted is
naive / matrix time per tick.

BLAS is pinned to one thread (OPENBLAS_NUM_THREADS etc. are set before numpy
loads), so the numbers are for one core. Results are printed and written to
loadtest/results/mixer-<time>.json.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads: one core, as in the room

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Mapping  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from backline.media.frames import frame_samples, frame_us  # noqa: E402
from backline.server.audio.mixer import Mixer  # noqa: E402

RESULTS = Path(__file__).parent / "results"
SIZES = (2, 4, 8, 16, 32, 64)
SEARCH_LIMIT = 8192

Frames = dict[str, NDArray[np.float32]]


@dataclass
class Row:
    participants: int
    ticks: int
    median_us: float
    p99_us: float
    budget_share: float  # median tick / frame period
    loud_median_us: float  # every mix goes through the limiter's curve
    naive_median_us: float
    naive_p99_us: float
    speedup: float  # naive / matrix, median


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _room(
    n: int, samples: int, level: float, *, gains: bool = True, seed: int = 7
) -> tuple[Mixer, Frames]:
    """N participants with random gains (or all 1: the same cost, faster to set up)."""
    rng = np.random.default_rng(seed)
    mixer = Mixer(samples)
    names = [f"p{i}" for i in range(n)]
    for name in names:
        mixer.add(name)
    for listener in names if gains else ():
        for source in names:
            if source != listener:
                mixer.set_gain(listener, source, float(rng.uniform(0.5, 1.0)))
    frames = {p: (rng.standard_normal(samples) * level).astype(np.float32) for p in names}
    return mixer, frames


def naive_mix(order: list[str], gains: Mapping[str, Mapping[str, float]], frames: Frames) -> Frames:
    """The obvious mix: for each listener, loop over every other source."""
    mixes: Frames = {}
    for listener in order:
        mix = np.zeros_like(frames[listener])
        for source in order:
            if source != listener:
                mix += np.float32(gains[listener][source]) * frames[source]
        np.clip(mix, -1.0, 1.0, out=mix)
        mixes[listener] = mix
    return mixes


def _time(tick: Callable[[], object], seconds: float, min_ticks: int = 20) -> list[float]:
    """Per-tick wall times in µs, after a short warm-up."""
    for _ in range(3):
        tick()
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < min_ticks or (time.perf_counter() < deadline and len(times) < 5000):
        start = time.perf_counter_ns()
        tick()
        times.append((time.perf_counter_ns() - start) / 1000)
    return times


def _matrix_tick(n: int, samples: int, level: float, gains: bool = True) -> Callable[[], object]:
    mixer, frames = _room(n, samples, level, gains=gains)
    return lambda: mixer.mix(frames)


def _naive_tick(n: int, samples: int) -> Callable[[], object]:
    mixer, frames = _room(n, samples, 0.02)
    order = list(mixer.participants)
    gains = {lst: {src: mixer.gain(lst, src) for src in order} for lst in order}
    expected = mixer.mix(frames)
    got = naive_mix(order, gains, frames)
    for p in order:  # the baseline computes the same thing
        np.testing.assert_allclose(got[p], expected[p], atol=1e-5)
    return lambda: naive_mix(order, gains, frames)


def measure(n: int, samples: int, budget_us: int, seconds: float) -> Row:
    quiet = _time(_matrix_tick(n, samples, 0.02), seconds)
    loud = _time(_matrix_tick(n, samples, 0.5), seconds / 2)
    naive = _time(_naive_tick(n, samples), seconds / 2)
    median = statistics.median(quiet)
    naive_median = statistics.median(naive)
    return Row(
        participants=n,
        ticks=len(quiet),
        median_us=round(median, 1),
        p99_us=round(_pct(quiet, 0.99), 1),
        budget_share=round(median / budget_us, 4),
        loud_median_us=round(statistics.median(loud), 1),
        naive_median_us=round(naive_median, 1),
        naive_p99_us=round(_pct(naive, 0.99), 1),
        speedup=round(naive_median / median, 1),
    )


def largest_fitting(
    tick_for: Callable[[int], Callable[[], object]], limit_us: float, seconds: float
) -> int:
    """The largest N whose median tick is within ``limit_us`` (doubling, then bisection)."""

    def fits(n: int) -> bool:
        return statistics.median(_time(tick_for(n), seconds, min_ticks=5)) <= limit_us

    low, high = 1, 2
    while high <= SEARCH_LIMIT and fits(high):
        low, high = high, high * 2
    if high > SEARCH_LIMIT:
        return low
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.mixer", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--frame-ms", type=int, choices=(5, 10, 20), default=10)
    parser.add_argument("--seconds", type=float, default=0.5, help="timing per measurement")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args(argv)
    samples = frame_samples(args.frame_ms)
    budget = frame_us(args.frame_ms)

    rows = []
    for n in args.sizes:
        print(f"timing N = {n} …", file=sys.stderr, flush=True)
        rows.append(measure(n, samples, budget, args.seconds))
    print("searching for the largest room that fits …", file=sys.stderr, flush=True)
    quick = args.seconds / 4
    fit = largest_fitting(lambda n: _matrix_tick(n, samples, 0.02, False), budget, quick)
    fit_half = largest_fitting(lambda n: _matrix_tick(n, samples, 0.02, False), budget / 2, quick)
    naive_fit = largest_fitting(lambda n: _naive_tick(n, samples), budget, quick)

    print(f"{args.frame_ms} ms frames ({samples} samples), budget {budget} µs per tick, one core")
    print(
        f"{'N':>4} {'median µs':>10} {'p99 µs':>9} {'budget':>7} {'loud µs':>9}"
        f" {'naive µs':>10} {'naive p99':>10} {'speedup':>8}"
    )
    for r in rows:
        print(
            f"{r.participants:>4} {r.median_us:>10.1f} {r.p99_us:>9.1f} {r.budget_share:>7.1%}"
            f" {r.loud_median_us:>9.1f} {r.naive_median_us:>10.1f} {r.naive_p99_us:>10.1f}"
            f" {r.speedup:>7.1f}x"
        )
    print(
        f"one core mixes up to {fit} participants in real time"
        f" ({fit_half} within half the budget); the naive loop, {naive_fit}"
    )

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"mixer-{time.strftime('%Y%m%d-%H%M%S')}.json"
    report = {
        "frame_ms": args.frame_ms,
        "samples": samples,
        "budget_us": budget,
        "max_participants": fit,
        "max_participants_half_budget": fit_half,
        "naive_max_participants": naive_fit,
        "rows": [asdict(r) for r in rows],
        "numpy": np.__version__,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "cpu": _cpu(),
        "python": platform.python_version(),
    }
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
