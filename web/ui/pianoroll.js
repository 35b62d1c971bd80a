/**
 * The piano roll of an instrument track: click the background to add a note,
 * drag a note to move it, drag its right edge to resize, double-click or
 * Delete to remove; everything snaps to the chosen grid. Keyboard: Tab to a
 * note, arrows move it (Shift+arrows resize), Delete removes; on the empty
 * roll arrows move a cursor and Enter adds a note. Other people's cursors and
 * selected notes show in their colours.
 * @module ui/pianoroll
 */

import { PPQ, PRESENCE_LIMITS, SCHEMAS } from "../protocol.js";
import { h, isBlack, pitchName, textOn } from "./dom.js";

const LOW = 24;
const HIGH = 107;
const ROW = 14; // px per pitch
const BEAT = 64; // px per quarter note
const PX = BEAT / PPQ; // px per tick
const SNAPS = [[PPQ, "1/4"], [PPQ / 2, "1/8"], [PPQ / 4, "1/16"], [PPQ / 8, "1/32"]];
const EDGE = 6; // px of a note's right edge that resizes
const { pitch: PITCH, start: START, dur: DUR, vel: VEL } = SCHEMAS.note;

export class PianoRoll {
  constructor(root, session, app) {
    this.session = session;
    this.app = app;
    this.notes = new Map();
    this.selected = new Set();
    this.cursor = { pitch: 60, tick: 0 };
    this.title = h("h2", { id: "roll-title" }, "Piano roll");
    this.snap = h("select", { "aria-label": "Snap to grid" }, SNAPS.map(([t, n]) => h("option", { value: t, selected: t === PPQ / 4 }, n)));
    this.keys = h("div", { class: "keys", "aria-hidden": "true" });
    for (let p = HIGH; p >= LOW; p--) this.keys.append(h("div", { class: `key ${isBlack(p) ? "black" : "white"}` }, p % 12 === 0 ? pitchName(p) : ""));
    this.canvas = h("div", {
      class: "roll-canvas", tabindex: 0, role: "application",
      "aria-label": "Piano roll: arrows move the cursor, Enter adds a note",
    });
    this.kbd = h("div", { class: "kbd-cursor", "aria-hidden": "true" });
    this.others = h("div", { class: "roll-peers", "aria-hidden": "true" });
    this.canvas.append(this.kbd, this.others);
    this.scroller = h("div", { class: "roll-scroll" }, h("div", { class: "roll-inner" }, this.keys, this.canvas));
    this.empty = h("p", { class: "hint" });
    this.el = h("section", { class: "panel roll", "aria-labelledby": "roll-title" },
      h("div", { class: "panel-head" }, this.title, h("label", { class: "field" }, h("span", {}, "Snap"), this.snap)),
      this.empty, this.scroller);
    root.append(this.el);
    this.canvas.addEventListener("pointerdown", (e) => this.backgroundDown(e));
    this.canvas.addEventListener("pointermove", (e) => this.hover(e));
    this.canvas.addEventListener("keydown", (e) => this.canvasKey(e));
    this.canvas.addEventListener("focus", () => this.showCursor());
    requestAnimationFrame(() => { this.scroller.scrollTop = (HIGH - 72) * ROW; });
  }

  get track() {
    return this.app.synthTrack;
  }

  get snapTicks() {
    return Number(this.snap.value);
  }

  barTicks() {
    const [n, d] = this.session.project.project.meter;
    return (n * 4 * PPQ) / d;
  }

  point(e) {
    const rect = this.canvas.getBoundingClientRect();
    const x = e.clientX - rect.left;
    const y = e.clientY - rect.top;
    const pitch = Math.max(LOW, Math.min(HIGH, HIGH - Math.floor(y / ROW)));
    const tick = Math.max(0, Math.floor(x / PX / this.snapTicks) * this.snapTicks);
    return { pitch, tick, x, y };
  }

  select(ids) {
    this.selected = new Set(ids);
    this.session.setPresence({ selection: [...this.selected].slice(0, PRESENCE_LIMITS.max_selection) });
    this.render();
  }

  hover(e) {
    const { pitch, tick } = this.point(e);
    this.session.setPresence({ cursor: { view: "roll", track: this.track ?? "", pitch, tick } });
  }

  backgroundDown(e) {
    if (e.target !== this.canvas || e.button !== 0 || !this.track || !this.session.canEdit) return;
    const { pitch, tick } = this.point(e);
    this.cursor = { pitch, tick };
    this.add(pitch, tick);
  }

