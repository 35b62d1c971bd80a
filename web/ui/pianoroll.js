/**
 * The piano roll of an instrument track, drawn on a canvas (only the notes in
 * view, found by binary search on their start, so 10,000 notes scroll freely).
 *
 * Two tools: Draw (B or D) adds a snapped note where you click, a drag sets
 * its length; Select (V or S) never adds: click selects, Shift-click adds to
 * the selection, a drag on empty space selects with a rubber band. In both a
 * drag on a note moves the selection (time and pitch, snapped), a drag on its
 * right edge resizes it, a double-click deletes it. Under the notes a velocity
 * lane: drag a bar to set the velocity of that note, or of the selection.
 *
 * Keys (while the roll has focus): Ctrl/Cmd-C copy, -V paste (at the last
 * click, else the playhead), -D duplicate, -A select all, Delete/Backspace,
 * Q quantize (by the toolbar's grid and strength), ↑/↓ transpose a semitone
 * (Shift: an octave), ←/→ nudge by the grid (Shift: resize), Shift+S fit the
 * selection to the scale, Shift+C stamp a chord. Every command is ONE edit
 * built by web/editing.js (the same as protocol/editing.py): one version, one
 * undo step. Ctrl+wheel zooms time, Alt+wheel zooms rows.
 *
 * Harmony (web/harmony.js, in the project's key, whoever changes it): the rows
 * of the key's scale are shaded lighter, its tonic more (the "Scale" toggle;
 * the rows are elements under the canvas, classed `in-scale` / `tonic`);
 * "Snap to scale" makes drawn notes and vertical drags land in the scale;
 * "Fit to scale" moves the selection's pitches into it; "Chord…" stamps a
 * chord symbol's notes at the edit cursor (the last click, else the playhead)
 * for the grid's length; with 2+ notes selected the toolbar names their chord.
 * Both toggles are this browser's preferences, never the project's.
 *
 * It edits the notes of the selected notes clip (`app.selectedClip`, shown at
 * the clip's place) or the track's free notes. The selection is published in
 * presence; other people's selections are outlined in their colour.
 * @module ui/pianoroll
 */

import { LIMITS, PPQ, PRESENCE_LIMITS, SCHEMAS } from "../protocol.js";
import * as editing from "../editing.js";
import { chordPitches, chordSymbol, detectChord, diatonicChords, parseChord, scalePitchClasses, snapToScale } from "../harmony.js";
import { h, isBlack, pitchName, textOn } from "./dom.js";
import { ownsKey } from "./shortcuts.js";

const KEYS = 46; // px of the keyboard at the left
const VEL_H = 72; // px of the velocity lane
const VIEW_H = 340; // px of the notes view
const EDGE = 6; // px of a note's right edge that resizes
const { vel: VEL } = SCHEMAS.note;
/** Grid choices: ticks and their names (T: triplets). */
export const GRIDS = Object.freeze([
  [PPQ, "1/4"], [PPQ / 2, "1/8"], [PPQ / 4, "1/16"], [PPQ / 8, "1/32"],
  [(PPQ * 2) / 3, "1/4T"], [PPQ / 3, "1/8T"], [PPQ / 6, "1/16T"], [PPQ / 12, "1/32T"],
]);
const ZOOMS_X = [8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]; // px per quarter note
const ZOOMS_Y = [6, 8, 10, 12, 14, 18, 22];
const DEFAULT_KEY = "C major"; // the project's key before anyone sets one

// This browser's piano-roll preferences, stored as ui/prefs.js stores its own
// (same prefix, JSON, a bad or missing value is the default).
const PREF_PREFIX = "backline.pref.";
const rollPrefs = new Map();
function rollPref(name, fallback) {
  if (rollPrefs.has(name)) return rollPrefs.get(name);
  try {
    const raw = localStorage.getItem(PREF_PREFIX + name);
    const value = raw === null ? fallback : JSON.parse(raw);
    return typeof value === typeof fallback ? value : fallback;
  } catch {
    return fallback;
  }
}
function setRollPref(name, value) {
  rollPrefs.set(name, value);
  try {
    localStorage.setItem(PREF_PREFIX + name, JSON.stringify(value));
  } catch {
    // no storage: the choice lasts for this page only
  }
}

