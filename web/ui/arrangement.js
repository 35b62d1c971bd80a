/**
 * The arrangement view: every track as a row on a bar timeline, with its
 * clips; a lane of named, coloured song sections above them; a ruler (the
 * transport's, ui/ruler.js: click locates, drag sets the loop) and a playhead.
 *
 * - Clips: drag in an empty part of a row to make one (a drums track gets a
 *   clip of its pattern: the step sequencer's, else its first, else a new one
 *   made in the same edit; an instrument track a notes clip of the dragged
 *   length; audio tracks take none). Click selects, Shift-click adds to the
 *   selection; drag a clip to move the selection (a lone notes clip also to
 *   another instrument track), drag its right edge to resize; Mod-D (or
 *   Duplicate) copies the selection right after itself, Delete/Backspace (or
 *   Delete) removes it. Every gesture is one edit: one op batch, one undo step.
 *   An edit refused here shows its reason once (`app.run`), one the server
 *   refuses the page's `rejected` toast, and the clips go back to where they
 *   were.
 * - Sections: drag in the sections lane (or "+ Section": at the playhead, or
 *   after the last section) to make one, click selects, drag moves it (its
 *   right edge resizes it), in whole bars; double-click renames, the colour
 *   input recolours the selected one, Delete removes it.
 * - Chords: the chord track under the sections (ui/chords.js): click an empty
 *   bar to add a chord, drag to move or resize, double-click (or Enter) to
 *   type its symbol, Delete removes it; "Chords of the key" opens a palette
 *   of the key's chords that adds them one bar after another.
 * - Snap to bars (default) or beats; zoom with the buttons or Ctrl+wheel; the
 *   timeline scrolls sideways (the ruler, the sections and the rows together).
 * - My clip selection is my presence `selection`; a clip someone else selected
 *   has an outline in their colour, their name as its tooltip. Selecting one
 *   notes clip sets `app.selectedClip` (and selects its track) so the piano
 *   roll edits inside it; selecting a pattern clip shows its pattern in the
 *   step sequencer.
 *
 * Drawing: absolutely positioned divs, one per clip and section, updated only
 * when what they show changed (a key per element); a notes clip's preview is
 * a small canvas redrawn only when its notes change. Nothing is rebuilt per
 * animation frame: `tick` moves the playhead and keeps the widths in step
 * with the ruler.
 *
 * Every edit control is disabled (the reason as its tooltip) for someone who
 * may not edit (`app.editBlockReason()`); the timeline then takes no edits.
 *
 * @module ui/arrangement
 */

import { PPQ, PRESENCE_LIMITS, SCHEMAS } from "../protocol.js";
import { barLength } from "../timeline.js";
import { ChordLane } from "./chords.js";
import { h, textOn } from "./dom.js";
import { Ruler } from "./ruler.js";
import { typingIn } from "./shortcuts.js";

const HEAD = 132; // px of the row headers (track names)
const ROW = 44; // px per track row
const DRAG_PX = 4; // a press moving less than this is a click
const EDGE_PX = 7; // this close to a clip's right edge, a drag resizes it
const START_PX_PER_BEAT = 12;
const MIN_BARS = 16;
const PREVIEW_MAX_PX = 2048; // a preview canvas is never wider (it stretches)
const DEFAULT_SOUNDS = [36, 38, 42, 46]; // kick, snare, closed and open hat
const SECTION_NAMES = ["Intro", "Verse", "Chorus", "Verse 2", "Bridge", "Chorus 2", "Outro"];
const SECTION_COLORS = ["#d98e48", "#4fa3a5", "#c75b7a", "#6f8fe0", "#9b7bd6", "#7fb069", "#8a93a6"];
const MAX_TICK = SCHEMAS.clip.start.max;

const isMod = (e) => e.ctrlKey || e.metaKey;
/** A hash of numbers, cheap and order-sensitive; for keys of what an element shows. */
const mix = (hash, n) => (Math.imul(hash ^ n, 16777619) + 0x9e3779b9) | 0;

