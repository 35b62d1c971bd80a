"""Render speed: a three-minute, five-track song bounced on one core.

    python -m loadtest.render_bench            # 90 bars at 120 BPM (3 minutes)
    python -m loadtest.render_bench --bars 180 --stems dry

Builds `backline.testing.songs.song_ops` (drums, bass, keys, pad, lead with EQ,
compression, reverb and delay sends) into a document and renders it with
`backline.media.render` in this process, pinned to one core when the OS
allows: once with an empty sample cache (FluidSynth renders every note) and
again with the samples cached, as a server's later renders are. The baseline
measured in the same run is the time to merely mix the notes into silent
buffers (no effects, no limiter), so the ratio says what the chain costs on
this machine whatever its speed. Prints the figures and writes
``loadtest/results/render-<time>.json`` and ``.md``; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from backline.media.render import render
from backline.media.soundfont import SampleBank, find_soundfont
from backline.protocol.model import Document
from backline.protocol.ops import apply
from backline.testing.songs import song_ops

from .report import publish


@dataclass
class RenderRun:
    bars: int
    song_seconds: float
    stems: str
    cold_s: float
    warm_s: float
    baseline_s: float
    warm_over_baseline: float
    realtime_factor: float
    lufs: float
    true_peak_db: float


def _plain(doc: Document) -> Document:
    """The same song with every effect off: the baseline's work is placing notes only."""
    plain = Document.from_data(doc.to_data())
    for track in plain.tracks.values():
        track.update(eq_hp_on=False, eq_low_on=False, eq_mid1_on=False, eq_mid2_on=False,
                     eq_high_on=False, comp_on=False, send_reverb=0.0, send_delay=0.0)  # fmt: skip
    plain.project["limiter_on"] = False
    return plain


def measure(bars: int, stems: str) -> RenderRun:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    font = find_soundfont()
    if font is None:
        raise SystemExit("no SoundFont: run scripts/bootstrap.sh (installs timgm6mb-soundfont)")
    doc = Document()
    for op in song_ops(bars=bars):
        apply(doc, op)
    with tempfile.TemporaryDirectory() as cache:
        bank = SampleBank(font, cache_dir=Path(cache))
        t = time.perf_counter()
        render(doc, bank, stems=stems)  # type: ignore[arg-type]
        cold = time.perf_counter() - t
        t = time.perf_counter()
        result = render(doc, bank, stems=stems)  # type: ignore[arg-type]
        warm = time.perf_counter() - t
        t = time.perf_counter()
        render(_plain(doc), bank)
        baseline = time.perf_counter() - t
    return RenderRun(bars, round(result.song_seconds, 1), stems, round(cold, 2), round(warm, 2),
                     round(baseline, 2), round(warm / baseline, 2),
                     round(result.song_seconds / warm, 1), round(result.lufs, 1),
                     round(result.true_peak_db, 2))  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.render_bench", description=__doc__)
    parser.add_argument("--bars", type=int, default=90)
    parser.add_argument("--stems", choices=["none", "dry", "wet"], default="none")
    args = parser.parse_args(argv)
    run = measure(args.bars, args.stems)
    text = (
        "# Render speed (one core)\n\n"
        "| bars | song s | stems | cold s | warm s | baseline s | warm/baseline | x realtime"
        " | LUFS | dBTP |\n|---|---|---|---|---|---|---|---|---|---|\n"
        f"| {run.bars} | {run.song_seconds} | {run.stems} | {run.cold_s} | {run.warm_s} |"
        f" {run.baseline_s} | {run.warm_over_baseline} | {run.realtime_factor} | {run.lufs} |"
        f" {run.true_peak_db} |\n"
    )
    publish("render", [run], text)


if __name__ == "__main__":
    main()
