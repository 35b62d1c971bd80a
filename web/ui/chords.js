/**
 * Harmony in the editor: the chord track (a lane of the arrangement, under the
 * sections), its "Chords of the key" palette, and the key change the
 * transport's key control sends.
 *
 * - Chord lane: each chord a block from its start to its end, labelled with
 *   its symbol (`chordSymbol`). Click an empty bar to add a one-bar chord there
 *   (the chord of the bar before, else the key's I); click a chord to select
 *   it, drag it to move it, drag its right edge to resize it (on the
 *   arrangement's snap: bar or beat); double-click it, or Enter, to type its
 *   symbol (`parseChord`: an unknown symbol says why under the field and
 *   changes nothing); Delete removes it; ←/→ select the chord before/after.
 * - Palette: the key's diatonic chords (`diatonicChords`, triads or 7ths),
 *   e.g. "vi Am"; a click puts that chord, one bar long, at the first free bar
 *   after the selected chord (else from the playhead's bar) and selects it, so
 *   clicks in a row write a progression.
 * - Key change (`keyChangeOps`, as protocol/harmony.py's `key_change_ops`):
 *   the key alone, or also every note of the non-drum tracks and every chord
 *   moved the shortest way to the new tonic. One edit: one undo.
 *
 * Every gesture is one edit (one op batch, one undo step); a refusal here is
 * one toast (`app.run`), the server's the page's `rejected` toast. Nothing
 * edits for someone who may not (`app.editBlockReason()`).
 *
 * @module ui/chords
 */

import { PPQ, PROJECT_ID, SCHEMAS } from "../protocol.js";
import { chordPitches, chordSymbol, diatonicChords, inScale, keyShift, parseChord, parseKey, pitchClass } from "../harmony.js";
import { h } from "./dom.js";
import { typingIn } from "./shortcuts.js";

const HEAD = 132; // px of the arrangement's row headers: the lane starts after them
const DRAG_PX = 4;
const EDGE_PX = 7;
const MAX_TICK = SCHEMAS.chord.start.max;
const SHARPS = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
const FLATS = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"];
const FLAT_MODES = ["minor", "dorian", "phrygian", "locrian"];

const isMod = (e) => e.ctrlKey || e.metaKey;
const spell = (pc, flats) => (flats ? FLATS : SHARPS)[((pc % 12) + 12) % 12];

/** Whether key `key` spells with flats (as protocol/harmony.py's `_key_uses_flats`). */
function keyUsesFlats(key) {
  const [tonic, mode] = key.split(" ");
  return tonic.slice(1).includes("b") || tonic === "F" || (FLAT_MODES.includes(mode) && ["D", "G", "C", "F"].includes(tonic));
}

/**
 * The ops that change the project's key to `newKey`: only the key, or
 * (`transpose`) also every note of a non-drum track and every chord, moved the
 * shortest way (`keyShift`; a note that would leave 0..127 moves an octave the
 * other way), chord roots and basses spelled as the new key spells. The same
 * ops, in the same order, as protocol/harmony.py's `key_change_ops`.
 * @param {import("../ops.js").Document} doc
 * @param {string} newKey like "D major"
 * @param {boolean} transpose
 */
export function keyChangeOps(doc, newKey, transpose) {
  parseKey(newKey); // throws out_of_range on a malformed key
  const oldKey = String(doc.project.key);
  const ops = [{ op: "set", id: PROJECT_ID, field: "key", value: newKey }];
  if (!transpose) return ops;
  const shift = keyShift(oldKey, newKey);
  if (shift === 0) return ops;
  const flats = keyUsesFlats(newKey);
  const drums = new Set([...doc.tracks.values()].filter((t) => t.kind === "drums").map((t) => t.id));
  for (const id of [...doc.notes.keys()].sort()) {
    const note = doc.notes.get(id);
    if (drums.has(note.track)) continue;
    let pitch = note.pitch + shift;
    pitch += pitch < 0 ? 12 : pitch > 127 ? -12 : 0;
    ops.push({ op: "set", id, field: "pitch", value: pitch });
  }
  for (const id of [...doc.chords.keys()].sort()) {
    const chord = doc.chords.get(id);
    ops.push({ op: "set", id, field: "root", value: spell(pitchClass(chord.root) + shift, flats) });
    if (chord.bass !== null && chord.bass !== undefined) {
      ops.push({ op: "set", id, field: "bass", value: spell(pitchClass(chord.bass) + shift, flats) });
    }
  }
  return ops;
}