  add(pitch, tick) {
    const edit = this.app.run(() => this.session.addNote(this.track, pitch, tick, this.snapTicks, VEL.default));
    if (edit) {
      this.focusNext = edit.id; // so arrows, Shift+arrows and Delete act on it at once
      this.select([edit.id]);
    }
  }

  canvasKey(e) {
    if (e.target !== this.canvas) return;
    const c = this.cursor;
    const step = this.snapTicks;
    const moves = { ArrowLeft: [0, -step], ArrowRight: [0, step], ArrowUp: [1, 0], ArrowDown: [-1, 0] };
    if (moves[e.key]) {
      const [dp, dt] = moves[e.key];
      this.cursor = { pitch: Math.max(LOW, Math.min(HIGH, c.pitch + dp)), tick: Math.max(0, c.tick + dt) };
      this.showCursor();
      this.session.setPresence({ cursor: { view: "roll", track: this.track ?? "", ...this.cursor } });
      e.preventDefault();
    } else if (e.key === "Enter" && this.track && this.session.canEdit) {
      this.add(c.pitch, c.tick);
      e.preventDefault();
    }
  }

  showCursor() {
    Object.assign(this.kbd.style, { left: `${this.cursor.tick * PX}px`, top: `${(HIGH - this.cursor.pitch) * ROW}px`, width: `${this.snapTicks * PX}px` });
  }

  noteElement(id) {
    const el = h("div", { class: "note", tabindex: 0, role: "button", "data-note": id });
    let drag = null;
    el.addEventListener("pointerdown", (e) => {
      if (e.button !== 0 || !this.session.canEdit) return;
      e.stopPropagation();
      const note = this.session.project.notes.get(id);
      const rect = el.getBoundingClientRect();
      drag = { x: e.clientX, y: e.clientY, note: { ...note }, resize: rect.right - e.clientX <= EDGE, moved: false };
      el.setPointerCapture(e.pointerId);
      if (!this.selected.has(id)) this.select([id]);
    });
    el.addEventListener("pointermove", (e) => {
      if (drag === null) return;
      const dx = e.clientX - drag.x;
      const dy = e.clientY - drag.y;
      if (!drag.moved && Math.abs(dx) < 3 && Math.abs(dy) < 3) return;
      drag.moved = true;
      const snap = this.snapTicks;
      const n = drag.note;
      if (drag.resize) {
        drag.dur = Math.max(snap, Math.round((n.dur + dx / PX) / snap) * snap);
        el.style.width = `${drag.dur * PX}px`;
      } else {
        drag.start = Math.max(START.min, Math.round((n.start + dx / PX) / snap) * snap);
        drag.pitch = Math.max(PITCH.min, Math.min(PITCH.max, n.pitch - Math.round(dy / ROW)));
        el.style.left = `${drag.start * PX}px`;
        el.style.top = `${(HIGH - drag.pitch) * ROW}px`;
      }
    });
    el.addEventListener("pointerup", () => {
      if (drag?.moved) {
        if (drag.resize) this.change(id, { dur: drag.dur });
        else this.change(id, { start: drag.start, pitch: drag.pitch });
      }
      drag = null;
    });
    el.addEventListener("dblclick", () => this.app.run(() => this.session.remove(id)));
    el.addEventListener("focus", () => { if (!this.selected.has(id)) this.select([id]); });
    el.addEventListener("keydown", (e) => this.noteKey(e, id));
    return el;
  }

  /** One edit setting the fields that changed. */
  change(id, fields) {
    const note = this.session.project.notes.get(id);
    if (!note) return;
    const ops = Object.entries(fields)
      .filter(([field, value]) => value !== undefined && note[field] !== value)
      .map(([field, value]) => ({ op: "set", id, field, value }));
    if (ops.length) this.app.run(() => this.session.edit(ops));
    else this.render();
  }

  noteKey(e, id) {
    const note = this.session.project.notes.get(id);
    if (!note || !this.session.canEdit) return;
    const snap = this.snapTicks;
    let handled = true;
    if (e.key === "Delete" || e.key === "Backspace") this.app.run(() => this.session.remove(id));
    else if (e.shiftKey && e.key === "ArrowRight") this.change(id, { dur: Math.min(DUR.max, note.dur + snap) });
    else if (e.shiftKey && e.key === "ArrowLeft") this.change(id, { dur: Math.max(DUR.min, note.dur - snap) });
    else if (e.key === "ArrowRight") this.change(id, { start: note.start + snap });
    else if (e.key === "ArrowLeft") this.change(id, { start: Math.max(START.min, note.start - snap) });
    else if (e.key === "ArrowUp") this.change(id, { pitch: Math.min(PITCH.max, note.pitch + 1) });
    else if (e.key === "ArrowDown") this.change(id, { pitch: Math.max(PITCH.min, note.pitch - 1) });
    else handled = false;
    if (handled) e.preventDefault();
  }

