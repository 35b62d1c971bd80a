"""Piano roll frame rate: the browser's roll scrolling through a 10,000-note project.

    python -m loadtest.roll_fps                   # 10,000 notes, two zoom levels
    python -m loadtest.roll_fps --notes 20000 --frames 600

A real server process (memory store) and an SDK client that fills one
instrument track with ``--notes`` notes (1,000 per edit: one batch each),
spread over bars like a busy arrangement. Then Debian's Chromium (headless,
through Playwright, the flags the browser tests use) joins the session as an
editor, and for ``--frames`` animation frames the roll is scrolled right by
``--step`` pixels a frame (and wrapped), once at the default zoom (64 px per
beat) and once zoomed all the way out (8 px per beat: many notes in view).
Frame times come from ``requestAnimationFrame`` timestamps; the time the
roll spends drawing is measured around its ``draw()``.

Prints p50 and p5 frame rates (the p5 is the rate of the slowest 5% of
frames) and the draw times, and writes ``loadtest/results/roll_fps-<time>.json``
and ``.md``. No figure is asserted anywhere: machines differ.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from backline.client import Session
from backline.protocol.model import PPQ
from backline.testing import ServerProcess, SessionThread

from .report import publish

__all__ = ["RollFps", "main", "measure"]

SESSION = "roll-fps"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run"]

SCROLL = """async ({ frames, step, zoom }) => {
  const roll = window.backline.roll();
  roll.zoomX = zoom;
  roll.layout();
  const scroller = roll.scroller;
  scroller.scrollLeft = 0;
  const draw = roll.draw.bind(roll);
  const drawMs = [];
  roll.draw = () => {
    const t0 = performance.now();
    draw();
    drawMs.push(performance.now() - t0);
  };
  const stamps = [];
  const drawsBefore = roll.draws;
  await new Promise((done) => {
    const frame = (t) => {
      stamps.push(t);
      if (stamps.length > frames) return done();
      const max = scroller.scrollWidth - scroller.clientWidth;
      scroller.scrollLeft = scroller.scrollLeft + step > max ? 0 : scroller.scrollLeft + step;
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
  roll.draw = draw;
  const intervals = stamps.slice(1).map((t, i) => t - stamps[i]);
  return { intervals, drawMs, draws: roll.draws - drawsBefore, inView: roll.debug().notes.length };
}"""


@dataclass
class ZoomRun:
    px_per_beat: int
    frames: int
    draws: int
    fps_p50: float
    fps_p5: float
    frame_ms_p50: float
    frame_ms_p95: float
    draw_ms_p50: float
    draw_ms_p95: float
    draw_ms_max: float


@dataclass
class RollFps:
    notes: int
    frames: int
    step_px: int
    viewport: str
    chromium: str
    runs: list[ZoomRun]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def fill(bot: SessionThread, notes: int, seed: int = 15) -> str:
    """One instrument track holding `notes` notes, 1,000 per edit; returns the track id."""
    rng = random.Random(seed)
    track: str = bot.run(lambda s: s.add_track("Keys", kind="instrument").id)
    bars = max(1, notes // 50)  # about 50 notes a bar: a dense part
    for first in range(0, notes, 1000):
        ops: list[dict[str, Any]] = []
        for i in range(first, min(notes, first + 1000)):
            value = {
                "track": track,
                "pitch": rng.randint(36, 96),
                "start": rng.randrange(0, bars * 4 * PPQ, PPQ // 8),
                "dur": rng.choice([PPQ // 8, PPQ // 4, PPQ // 2, PPQ]),
                "vel": rng.randint(30, 127),
            }
            ops.append({"op": "insert", "kind": "note", "id": f"n{i}", "value": value})
        bot.run(partial(Session.edit, ops=ops))  # one batch, awaited until stored
    bot.run(lambda s: s.synced())
    return track


def one_run(page: Page, frames: int, step: int, zoom_index: int, px_per_beat: int) -> ZoomRun:
    got: dict[str, Any] = page.evaluate(
        SCROLL, {"frames": frames, "step": step, "zoom": zoom_index}
    )
    intervals: list[float] = got["intervals"]
    draws: list[float] = got["drawMs"]
    p50 = statistics.median(intervals)
    p95 = percentile(intervals, 0.95)
    return ZoomRun(
        px_per_beat=px_per_beat,
        frames=len(intervals),
        draws=int(got["draws"]),
        fps_p50=round(1000 / p50, 1),
        fps_p5=round(1000 / p95, 1),
        frame_ms_p50=round(p50, 2),
        frame_ms_p95=round(p95, 2),
        draw_ms_p50=round(statistics.median(draws), 2) if draws else 0.0,
        draw_ms_p95=round(percentile(draws, 0.95), 2),
        draw_ms_max=round(max(draws, default=0.0), 2),
    )


def measure(notes: int, frames: int, step: int, chromium: str) -> RollFps:
    with tempfile.TemporaryDirectory() as data:
        server = ServerProcess(Path(data), store="memory")
        with server:
            token = server.token(SESSION, "editor")
            with SessionThread(server.url, session=SESSION, token=token, name="filler") as bot:
                print(f"filling {notes} notes...", file=sys.stderr)
                fill(bot, notes)
                with sync_playwright() as driver:
                    browser = driver.chromium.launch(
                        executable_path=chromium, headless=True, args=CHROMIUM_ARGS
                    )
                    try:
                        page = browser.new_page(viewport={"width": 1440, "height": 900})
                        page.goto(f"{server.http_url}/#session={SESSION}&token={token}")
                        page.fill("input[name=name]", "bench")
                        page.click("button[type=submit]")
                        page.wait_for_function(
                            "(n) => window.backline && window.backline.roll()"
                            " && window.backline.roll().debug().notes.length === n",
                            arg=notes,
                            timeout=120_000,
                        )
                        page.locator(".pr-body").evaluate(
                            "(el) => el.scrollIntoView({block: 'center'})"
                        )
                        zooms = page.evaluate("window.backline.roll().zoomX")
                        runs = [
                            one_run(page, frames, step, int(zooms), 64),
                            one_run(page, frames, step, 0, 8),
                        ]
                        version = browser.version
                    finally:
                        browser.close()
    return RollFps(
        notes=notes,
        frames=frames,
        step_px=step,
        viewport="1440x900",
        chromium=version,
        runs=runs,
    )


def report(result: RollFps) -> str:
    lines = [
        "# Piano roll frame rate",
        "",
        f"{result.notes} notes on one track, headless Chromium {result.chromium} "
        f"(--disable-gpu, software canvas), viewport {result.viewport}; the roll scrolled "
        f"{result.step_px} px per frame for {result.frames} frames.",
        "",
        "| zoom (px/beat) | fps p50 | fps p5 | frame ms p50 | frame ms p95 "
        "| draw ms p50 | draw ms p95 | draw ms max | draws |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result.runs:
        lines.append(
            f"| {r.px_per_beat} | {r.fps_p50} | {r.fps_p5} | {r.frame_ms_p50} | "
            f"{r.frame_ms_p95} | {r.draw_ms_p50} | {r.draw_ms_p95} | {r.draw_ms_max} | {r.draws} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.roll_fps", description=__doc__)
    parser.add_argument("--notes", type=int, default=10_000)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--step", type=int, default=12, help="px scrolled per frame")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args(argv)
    result = measure(args.notes, args.frames, args.step, args.chromium)
    text = report(result)
    publish("roll_fps", [result], text)


if __name__ == "__main__":
    main()