/**
 * The ops that make chord `id` (as stored: `old`) the chord `next`, changed
 * fields only; an inversion going down is set before the quality and one going
 * up after it, so no step holds an inversion its quality does not have.
 */
export function respellOps(id, old, next) {
  const set = (field, value) => ({ op: "set", id, field, value });
  const ops = [];
  const inversion = next.inversion ?? 0;
  if (inversion < old.inversion) ops.push(set("inversion", inversion));
  if (next.root !== old.root) ops.push(set("root", next.root));
  if (next.quality !== old.quality) ops.push(set("quality", next.quality));
  if (inversion > old.inversion) ops.push(set("inversion", inversion));
  if ((next.bass ?? null) !== (old.bass ?? null)) ops.push(set("bass", next.bass ?? null));
  return ops;
}

/** The chord's symbol, or "?" for something harmony.js cannot spell (never stored, but never throws). */
function symbolOf(chord) {
  try {
    return chordSymbol(chord);
  } catch {
    return "?";
  }
}

/** Whether every tone of the chord (its bass too) is in the key's scale. */
function inKey(chord, key) {
  try {
    return chordPitches(chord).every((p) => inScale(p, key));
  } catch {
    return false;
  }
}

/**
 * "Change the key to D major": transpose, keep (the default focus), or Esc to
 * change nothing. `ask` resolves "transpose", "keep" or null.
 */
export class KeyChangeDialog {
  constructor(root = document.body) {
    this.title = h("h2", { id: "key-change-title" });
    this.hint = h("p", { class: "hint key-change-hint" });
    this.transpose = h("button", { type: "button", class: "key-transpose", onclick: () => this.dialog.close("transpose") },
      "Transpose notes and chords to the new key");
    this.keep = h("button", { type: "button", class: "primary key-keep", autofocus: true, onclick: () => this.dialog.close("keep") },
      "Keep notes where they are");
    this.dialog = h("dialog", { class: "shortcuts-dialog key-dialog", "aria-labelledby": "key-change-title", "aria-describedby": "key-change-hint" },
      h("div", { class: "dialog-body" },
        h("div", { class: "dialog-head" }, this.title),
        this.hint,
        h("div", { class: "row key-choices" }, this.transpose, this.keep)));
    this.hint.id = "key-change-hint";
    // its keys are its own (Space, Ctrl+Z… mean nothing to the page behind it)
    this.dialog.addEventListener("keydown", (e) => e.stopPropagation());
    this.dialog.addEventListener("click", (e) => {
      if (e.target === this.dialog) this.dialog.close(); // the backdrop: cancel
    });
    root.append(this.dialog);
  }

  get open() {
    return this.dialog.open;
  }

  /** Ask how to go from key `from` to key `to`. */
  ask(from, to) {
    if (this.dialog.open) this.dialog.close();
    let shift = 0;
    try {
      shift = keyShift(from, to);
    } catch {
      shift = 0;
    }
    this.title.textContent = `Change the key to ${to}`;
    const way = shift === 0 ? "" : `${Math.abs(shift)} semitone${Math.abs(shift) === 1 ? "" : "s"} ${shift > 0 ? "up" : "down"}`;
    this.hint.textContent = shift === 0
      ? `From ${from}: the tonic stays, so nothing moves either way.`
      : `From ${from}. Transposing moves every note and chord ${way} (drum tracks stay); keeping changes only the key.`;
    this.dialog.returnValue = "";
    return new Promise((resolve) => {
      this.dialog.addEventListener("close", () => resolve(this.dialog.returnValue || null), { once: true });
      this.dialog.showModal();
      this.keep.focus();
    });
  }

  remove() {
    if (this.dialog.open) this.dialog.close();
    this.dialog.remove();
  }
}