/** First index in `notes` (sorted by absolute start `at`) whose `at` is >= `tick`. */
export function firstAtOrAfter(notes, tick) {
  let lo = 0;
  let hi = notes.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (notes[mid].at < tick) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The first ids of a selection that fit in a presence update (at most
 * `max_selection` ids, and well inside `max_presence_bytes` with the rest of
 * the state): a huge selection shows to others as its first part.
 */
export function publishable(ids) {
  const out = [];
  let bytes = 0;
  const budget = LIMITS.max_presence_bytes / 2;
  for (const id of ids) {
    bytes += id.length + 2;
    if (out.length >= PRESENCE_LIMITS.max_selection || bytes > budget) break;
    out.push(id);
  }
  return out;
}

export class PianoRoll {
  constructor(root, session, app) {
    this.session = session;
    this.app = app;
    this.tool = "draw";
    this.zoomX = 6; // index into ZOOMS_X: 64 px per beat
    this.zoomY = 4; // 14 px per row
    this.selected = new Set();
    this.clipboard = [];
    this.pasteAt = null; // absolute tick of the last click
    this.playhead = null; // absolute tick, or null when stopped
    this.gesture = null; // the pointer drag under way
    this.sorted = [];
    this.maxDur = 0;
    this.dirty = true;
    this.draws = 0;

    this.title = h("h2", { id: "roll-title" }, "Piano roll");
    const tool = (name, label, keys) => h("button", {
      type: "button", class: `tool tool-${name}`, "data-edit": "", "aria-pressed": "false",
      "aria-keyshortcuts": keys, onclick: () => this.setTool(name),
    }, label);
    this.drawButton = tool("draw", "✎ Draw", "B D");
    this.selectButton = tool("select", "⬚ Select", "V S");
    this.grid = h("select", { "aria-label": "Grid", onchange: () => this.changed() },
      GRIDS.map(([t, n]) => h("option", { value: t, selected: t === PPQ / 4 }, n)));
    this.strength = h("input", { type: "range", min: 0, max: 100, step: 5, value: 100, class: "strength", "aria-label": "Quantize strength", oninput: () => this.showStrength() });
    this.strengthText = h("span", { class: "strength-text" }, "100%");
    this.quantizeButton = h("button", { type: "button", "data-edit": "", "aria-keyshortcuts": "Q", onclick: () => this.command("quantize") }, "Quantize");
    const zoom = (label, name, fn) => h("button", { type: "button", class: "zoom", "aria-label": name, title: name, onclick: fn }, label);
    this.zoomButtons = [
      zoom("−", "Zoom out in time", () => this.zoom(-1, 0)), zoom("+", "Zoom in in time", () => this.zoom(1, 0)),
      zoom("↕−", "Lower rows", () => this.zoom(0, -1)), zoom("↕+", "Taller rows", () => this.zoom(0, 1)),
    ];
    // harmony: scale shading, snap to scale, fit to scale, stamp and detect chords
    this.scaleOn = rollPref("rollScale", true);
    this.snapScale = rollPref("rollSnapScale", false);
    this.keyText = h("span", { class: "pr-key" });
    this.scaleButton = h("button", {
      type: "button", class: "toggle pr-scale", "aria-pressed": String(this.scaleOn),
      title: "Shade the rows of the project key's scale", onclick: () => this.toggleScale(),
    }, "Scale ", this.keyText);
    this.snapButton = h("button", {
      type: "button", class: "toggle pr-snap", "aria-pressed": String(this.snapScale),
      title: "Drawn and dragged notes land on the scale", onclick: () => this.toggleSnap(),
    }, "Snap to scale");
    this.fitButton = h("button", { type: "button", class: "pr-fit", "data-edit": "", "aria-keyshortcuts": "Shift+S", onclick: () => this.command("fit") }, "Fit to scale");
    this.chordButton = h("button", {
      type: "button", class: "pr-chord", "data-edit": "", "aria-keyshortcuts": "Shift+C", "aria-expanded": "false",
      onclick: () => (this.stampForm.hidden ? this.openStamp() : this.closeStamp()),
    }, "Chord…");
    this.detectedName = h("strong", { class: "pr-detected-name" });
    this.detected = h("span", { class: "pr-detected", title: "The chord the selected notes sound", hidden: true },
      h("span", { class: "pr-detected-label" }, "Selection"), this.detectedName);
    this.stampInput = h("input", {
      type: "text", class: "pr-stamp-input", "aria-label": "Chord symbol", maxlength: 24, autocomplete: "off",
      spellcheck: "false", placeholder: "Am7", oninput: () => this.stampTyped(),
      onkeydown: (e) => { if (e.key === "Escape") { e.preventDefault(); this.closeStamp(); } },
    });
    this.stampWhere = h("span", { class: "pr-stamp-where" });
    this.stampErrorText = h("span", { class: "pr-stamp-error", role: "alert" });
    this.stampForm = h("form", {
      class: "row pr-stamp", hidden: true, "aria-label": "Stamp a chord",
      onsubmit: (e) => { e.preventDefault(); this.stampChord(this.stampInput.value); },
    }, h("label", { class: "field" }, h("span", {}, "Chord"), this.stampInput), this.stampWhere,
    h("button", { type: "submit", class: "primary" }, "Stamp"),
    h("button", { type: "button", onclick: () => this.closeStamp() }, "Cancel"), this.stampErrorText);
    this.stampAt = 0; // absolute tick where the open chord input writes
    this.stampPreview = null; // its chord's pitches while the symbol parses
    this.editButtons = [this.drawButton, this.selectButton, this.quantizeButton, this.fitButton, this.chordButton];
    this.editTitles = new Map([
      [this.drawButton, "Draw tool (B or D)"], [this.selectButton, "Select tool (V or S)"],
      [this.quantizeButton, "Quantize the selection (Q)"],
      [this.fitButton, "Move the selected notes to the nearest notes of the key's scale (Shift+S)"],
      [this.chordButton, "Write a chord's notes at the edit cursor, for the grid's length (Shift+C)"],
    ]);
    this.empty = h("p", { class: "hint roll-hint" });
    // one element per row (top: pitch 127), under the canvas: the rows' shading (style.css)
    this.rowEls = [];
    this.rows = h("div", { class: "pr-rows", "aria-hidden": "true" });
    for (let p = 127; p >= 0; p--) this.rows.append((this.rowEls[p] = h("div", { class: "pr-row", "data-pitch": p })));
    this.shownScale = null;
    this.spacer = h("div", { class: "pr-space" }, this.rows);
    this.scroller = h("div", {
      class: "pr-scroll", tabindex: 0, role: "application",
      "aria-label": "Piano roll notes: Draw or Select tool, arrows transpose, Q quantizes",
    }, this.spacer);
    this.canvas = h("canvas", { class: "pr-canvas", "aria-hidden": "true" });
    this.velCanvas = h("canvas", { class: "pr-vel", "aria-label": "Velocity lane: drag a bar to set the velocity" });
    this.view = h("div", { class: "pr-view" }, this.scroller, this.canvas);
    this.body = h("div", { class: "pr-body" }, this.view, this.velCanvas);
    this.el = h("section", { class: "panel roll", "aria-labelledby": "roll-title" },
      h("div", { class: "panel-head" }, this.title,
        h("div", { class: "row pr-tools" }, this.drawButton, this.selectButton,
          h("label", { class: "field" }, h("span", {}, "Grid"), this.grid),
          this.quantizeButton, h("label", { class: "field" }, h("span", {}, "Strength"), this.strength, this.strengthText),
          ...this.zoomButtons),
        h("div", { class: "row pr-tools pr-harmony" }, this.scaleButton, this.snapButton, this.fitButton, this.chordButton, this.detected)),
      this.stampForm, this.empty, this.body);
    root.append(this.el);

    this.scroller.addEventListener("scroll", () => { this.dirty = true; });
    this.scroller.addEventListener("pointerdown", (e) => this.down(e));
    this.scroller.addEventListener("pointermove", (e) => this.moveTo(e));
    this.scroller.addEventListener("pointerup", (e) => this.up(e));
    this.scroller.addEventListener("pointercancel", () => { this.gesture = null; this.dirty = true; });
    this.scroller.addEventListener("dblclick", (e) => this.doubleClick(e));
    this.scroller.addEventListener("wheel", (e) => this.wheel(e), { passive: false });
    this.velCanvas.addEventListener("pointerdown", (e) => this.velDown(e));
    this.velCanvas.addEventListener("pointermove", (e) => this.velMove(e));
    this.velCanvas.addEventListener("pointerup", () => this.velUp());
    this.el.addEventListener("keydown", (e) => this.key(e));
    new ResizeObserver(() => { this.dirty = true; }).observe(this.view);
    this.setTool("draw");
    this.showScale();
  }

  // -- what is edited -------------------------------------------------------------

  /** The instrument (or audio) track the roll shows when no notes clip is selected. */
  get trackId() {
    return this.app.synthTrack;
  }

  /** The track, the notes clip (or null), and where its notes start (absolute ticks). */
  scope() {
    const doc = this.session.project;
    const chosen = this.app.selectedClip;
    const clipId = typeof chosen === "string" ? chosen : chosen?.id ?? null;
    const clip = clipId ? doc.clips.get(clipId) : undefined;
    const clipTrack = clip && clip.pattern === null ? doc.tracks.get(clip.track) : undefined;
    if (clipTrack && clipTrack.kind !== "drums") return { track: clipTrack, clip, origin: clip.start };
    const track = this.trackId ? doc.tracks.get(this.trackId) : undefined;
    return { track, clip: null, origin: 0 };
  }

  get origins() {
    const { clip } = this.scope();
    return clip ? { [clip.id]: clip.start } : {};
  }

  get gridTicks() {
    return Number(this.grid.value);
  }

  get ppt() {
    return ZOOMS_X[this.zoomX] / PPQ; // px per tick
  }

  get row() {
    return ZOOMS_Y[this.zoomY];
  }

  meter() {
    const [n, d] = this.session.project.project.meter;
    return { bar: (n * 4 * PPQ) / d, beat: (4 * PPQ) / d };
  }

  /** The project's key ("A minor"). */
  get projectKey() {
    return this.session.project.project.key ?? DEFAULT_KEY;
  }

  /** The key to snap to when snap to scale is on (null: off, or a key this page cannot read). */
  snapKey() {
    if (!this.snapScale) return null;
    try {
      scalePitchClasses(this.projectKey);
      return this.projectKey;
    } catch {
      return null;
    }
  }

  /** `pitch`, or the nearest pitch of the key's scale when snap to scale is on. */
  snapPitch(pitch) {
    const key = this.snapKey();
    return key === null ? pitch : snapToScale(pitch, key);
  }

  selectedNotes() {
    const doc = this.session.project;
    return [...this.selected].map((id) => doc.notes.get(id)).filter(Boolean);
  }

  // -- geometry ---------------------------------------------------------------------

  /** Tick (absolute) and pitch under a pointer event. */
  point(e) {
    const rect = this.scroller.getBoundingClientRect();
    const x = e.clientX - rect.left + this.scroller.scrollLeft - KEYS;
    const y = e.clientY - rect.top + this.scroller.scrollTop;
    return { tick: Math.max(0, x / this.ppt), pitch: Math.max(0, Math.min(127, 127 - Math.floor(y / this.row))), x, y };
  }

  /** Viewport coordinates of (absolute tick, pitch): the middle of that row (for tests). */
  screenPoint(tick, pitch) {
    const rect = this.scroller.getBoundingClientRect();
    return {
      x: rect.left + KEYS + tick * this.ppt - this.scroller.scrollLeft,
      y: rect.top + (127 - pitch) * this.row + this.row / 2 - this.scroller.scrollTop,
    };
  }

  /** Viewport coordinates of a note's velocity bar (for tests). */
  velocityPoint(id, vel) {
    const rect = this.velCanvas.getBoundingClientRect();
    const n = this.sorted.find((s) => s.note.id === id);
    return { x: rect.left + KEYS + n.at * this.ppt - this.scroller.scrollLeft + 2, y: rect.top + VEL_H - 4 - ((VEL_H - 8) * vel) / VEL.max };
  }

  /** Scroll so that (absolute tick, pitch) is in view. */
  reveal(tick, pitch) {
    this.scroller.scrollLeft = Math.max(0, tick * this.ppt - 40);
    this.scroller.scrollTop = Math.max(0, (127 - pitch) * this.row - this.scroller.clientHeight / 2);
    this.dirty = true;
  }

  /** The note drawn under (tick, pitch), and whether the pointer is on its right edge. */
  hit(tick, pitch, x) {
    const notes = this.sorted;
    const end = firstAtOrAfter(notes, tick + 1);
    for (let i = end - 1; i >= 0; i--) {
      const s = notes[i];
      if (s.at + this.maxDur < tick) break;
      if (s.note.pitch !== pitch || s.at + s.note.dur < tick) continue;
      const right = (s.at + s.note.dur) * this.ppt;
      return { note: s.note, edge: right - x <= EDGE && right - s.at * this.ppt > EDGE };
    }
    return null;
  }

  /** The id of the note under a pointer event, or null (the blame tooltip asks: ui/blame.js). */
  noteAt(e) {
    const p = this.point(e);
    if (p.x < this.scroller.scrollLeft) return null; // on the keyboard
    return this.hit(p.tick, p.pitch, p.x)?.note.id ?? null;
  }

  // -- the toolbar --------------------------------------------------------------------

  setTool(tool) {
    this.tool = tool;
    this.drawButton.setAttribute("aria-pressed", String(tool === "draw"));
    this.selectButton.setAttribute("aria-pressed", String(tool === "select"));
    this.scroller.dataset.tool = tool;
    this.dirty = true;
  }

  toggleScale() {
    this.scaleOn = !this.scaleOn;
    setRollPref("rollScale", this.scaleOn);
    this.showScale();
  }

  toggleSnap() {
    this.snapScale = !this.snapScale;
    setRollPref("rollSnapScale", this.snapScale);
    this.snapButton.setAttribute("aria-pressed", String(this.snapScale));
  }

  /** The key's name on the toggle and its scale on the rows (only when the key or the toggle changed). */
  showScale() {
    const key = this.projectKey;
    this.scaleButton.setAttribute("aria-pressed", String(this.scaleOn));
    this.keyText.textContent = key;
    this.snapButton.title = `Drawn and dragged notes land on the scale of ${key}`;
    const shown = `${this.scaleOn}/${key}`;
    if (shown === this.shownScale) return;
    this.shownScale = shown;
    let scale = null;
    try {
      scale = this.scaleOn ? scalePitchClasses(key) : null;
    } catch {
      scale = null; // a key this page cannot read: plain rows
    }
    this.scale = scale;
    this.rows.classList.toggle("scale", scale !== null);
    for (let p = 0; p < 128; p++) {
      const pc = p % 12;
      let cls = "pr-row";
      if (scale) cls += scale.includes(pc) ? (pc === scale[0] ? " in-scale tonic" : " in-scale") : " out-scale";
      else cls += isBlack(p) ? " black" : pc === 0 ? " c-row" : "";
      if (this.rowEls[p].className !== cls) this.rowEls[p].className = cls;
    }
    this.dirty = true;
  }

  /** The chord the selected pitches sound, shown with 2+ notes selected. */
  showDetected() {
    const notes = this.selectedNotes();
    const show = notes.length >= 2;
    this.detected.hidden = !show;
    if (!show) {
      this.detectedChord = null;
      return;
    }
    let chord = null;
    try {
      chord = detectChord(notes.map((n) => n.pitch));
    } catch {
      chord = null;
    }
    this.detectedChord = chord ? chordSymbol(chord) : null;
    this.detectedName.textContent = this.detectedChord ?? "—";
  }

  // -- stamping a chord ---------------------------------------------------------------

  /** The chord of the chord track at absolute tick `tick`, or null. */
  chordAt(tick) {
    const chords = this.session.project.orderedChords?.() ?? [];
    return chords.find((c) => c && c.start <= tick && tick < c.start + c.length) ?? null;
  }

  /** What the chord input starts with: the chord track's chord there, else the key's I. */
  defaultChord(tick) {
    const chord = this.chordAt(tick);
    try {
      if (chord) return chordSymbol(chord);
      return diatonicChords(this.projectKey)[0].symbol;
    } catch {
      return "C";
    }
  }

  openStamp() {
    if (!this.canEdit()) {
      this.app.editByKey(() => {});
      return;
    }
    this.placeStamp(this.pasteAt ?? this.playheadTick());
    this.stampInput.value = this.defaultChord(this.stampAt);
    this.stampForm.hidden = false;
    this.chordButton.setAttribute("aria-expanded", "true");
    this.stampTyped();
    this.stampInput.focus();
    this.stampInput.select();
  }

  /** Where the open chord input writes (absolute tick), and its words for it. */
  placeStamp(tick) {
    this.stampAt = Math.max(0, Math.round(tick));
    const { bar, beat } = this.meter();
    const grid = GRIDS.find(([t]) => t === this.gridTicks)?.[1] ?? `${this.gridTicks} ticks`;
    this.stampWhere.textContent = `at bar ${Math.floor(this.stampAt / bar) + 1}, beat ${Math.floor((this.stampAt % bar) / beat) + 1} · ${grid}`;
    this.dirty = true;
  }

  closeStamp(refocus = true) {
    if (this.stampForm.hidden) return;
    this.stampForm.hidden = true;
    this.chordButton.setAttribute("aria-expanded", "false");
    this.stampPreview = null;
    this.showStampError("");
    this.dirty = true;
    if (refocus) this.scroller.focus({ preventScroll: true });
  }

  showStampError(text) {
    this.stampErrorText.textContent = text;
    if (text) this.stampInput.setAttribute("aria-invalid", "true");
    else this.stampInput.removeAttribute("aria-invalid");
  }

  /** While typing: the chord's notes drawn as a ghost where they would go (no error yet). */
  stampTyped() {
    this.showStampError("");
    try {
      const chord = parseChord(this.stampInput.value.trim());
      this.stampPreview = chordPitches(chord, this.stampOctave(chord));
    } catch {
      this.stampPreview = null;
    }
    this.dirty = true;
  }

  /** The octave that puts the chord's notes nearest the middle of the view (all within 0..127). */
  stampOctave(chord) {
    const mid = 127 - (this.scroller.scrollTop + this.scroller.clientHeight / 2) / this.row;
    let best = 4;
    let bestDistance = Infinity;
    for (let octave = -1; octave <= 9; octave++) {
      const pitches = chordPitches(chord, octave);
      if (pitches[0] < 0 || pitches[pitches.length - 1] > 127) continue;
      const distance = Math.abs(pitches.reduce((a, b) => a + b, 0) / pitches.length - mid);
      if (distance < bestDistance) [best, bestDistance] = [octave, distance];
    }
    return best;
  }

  /** Write the notes of chord `symbol` at the edit cursor as one edit; a bad symbol is said inline. */
  stampChord(symbol) {
    let chord;
    try {
      chord = parseChord(symbol.trim());
    } catch (error) {
      this.showStampError(error.message);
      return null;
    }
    const { track, clip, origin } = this.scope();
    if (!track || !this.canEdit()) return null;
    const pitches = chordPitches(chord, this.stampOctave(chord));
    const ids = pitches.map(() => this.session.newId());
    const at = Math.max(0, this.stampAt - origin);
    const edit = this.apply(() => editing.stamp(pitches, at, this.gridTicks, track.id, clip ? clip.id : null, ids, VEL.default));
    if (edit) {
      this.closeStamp();
      this.select(ids);
    }
    return edit;
  }

  showStrength() {
    this.strengthText.textContent = `${this.strength.value}%`;
  }

  zoom(dx, dy, anchorX = null) {
    const before = this.ppt;
    const left = this.scroller.scrollLeft;
    const at = anchorX ?? this.scroller.clientWidth / 2;
    this.zoomX = Math.max(0, Math.min(ZOOMS_X.length - 1, this.zoomX + dx));
    const topPitch = this.scroller.scrollTop / this.row;
    this.zoomY = Math.max(0, Math.min(ZOOMS_Y.length - 1, this.zoomY + dy));
    this.layout();
    const tick = (left + at - KEYS) / before;
    this.scroller.scrollLeft = Math.max(0, tick * this.ppt - at + KEYS);
    this.scroller.scrollTop = topPitch * this.row;
    this.dirty = true;
  }

  wheel(e) {
    if (e.ctrlKey || e.metaKey) {
      e.preventDefault();
      this.zoom(e.deltaY < 0 ? 1 : -1, 0, e.clientX - this.scroller.getBoundingClientRect().left);
    } else if (e.altKey) {
      e.preventDefault();
      this.zoom(0, e.deltaY < 0 ? 1 : -1);
    }
  }

  changed() {
    if (!this.stampForm.hidden) this.placeStamp(this.stampAt); // the length it says is the grid's
    this.dirty = true;
  }

  // -- selection ------------------------------------------------------------------

  select(ids) {
    this.selected = new Set(ids);
    this.session.setPresence({ selection: publishable(this.selected) });
    this.showDetected();
    this.dirty = true;
  }

  // -- editing ----------------------------------------------------------------------

  /** Send ops as one edit (nothing when there are none); a refusal is toasted once by app.js. */
  send(ops) {
    if (!ops || ops.length === 0) return null;
    const edit = this.app.run(() => this.session.edit(ops));
    edit?.done.catch(() => {}); // the `rejected` toast says why
    return edit;
  }

  /** Build ops with `build` (web/editing.js; its refusals become one toast) and send them. */
  apply(build) {
    const ops = this.app.run(build);
    return ops ? this.send(ops) : null;
  }

  canEdit() {
    return this.app.editBlockReason() === null && Boolean(this.scope().track) && this.scope().track.kind === "instrument";
  }

  /** A keyboard or toolbar command on the selection. */
  command(name, arg = 0) {
    if (this.app.editBlockReason() !== null) {
      this.app.editByKey(() => {});
      return;
    }
    const notes = this.selectedNotes();
    const origins = this.origins;
    const { track, clip, origin } = this.scope();
    if (!track) return;
    if (name === "quantize") this.apply(() => editing.quantize(notes, this.gridTicks, Number(this.strength.value) / 100, origins));
    else if (name === "transpose") this.apply(() => editing.transpose(notes, arg, origins));
    else if (name === "nudge") this.apply(() => editing.move(notes, arg, 0, origins));
    else if (name === "resize") this.apply(() => editing.resize(notes, arg, origins));
    else if (name === "fit") {
      const key = this.projectKey;
      const ops = this.app.run(() => editing.fitToScale(notes, key, origins));
      if (ops && ops.length === 0) this.app.toasts.show(`The selection is already in ${key}`);
      else if (ops) this.send(ops);
    }
    else if (name === "delete") {
      if (this.apply(() => editing.remove(notes, origins))) this.select([]);
    } else if (name === "duplicate") {
      const ids = notes.map(() => this.session.newId());
      if (this.apply(() => editing.duplicate(notes, ids, this.meter().beat, origins))) this.select(ids);
    } else if (name === "paste") {
      const at = Math.max(0, Math.round((this.pasteAt ?? this.playheadTick()) - origin));
      const ids = this.clipboard.map(() => this.session.newId());
      if (this.apply(() => editing.paste(this.clipboard, at, track.id, clip ? clip.id : null, ids))) this.select(ids);
    }
  }

  copy() {
    const origins = this.origins;
    const notes = this.selectedNotes();
    if (notes.length === 0) {
      this.app.run(() => editing.span(notes)); // the nothing_selected toast
      return;
    }
    this.clipboard = notes.map((n) => ({ ...n, start: n.start + (n.clip ? origins[n.clip] ?? 0 : 0) }));
    this.app.toasts.show(`Copied ${notes.length} note${notes.length === 1 ? "" : "s"}`);
  }

  playheadTick() {
    const beat = this.playhead ?? this.session.project.project.transport.beat ?? 0;
    return Math.round(beat * PPQ);
  }

  // -- pointer: the notes view ------------------------------------------------------------

  down(e) {
    if (e.button !== 0) return;
    this.scroller.focus({ preventScroll: true });
    const p = this.point(e);
    if (p.x < this.scroller.scrollLeft) return; // on the keyboard
    const snap = this.gridTicks;
    this.pasteAt = Math.floor(p.tick / snap) * snap;
    if (!this.stampForm.hidden) {
      // while the chord input is open a click only says where the chord goes
      e.preventDefault();
      this.placeStamp(this.pasteAt);
      this.stampTyped();
      this.stampInput.focus({ preventScroll: true });
      return;
    }
    if (!this.canEdit()) {
      const hit = this.hit(p.tick, p.pitch, p.x);
      if (hit) this.select([hit.note.id]); // looking is for everyone
      return;
    }
    const hit = this.hit(p.tick, p.pitch, p.x);
    this.scroller.setPointerCapture(e.pointerId);
    if (hit) {
      const id = hit.note.id;
      if (e.shiftKey) {
        const next = new Set(this.selected);
        if (next.has(id)) next.delete(id);
        else next.add(id);
        this.select(next);
        if (!next.has(id)) return;
      } else if (!this.selected.has(id)) {
        this.select([id]);
      }
      const scaleKey = this.snapKey(); // with snap to scale on, a vertical drag lands in this key's scale
      this.gesture = { mode: hit.edge ? "resize" : "move", from: p, dt: 0, dp: 0, dd: 0, moved: false, scaleKey };
    } else if (this.tool === "draw") {
      const start = Math.floor(p.tick / snap) * snap;
      this.gesture = { mode: "draw", from: p, start, pitch: this.snapPitch(p.pitch), dur: snap, moved: false };
    } else {
      this.gesture = { mode: "band", from: p, to: p, add: e.shiftKey, before: new Set(this.selected), moved: false };
      if (!e.shiftKey) this.select([]);
    }
    this.dirty = true;
  }

  moveTo(e) {
    const p = this.point(e);
    this.hover(p);
    const g = this.gesture;
    if (!g) {
      const hit = this.hit(p.tick, p.pitch, p.x);
      this.scroller.style.cursor = hit ? (hit.edge ? "ew-resize" : "grab") : this.tool === "draw" ? "crosshair" : "default";
      return;
    }
    if (!g.moved && Math.abs(p.x - g.from.x) < 3 && Math.abs(p.y - g.from.y) < 3) return;
    g.moved = true;
    const snap = this.gridTicks;
    const notes = this.selectedNotes();
    if (g.mode === "move") {
      const minStart = Math.min(...notes.map((n) => n.start));
      const pitches = notes.map((n) => n.pitch);
      g.dt = Math.max(-minStart, Math.round((p.tick - g.from.tick) / snap) * snap);
      g.dp = Math.max(-Math.min(...pitches), Math.min(127 - Math.max(...pitches), p.pitch - g.from.pitch));
    } else if (g.mode === "resize") {
      g.dd = Math.round((p.tick - g.from.tick) / snap) * snap;
    } else if (g.mode === "draw") {
      g.dur = Math.max(snap, Math.ceil((p.tick - g.start) / snap) * snap);
    } else if (g.mode === "band") {
      g.to = p;
      const lo = Math.min(g.from.tick, p.tick);
      const hi = Math.max(g.from.tick, p.tick);
      const top = Math.max(g.from.pitch, p.pitch);
      const bottom = Math.min(g.from.pitch, p.pitch);
      const inside = this.sorted
        .filter((s) => s.at <= hi && s.at + s.note.dur >= lo && s.note.pitch <= top && s.note.pitch >= bottom)
        .map((s) => s.note.id);
      this.select(g.add ? [...g.before, ...inside] : inside);
    }
    this.dirty = true;
  }

  up() {
    const g = this.gesture;
    this.gesture = null;
    this.dirty = true;
    if (!g) return;
    const origins = this.origins;
    const notes = this.selectedNotes();
    if (g.mode === "move" && g.moved && g.dp && g.scaleKey) this.apply(() => editing.moveInScale(notes, g.dt, g.dp, g.scaleKey, origins));
    else if (g.mode === "move" && g.moved && (g.dt || g.dp)) this.apply(() => editing.move(notes, g.dt, g.dp, origins));
    else if (g.mode === "resize" && g.moved && g.dd) this.apply(() => editing.resize(notes, g.dd, origins));
    else if (g.mode === "draw") this.addNote(g.start, g.pitch, g.dur);
  }

  addNote(at, pitch, dur) {
    const { track, clip, origin } = this.scope();
    if (!track) return;
    const id = this.session.newId();
    const value = { track: track.id, pitch, start: Math.max(0, at - origin), dur, vel: VEL.default };
    if (clip) value.clip = clip.id;
    if (this.send([{ op: "insert", kind: "note", id, value }])) this.select([id]);
  }

  doubleClick(e) {
    if (!this.canEdit()) return;
    const p = this.point(e);
    const hit = this.hit(p.tick, p.pitch, p.x);
    if (hit) {
      this.send([{ op: "delete", id: hit.note.id }]);
      this.selected.delete(hit.note.id);
      this.select(this.selected);
    }
  }

  hover(p) {
    const last = this.lastHover;
    const tick = Math.floor(p.tick / this.gridTicks) * this.gridTicks;
    if (last && last.tick === tick && last.pitch === p.pitch) return;
    this.lastHover = { tick, pitch: p.pitch };
    this.session.setPresence({ cursor: { view: "roll", track: this.scope().track?.id ?? "", pitch: p.pitch, tick } });
  }

  // -- pointer: the velocity lane ----------------------------------------------------

  velAt(e) {
    const rect = this.velCanvas.getBoundingClientRect();
    const y = e.clientY - rect.top;
    return Math.max(VEL.min, Math.min(VEL.max, Math.round(((VEL_H - 4 - y) / (VEL_H - 8)) * VEL.max)));
  }

  velDown(e) {
    if (e.button !== 0 || !this.canEdit()) return;
    const rect = this.velCanvas.getBoundingClientRect();
    const x = e.clientX - rect.left + this.scroller.scrollLeft - KEYS;
    const tick = x / this.ppt;
    const slack = 4 / this.ppt;
    // the bar nearest the pointer (bars stand at the notes' starts)
    let best = null;
    const from = firstAtOrAfter(this.sorted, tick - slack - this.maxDur);
    for (let i = from; i < this.sorted.length && this.sorted[i].at <= tick + slack; i++) {
      const s = this.sorted[i];
      const d = Math.abs(s.at - tick);
      if (tick >= s.at - slack && tick <= s.at + Math.max(s.note.dur, slack) && (best === null || d < best.d)) best = { d, note: s.note };
    }
    if (!best) return;
    const id = best.note.id;
    if (!this.selected.has(id)) this.select([id]);
    this.velCanvas.setPointerCapture(e.pointerId);
    this.gesture = { mode: "velocity", vel: this.velAt(e) };
    this.dirty = true;
  }

  velMove(e) {
    if (this.gesture?.mode !== "velocity") return;
    this.gesture.vel = this.velAt(e);
    this.dirty = true;
  }

  velUp() {
    const g = this.gesture;
    if (g?.mode !== "velocity") return;
    this.gesture = null;
    this.dirty = true;
    this.apply(() => editing.setVelocity(this.selectedNotes(), g.vel, this.origins));
  }

  // -- keys ---------------------------------------------------------------------------

  key(e) {
    if (e.defaultPrevented || ownsKey(e.target, e.key)) return;
    const toggles = [this.scaleButton, this.snapButton];
    if (e.target !== this.scroller && !this.editButtons.includes(e.target) && !this.zoomButtons.includes(e.target) && !toggles.includes(e.target)) return;
    const mod = e.ctrlKey || e.metaKey;
    const k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    let handled = true;
    if (mod && !e.altKey) {
      if (k === "c") this.copy();
      else if (k === "v") this.command("paste");
      else if (k === "d") this.command("duplicate");
      else if (k === "a") this.select(this.sorted.map((s) => s.note.id));
      else handled = false;
    } else if (e.altKey) {
      handled = false;
    } else if (e.shiftKey && k === "s") this.command("fit");
    else if (e.shiftKey && k === "c") this.app.editByKey(() => this.openStamp());
    else if (k === "b" || k === "d") this.setTool("draw");
    else if (k === "v" || k === "s") this.setTool("select");
    else if (k === "q") this.command("quantize");
    else if (k === "Delete" || k === "Backspace") this.command("delete");
    else if (k === "ArrowUp") this.command("transpose", e.shiftKey ? 12 : 1);
    else if (k === "ArrowDown") this.command("transpose", e.shiftKey ? -12 : -1);
    else if (k === "ArrowRight") this.command(e.shiftKey ? "resize" : "nudge", this.gridTicks);
    else if (k === "ArrowLeft") this.command(e.shiftKey ? "resize" : "nudge", -this.gridTicks);
    else if (k === "Escape") this.select([]);
    else handled = false;
    if (handled) e.preventDefault();
  }

  // -- rendering ------------------------------------------------------------------------

  layout() {
    const bar = this.meter().bar;
    const end = this.sorted.reduce((m, s) => Math.max(m, s.at + s.note.dur), 0);
    const { clip } = this.scope();
    const ticks = Math.max(32 * bar, Math.ceil((Math.max(end, clip ? clip.start + clip.length : 0) + 8 * bar) / bar) * bar);
    this.contentTicks = ticks;
    this.spacer.style.width = `${KEYS + ticks * this.ppt}px`;
    this.spacer.style.height = `${128 * this.row}px`;
    this.rows.style.setProperty("--pr-row", `${this.row}px`);
  }

  render() {
    const doc = this.session.project;
    const { track, clip, origin } = this.scope();
    const reason = this.app.editBlockReason();
    const audio = track?.kind === "audio";
    const clipText = clip ? ` · clip at bar ${Math.floor(clip.start / this.meter().bar) + 1}` : "";
    this.title.textContent = track ? `Piano roll · ${track.name}${clipText}` : "Piano roll";
    this.empty.textContent = !track ? "Add an instrument track to write notes."
      : audio ? "Audio tracks hold recorded sound, not notes: no piano roll." : "";
    this.empty.hidden = this.empty.textContent === "";
    this.body.hidden = !track || audio;
    for (const el of this.editButtons) {
      el.disabled = reason !== null || !track || audio;
      el.title = reason ?? this.editTitles.get(el);
    }
    if (reason !== null || !track || audio) this.closeStamp(false);
    this.showScale();
    this.strength.disabled = reason !== null || !track || audio;
    this.strength.title = reason ?? "Quantize strength";
    this.scroller.setAttribute("aria-disabled", String(reason !== null));
    if (reason !== null) this.scroller.title = reason;
    else this.scroller.removeAttribute("title");
    // the notes in scope, by absolute start
    const sorted = [];
    let maxDur = 0;
    if (track && !audio) {
      const clipId = clip ? clip.id : null;
      for (const n of doc.notes.values()) {
        if (n.track !== track.id || (n.clip ?? null) !== clipId) continue;
        sorted.push({ at: n.start + origin, note: n });
        if (n.dur > maxDur) maxDur = n.dur;
      }
    }
    sorted.sort((a, b) => a.at - b.at || a.note.pitch - b.note.pitch);
    this.sorted = sorted;
    this.maxDur = maxDur;
    let gone = false;
    for (const id of this.selected) {
      const n = doc.notes.get(id);
      if (!n || n.track !== track?.id || (n.clip ?? null) !== (clip ? clip.id : null)) {
        this.selected.delete(id);
        gone = true;
      }
    }
    if (gone) this.select(this.selected);
    else this.showDetected(); // the selected notes' pitches may have changed
    const key = `${track?.id}/${clip?.id}`;
    if (key !== this.followed && track && !audio) {
      this.followed = key;
      const mid = sorted.length ? sorted.reduce((s, n) => s + n.note.pitch, 0) / sorted.length : 60;
      this.layout();
      this.reveal(sorted.length ? sorted[0].at : origin, Math.round(mid));
    }
    this.layout();
    this.dirty = true;
  }

  /** Per animation frame (app.js): the playhead at `position` beats (null: stopped). */
  tick(position) {
    const at = position === null ? null : position;
    if (at !== this.playhead) {
      this.playhead = at;
      this.dirty = true;
    }
    if (this.dirty && !this.body.hidden) this.draw();
  }

  sizeCanvas(canvas, width, height) {
    const ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return ctx;
  }

  /** The selected notes as the drag under way would leave them (for drawing). */
  preview(n) {
    const g = this.gesture;
    if (!g || !this.selected.has(n.id)) return n;
    if (g.mode === "move") {
      const pitch = g.scaleKey && g.dp ? snapToScale(n.pitch + g.dp, g.scaleKey) : n.pitch + g.dp;
      return { ...n, start: n.start + g.dt, pitch };
    }
    if (g.mode === "resize") return { ...n, dur: Math.max(1, n.dur + g.dd) };
    if (g.mode === "velocity") return { ...n, vel: g.vel };
    return n;
  }

  draw() {
    this.dirty = false;
    this.draws += 1;
    const width = this.scroller.clientWidth;
    const height = this.scroller.clientHeight;
    if (!width || !height) return;
    const ctx = this.sizeCanvas(this.canvas, width, height);
    const ppt = this.ppt;
    const row = this.row;
    const left = this.scroller.scrollLeft;
    const top = this.scroller.scrollTop;
    const t0 = left / ppt;
    const t1 = (left + width - KEYS) / ppt;
    const pHigh = Math.min(127, 127 - Math.floor(top / row));
    const pLow = Math.max(0, 127 - Math.ceil((top + height) / row));
    const xOf = (tick) => KEYS + tick * ppt - left;
    const yOf = (pitch) => (127 - pitch) * row - top;
    const { track, clip } = this.scope();
    // rows: their shading is the row elements' under the canvas (scale or keys), here their lines
    ctx.clearRect(0, 0, width, height);
    ctx.fillStyle = "#ffffff0a";
    for (let p = pLow; p <= pHigh; p++) ctx.fillRect(KEYS, yOf(p) + row - 1, width, 1);
    // outside the clip: shaded
    if (clip) {
      ctx.fillStyle = "#00000070";
      const a = Math.max(KEYS, xOf(clip.start));
      const b = Math.min(width, xOf(clip.start + clip.length));
      if (a > KEYS) ctx.fillRect(KEYS, 0, a - KEYS, height);
      if (b < width) ctx.fillRect(Math.max(KEYS, b), 0, width - Math.max(KEYS, b), height);
    }
    // grid: lines of the chosen grid, beats, bars (by the meter)
    const { bar, beat } = this.meter();
    const grid = this.gridTicks;
    const lines = (step, color, min) => {
      if (step * ppt < min) return;
      ctx.fillStyle = color;
      for (let t = Math.floor(t0 / step) * step; t <= t1; t += step) ctx.fillRect(Math.round(xOf(t)), 0, 1, height);
    };
    lines(grid, "#ffffff0c", 5);
    lines(beat, "#ffffff1c", 4);
    lines(bar, "#ffffff4a", 2);
    // other people's selections
    const peerSel = new Map();
    for (const peer of this.session.peers.values()) for (const id of peer.selection ?? []) peerSel.set(id, peer.color);
    const color = track?.color ?? "#8f7bff";
    // notes in view
    const notes = this.sorted;
    const from = firstAtOrAfter(notes, t0 - this.maxDur - 1);
    ctx.font = "9px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    const ghost = [];
    for (let i = from; i < notes.length; i++) {
      const s = notes[i];
      if (s.at > t1 + 1) break;
      const n = this.selected.has(s.note.id) && this.gesture ? this.preview(s.note) : s.note;
      const at = n.start + (s.at - s.note.start);
      if (at + n.dur < t0 || n.pitch < pLow || n.pitch > pHigh) continue;
      const x = xOf(at);
      const w = Math.max(2, n.dur * ppt - 1);
      const y = yOf(n.pitch) + 1;
      const selected = this.selected.has(n.id);
      ctx.globalAlpha = 0.45 + (0.55 * n.vel) / VEL.max;
      ctx.fillStyle = selected ? "#f1eeff" : color;
      ctx.fillRect(x, y, w, row - 2);
      ctx.globalAlpha = 1;
      if (selected) {
        ctx.strokeStyle = "#ffffff";
        ctx.lineWidth = 2;
        ctx.strokeRect(x + 1, y + 1, w - 2, row - 4);
      }
      const peer = peerSel.get(n.id);
      if (peer) ghost.push([x, y, w, peer]);
      if (w > 26 && row >= 10) {
        ctx.fillStyle = selected ? "#1a1430" : textOn(color);
        ctx.fillText(pitchName(n.pitch), x + 3, y + (row - 2) / 2);
      }
    }
    for (const [x, y, w, peerColor] of ghost) {
      ctx.strokeStyle = peerColor;
      ctx.lineWidth = 2;
      ctx.setLineDash([4, 2]);
      ctx.strokeRect(x - 1, y - 1, w + 2, row);
      ctx.setLineDash([]);
    }
    // the chord being typed: a ghost of its notes at the edit cursor
    if (!this.stampForm.hidden) {
      const x = xOf(this.stampAt);
      ctx.fillStyle = "#ffb547";
      ctx.fillRect(Math.round(x) - 1, 0, 2, height);
      ctx.strokeStyle = "#ffb547";
      ctx.lineWidth = 1.5;
      ctx.setLineDash([3, 2]);
      for (const pitch of this.stampPreview ?? []) ctx.strokeRect(x + 0.5, yOf(pitch) + 1.5, Math.max(2, this.gridTicks * ppt - 2), row - 3);
      ctx.setLineDash([]);
    }
    // what a drag is making
    const g = this.gesture;
    if (g?.mode === "draw") {
      ctx.fillStyle = `${color}aa`;
      ctx.fillRect(xOf(g.start), yOf(g.pitch) + 1, g.dur * ppt - 1, row - 2);
    } else if (g?.mode === "band" && g.moved) {
      const x = xOf(Math.min(g.from.tick, g.to.tick));
      const y = Math.min(g.from.y, g.to.y) - top;
      ctx.fillStyle = "#8f7bff22";
      ctx.strokeStyle = "#b9abff";
      ctx.lineWidth = 1;
      ctx.fillRect(x, y, Math.abs(g.to.tick - g.from.tick) * ppt, Math.abs(g.to.y - g.from.y));
      ctx.strokeRect(x + 0.5, y + 0.5, Math.abs(g.to.tick - g.from.tick) * ppt, Math.abs(g.to.y - g.from.y));
    }
    // people's cursors
    for (const peer of this.session.peers.values()) {
      const c = peer.cursor;
      if (!c || c.view !== "roll" || c.track !== track?.id) continue;
      const x = xOf(c.tick);
      const y = yOf(c.pitch);
      ctx.font = "10px system-ui, sans-serif";
      const w = ctx.measureText(peer.name).width + 8;
      ctx.fillStyle = peer.color;
      ctx.fillRect(x, y - 13, w, 13);
      ctx.fillRect(x, y, 2, row);
      ctx.fillStyle = textOn(peer.color);
      ctx.fillText(peer.name, x + 4, y - 6);
    }
    // the playhead
    if (this.playhead !== null) {
      const x = xOf(this.playhead * PPQ);
      if (x >= KEYS && x <= width) {
        ctx.fillStyle = "#4cd08a";
        ctx.fillRect(x - 1, 0, 2, height);
      }
    }
    // the keyboard
    ctx.font = "9px system-ui, sans-serif";
    for (let p = pLow; p <= pHigh; p++) {
      const y = yOf(p);
      ctx.fillStyle = isBlack(p) ? "#2a2e3a" : "#d9dce4";
      ctx.fillRect(0, y, KEYS, row);
      ctx.fillStyle = "#00000040";
      ctx.fillRect(0, y + row - 1, KEYS, 1);
      if (p % 12 === 0 && row >= 8) {
        ctx.fillStyle = "#111";
        ctx.fillText(pitchName(p), 4, y + row / 2);
      }
      if (this.scale?.includes(p % 12)) {
        // the scale's keys: a mark at the keyboard's edge (the tonic's stronger)
        ctx.fillStyle = p % 12 === this.scale[0] ? "#8f7bff" : "#8f7bff80";
        ctx.fillRect(KEYS - 4, y + 1, 3, row - 2);
      }
    }
    this.drawVelocity(t0, t1, xOf, width);
  }

  drawVelocity(t0, t1, xOf, width) {
    const ctx = this.sizeCanvas(this.velCanvas, width, VEL_H);
    ctx.fillStyle = "#10121a";
    ctx.fillRect(0, 0, width, VEL_H);
    ctx.fillStyle = "#ffffff10";
    ctx.fillRect(KEYS, VEL_H / 2, width, 1);
    ctx.fillStyle = "#1d2029";
    ctx.fillRect(0, 0, KEYS, VEL_H);
    ctx.fillStyle = "#a9afbf";
    ctx.font = "9px system-ui, sans-serif";
    ctx.textBaseline = "top";
    ctx.fillText("Velocity", 3, 4);
    const color = this.scope().track?.color ?? "#8f7bff";
    const notes = this.sorted;
    for (let i = firstAtOrAfter(notes, t0 - 8 / this.ppt); i < notes.length && notes[i].at <= t1; i++) {
      const s = notes[i];
      const n = this.selected.has(s.note.id) && this.gesture ? this.preview(s.note) : s.note;
      const x = xOf(s.at);
      if (x < KEYS) continue;
      const hgt = ((VEL_H - 8) * n.vel) / VEL.max;
      ctx.fillStyle = this.selected.has(n.id) ? "#e9e4ff" : color;
      ctx.fillRect(x, VEL_H - 4 - hgt, 4, hgt);
      ctx.fillRect(x - 1, VEL_H - 5 - hgt, 6, 2);
    }
  }

  /** What tests and the benchmark read: the state of the roll. */
  debug() {
    const peerSelected = new Set();
    for (const peer of this.session.peers.values()) for (const id of peer.selection ?? []) peerSelected.add(id);
    return {
      tool: this.tool,
      selected: [...this.selected].sort(),
      notes: this.sorted.map((s) => s.note.id),
      peerSelected: this.sorted.filter((s) => peerSelected.has(s.note.id)).map((s) => s.note.id),
      grid: this.gridTicks,
      pxPerTick: this.ppt,
      row: this.row,
      draws: this.draws,
      shown: !this.body.hidden,
      clip: this.scope().clip?.id ?? null,
      key: this.projectKey,
      scale: this.scale ?? null,
      snapScale: this.snapScale,
      detected: this.detected.hidden ? null : this.detectedName.textContent,
      stamping: !this.stampForm.hidden,
      stampAt: this.stampForm.hidden ? null : this.stampAt,
    };
  }
}