export class ArrangementView {
  /**
   * @param {HTMLElement} root where the panel goes
   * @param {import("../net.js").Session} session
   * @param {any} app the page (run, editBlockReason, select, render, toasts, steps)
   */
  constructor(root, session, app) {
    this.session = session;
    this.app = app;
    /** @type {Set<string>} my selected clips */
    this.selection = new Set();
    /** @type {string | null} the selected section */
    this.section = null;
    /** what Delete and Mod-D act on: the last thing clicked */
    this.focus = "clips";
    this.gesture = null;
    this.published = "";
    this.rowsKey = "";
    this.width = 0;
    this.px = START_PX_PER_BEAT;
    /** @type {Map<string, {el: HTMLElement, label: HTMLElement, canvas: HTMLCanvasElement | null, key: string, preview: string}>} */
    this.clipEls = new Map();
    /** @type {Map<string, {el: HTMLElement, label: HTMLElement, key: string}>} */
    this.sectionEls = new Map();
    /** @type {Map<string, {el: HTMLElement, head: HTMLElement, name: HTMLElement, lane: HTMLElement}>} */
    this.rows = new Map();
    this.trackIds = [];

    const button = (cls, text, onclick, extra = {}) => h("button", { type: "button", class: cls, onclick, "data-edit": "", ...extra }, text);
    this.snap = h("select", { class: "arr-snap", "aria-label": "Arrangement snap", onchange: () => this.app.render() },
      [["bar", "Bar"], ["beat", "Beat"]].map(([v, t]) => h("option", { value: v }, t)));
    const zoom = (factor, label, text) => h("button", { type: "button", class: "zoom", "aria-label": `Arrangement ${label.toLowerCase()}`, title: label, onclick: () => this.zoom(factor) }, text);
    this.addSection = button("add-section", "+ Section", () => this.newSection(), { title: "Add a section at the playhead" });
    this.sectionColor = h("input", {
      type: "color", class: "section-color", "aria-label": "Section colour", "data-edit": "", value: SCHEMAS.section.color.default,
      onchange: () => this.recolorSection(),
    });
    this.duplicateButton = button("duplicate", "Duplicate", () => this.duplicate(), { "aria-keyshortcuts": "Control+D Meta+D" });
    this.deleteButton = button("delete", "Delete", () => this.deleteSelected(), { "aria-keyshortcuts": "Delete Backspace" });

    this.rulerSlot = h("div", { class: "arr-ruler-slot" });
    this.top = h("div", { class: "arr-top" }, h("div", { class: "arr-corner" }, "Bar"), this.rulerSlot);
    this.sectionInner = h("div", { class: "arr-section-inner" });
    this.sectionGhost = h("div", { class: "arr-ghost", hidden: true });
    this.sectionInner.append(this.sectionGhost);
    this.sectionLane = h("div", {
      class: "arr-section-lane", "aria-label": "Sections: drag to add one, double-click to rename",
      onpointerdown: (e) => this.sectionPress(e),
      onpointermove: (e) => this.sectionMove(e),
      onpointerup: (e) => this.sectionRelease(e),
      onpointercancel: () => this.cancelGesture(),
      ondblclick: (e) => this.sectionDoubleClick(e),
    }, this.sectionInner);
    this.sectionsRow = h("div", { class: "arr-sections" }, h("div", { class: "arr-corner" }, "Sections"), this.sectionLane);
    this.chords = new ChordLane(this);
    this.lanes = h("div", { class: "arr-lanes" });
    this.ghost = h("div", { class: "arr-ghost", hidden: true });
    this.playhead = h("div", { class: "arr-playhead", "aria-hidden": "true" });
    this.empty = h("p", { class: "hint arr-empty" }, "Add a track to arrange clips.");
    this.content = h("div", { class: "arr-content" }, this.lanes, this.ghost, this.playhead);
    this.body = h("div", {
      class: "arr-body", tabindex: 0, role: "application", "data-testid": "arrangement",
      "aria-label": "Arrangement: drag in a row to add a clip; Delete removes, Ctrl+D duplicates the selection",
      "data-head": HEAD, "data-row": ROW,
      onpointerdown: (e) => this.press(e),
      onpointermove: (e) => this.move(e),
      onpointerup: (e) => this.release(e),
      onpointercancel: () => this.cancelGesture(),
      onscroll: () => this.syncScroll(this.body.scrollLeft),
      onwheel: (e) => this.wheel(e),
    }, this.content);
    this.el = h("section", { class: "panel arrangement", "aria-labelledby": "arr-title", onkeydown: (e) => this.key(e) },
      h("div", { class: "panel-head" }, h("h2", { id: "arr-title" }, "Arrangement"),
        h("div", { class: "row" }, this.addSection, this.sectionColor, this.duplicateButton, this.deleteButton,
          h("label", { class: "field" }, h("span", {}, "Snap"), this.snap),
          zoom(0.8, "Zoom out", "−"), zoom(1.25, "Zoom in", "+"))),
      this.top, this.sectionsRow, this.chords.row, this.chords.palette, this.body, this.empty);
    root.append(this.el);
    this.ruler = new Ruler(this.rulerSlot, session, app, { pxPerBeat: START_PX_PER_BEAT, bars: MIN_BARS, snap: () => this.snap.value });
    // its own names, so the page's `.ruler` (and `.ruler-loop`) stays the transport's one
    this.ruler.el.className = "arr-ruler";
    this.ruler.el.dataset.testid = "arrangement-ruler";
    this.ruler.el.setAttribute("aria-label", "Arrangement ruler: click to locate, drag to set the loop");
    this.ruler.loopBox.className = "arr-ruler-loop";
    this.ruler.el.addEventListener("scroll", () => this.syncScroll(this.ruler.el.scrollLeft));
    this.ruler.el.addEventListener("wheel", (e) => { if (isMod(e)) queueMicrotask(() => this.layout()); });
  }

  destroy() {
    this.ruler.destroy();
  }

  // -- geometry ---------------------------------------------------------------

  get meter() {
    return this.session.project.project.meter;
  }

  /** Ticks per bar of the project's meter (6/8: three quarter notes). */
  barTicks() {
    return Math.round(barLength(this.meter) * PPQ);
  }

  /** The snap grid in ticks: a bar or one beat of the meter. */
  gridTicks() {
    return this.snap.value === "bar" ? this.barTicks() : Math.round((4 / this.meter[1]) * PPQ);
  }

  xOf(tick) {
    return (tick / PPQ) * this.px;
  }

  /** The tick under a pointer at `clientX` (never before 0). */
  tickAt(clientX) {
    const box = this.body.getBoundingClientRect();
    const x = clientX - box.left - this.body.clientLeft + this.body.scrollLeft - HEAD;
    return Math.max(0, (x / this.px) * PPQ);
  }

  /** The track row under a pointer at `clientY`, or null. */
  trackAt(clientY) {
    const box = this.lanes.getBoundingClientRect();
    const index = Math.floor((clientY - box.top) / ROW);
    return this.trackIds[index] ?? null;
  }

  snapDown(tick) {
    const grid = this.gridTicks();
    return Math.floor(tick / grid + 1e-9) * grid;
  }

  snapNear(tick) {
    const grid = this.gridTicks();
    return Math.round(tick / grid) * grid;
  }

  zoom(factor, clientX = null) {
    this.ruler.setScale(this.ruler.pxPerBeat * factor, clientX);
    this.layout();
  }