/** The chord track of an arrangement view (ui/arrangement.js mounts it under the sections). */
export class ChordLane {
  /** @param {import("./arrangement.js").ArrangementView} view its geometry, snap and edits */
  constructor(view) {
    this.view = view;
    this.session = view.session;
    this.app = view.app;
    /** @type {string | null} the selected chord */
    this.selected = null;
    this.gesture = null;
    this.editing = null;
    this.sevenths = false;
    this.paletteKey = "";
    /** @type {Map<string, {el: HTMLElement, label: HTMLElement, key: string}>} */
    this.els = new Map();

    this.toggle = h("button", {
      type: "button", class: "chords-key", "aria-expanded": "false", "aria-controls": "chord-palette", "data-edit": "",
      onclick: () => this.togglePalette(),
    }, "Chords of the key");
    this.inner = h("div", { class: "arr-chord-inner" });
    this.lane = h("div", {
      class: "arr-chord-lane", tabindex: 0, "data-testid": "chord-lane",
      "aria-label": "Chord track: click an empty bar to add a chord; double-click or Enter to type its symbol, Delete removes it",
      onpointerdown: (e) => this.press(e),
      onpointermove: (e) => this.move(e),
      onpointerup: (e) => this.release(e),
      onpointercancel: () => this.cancel(),
      ondblclick: (e) => this.doubleClick(e),
      onkeydown: (e) => this.key(e),
    }, this.inner);
    this.row = h("div", { class: "arr-chords" }, h("div", { class: "arr-corner arr-chord-corner" }, this.toggle), this.lane);

    this.seventhsButton = h("button", {
      type: "button", class: "toggle chord-sevenths", "aria-pressed": "false", "data-edit": "",
      onclick: () => {
        this.sevenths = !this.sevenths;
        this.paletteKey = "";
        this.render(this.session.project);
      },
    }, "7ths");
    this.paletteTitle = h("span", { class: "chord-palette-title" });
    this.paletteList = h("div", { class: "chord-palette-list", role: "group", "aria-label": "Chords of the key" });
    this.palette = h("div", { class: "chord-palette", id: "chord-palette", hidden: true },
      this.paletteTitle, this.paletteList, this.seventhsButton,
      h("span", { class: "hint chord-palette-hint", title: "A click adds that chord, one bar long, at the first free bar after the selected chord (else from the playhead's bar)" },
        "adds after the selected chord"));
  }

  // -- geometry ------------------------------------------------------------------

  /** The tick under a pointer at `clientX` (never before 0). */
  tickAt(clientX) {
    const box = this.lane.getBoundingClientRect();
    const x = clientX - box.left - this.lane.clientLeft + this.view.body.scrollLeft;
    return Math.max(0, (x / this.view.px) * PPQ);
  }

  chordAt(target) {
    return target.closest?.(".arr-chord")?.dataset.chord ?? null;
  }

  get projectKey() {
    return String(this.session.project.project.key);
  }

  /** The key's chords; C major's if the key cannot be read. */
  keyChords(sevenths = this.sevenths) {
    try {
      return diatonicChords(this.projectKey, sevenths);
    } catch {
      return diatonicChords("C major", sevenths);
    }
  }

  /** The first bar start at or after `from` where a chord of `length` ticks fits. */
  nextFreeBar(from, length) {
    const bar = this.view.barTicks();
    let start = Math.ceil(from / bar) * bar;
    for (const chord of this.session.project.orderedChords()) {
      const end = chord.start + chord.length;
      if (end <= start) continue;
      if (chord.start >= start + length) break;
      start = Math.ceil(end / bar) * bar;
    }
    return start;
  }

  // -- edits -----------------------------------------------------------------------

  insert(start, length, chord) {
    const id = this.session.newId();
    const value = { start, length, root: chord.root, quality: chord.quality, inversion: chord.inversion ?? 0, bass: chord.bass ?? null };
    if (this.view.edit([{ op: "insert", kind: "chord", id, value }])) this.select(id);
  }

  /** A click at `tick` in an empty part of the lane: a chord over the free part of that bar. */
  addAt(tick) {
    const bar = this.view.barTicks();
    const barStart = Math.floor(tick / bar) * bar;
    let start = barStart;
    let end = Math.min(barStart + bar, MAX_TICK);
    let before = null;
    for (const chord of this.session.project.orderedChords()) {
      const chordEnd = chord.start + chord.length;
      if (chordEnd <= tick) {
        start = Math.max(start, chordEnd);
        if (chordEnd > barStart - bar) before = chord; // the last chord of the bar before (or this one)
      } else if (chord.start > tick) {
        end = Math.min(end, chord.start);
        break;
      }
    }
    if (end <= start) return;
    const chord = before ?? this.keyChords(false)[0];
    this.insert(start, end - start, chord);
  }