  render() {
    const doc = this.session.project;
    const track = this.track ? doc.tracks.get(this.track) : undefined;
    this.title.textContent = track ? `Piano roll · ${track.name}` : "Piano roll";
    this.empty.textContent = track ? "" : "Add an instrument track to write notes.";
    this.scroller.hidden = !track;
    const notes = track ? [...doc.notes.values()].filter((n) => n.track === track.id) : [];
    const bar = this.barTicks();
    const end = notes.reduce((m, n) => Math.max(m, n.start + n.dur), 0);
    const bars = Math.max(4, Math.ceil(end / bar) + 1);
    const width = bars * bar * PX;
    Object.assign(this.canvas.style, {
      width: `${width}px`, height: `${(HIGH - LOW + 1) * ROW}px`,
      "--bar": `${bar * PX}px`, "--beat": `${BEAT * (4 / doc.project.meter[1])}px`, "--row": `${ROW}px`,
    });
    this.canvas.style.setProperty("--bar", `${bar * PX}px`);
    this.canvas.style.setProperty("--beat", `${BEAT * (4 / doc.project.meter[1])}px`);
    this.canvas.style.setProperty("--row", `${ROW}px`);
    const live = new Set(notes.map((n) => n.id));
    for (const [id, el] of this.notes) {
      if (!live.has(id)) {
        el.remove();
        this.notes.delete(id);
      }
    }
    for (const id of this.selected) if (!doc.notes.has(id)) this.selected.delete(id);
    const selectedBy = new Map();
    for (const peer of this.session.peers.values()) for (const id of peer.selection ?? []) selectedBy.set(id, peer);
    const mine = this.session.options.color ?? "#7c5cff";
    for (const n of notes) {
      let el = this.notes.get(n.id);
      if (el === undefined) {
        el = this.noteElement(n.id);
        this.notes.set(n.id, el);
        this.canvas.append(el);
      }
      Object.assign(el.style, {
        left: `${n.start * PX}px`, top: `${(HIGH - n.pitch) * ROW}px`, width: `${Math.max(3, n.dur * PX)}px`, height: `${ROW - 1}px`,
        opacity: String(0.45 + (0.55 * n.vel) / VEL.max),
      });
      const peer = selectedBy.get(n.id);
      el.classList.toggle("selected", this.selected.has(n.id));
      el.style.setProperty("--sel", this.selected.has(n.id) ? mine : peer ? peer.color : "transparent");
      el.classList.toggle("peer-selected", Boolean(peer));
      el.textContent = n.dur * PX > 26 ? pitchName(n.pitch) : "";
      el.setAttribute("aria-label", `${pitchName(n.pitch)} at beat ${(n.start / PPQ + 1).toFixed(2)}, ${n.dur} ticks${peer ? `, selected by ${peer.name}` : ""}`);
    }
    const cursors = [];
    for (const peer of this.session.peers.values()) {
      const c = peer.cursor;
      if (c && c.view === "roll" && track && c.track === track.id) {
        cursors.push(h("div", {
          class: "peer-cursor-mark",
          style: { left: `${c.tick * PX}px`, top: `${(HIGH - c.pitch) * ROW}px`, background: peer.color, color: textOn(peer.color) },
        }, peer.name));
      }
    }
    this.others.replaceChildren(...cursors);
    this.showCursor();
    this.follow(track, notes);
    if (this.focusNext && this.notes.has(this.focusNext)) {
      this.notes.get(this.focusNext).focus();
      this.focusNext = null;
    }
  }

  /** Scroll a track's notes into view when the roll first shows them. */
  follow(track, notes) {
    const key = track ? track.id : null;
    if (key === this.followed || !notes.length) return;
    this.followed = key;
    const mid = notes.reduce((sum, n) => sum + n.pitch, 0) / notes.length;
    requestAnimationFrame(() => {
      this.scroller.scrollTop = Math.max(0, (HIGH - mid) * ROW - this.scroller.clientHeight / 2);
    });
  }

  /** Draw the playhead at `position` beats (null: stopped). */
  tick(position) {
    if (!this.playhead) {
      this.playhead = h("div", { class: "playhead", "aria-hidden": "true" });
      this.canvas.append(this.playhead);
    }
    this.playhead.hidden = position === null;
    if (position !== null) this.playhead.style.left = `${position * BEAT}px`;
  }
}