  wheel(e) {
    if (!isMod(e)) return;
    e.preventDefault();
    const box = this.body.getBoundingClientRect();
    // the ruler's box starts where the rows' timeline does, so the anchor carries over
    this.zoom(e.deltaY < 0 ? 1.25 : 0.8, Math.max(box.left + HEAD, e.clientX));
  }

  /** Scroll the ruler, the sections and the rows to the same place. */
  syncScroll(left) {
    if (Math.abs(this.body.scrollLeft - left) > 0.5) this.body.scrollLeft = left;
    if (Math.abs(this.ruler.el.scrollLeft - left) > 0.5) this.ruler.el.scrollLeft = left;
    this.sectionInner.style.transform = `translateX(${-this.body.scrollLeft}px)`;
    this.chords.scrollTo(this.body.scrollLeft);
  }

  blocked() {
    return this.app.editBlockReason() !== null;
  }

  // -- edits ------------------------------------------------------------------

  /** One edit of `ops` (one batch, one undo step); a local refusal becomes one toast. */
  edit(ops) {
    const edit = this.app.run(() => this.session.edit(ops));
    edit?.done.catch(() => {}); // a server refusal is the page's `rejected` toast
    return edit;
  }

  /** The pattern a new clip on drums track `track` places, and the ops to make it if there is none. */
  patternFor(track) {
    const own = [...this.session.project.patterns.values()].filter((p) => p.track === track).sort((a, b) => (a.id < b.id ? -1 : 1));
    const chosen = this.app.steps?.patternId;
    const found = own.find((p) => p.id === chosen) ?? own[0];
    if (found) return { id: found.id, ops: [] };
    const id = this.session.newId();
    const value = {
      track, name: "Pattern 1", length: SCHEMAS.pattern.length.default, steps_per_beat: SCHEMAS.pattern.steps_per_beat.default,
      lanes: DEFAULT_SOUNDS.map((sound) => ({ sound, steps: new Array(SCHEMAS.pattern.length.default).fill(0) })),
    };
    return { id, ops: [{ op: "insert", kind: "pattern", id, value }] };
  }

  createClip(trackId, start, length) {
    const track = this.session.project.tracks.get(trackId);
    if (!track || track.kind === "audio") return;
    const id = this.session.newId();
    let ops;
    if (track.kind === "drums") {
      const pattern = this.patternFor(trackId);
      ops = [...pattern.ops, { op: "insert", kind: "clip", id, value: { track: trackId, pattern: pattern.id, start, length } }];
    } else {
      ops = [{ op: "insert", kind: "clip", id, value: { track: trackId, pattern: null, start, length } }];
    }
    if (this.edit(ops)) this.select([id]);
  }

  /** Move the selection by `delta` ticks (a lone notes clip also to track `toTrack`). */
  moveClips(ids, delta, toTrack = null) {
    const doc = this.session.project;
    const ops = [];
    for (const id of ids) {
      const clip = doc.clips.get(id);
      if (!clip) continue;
      if (toTrack !== null && toTrack !== clip.track) ops.push({ op: "set", id, field: "track", value: toTrack });
      if (delta !== 0) ops.push({ op: "set", id, field: "start", value: clip.start + delta });
    }
    if (!ops.length) return;
    if (ops.length === 2 && ops[0].field === "track") {
      // on the new track at the old start it may collide where the new start is free, or the other way round
      try {
        this.session.edit(ops).done.catch(() => {});
        return;
      } catch {
        this.edit([ops[1], ops[0]]);
        return;
      }
    }
    // moving right, the rightmost clip first (and left, the leftmost), so the clips never cross each other
    const start = (op) => doc.clips.get(op.id).start;
    ops.sort((a, b) => (delta > 0 ? start(b) - start(a) : start(a) - start(b)));
    this.edit(ops);
  }

  resizeClip(id, length) {
    const clip = this.session.project.clips.get(id);
    if (clip && clip.length !== length) this.edit([{ op: "set", id, field: "length", value: length }]);
  }

  /** Copy the selected clips (a notes clip with its notes) right after the selection, as one edit. */
  duplicate() {
    const doc = this.session.project;
    const clips = [...this.selection].map((id) => doc.clips.get(id)).filter(Boolean).sort((a, b) => a.start - b.start);
    if (!clips.length) return;
    const from = Math.min(...clips.map((c) => c.start));
    const to = Math.max(...clips.map((c) => c.start + c.length));
    const offset = to - from;
    const ops = [];
    const copies = [];
    for (const clip of clips) {
      const id = this.session.newId();
      copies.push(id);
      ops.push({ op: "insert", kind: "clip", id, value: { track: clip.track, pattern: clip.pattern, start: clip.start + offset, length: clip.length } });
      if (clip.pattern === null) {
        for (const note of doc.notesOf(clip.id)) {
          const value = { track: clip.track, clip: id, pitch: note.pitch, start: note.start, dur: note.dur, vel: note.vel };
          ops.push({ op: "insert", kind: "note", id: this.session.newId(), value });
        }
      }
    }
    if (this.edit(ops)) this.select(copies);
  }

  deleteSelected() {
    if (this.focus === "chord" && this.chords.selected !== null) {
      this.chords.deleteSelected();
      return;
    }
    if (this.focus === "section" && this.section) {
      const id = this.section;
      if (this.edit([{ op: "delete", id }])) this.section = null;
      this.app.render();
      return;
    }
    const ids = [...this.selection].filter((id) => this.session.project.clips.has(id));
    if (!ids.length) return;
    if (this.edit(ids.map((id) => ({ op: "delete", id })))) this.select([]);
  }

  // -- sections ------------------------------------------------------------------

  sectionName() {
    const used = new Set([...this.session.project.sections.values()].map((s) => s.name));
    return SECTION_NAMES.find((n) => !used.has(n)) ?? `Section ${this.session.project.sections.size + 1}`;
  }