  /** A palette chord: one bar at the first free bar after the selected chord, else from the playhead's bar. */
  addFromPalette(chord) {
    const bar = this.view.barTicks();
    const selected = this.selected === null ? undefined : this.session.project.chords.get(this.selected);
    const from = selected ? selected.start + selected.length : Math.floor((this.view.ruler.positionNow() * PPQ) / bar) * bar;
    const start = this.nextFreeBar(from, bar);
    if (start + bar > MAX_TICK) {
      this.app.toasts.show("No free bar left on the chord track", "error");
      return;
    }
    this.insert(start, bar, chord);
  }

  deleteSelected() {
    const id = this.selected;
    if (id === null || !this.session.project.chords.has(id)) return;
    const next = this.neighbour(1) ?? this.neighbour(-1);
    if (this.view.edit([{ op: "delete", id }])) this.select(next);
  }

  /** The chord `step` places after (before, negative) the selected one, or null. */
  neighbour(step) {
    const list = this.session.project.orderedChords();
    const i = list.findIndex((c) => c.id === this.selected);
    return i < 0 ? null : list[i + step]?.id ?? null;
  }

  select(id) {
    this.selected = id;
    if (id !== null) this.view.focus = "chord";
    this.app.render();
  }

  // -- the palette -------------------------------------------------------------------

  togglePalette(open = this.palette.hidden) {
    this.palette.hidden = !open;
    this.toggle.setAttribute("aria-expanded", String(open));
    this.paletteKey = "";
    this.render(this.session.project);
  }

  renderPalette(reason) {
    const key = this.projectKey;
    const id = `${key}|${this.sevenths}`;
    if (id !== this.paletteKey) {
      this.paletteKey = id;
      this.paletteTitle.textContent = key;
      this.seventhsButton.setAttribute("aria-pressed", String(this.sevenths));
      this.paletteList.replaceChildren(...this.keyChords().map((chord) => h("button", {
        type: "button", class: "chord-choice", "data-edit": "", "data-symbol": chord.symbol,
        onclick: () => this.addFromPalette(chord),
      }, h("span", { class: "chord-numeral" }, chord.numeral), " ", h("span", { class: "chord-name" }, chord.symbol))));
    }
    for (const el of [this.toggle, this.seventhsButton, ...this.paletteList.children]) {
      el.disabled = reason !== null;
      el.title = reason ?? (el === this.toggle ? `The chords of ${key}, to add with a click`
        : el === this.seventhsButton ? "Triads or seventh chords" : `Add ${el.dataset.symbol} after the selected chord`);
    }
    if (reason !== null && !this.palette.hidden) {
      this.palette.hidden = true;
      this.toggle.setAttribute("aria-expanded", "false");
    }
  }

  // -- gestures ----------------------------------------------------------------------------

  blocked() {
    return this.view.blocked();
  }

  press(e) {
    if (e.button !== 0) return;
    e.preventDefault(); // no text selection; the focus comes here (for Delete and Enter)
    this.lane.focus({ preventScroll: true });
    const id = this.chordAt(e.target);
    if (id !== null) {
      this.select(id);
      if (this.blocked()) return;
      const box = this.els.get(id)?.el.getBoundingClientRect();
      const kind = box && box.right - e.clientX <= EDGE_PX ? "resize" : "move";
      // no pointer capture until it moves: a capture would take the double-click away
      this.gesture = { kind, id, x: e.clientX, tick: this.tickAt(e.clientX), moved: false, pointer: e.pointerId };
      return;
    }
    if (this.blocked()) return;
    this.gesture = { kind: "new", x: e.clientX, tick: this.tickAt(e.clientX), moved: false };
  }

  /** A chord dragged by its body: the snapped tick delta (never before 0 or past the end). */
  moveDelta(e, g) {
    const chord = this.session.project.chords.get(g.id);
    const start = Math.max(0, this.view.snapNear(chord.start + this.tickAt(e.clientX) - g.tick));
    return Math.min(start, MAX_TICK - chord.length) - chord.start;
  }

