/**
 * The step sequencer: lanes × steps of a drum pattern. Click toggles a step;
 * drag up/down on a step or alt-click sets its velocity; arrow keys move,
 * Enter/Space toggles, +/- change velocity. Pattern length and resolution
 * (steps per beat), lanes added and removed. Other people's cursors show as
 * outlines in their colour.
 * @module ui/steps
 */

import { SCHEMAS } from "../protocol.js";
import { drumName, h, setValue } from "./dom.js";

/** A step's velocity: its range from the protocol (0 = off, so a sounding step is above the minimum). */
const STEP = SCHEMAS.pattern.lanes.step;
const SPB = SCHEMAS.pattern.steps_per_beat;
const DEFAULT_SOUNDS = [36, 38, 42, 46];
const ALT_VELOCITIES = [STEP.max, 100, 70, 40];
const ON = 100;
const RESOLUTIONS = [1, 2, 3, 4, 6, 8, 12, 16].filter((r) => r >= SPB.min && r <= SPB.max);
const sounding = (velocity) => Math.max(STEP.min + 1, Math.min(STEP.max, velocity));

/**
 * Steps in one bar of `meter` ([numerator, denominator]) at `stepsPerBeat`
 * steps per quarter note: 16 in 4/4 at 4, 12 in 3/4, 12 in 6/8 (three quarter
 * notes); at least one step, at most a pattern's maximum length.
 */
export function barSteps(meter, stepsPerBeat) {
  const [n, d] = meter;
  const steps = Math.round((n * 4 * stepsPerBeat) / d);
  return Math.max(SCHEMAS.pattern.length.min, Math.min(SCHEMAS.pattern.length.max, steps));
}

/** The new patterns of a drums track: its first one, for the add-track batch (ui/tracks.js). */
export function firstPatternOp(session, track) {
  const stepsPerBeat = SPB.default;
  const length = barSteps(session.project.project.meter, stepsPerBeat);
  const lanes = DEFAULT_SOUNDS.map((sound) => ({ sound, steps: new Array(length).fill(0) }));
  return { op: "insert", kind: "pattern", id: session.newId(), value: { track, name: "Pattern 1", length, steps_per_beat: stepsPerBeat, lanes } };
}

export class StepSequencer {
  constructor(root, session, app) {
    this.session = session;
    this.app = app;
    this.patternId = null;
    this.shape = "";
    this.cells = [];
    this.title = h("h2", { id: "steps-title" }, "Step sequencer");
    this.picker = h("select", { "aria-label": "Pattern", onchange: () => { this.patternId = this.picker.value; this.app.render(); } });
    this.addPattern = h("button", { type: "button", onclick: () => this.newPattern() }, "+ Pattern");
    this.length = h("input", {
      type: "number", min: SCHEMAS.pattern.length.min, max: SCHEMAS.pattern.length.max, step: 1, class: "length",
      "aria-label": "Pattern length (steps)", onchange: () => this.setField("length", Number(this.length.value)),
    });
    this.resolution = h("select", { "aria-label": "Steps per beat", onchange: () => this.setField("steps_per_beat", Number(this.resolution.value)) },
      RESOLUTIONS.map((r) => h("option", { value: r }, `1/${r * 4}`)));
    this.newSound = h("select", { "aria-label": "Sound of a new lane" },
      Array.from({ length: 47 }, (_, i) => i + 35).map((s) => h("option", { value: s }, `${s} ${drumName(s)}`)));
    this.addLane = h("button", { type: "button", onclick: () => this.newLane() }, "+ Lane");
    this.grid = h("div", { class: "grid", role: "group", "aria-labelledby": "steps-title" });
    this.empty = h("p", { class: "hint" });
    this.el = h("section", { class: "panel steps", "aria-labelledby": "steps-title" },
      h("div", { class: "panel-head" }, this.title,
        h("div", { class: "row" }, this.picker, this.addPattern,
          h("label", { class: "field" }, h("span", {}, "Steps"), this.length),
          h("label", { class: "field" }, h("span", {}, "Grid"), this.resolution))),
      this.empty, this.grid,
      h("div", { class: "row lane-add" }, this.newSound, this.addLane));
    root.append(this.el);
  }

  get track() {
    return this.app.drumTrack;
  }