  createSection(start, length) {
    const doc = this.session.project;
    const id = this.session.newId();
    const color = SECTION_COLORS[doc.sections.size % SECTION_COLORS.length];
    const value = { name: this.sectionName(), color, start, length };
    if (this.edit([{ op: "insert", kind: "section", id, value }])) this.selectSection(id);
  }

  /** "+ Section": four bars at the playhead's bar when free there, else after the last section. */
  newSection() {
    const doc = this.session.project;
    const bar = this.barTicks();
    const length = 4 * bar;
    let start = Math.floor((this.ruler.positionNow() * PPQ) / bar) * bar;
    if (doc.overlapping("#sections", start, length, null) !== null) {
      const last = doc.orderedSections().at(-1);
      start = last ? Math.ceil((last.start + last.length) / bar) * bar : 0;
    }
    this.createSection(start, length);
  }

  recolorSection() {
    const id = this.section;
    const section = id && this.session.project.sections.get(id);
    if (section && section.color !== this.sectionColor.value) this.edit([{ op: "set", id, field: "color", value: this.sectionColor.value.toLowerCase() }]);
  }

  selectSection(id) {
    this.section = id;
    this.focus = "section";
    this.app.render();
  }

  sectionAt(target) {
    return target.closest?.(".arr-section")?.dataset.section ?? null;
  }

  sectionPress(e) {
    if (e.button !== 0) return;
    e.preventDefault(); // the focus stays in the arrangement (for Delete)
    const id = this.sectionAt(e.target);
    this.body.focus({ preventScroll: true });
    if (id !== null) {
      this.selectSection(id);
      if (this.blocked()) return;
      const box = this.sectionEls.get(id)?.el.getBoundingClientRect();
      const kind = box && box.right - e.clientX <= EDGE_PX ? "section-resize" : "section-move";
      // no pointer capture until it moves: a capture would take the double-click (rename) away
      this.gesture = { kind, id, x: e.clientX, tick: this.tickAt(e.clientX), moved: false, pointer: e.pointerId };
      return;
    }
    if (this.blocked()) return;
    this.sectionLane.setPointerCapture?.(e.pointerId);
    this.gesture = { kind: "new-section", x: e.clientX, tick: this.tickAt(e.clientX), moved: false };
  }

  /** [start, length] of the bars a section drag covers (at least one bar). */
  sectionSpan(e, g = this.gesture) {
    const bar = this.barTicks();
    const a = g.tick;
    const b = this.tickAt(e.clientX);
    const lo = Math.floor(Math.min(a, b) / bar) * bar;
    const hi = Math.max(lo + bar, Math.ceil(Math.max(a, b) / bar) * bar);
    return [lo, Math.min(hi, MAX_TICK) - lo];
  }

  /** A section dragged by its body: how far it moves, in whole bars (never before bar 1). */
  sectionDelta(e, g) {
    const section = this.session.project.sections.get(g.id);
    const bar = this.barTicks();
    const start = Math.max(0, Math.round((section.start + this.tickAt(e.clientX) - g.tick) / bar) * bar);
    return Math.min(start, MAX_TICK - section.length) - section.start;
  }

  /** A section dragged by its right edge: its new length, whole bars, at least one. */
  sectionLength(e, g) {
    const section = this.session.project.sections.get(g.id);
    const bar = this.barTicks();
    const end = Math.round((section.start + section.length + this.tickAt(e.clientX) - g.tick) / bar) * bar;
    return Math.min(MAX_TICK - section.start, Math.max(bar, end - section.start));
  }

  sectionMove(e) {
    const g = this.gesture;
    if (!g || !g.kind.includes("section")) return;
    if (!g.moved && Math.abs(e.clientX - g.x) < DRAG_PX) return;
    if (!g.moved && g.pointer !== undefined) this.sectionLane.setPointerCapture?.(g.pointer);
    g.moved = true;
    if (g.kind === "new-section") {
      const [start, length] = this.sectionSpan(e);
      this.place(this.sectionGhost, start, length);
      this.sectionGhost.hidden = false;
      return;
    }
    const entry = this.sectionEls.get(g.id);
    if (!entry || !this.session.project.sections.has(g.id)) return;
    if (g.kind === "section-move") entry.el.style.transform = `translateX(${this.xOf(this.sectionDelta(e, g))}px)`;
    else entry.el.style.width = `${Math.max(2, this.xOf(this.sectionLength(e, g)))}px`;
  }

  sectionRelease(e) {
    const g = this.gesture;
    if (!g || !g.kind.includes("section")) return;
    this.gesture = null;
    this.sectionGhost.hidden = true;
    if (g.kind === "new-section") {
      if (g.moved) this.createSection(...this.sectionSpan(e, g));
      else {
        this.section = null;
        this.app.render();
      }
      return;
    }
    const entry = this.sectionEls.get(g.id);
    if (entry) {
      entry.el.style.transform = "";
      entry.key = ""; // placed again from the document
    }
    const section = this.session.project.sections.get(g.id);
    if (g.moved && section) {
      if (g.kind === "section-move") {
        const delta = this.sectionDelta(e, g);
        if (delta !== 0) this.edit([{ op: "set", id: g.id, field: "start", value: section.start + delta }]);
      } else {
        const length = this.sectionLength(e, g);
        if (length !== section.length) this.edit([{ op: "set", id: g.id, field: "length", value: length }]);
      }
    }
    this.app.render();
  }

  sectionDoubleClick(e) {
    const id = this.sectionAt(e.target);
    if (id !== null && !this.blocked()) this.rename(id);
  }