  /** A chord dragged by its right edge: its new length (a grid unit at least). */
  resizeLength(e, g) {
    const chord = this.session.project.chords.get(g.id);
    const grid = this.view.gridTicks();
    const end = this.view.snapNear(chord.start + chord.length + this.tickAt(e.clientX) - g.tick);
    return Math.min(MAX_TICK - chord.start, Math.max(end - chord.start, Math.min(grid, chord.length)));
  }

  move(e) {
    const g = this.gesture;
    if (!g) {
      this.hover(e);
      return;
    }
    if (g.kind === "new") return;
    if (!this.session.project.chords.has(g.id)) {
      this.cancel(); // someone removed it meanwhile
      return;
    }
    if (!g.moved && Math.abs(e.clientX - g.x) < DRAG_PX) return;
    if (!g.moved) this.lane.setPointerCapture?.(g.pointer);
    g.moved = true;
    const entry = this.els.get(g.id);
    if (!entry) return;
    entry.el.classList.add("dragging");
    if (g.kind === "move") entry.el.style.transform = `translateX(${this.view.xOf(this.moveDelta(e, g))}px)`;
    else entry.el.style.width = `${Math.max(2, this.view.xOf(this.resizeLength(e, g)))}px`;
  }

  release(e) {
    const g = this.gesture;
    if (!g) return;
    this.gesture = null;
    if (g.kind === "new") {
      if (Math.abs(e.clientX - g.x) < DRAG_PX && this.chordAt(e.target) === null) this.addAt(g.tick);
      else this.select(null);
      return;
    }
    this.unpreview(g.id);
    const chord = this.session.project.chords.get(g.id);
    if (g.moved && chord) {
      if (g.kind === "move") {
        const delta = this.moveDelta(e, g);
        if (delta !== 0) this.view.edit([{ op: "set", id: g.id, field: "start", value: chord.start + delta }]);
      } else {
        const length = this.resizeLength(e, g);
        if (length !== chord.length) this.view.edit([{ op: "set", id: g.id, field: "length", value: length }]);
      }
    }
    this.app.render();
  }

  unpreview(id) {
    const entry = this.els.get(id);
    if (!entry) return;
    entry.el.style.transform = "";
    entry.el.classList.remove("dragging");
    entry.key = ""; // placed again from the document
  }

  cancel() {
    const g = this.gesture;
    this.gesture = null;
    if (g && g.kind !== "new") this.unpreview(g.id);
    this.app.render();
  }

  hover(e) {
    let cursor = "";
    if (!this.blocked()) {
      const id = this.chordAt(e.target);
      const box = id === null ? null : this.els.get(id)?.el.getBoundingClientRect();
      cursor = box ? (box.right - e.clientX <= EDGE_PX ? "ew-resize" : "grab") : "";
    }
    if (this.lane.style.cursor !== cursor) this.lane.style.cursor = cursor;
  }

  doubleClick(e) {
    const id = this.chordAt(e.target);
    if (id !== null && !this.blocked()) this.edit(id);
  }

  key(e) {
    if (typingIn(e.target) || e.altKey) return;
    const del = (e.key === "Delete" || e.key === "Backspace") && !isMod(e);
    if (del) {
      this.app.editByKey(() => this.deleteSelected());
    } else if (e.key === "Enter" && !isMod(e) && this.selected !== null) {
      this.app.editByKey(() => this.edit(this.selected));
    } else if (e.key === "Escape") {
      this.select(null);
    } else if ((e.key === "ArrowLeft" || e.key === "ArrowRight") && !isMod(e) && !e.shiftKey) {
      const list = this.session.project.orderedChords();
      const next = this.selected === null ? list[e.key === "ArrowLeft" ? list.length - 1 : 0]?.id : this.neighbour(e.key === "ArrowLeft" ? -1 : 1);
      if (next) this.select(next);
    } else {
      return;
    }
    e.preventDefault();
    e.stopPropagation(); // these keys mean the chord track here, no other editor's
  }

  // -- typing a symbol ------------------------------------------------------------------