  pattern() {
    const doc = this.session.project;
    return this.patternId === null ? undefined : doc.patterns.get(this.patternId);
  }

  patternsOf(track) {
    return [...this.session.project.patterns.values()].filter((p) => p.track === track).sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  newPattern() {
    const track = this.track;
    if (!track) return;
    const spb = SPB.default;
    const length = barSteps(this.session.project.project.meter, spb);
    const edit = this.app.run(() => this.session.addPattern(track, { sounds: DEFAULT_SOUNDS, length, stepsPerBeat: spb, name: `Pattern ${this.patternsOf(track).length + 1}` }));
    if (edit) {
      this.patternId = edit.id;
      this.app.render();
    }
  }

  newLane() {
    const p = this.pattern();
    if (!p) return;
    if (p.lanes.length >= SCHEMAS.pattern.lanes.max_lanes) {
      this.app.toasts.show(`A pattern holds at most ${SCHEMAS.pattern.lanes.max_lanes} lanes`, "error");
      return;
    }
    const lanes = [...p.lanes, { sound: Number(this.newSound.value), steps: new Array(p.length).fill(0) }];
    this.app.run(() => this.session.set(p.id, "lanes", lanes));
  }

  removeLane(index) {
    const p = this.pattern();
    if (!p) return;
    this.app.run(() => this.session.set(p.id, "lanes", p.lanes.filter((_, i) => i !== index)));
  }

  setField(field, value) {
    const p = this.pattern();
    if (p && p[field] !== value) this.app.run(() => this.session.set(p.id, field, value));
  }

  setStep(lane, step, velocity) {
    const p = this.pattern();
    if (p) this.app.run(() => this.session.setStep(p.id, lane, step, velocity));
  }

  cellEvents(cell, lane, step) {
    let drag = null;
    cell.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      const p = this.pattern();
      drag = { y: e.clientY, from: p ? p.lanes[lane].steps[step] : 0, moved: false, velocity: null };
      cell.setPointerCapture(e.pointerId);
    });
    cell.addEventListener("pointermove", (e) => {
      if (drag === null) return;
      const dy = drag.y - e.clientY;
      if (!drag.moved && Math.abs(dy) < 4) return;
      drag.moved = true;
      drag.velocity = sounding(Math.round((drag.from || ON) + dy));
      cell.style.setProperty("--vel", String(drag.velocity / STEP.max));
      cell.title = `velocity ${drag.velocity}`;
    });
    cell.addEventListener("pointerup", () => {
      if (drag?.moved && drag.velocity !== null) this.setStep(lane, step, drag.velocity);
      if (drag?.moved) cell.dataset.dragged = "1";
      drag = null;
    });
    cell.addEventListener("click", (e) => {
      if (cell.dataset.dragged) {
        delete cell.dataset.dragged;
        return;
      }
      const p = this.pattern();
      if (!p) return;
      const current = p.lanes[lane].steps[step];
      if (e.altKey) {
        const next = ALT_VELOCITIES[(ALT_VELOCITIES.indexOf(current) + 1) % ALT_VELOCITIES.length];
        this.setStep(lane, step, next);
      } else {
        this.setStep(lane, step, current ? 0 : ON);
      }
    });
    cell.addEventListener("keydown", (e) => this.key(e, lane, step));
    cell.addEventListener("focus", () => this.session.setPresence({ cursor: { view: "grid", pattern: this.patternId, lane, step } }));
  }

  key(e, lane, step) {
    const p = this.pattern();
    if (!p) return;
    const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
    if (moves[e.key] && !e.altKey) {
      const [dl, ds] = moves[e.key];
      const target = this.cells[lane + dl]?.[step + ds];
      if (target) target.focus();
      e.preventDefault();
    } else if (e.key === "+" || e.key === "=" || e.key === "-" || (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown"))) {
      const current = p.lanes[lane].steps[step] || ON;
      const up = e.key === "+" || e.key === "=" || e.key === "ArrowUp";
      this.setStep(lane, step, sounding(current + (up ? 10 : -10)));
      e.preventDefault();
    }
  }

  build(p) {
    this.grid.replaceChildren();
    // bar and beat lines follow the project's meter: a beat is 1/denominator of a whole note
    const [, d] = this.session.project.project.meter;
    const bar = barSteps(this.session.project.project.meter, p.steps_per_beat);
    const beat = (p.steps_per_beat * 4) / d;
    this.cells = p.lanes.map((lane, li) => {
      const row = h("div", { class: "lane", role: "group", "aria-label": drumName(lane.sound) });
      const label = h("div", { class: "lane-label" },
        h("span", {}, drumName(lane.sound)),
        h("button", { type: "button", class: "remove", title: `Remove lane ${drumName(lane.sound)}`, onclick: () => this.removeLane(li) }, "×"));
      row.append(label);
      const cells = lane.steps.map((_, si) => {
        const cell = h("button", { type: "button", class: "cell", "data-lane": li, "data-step": si });
        if (si % bar === 0) cell.classList.add("bar");
        else if (Number.isInteger(beat) && si % beat === 0) cell.classList.add("beat");
        this.cellEvents(cell, li, si);
        row.append(cell);
        return cell;
      });
      this.grid.append(row);
      return cells;
    });
  }

  render() {
    const doc = this.session.project;
    const track = this.track;
    const trackRecord = track ? doc.tracks.get(track) : undefined;
    const patterns = track ? this.patternsOf(track) : [];
    if (!patterns.some((p) => p.id === this.patternId)) this.patternId = patterns.length ? patterns[0].id : null;
    this.title.textContent = trackRecord ? `Steps · ${trackRecord.name}` : "Step sequencer";
    this.picker.replaceChildren(...patterns.map((p) => h("option", { value: p.id, selected: p.id === this.patternId }, p.name)));
    this.picker.value = this.patternId ?? "";
    const p = this.pattern();
    const canEdit = this.session.canEdit;
    this.addPattern.disabled = !track || !canEdit;
    for (const el of [this.picker, this.length, this.resolution, this.newSound, this.addLane]) el.disabled = !p || !canEdit;
    this.picker.disabled = !p;
    this.empty.textContent = !track ? "Add a drums track to program beats." : !p ? "No pattern on this track yet: add one." : "";
    if (!p) {
      this.shape = "";
      this.grid.replaceChildren();
      return;
    }
    setValue(this.length, p.length);
    setValue(this.resolution, p.steps_per_beat);
    const shape = `${p.id}/${p.length}/${p.steps_per_beat}/${doc.project.meter.join(":")}/${p.lanes.map((l) => l.sound).join(",")}`;
    if (shape !== this.shape) {
      const focused = document.activeElement?.dataset?.step !== undefined ? [document.activeElement.dataset.lane, document.activeElement.dataset.step] : null;
      this.build(p);
      this.shape = shape;
      if (focused) this.cells[Number(focused[0])]?.[Number(focused[1])]?.focus();
    }
    const cursors = new Map();
    for (const peer of this.session.peers.values()) {
      const c = peer.cursor;
      if (c && c.view === "grid" && c.pattern === p.id) cursors.set(`${c.lane}/${c.step}`, peer);
    }
    p.lanes.forEach((lane, li) => {
      lane.steps.forEach((velocity, si) => {
        const cell = this.cells[li][si];
        cell.classList.toggle("on", velocity > 0);
        cell.style.setProperty("--vel", String(velocity / STEP.max));
        cell.setAttribute("aria-pressed", String(velocity > 0));
        cell.setAttribute("aria-label", `${drumName(lane.sound)} step ${si + 1}${velocity ? `, velocity ${velocity}` : ", off"}`);
        const peer = cursors.get(`${li}/${si}`);
        cell.style.setProperty("--peer", peer ? peer.color : "transparent");
        cell.classList.toggle("peer-cursor", Boolean(peer));
        if (peer) cell.title = peer.name;
        else cell.removeAttribute("title");
        cell.disabled = !canEdit;
      });
    });
  }

  /** Highlight the step under the playhead. */
  tick(position) {
    const p = this.pattern();
    if (!p || !this.cells.length) return;
    const step = position === null ? -1 : Math.floor(position * p.steps_per_beat) % p.length;
    if (step === this.playing) return;
    for (const row of this.cells) {
      row[this.playing]?.classList.remove("now");
      row[step]?.classList.add("now");
    }
    this.playing = step;
  }
}