  /** An input over the section's label: Enter or leaving it renames, Escape does not. */
  rename(id) {
    const entry = this.sectionEls.get(id);
    const section = this.session.project.sections.get(id);
    if (!entry || !section) return;
    let done = false;
    const input = h("input", {
      class: "arr-rename", "aria-label": "Section name", maxlength: SCHEMAS.section.name.max_len, value: section.name,
      onpointerdown: (ev) => ev.stopPropagation(),
      onkeydown: (ev) => {
        ev.stopPropagation();
        if (ev.key === "Enter") finish(true);
        else if (ev.key === "Escape") finish(false);
      },
      onblur: () => finish(true),
    });
    const finish = (commit) => {
      if (done) return;
      done = true;
      const name = input.value.trim();
      input.remove();
      const now = this.session.project.sections.get(id);
      if (commit && now && name && name !== now.name) this.edit([{ op: "set", id, field: "name", value: name }]);
      this.app.render();
    };
    entry.el.append(input);
    input.focus();
    input.select();
  }

  // -- the clips' gestures ----------------------------------------------------------

  /** Select exactly `ids` (and tell the page and the others). */
  select(ids) {
    this.selection = new Set(ids);
    this.focus = "clips";
    this.announceSelection();
    this.app.render();
  }

  /** What the rest of the page follows: one notes clip is the piano roll's; a pattern clip the sequencer's. */
  announceSelection() {
    const doc = this.session.project;
    const only = this.selection.size === 1 ? doc.clips.get([...this.selection][0]) : undefined;
    const clip = only ?? null;
    const before = this.app.selectedClip;
    this.app.selectedClip = clip && clip.pattern === null ? clip.id : null;
    if (clip) {
      if (clip.pattern !== null && this.app.steps) this.app.steps.patternId = clip.pattern;
      if (this.app.selectedTrack !== clip.track || before !== this.app.selectedClip) this.app.select(clip.track);
    }
    this.publish();
  }

  publish() {
    const ids = [...this.selection].slice(0, PRESENCE_LIMITS.max_selection);
    const key = ids.join(" ");
    if (key === this.published) return;
    this.published = key;
    this.session.setPresence({ selection: ids });
  }

  clipAt(target) {
    return target.closest?.(".arr-clip")?.dataset.clip ?? null;
  }

  press(e) {
    if (e.button !== 0 || !this.content.contains(e.target)) return;
    e.preventDefault(); // no text selection; the focus stays here (for Delete and Mod-D)
    this.body.focus({ preventScroll: true });
    const id = this.clipAt(e.target);
    const doc = this.session.project;
    if (id !== null) {
      const clip = doc.clips.get(id);
      if (!clip) return;
      if (e.shiftKey) {
        const next = new Set(this.selection);
        if (next.has(id)) next.delete(id);
        else next.add(id);
        this.select(next);
        if (!next.has(id)) return;
      } else if (!this.selection.has(id)) {
        this.select([id]);
      }
      this.focus = "clips";
      if (this.blocked()) return;
      const entry = this.clipEls.get(id);
      const box = entry.el.getBoundingClientRect();
      const resize = box.right - e.clientX <= EDGE_PX;
      this.body.setPointerCapture?.(e.pointerId);
      this.gesture = {
        kind: resize ? "resize" : "move", id, x: e.clientX, y: e.clientY, moved: false, shift: e.shiftKey,
        tick: this.tickAt(e.clientX), ids: resize ? [id] : [...this.selection],
      };
      return;
    }
    const track = this.trackAt(e.clientY);
    if (track === null) return;
    if (e.target.closest(".arr-row-head")) {
      this.app.select(track);
      return;
    }
    if (this.blocked() || doc.tracks.get(track)?.kind === "audio") {
      this.select([]);
      return;
    }
    this.body.setPointerCapture?.(e.pointerId);
    this.gesture = { kind: "new-clip", track, x: e.clientX, y: e.clientY, moved: false, tick: this.tickAt(e.clientX) };
  }

  /** [start, length] a new-clip drag covers, snapped outward (at least one grid unit). */
  newSpan(e, g = this.gesture) {
    const grid = this.gridTicks();
    const a = g.tick;
    const b = this.tickAt(e.clientX);
    const lo = Math.floor(Math.min(a, b) / grid + 1e-9) * grid;
    const hi = Math.max(lo + grid, Math.ceil(Math.max(a, b) / grid - 1e-9) * grid);
    return [lo, Math.min(hi, MAX_TICK) - lo];
  }

  /** Where a move gesture puts the clips: the snapped tick delta and the target track. */
  moveTarget(e, g = this.gesture) {
    const doc = this.session.project;
    const clip = doc.clips.get(g.id);
    const earliest = Math.min(...g.ids.map((id) => doc.clips.get(id)?.start ?? 0));
    const raw = this.tickAt(e.clientX) - g.tick;
    let delta = this.snapNear(clip.start + raw) - clip.start;
    if (earliest + delta < 0) delta = -earliest;
    let track = clip.track;
    const over = this.trackAt(e.clientY);
    const kind = doc.tracks.get(clip.track)?.kind;
    if (g.ids.length === 1 && clip.pattern === null && over !== null && doc.tracks.get(over)?.kind === kind) track = over;
    return { delta, track };
  }

  resizeTarget(e, g = this.gesture) {
    const clip = this.session.project.clips.get(g.id);
    const grid = this.gridTicks();
    const end = this.snapNear(clip.start + clip.length + this.tickAt(e.clientX) - g.tick);
    return Math.min(MAX_TICK - clip.start, Math.max(end - clip.start, Math.min(grid, clip.length)));
  }