  /** A field over the chord: Enter sets the symbol typed (an unknown one says why and stays), Esc leaves it. */
  edit(id) {
    const chord = this.session.project.chords.get(id);
    const entry = this.els.get(id);
    if (!chord || !entry) return;
    this.editing?.finish(false);
    this.select(id);
    const error = h("span", { class: "arr-chord-error", role: "alert", id: "chord-symbol-error", hidden: true });
    const input = h("input", {
      class: "arr-chord-input", "aria-label": "Chord symbol", "aria-describedby": "chord-symbol-error", value: symbolOf(chord),
      maxlength: 24, spellcheck: "false", autocomplete: "off",
      onpointerdown: (ev) => ev.stopPropagation(),
      oninput: () => {
        error.hidden = true;
        input.removeAttribute("aria-invalid");
      },
      onkeydown: (ev) => {
        ev.stopPropagation();
        if (ev.key === "Enter") {
          ev.preventDefault();
          commit();
        } else if (ev.key === "Escape") {
          ev.preventDefault();
          finish(true);
        }
      },
      onblur: () => finish(false),
    });
    const box = h("div", { class: "arr-chord-editor" }, input, error);
    let done = false;
    const finish = (refocus) => {
      if (done) return;
      done = true;
      this.editing = null;
      box.remove();
      if (refocus) this.lane.focus({ preventScroll: true });
      this.app.render();
    };
    const commit = () => {
      const now = this.session.project.chords.get(id);
      if (!now) {
        finish(true);
        return;
      }
      let next;
      try {
        next = parseChord(input.value.trim());
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        input.setAttribute("aria-invalid", "true");
        return; // changes nothing; the field stays for another try
      }
      const ops = respellOps(id, now, next);
      if (ops.length) this.view.edit(ops);
      finish(true);
    };
    this.editing = { id, finish };
    const left = HEAD + this.view.xOf(chord.start) - this.view.body.scrollLeft;
    box.style.left = `${Math.max(HEAD, left)}px`;
    box.style.minWidth = `${Math.max(96, this.view.xOf(chord.length))}px`;
    this.row.append(box);
    input.focus();
    input.select();
  }

  // -- drawing ---------------------------------------------------------------------------

  render(doc) {
    const reason = this.app.editBlockReason();
    if (this.selected !== null && !doc.chords.has(this.selected)) this.selected = null;
    if (this.editing && (!doc.chords.has(this.editing.id) || reason !== null)) this.editing.finish(false);
    this.lane.setAttribute("aria-disabled", String(reason !== null));
    this.lane.title = reason ?? "Click an empty bar to add a chord; drag one to move it, its edge to resize; double-click (or Enter) to type its symbol";
    this.renderPalette(reason);
    for (const [id, entry] of this.els) {
      if (!doc.chords.has(id)) {
        entry.el.remove();
        this.els.delete(id);
      }
    }
    const key = this.projectKey;
    const dragging = this.gesture?.moved ? this.gesture.id : null;
    for (const chord of doc.chords.values()) {
      let entry = this.els.get(chord.id);
      if (!entry) {
        const label = h("span", { class: "arr-chord-label" });
        entry = { el: h("div", { class: "arr-chord", "data-chord": chord.id }, label), label, key: "" };
        this.els.set(chord.id, entry);
        this.inner.append(entry.el);
      }
      const symbol = symbolOf(chord);
      const selected = chord.id === this.selected;
      const diatonic = inKey(chord, key);
      const id = [chord.start, chord.length, symbol, this.view.px, this.view.meter, selected, diatonic].join("|");
      if (id === entry.key || chord.id === dragging) continue;
      entry.key = id;
      this.view.place(entry.el, chord.start, chord.length);
      entry.el.classList.toggle("selected", selected);
      entry.el.classList.toggle("outside", !diatonic);
      entry.el.dataset.symbol = symbol;
      entry.label.textContent = symbol;
      entry.el.title = `${symbol}: bar ${this.view.barOf(chord.start)}, ${this.view.barsText(chord.length)}${diatonic ? "" : ` (outside ${key})`}`;
    }
  }

  /** The lane's width and grid, as the arrangement's rows. */
  layout(width, bar) {
    const key = `${width}|${bar}`;
    if (key === this.layoutKey) return;
    this.layoutKey = key;
    this.inner.style.width = `${width}px`;
    this.lane.style.setProperty("--bar", `${bar}px`);
  }

  scrollTo(left) {
    this.inner.style.transform = `translateX(${-left}px)`;
  }

  /** The end of the last chord, in ticks (0 with none). */
  end() {
    let end = 0;
    for (const chord of this.session.project.chords.values()) end = Math.max(end, chord.start + chord.length);
    return end;
  }
}
