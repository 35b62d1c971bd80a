/**
 * A bar ruler on the shared timeline: bars numbered from 1 with beat ticks
 * (following the meter), the playhead drawn every animation frame, the loop
 * region shaded.
 *
 * A click locates (`seek`: while stopped that is where Play starts, while
 * playing everyone continues from there); a drag sets the project's loop
 * region and turns it on; dragging an edge of the region moves that edge.
 * Both snap to bars or beats (the `snap` preference; Shift takes the other).
 * Left/Right locate by that grid from the keyboard.
 *
 * Reusable on top of any view laid out in beats: `new Ruler(root, session,
 * app, {pxPerBeat, bars})`. Without `pxPerBeat` it fits `bars` bars into its
 * width (and refits on resize or a meter change) until zoomed. It needs of
 * `app` only `run(fn)` (an edit; a local refusal becomes a toast) and
 * `editBlockReason()` (null, or why this user may not edit).
 *
 * @module ui/ruler
 */

import { PPQ, PROJECT_ID } from "../protocol.js";
import { barLength } from "../timeline.js";
import { h } from "./dom.js";
import { pref } from "./prefs.js";

const DRAG_PX = 4; // a press that moves less than this is a click
const EDGE_PX = 5; // this close to a loop edge, a drag moves the edge
const MIN_PX_PER_BEAT = 2;
const MAX_PX_PER_BEAT = 160;
const BROWSE_MS = 4000;

/** `x` rounded down (or up) to a multiple of `grid`, tolerant of float noise. */
const down = (x, grid) => Math.floor(x / grid + 1e-9) * grid;
const up = (x, grid) => Math.ceil(x / grid - 1e-9) * grid;