  move(e) {
    const g = this.gesture;
    if (g === null) {
      this.hover(e);
      return;
    }
    if (g.kind.includes("section")) return;
    if (g.kind !== "new-clip" && !this.session.project.clips.has(g.id)) {
      this.cancelGesture(); // someone removed it meanwhile
      return;
    }
    if (!g.moved && Math.hypot(e.clientX - g.x, e.clientY - g.y) < DRAG_PX) return;
    g.moved = true;
    const doc = this.session.project;
    if (g.kind === "new-clip") {
      const [start, length] = this.newSpan(e);
      this.place(this.ghost, start, length, this.trackIds.indexOf(g.track), HEAD);
      this.ghost.hidden = false;
    } else if (g.kind === "move") {
      const { delta, track } = this.moveTarget(e);
      const rows = this.trackIds.indexOf(track) - this.trackIds.indexOf(doc.clips.get(g.id)?.track);
      for (const id of g.ids) {
        const el = this.clipEls.get(id)?.el;
        if (el) {
          el.style.transform = `translate(${this.xOf(delta)}px, ${rows * ROW}px)`;
          el.classList.add("dragging");
        }
      }
    } else if (g.kind === "resize") {
      const el = this.clipEls.get(g.id)?.el;
      if (el) el.style.width = `${Math.max(2, this.xOf(this.resizeTarget(e)))}px`;
    }
  }

  release(e) {
    const g = this.gesture;
    if (g === null || g.kind.includes("section")) return;
    this.gesture = null;
    this.ghost.hidden = true;
    this.undoPreview(g);
    if (g.kind !== "new-clip" && !this.session.project.clips.has(g.id)) {
      this.app.render();
      return;
    }
    if (g.kind === "new-clip") {
      if (g.moved) this.createClip(g.track, ...this.newSpan(e, g));
      else this.select([]);
    } else if (g.kind === "move") {
      if (g.moved) {
        const { delta, track } = this.moveTarget(e, g);
        const clip = this.session.project.clips.get(g.id);
        this.moveClips(g.ids, delta, clip && track !== clip.track ? track : null);
      } else if (!g.shift) {
        this.select([g.id]); // a click on one of several selected clips selects just it
      }
    } else if (g.kind === "resize" && g.moved) {
      this.resizeClip(g.id, this.resizeTarget(e, g));
    }
    this.app.render();
  }

  /** Put dragged clips back where the document says (an edit, if any, moves them again). */
  undoPreview(g) {
    for (const id of g.ids ?? []) {
      const entry = this.clipEls.get(id);
      if (!entry) continue;
      entry.el.style.transform = "";
      entry.el.classList.remove("dragging");
      entry.key = ""; // redraw from the document
    }
  }

  cancelGesture() {
    const g = this.gesture;
    this.gesture = null;
    this.ghost.hidden = true;
    this.sectionGhost.hidden = true;
    if (g) this.undoPreview(g);
    const entry = g?.kind.startsWith("section-") ? this.sectionEls.get(g.id) : undefined;
    if (entry) {
      entry.el.style.transform = "";
      entry.key = "";
    }
    this.app.render();
  }

  hover(e) {
    const id = this.clipAt(e.target);
    let cursor = "";
    if (!this.blocked()) {
      if (id !== null) {
        const box = this.clipEls.get(id)?.el.getBoundingClientRect();
        cursor = box && box.right - e.clientX <= EDGE_PX ? "ew-resize" : "grab";
      } else {
        const track = this.trackAt(e.clientY);
        cursor = track !== null && this.session.project.tracks.get(track)?.kind === "audio" ? "not-allowed" : "";
      }
    }
    if (this.body.style.cursor !== cursor) this.body.style.cursor = cursor;
  }

  key(e) {
    if (typingIn(e.target) || e.altKey) return;
    const inside = this.body.contains(e.target) || this.sectionLane.contains(e.target);
    if (!inside) return;
    const del = (e.key === "Delete" || e.key === "Backspace") && !isMod(e);
    const dup = isMod(e) && (e.key === "d" || e.key === "D") && !e.shiftKey;
    if (e.key === "Escape") {
      this.section = null;
      this.chords.selected = null;
      this.select([]);
    } else if (del || dup) {
      this.app.editByKey(() => (del ? this.deleteSelected() : this.duplicate()));
    } else if (isMod(e) && (e.key === "a" || e.key === "A")) {
      this.select([...this.session.project.clips.keys()]);
    } else {
      return;
    }
    e.preventDefault(); // Mod-D is the browser's bookmark otherwise
    e.stopPropagation(); // these keys mean the arrangement's selection here, no other editor's
  }

  // -- drawing --------------------------------------------------------------------

  /** Position `el` over ticks [start, start + length) (in row `row`, if given). */
  place(el, start, length, row = null, offset = 0) {
    el.style.left = `${offset + this.xOf(start)}px`;
    el.style.width = `${Math.max(2, this.xOf(length))}px`;
    if (row !== null) el.style.top = `${row * ROW + 3}px`;
  }

  /** The bars the timeline spans: the content, the loop, the playhead and some room after. */
  contentBars() {
    const doc = this.session.project;
    let end = 0;
    for (const clip of doc.clips.values()) end = Math.max(end, clip.start + clip.length);
    for (const s of doc.sections.values()) end = Math.max(end, s.start + s.length);
    end = Math.max(end, this.chords.end());
    return Math.max(MIN_BARS, Math.ceil(end / this.barTicks()) + 8);
  }

  render() {
    const doc = this.session.project;
    const reason = this.app.editBlockReason();
    this.px = this.ruler.pxPerBeat;
    this.ruler.bars = this.contentBars();
    for (const id of this.selection) if (!doc.clips.has(id)) this.selection.delete(id);
    if (this.section !== null && !doc.sections.has(this.section)) this.section = null;
    if (this.app.selectedClip && !doc.clips.has(this.app.selectedClip)) this.app.selectedClip = null;
    this.publish();
    this.renderControls(reason);
    this.renderRows(doc);
    this.renderClips(doc);
    this.renderSections(doc);
    this.chords.render(doc);
    this.layout();
  }

  renderControls(reason) {
    const doc = this.session.project;
    const section = this.section === null ? undefined : doc.sections.get(this.section);
    const controls = [
      [this.addSection, false, "Add a section at the playhead (or after the last one)"],
      [this.sectionColor, !section, section ? `Colour of ${section.name}` : "Select a section to recolour it"],
      [this.duplicateButton, this.selection.size === 0, "Duplicate the selected clips right after them (Ctrl/Cmd-D)"],
      [this.deleteButton, this.selection.size === 0 && !section && this.chords.selected === null, "Delete the selection (Delete)"],
    ];
    for (const [el, off, title] of controls) {
      el.disabled = reason !== null || off;
      el.title = reason ?? title;
    }
    if (section && document.activeElement !== this.sectionColor) this.sectionColor.value = section.color;
    this.body.setAttribute("aria-disabled", String(reason !== null));
    this.sectionLane.setAttribute("aria-disabled", String(reason !== null));
    this.body.title = reason ?? "";
    this.sectionLane.title = reason ?? "Drag to add a section; double-click one to rename it";
  }

  /** One row per track: rebuilt only when the tracks' order, names, colours or kinds change. */
  renderRows(doc) {
    const tracks = doc.trackList();
    const key = tracks.map((t) => `${t.id}\u0000${t.name}\u0000${t.color}\u0000${t.kind}`).join("\u0001");
    this.empty.hidden = tracks.length > 0;
    this.body.hidden = tracks.length === 0;
    if (key === this.rowsKey) return;
    this.rowsKey = key;
    this.trackIds = tracks.map((t) => t.id);
    const live = new Set(this.trackIds);
    for (const [id, row] of this.rows) {
      if (!live.has(id)) {
        row.el.remove();
        this.rows.delete(id);
      }
    }
    tracks.forEach((track, index) => {
      let row = this.rows.get(track.id);
      if (!row) {
        const name = h("span", { class: "arr-track-name" });
        const head = h("div", { class: "arr-row-head" }, name);
        const lane = h("div", { class: "arr-row-lane" });
        row = { el: h("div", { class: "arr-row", "data-track": track.id }, head, lane), head, name, lane };
        this.rows.set(track.id, row);
      }
      if (this.lanes.children[index] !== row.el) this.lanes.insertBefore(row.el, this.lanes.children[index] ?? null);
      row.name.textContent = track.name;
      row.head.title = `${track.name} (${track.kind})`;
      row.el.style.setProperty("--track", track.color);
      row.el.dataset.kind = track.kind;
    });
    for (const entry of this.clipEls.values()) entry.key = ""; // rows may have moved
  }

  /** The clips, each redrawn only when what it shows changed. */
  renderClips(doc) {
    const selectedBy = new Map();
    for (const peer of this.session.peers.values()) {
      for (const id of peer.selection ?? []) if (doc.clips.has(id) && !selectedBy.has(id)) selectedBy.set(id, peer);
    }
    for (const [id, entry] of this.clipEls) {
      if (!doc.clips.has(id)) {
        entry.el.remove();
        this.clipEls.delete(id);
      }
    }
    const dragging = new Set(this.gesture?.moved ? this.gesture.ids ?? [] : []);
    for (const clip of doc.clips.values()) {
      const track = doc.tracks.get(clip.track);
      const row = this.rows.get(clip.track);
      if (!track || !row) continue;
      let entry = this.clipEls.get(clip.id);
      if (!entry) {
        const label = h("span", { class: "arr-clip-label" });
        const el = h("div", { class: "arr-clip", "data-clip": clip.id }, label);
        entry = { el, label, canvas: null, key: "", preview: "" };
        this.clipEls.set(clip.id, entry);
      }
      if (entry.el.parentNode !== row.lane) row.lane.append(entry.el);
      const pattern = clip.pattern === null ? null : doc.patterns.get(clip.pattern);
      const preview = this.previewKey(doc, clip, pattern);
      const peer = selectedBy.get(clip.id);
      const label = pattern ? pattern.name : `${doc.clipNotes.get(clip.id)?.size ?? 0} notes`;
      const key = [clip.start, clip.length, track.color, label, this.px, this.meter, this.selection.has(clip.id), peer?.client, peer?.color, peer?.name, preview].join("|");
      if (key === entry.key || dragging.has(clip.id)) continue;
      entry.key = key;
      const el = entry.el;
      this.place(el, clip.start, clip.length);
      el.style.setProperty("--clip", track.color);
      el.style.color = textOn(track.color);
      el.classList.toggle("selected", this.selection.has(clip.id));
      el.classList.toggle("notes", pattern === null);
      el.classList.toggle("peer-selected", Boolean(peer));
      el.style.setProperty("--peer", peer ? peer.color : "transparent");
      el.title = peer ? `Selected by ${peer.name}` : `${label} · bar ${this.barOf(clip.start)}, ${this.barsText(clip.length)}`;
      if (peer) el.dataset.peer = peer.name;
      else delete el.dataset.peer;
      entry.label.textContent = label;
      if (preview !== entry.preview) {
        entry.preview = preview;
        this.drawPreview(entry, doc, clip, pattern);
      }
    }
  }

  barOf(tick) {
    return Math.floor(tick / this.barTicks()) + 1;
  }

  barsText(ticks) {
    const bars = ticks / this.barTicks();
    const text = Number.isInteger(bars) ? String(bars) : bars.toFixed(2).replace(/0+$/, "");
    return `${text} bar${bars === 1 ? "" : "s"}`;
  }

  /** A key of what the clip's preview shows: its notes or its pattern's steps, and its size. */
  previewKey(doc, clip, pattern) {
    let hash = mix(clip.length, Math.round(this.xOf(clip.length)));
    if (pattern) {
      hash = mix(hash, pattern.length * 97 + pattern.steps_per_beat);
      for (const lane of pattern.lanes) {
        hash = mix(hash, lane.sound);
        for (const v of lane.steps) hash = mix(hash, v);
      }
    } else {
      for (const noteId of doc.clipNotes.get(clip.id) ?? []) {
        const n = doc.notes.get(noteId);
        hash = mix(mix(mix(hash, n.start), n.dur), n.pitch);
      }
    }
    return String(hash);
  }