export class Ruler {
  /**
   * @param {HTMLElement} root where the ruler goes
   * @param {import("../net.js").Session} session
   * @param {{run: Function, editBlockReason: () => (string | null)}} app
   * @param {{pxPerBeat?: number | null, bars?: number, snap?: () => ("bar" | "beat")}} [options]
   */
  constructor(root, session, app, { pxPerBeat = null, bars = 16, snap = () => pref("snap") } = {}) {
    this.session = session;
    this.app = app;
    this.bars = bars;
    this.fixedScale = pxPerBeat;
    this.pxPerBeat = pxPerBeat ?? 16;
    this.snapSetting = snap;
    this.drag = null;
    this.drawn = "";
    this.browsingUntil = 0; // the playhead is not followed while the user scrolls the ruler
    this.canvas = h("canvas", { class: "ruler-canvas", "aria-hidden": "true" });
    this.loopBox = h("div", { class: "ruler-loop", "aria-hidden": "true" });
    this.startMark = h("div", { class: "ruler-start", "aria-hidden": "true", title: "Where this play began" });
    this.playhead = h("div", { class: "ruler-playhead", "aria-hidden": "true" });
    this.track = h("div", { class: "ruler-track" }, this.canvas, this.loopBox, this.startMark, this.playhead);
    this.el = h("div", {
      class: "ruler", role: "slider", tabindex: 0, "aria-valuemin": 0, "data-testid": "ruler",
      "aria-label": "Ruler: click to locate, drag to set the loop",
      onpointerdown: (e) => this.press(e),
      onpointermove: (e) => this.move(e),
      onpointerup: (e) => this.release(e),
      onpointercancel: () => this.cancelDrag(),
      onkeydown: (e) => this.key(e),
      onscroll: () => this.draw(),
      onwheel: (e) => this.wheel(e),
    }, this.track);
    root.append(this.el);
    this.resize = new ResizeObserver(() => this.draw(true));
    this.resize.observe(this.el);
    this.alive = true;
    const frame = () => {
      if (!this.alive) return;
      this.tick();
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  }

  /** Stop drawing and take the ruler out of the page. */
  destroy() {
    this.alive = false;
    this.resize.disconnect();
    this.el.remove();
  }

  // -- geometry ------------------------------------------------------------

  get project() {
    return this.session.project.project;
  }

  get barBeats() {
    return barLength(this.project.meter);
  }

  /** The snap grid in beats: a bar, or one beat of the meter; `invert` takes the other. */
  grid(invert = false) {
    const bar = this.snapSetting() === "bar";
    return bar !== invert ? this.barBeats : 4 / this.project.meter[1];
  }

  /** The x (px from the ruler's left edge, scrolled content) of a beat. */
  xOfBeat(beat) {
    return beat * this.pxPerBeat;
  }

  /** The beat under a pointer at `clientX` (never before 0). */
  beatAtClientX(clientX) {
    const box = this.el.getBoundingClientRect();
    return Math.max(0, (clientX - box.left - this.el.clientLeft + this.el.scrollLeft) / this.pxPerBeat);
  }

  /** Zoom to `pxPerBeat` (fixed from now on), keeping the beat under `clientX` in place. */
  setScale(pxPerBeat, clientX = null) {
    const px = Math.min(MAX_PX_PER_BEAT, Math.max(MIN_PX_PER_BEAT, pxPerBeat));
    const box = this.el.getBoundingClientRect();
    const anchorX = clientX === null ? box.width / 2 : clientX - box.left;
    const beat = (anchorX + this.el.scrollLeft) / this.pxPerBeat;
    this.fixedScale = px;
    this.pxPerBeat = px;
    this.draw(true);
    this.el.scrollLeft = Math.max(0, beat * px - anchorX);
  }

  zoom(factor) {
    this.setScale(this.pxPerBeat * factor);
  }

  wheel(e) {
    if (!(e.ctrlKey || e.metaKey)) {
      this.browsingUntil = performance.now() + BROWSE_MS; // plain wheel scrolls: let the user look around
      return;
    }
    e.preventDefault();
    this.setScale(this.pxPerBeat * (e.deltaY < 0 ? 1.25 : 0.8), e.clientX);
  }

  loopBeats() {
    const loop = this.project.loop;
    return { start: loop.start / PPQ, end: loop.end / PPQ, on: loop.on };
  }

  // -- editing ----------------------------------------------------------------

  blocked() {
    return this.app.editBlockReason() !== null;
  }

  locate(beat) {
    this.app.run(() => this.session.seek(Math.max(0, beat)));
  }

  setLoop(start, end) {
    const value = { start: Math.round(start * PPQ), end: Math.round(end * PPQ), on: true };
    const loop = this.project.loop;
    if (loop.start === value.start && loop.end === value.end && loop.on) return;
    this.app.run(() => this.session.set(PROJECT_ID, "loop", value));
  }

  press(e) {
    if (e.button !== 0 || this.blocked()) return;
    e.preventDefault();
    this.el.focus({ preventScroll: true });
    this.el.setPointerCapture?.(e.pointerId);
    const beat = this.beatAtClientX(e.clientX);
    const loop = this.loopBeats();
    const near = (b) => Math.abs(this.xOfBeat(b) - this.xOfBeat(beat)) <= EDGE_PX;
    const edge = near(loop.end) ? "end" : near(loop.start) ? "start" : null;
    this.drag = { x: e.clientX, beat, edge, moved: false };
  }

  /** The region `drag` covers with the pointer at `e`, snapped outward to the grid. */
  dragRegion(e, drag = this.drag) {
    const grid = this.grid(e.shiftKey);
    const beat = this.beatAtClientX(e.clientX);
    const loop = this.loopBeats();
    let lo;
    let hi;
    if (drag.edge === "start") [lo, hi] = [Math.min(down(beat, grid), loop.end - grid), loop.end];
    else if (drag.edge === "end") [lo, hi] = [loop.start, Math.max(up(beat, grid), loop.start + grid)];
    else {
      lo = down(Math.min(beat, drag.beat), grid);
      hi = up(Math.max(beat, drag.beat), grid);
      if (hi - lo < grid) hi = lo + grid;
    }
    return [Math.max(0, lo), hi];
  }

  move(e) {
    if (this.drag === null) {
      const loop = this.loopBeats();
      const x = this.xOfBeat(this.beatAtClientX(e.clientX));
      const onEdge = !this.blocked() && [loop.start, loop.end].some((b) => Math.abs(this.xOfBeat(b) - x) <= EDGE_PX);
      this.el.classList.toggle("on-edge", onEdge);
      return;
    }
    if (!this.drag.moved && Math.abs(e.clientX - this.drag.x) < DRAG_PX) return;
    this.drag.moved = true;
    const [lo, hi] = this.dragRegion(e);
    this.placeLoop(lo, hi, true, true);
  }

  release(e) {
    const drag = this.drag;
    this.drag = null;
    if (drag === null) return;
    if (drag.moved) this.setLoop(...this.dragRegion(e, drag));
    else this.locate(down(drag.beat, this.grid(e.shiftKey)));
    this.drawLoop();
  }

  cancelDrag() {
    this.drag = null;
    this.drawLoop();
  }

  key(e) {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    e.preventDefault();
    if (this.blocked()) return;
    const grid = this.grid(e.shiftKey);
    const here = this.positionNow();
    const next = e.key === "ArrowRight" ? down(here, grid) + grid : up(here, grid) - grid;
    this.locate(next);
  }

  // -- drawing ----------------------------------------------------------------

  /** The musical position now (the stopped position while stopped). */
  positionNow() {
    try {
      return Math.max(0, this.session.timeline().beatAt(this.session.serverNow()));
    } catch {
      return 0;
    }
  }

  /** How many bars the ruler spans: at least `bars`, the loop, the playhead and the view. */
  span(position) {
    const bar = this.barBeats;
    const view = this.el.clientWidth / (bar * this.pxPerBeat);
    const loopEnd = this.project.loop.end / PPQ / bar;
    return Math.ceil(Math.max(this.bars, loopEnd + 1, position / bar + 2, view));
  }

  /** Per animation frame: playhead, loop, disabled state; the ticks only when they change. */
  tick() {
    if (!this.el.isConnected) return;
    const position = this.positionNow();
    this.draw();
    this.playhead.style.transform = `translateX(${this.xOfBeat(position)}px)`;
    let playing = false;
    let start = null;
    try {
      const t = this.session.timeline();
      playing = t.playing;
      start = t.start;
      this.playhead.classList.toggle("count-in", playing && !t.rolling(this.session.serverNow()));
    } catch {
      // no timeline yet
    }
    this.playhead.classList.toggle("playing", playing);
    this.startMark.hidden = !(playing && start !== null);
    if (start !== null) this.startMark.style.transform = `translateX(${this.xOfBeat(start)}px)`;
    if (this.drag === null) this.drawLoop();
    if (playing && this.drag === null) this.follow(this.xOfBeat(position));
    const bb = this.barBeatText(position);
    if (this.el.getAttribute("aria-valuetext") !== bb) {
      this.el.setAttribute("aria-valuetext", bb);
      this.el.setAttribute("aria-valuenow", String(Math.round(position * 1000) / 1000));
    }
    const reason = this.app.editBlockReason();
    const title = reason ?? "Click to locate, drag to set the loop (Shift: the other snap), Ctrl+wheel to zoom";
    if (this.el.title !== title) {
      this.el.title = title;
      this.el.setAttribute("aria-disabled", String(reason !== null));
    }
  }

  barBeatText(position) {
    try {
      const bb = this.session.timeline().barBeatOf(position);
      return `bar ${bb.bar} beat ${bb.beat}`;
    } catch {
      return "";
    }
  }

  /** Keep a rolling playhead in view: turn the page when it runs off the right edge. */
  follow(x) {
    if (performance.now() < this.browsingUntil) return;
    const left = this.el.scrollLeft;
    const width = this.el.clientWidth;
    if (x < left || x > left + width - 8) this.el.scrollLeft = Math.max(0, x - width * 0.1);
  }

  drawLoop() {
    const loop = this.loopBeats();
    this.placeLoop(loop.start, loop.end, loop.on, false);
  }

  placeLoop(start, end, on, preview) {
    const box = this.loopBox;
    const left = `${this.xOfBeat(start)}px`;
    const width = `${this.xOfBeat(end - start)}px`;
    if (box.style.left !== left) box.style.left = left;
    if (box.style.width !== width) box.style.width = width;
    box.classList.toggle("on", on);
    box.classList.toggle("preview", preview);
  }

  /** Size the track and draw bar lines, numbers and beat ticks for the visible part. */
  draw(force = false) {
    const [numerator, denominator] = this.project.meter;
    const bar = barLength([numerator, denominator]);
    if (this.fixedScale === null && this.el.clientWidth > 0) {
      this.pxPerBeat = Math.min(MAX_PX_PER_BEAT, Math.max(MIN_PX_PER_BEAT, this.el.clientWidth / (this.bars * bar)));
    }
    const bars = this.span(this.positionNow());
    const width = Math.round(bars * bar * this.pxPerBeat);
    if (this.track.style.width !== `${width}px`) this.track.style.width = `${width}px`;
    const view = this.el.clientWidth;
    const height = this.el.clientHeight;
    const left = this.el.scrollLeft;
    const key = `${numerator}/${denominator}:${this.pxPerBeat}:${bars}:${view}x${height}@${left}`;
    if (!force && key === this.drawn) return;
    this.drawn = key;
    this.el.dataset.pxPerBeat = String(this.pxPerBeat);
    const ratio = globalThis.devicePixelRatio || 1;
    const canvas = this.canvas;
    canvas.width = Math.max(1, Math.round(view * ratio));
    canvas.height = Math.max(1, Math.round(height * ratio));
    canvas.style.width = `${view}px`;
    canvas.style.height = `${height}px`;
    const g = canvas.getContext("2d");
    if (!g) return;
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, view, height);
    const css = getComputedStyle(this.el);
    const color = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
    const barPx = bar * this.pxPerBeat;
    const unit = 4 / denominator;
    const unitPx = unit * this.pxPerBeat;
    const labelEvery = [1, 2, 4, 8, 16, 32, 64].find((n) => n * barPx >= 28) ?? 128;
    g.font = `600 10px ui-monospace, "SF Mono", Menlo, monospace`;
    g.textBaseline = "top";
    const first = Math.max(0, Math.floor(left / barPx));
    const last = Math.min(bars, Math.ceil((left + view) / barPx));
    for (let b = first; b <= last; b += 1) {
      const x = Math.round(b * barPx - left) + 0.5;
      const labelled = b % labelEvery === 0;
      g.fillStyle = labelled ? color("--text", "#eef0f5") : color("--muted", "#a9afbf");
      g.fillRect(x - 0.5, labelled ? 0 : height * 0.45, 1, height);
      if (labelled && b < bars) g.fillText(String(b + 1), x + 4, 3);
      if (unitPx >= 6 && b < bars) {
        g.fillStyle = color("--line", "#353a48");
        for (let k = 1; k * unit < bar - 1e-9; k += 1) {
          const bx = Math.round(b * barPx + k * unitPx - left) + 0.5;
          g.fillRect(bx - 0.5, height * 0.7, 1, height * 0.3);
        }
      }
    }
  }
}