  /** Draw the notes (a notes clip) or the steps (a pattern clip) into the clip's small canvas. */
  drawPreview(entry, doc, clip, pattern) {
    if (!entry.canvas) {
      entry.canvas = h("canvas", { class: "arr-preview", "aria-hidden": "true" });
      entry.el.prepend(entry.canvas);
    }
    const canvas = entry.canvas;
    const width = Math.max(1, Math.min(PREVIEW_MAX_PX, Math.round(this.xOf(clip.length))));
    const height = ROW - 24; // under the label band (the CSS height of .arr-preview)
    canvas.width = width;
    canvas.height = height;
    const g = canvas.getContext("2d");
    if (!g) return;
    g.clearRect(0, 0, width, height);
    g.fillStyle = textOn(doc.tracks.get(clip.track)?.color ?? "#4f8cff") === "#fff" ? "#ffffffcc" : "#000000aa";
    const sx = width / clip.length; // px per tick
    if (pattern) {
      const stepTicks = PPQ / pattern.steps_per_beat;
      const lanes = pattern.lanes.length || 1;
      const lh = height / lanes;
      const passes = Math.ceil(clip.length / (pattern.length * stepTicks));
      pattern.lanes.forEach((lane, li) => {
        for (let p = 0; p < passes; p += 1) {
          lane.steps.forEach((v, si) => {
            const t = (p * pattern.length + si) * stepTicks;
            if (v > 0 && t < clip.length) g.fillRect(t * sx, li * lh + 1, Math.max(1, stepTicks * sx - 1), Math.max(1, lh - 2));
          });
        }
      });
      return;
    }
    let lo = 127;
    let hi = 0;
    const notes = [];
    for (const noteId of doc.clipNotes.get(clip.id) ?? []) {
      const n = doc.notes.get(noteId);
      if (n.start >= clip.length) continue;
      notes.push(n);
      lo = Math.min(lo, n.pitch);
      hi = Math.max(hi, n.pitch);
    }
    if (!notes.length) return;
    const span = Math.max(12, hi - lo + 1);
    const mid = (lo + hi) / 2;
    const base = Math.floor(mid - span / 2);
    const nh = Math.max(1, height / span);
    for (const n of notes) {
      const y = height - (n.pitch - base + 1) * nh;
      g.fillRect(n.start * sx, y, Math.max(1, Math.min(n.dur, clip.length - n.start) * sx), Math.max(1, nh - 0.5));
    }
  }

  renderSections(doc) {
    for (const [id, entry] of this.sectionEls) {
      if (!doc.sections.has(id)) {
        entry.el.remove();
        this.sectionEls.delete(id);
      }
    }
    for (const section of doc.sections.values()) {
      let entry = this.sectionEls.get(section.id);
      if (!entry) {
        const label = h("span", { class: "arr-section-label" });
        entry = { el: h("div", { class: "arr-section", "data-section": section.id }, label), label, key: "" };
        this.sectionEls.set(section.id, entry);
        this.sectionInner.append(entry.el);
      }
      const selected = section.id === this.section;
      const key = [section.start, section.length, section.name, section.color, this.px, this.meter, selected].join("|");
      if (key === entry.key) continue;
      entry.key = key;
      this.place(entry.el, section.start, section.length);
      entry.el.style.setProperty("--section", section.color);
      entry.el.style.color = textOn(section.color);
      entry.el.classList.toggle("selected", selected);
      entry.label.textContent = section.name;
      entry.el.title = `${section.name}: bar ${this.barOf(section.start)}, ${this.barsText(section.length)}`;
    }
  }

  /** Widths and grid from the ruler's scale; clips and sections placed again when the zoom changed. */
  layout() {
    const px = this.ruler.pxPerBeat;
    const width = parseFloat(this.ruler.track.style.width) || Math.round(this.ruler.bars * barLength(this.meter) * px);
    if (px !== this.px) {
      this.px = px;
      this.renderClips(this.session.project);
      this.renderSections(this.session.project);
      this.chords.render(this.session.project);
    }
    const bar = barLength(this.meter) * px;
    if (width !== this.width) {
      this.width = width;
      this.content.style.width = `${HEAD + width}px`;
      this.sectionInner.style.width = `${width}px`;
    }
    this.chords.layout(width, bar);
    const beat = (4 / this.meter[1]) * px;
    const grid = `${bar}px/${beat}px`;
    if (this.gridKey !== grid) {
      this.gridKey = grid;
      this.content.style.setProperty("--bar", `${bar}px`);
      this.content.style.setProperty("--beat", `${beat}px`);
      this.sectionLane.style.setProperty("--bar", `${bar}px`);
    }
    this.content.style.height = `${this.trackIds.length * ROW}px`;
    const gutter = this.body.offsetWidth - this.body.clientWidth;
    const pad = `${Math.max(0, gutter)}px`;
    if (this.top.style.paddingRight !== pad) {
      this.top.style.paddingRight = pad;
      this.sectionsRow.style.paddingRight = pad;
      this.chords.row.style.paddingRight = pad;
    }
  }

  /** Per animation frame: the playhead, and the widths when the ruler grew. */
  tick() {
    if (!this.el.isConnected) return;
    const width = parseFloat(this.ruler.track.style.width);
    if (width && width !== this.width) this.layout();
    const x = HEAD + this.xOf(this.ruler.positionNow() * PPQ);
    const transform = `translateX(${x}px)`;
    if (this.playhead.style.transform !== transform) this.playhead.style.transform = transform;
  }
}
