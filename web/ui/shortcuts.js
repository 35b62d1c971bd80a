/**
 * Every keyboard shortcut of the page, in one list, and the help overlay that
 * shows it (`?`, or the header's "Keyboard shortcuts" button).
 *
 * The list is what the overlay shows and what the README documents; the keys
 * themselves are handled where they act (app.js for the global ones, the
 * editors for theirs). `Mod` is Ctrl, or Cmd on a Mac.
 *
 * @module ui/shortcuts
 */

import { h } from "./dom.js";

/** @typedef {{keys: string[], action: string, where: string}} Shortcut */

/** @type {ReadonlyArray<Shortcut>} */
export const SHORTCUTS = Object.freeze([
  { keys: ["Space"], action: "Play / stop", where: "Transport" },
  { keys: ["Home"], action: "Go to bar 1", where: "Transport" },
  { keys: ["L"], action: "Loop on / off", where: "Transport" },
  { keys: ["Click ruler"], action: "Locate (while stopped: where Play starts)", where: "Transport" },
  { keys: ["Drag ruler"], action: "Set the loop region (Shift: the other snap)", where: "Transport" },
  { keys: ["?"], action: "Show these shortcuts", where: "Page" },
  { keys: ["Esc"], action: "Close this overlay", where: "Page" },
  { keys: ["Mod", "O"], action: "Import a MIDI file or project JSON (or drop one on the page)", where: "Page" },
  { keys: ["Mod", "Z"], action: "Undo my last edit", where: "Editing" },
  { keys: ["Mod", "Shift", "Z"], action: "Redo", where: "Editing" },
  { keys: ["Mod", "C"], action: "Copy the selection", where: "Editing" },
  { keys: ["Mod", "V"], action: "Paste", where: "Editing" },
  { keys: ["Mod", "D"], action: "Duplicate the selection", where: "Editing" },
  { keys: ["Mod", "A"], action: "Select all", where: "Editing" },
  { keys: ["Delete / Backspace"], action: "Delete the selection", where: "Editing" },
  { keys: ["Q"], action: "Quantize the selection", where: "Editing" },
  { keys: ["↑ / ↓"], action: "Transpose a semitone", where: "Editing" },
  { keys: ["Shift", "↑ / ↓"], action: "Transpose an octave", where: "Editing" },
  { keys: ["B / D"], action: "Draw tool", where: "Editing" },
  { keys: ["V / S"], action: "Select tool", where: "Editing" },
  { keys: ["← / →"], action: "Nudge the selection by the grid", where: "Piano roll" },
  { keys: ["Shift", "← / →"], action: "Lengthen / shorten the selection by the grid", where: "Piano roll" },
  { keys: ["Shift", "Click"], action: "Add a note to the selection", where: "Piano roll" },
  { keys: ["Drag empty space"], action: "Select with a rubber band (Select tool)", where: "Piano roll" },
  { keys: ["Mod", "Wheel"], action: "Zoom in time", where: "Piano roll" },
  { keys: ["Alt", "Wheel"], action: "Zoom the rows", where: "Piano roll" },
  { keys: ["Shift", "S"], action: "Fit the selection to the key's scale", where: "Piano roll" },
  { keys: ["Shift", "C"], action: "Stamp a chord at the edit cursor", where: "Piano roll" },
  { keys: ["Drag in a row"], action: "Add a clip (snapped to bar or beat)", where: "Arrangement" },
  { keys: ["Shift", "Click"], action: "Add a clip to the selection", where: "Arrangement" },
  { keys: ["Drag clip / its edge"], action: "Move / resize the selection", where: "Arrangement" },
  { keys: ["Mod", "D"], action: "Duplicate the selected clips after themselves", where: "Arrangement" },
  { keys: ["Delete / Backspace"], action: "Delete the selected clips (or section)", where: "Arrangement" },
  { keys: ["Drag in Sections"], action: "Add a section (drag one to move it, its edge to resize; double-click renames)", where: "Arrangement" },
  { keys: ["Mod", "Wheel"], action: "Zoom the timeline", where: "Arrangement" },
  { keys: ["Click an empty bar"], action: "Add a chord (the bar before's, else the key's I)", where: "Chord track" },
  { keys: ["Drag chord / its edge"], action: "Move / resize the chord", where: "Chord track" },
  { keys: ["Double-click / Enter"], action: "Type the selected chord's symbol (Esc cancels)", where: "Chord track" },
  { keys: ["← / →"], action: "Select the chord before / after", where: "Chord track" },
  { keys: ["Delete / Backspace"], action: "Delete the selected chord", where: "Chord track" },
  { keys: ["Click a palette chord"], action: "In \"Chords of the key\": add it a bar after the selected chord (else at the playhead)", where: "Chord track" },
  { keys: ["Alt", "↑ / ↓"], action: "Move the focused track up / down", where: "Tracks" },
  { keys: ["X"], action: "Go to the mixer", where: "Mixer" },
  { keys: ["Mod", "B"], action: "Bounce the song to WAV (server render)", where: "Mixer" },
  { keys: ["Drag a control"], action: "Hear it now; let go to share it as an edit", where: "Mixer" },
  { keys: ["Double-click a control"], action: "Back to its default", where: "Mixer" },
  { keys: ["Drag an EQ handle"], action: "Band frequency and gain (wheel: its Q)", where: "Mixer" },
  { keys: ["R"], action: "Record notes from the MIDI input on / off", where: "MIDI input" },
  { keys: ["H"], action: "Show / hide the history", where: "History" },
  { keys: ["↑ / ↓"], action: "Move in the versions (Enter auditions, Shift+Enter compares)", where: "History" },
  { keys: ["Shift", "Click"], action: "Compare a version with the selected one", where: "History" },
  { keys: ["Esc"], action: "Leave the audition, back to the live project (while auditioning, Space still plays)", where: "History" },
]);

/**
 * Whether a key pressed in `target` belongs to it (typing text, choosing in a
 * list): then no page shortcut may act on it.
 * @param {EventTarget | null} target
 */
export function typingIn(target) {
  if (target instanceof HTMLInputElement) return !["range", "color", "checkbox", "radio", "button"].includes(target.type);
  return target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement
    || (target instanceof HTMLElement && target.isContentEditable);
}

/** Keys a focused control uses itself: a slider's Home, a checkbox's Space, a button's Space. */
const CONTROL_KEYS = new Set([" ", "Home", "End", "ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "PageUp", "PageDown"]);

/**
 * Whether the focused `target` handles `key` itself, so that a page shortcut
 * on that key must leave it alone: any key while typing, the keys of sliders,
 * checkboxes and lists, Space and Enter on buttons.
 * @param {EventTarget | null} target
 * @param {string} key
 */
export function ownsKey(target, key) {
  if (typingIn(target)) return true;
  if (target instanceof HTMLInputElement) return CONTROL_KEYS.has(key) || key === "Enter";
  if (target instanceof HTMLButtonElement) return key === " " || key === "Enter";
  return false;
}

const isMac = () => /Mac|iPhone|iPad/.test(globalThis.navigator?.platform ?? "");

/** A key as this keyboard labels it. */
function keyLabel(key) {
  if (key === "Mod") return isMac() ? "⌘" : "Ctrl";
  return key;
}

/** The help overlay: a modal dialog listing {@link SHORTCUTS}, grouped by where they act. */
export class ShortcutHelp {
  constructor(root = document.body) {
    const groups = new Map();
    for (const s of SHORTCUTS) {
      if (!groups.has(s.where)) groups.set(s.where, []);
      groups.get(s.where).push(s);
    }
    const close = h("button", { type: "button", class: "dialog-close", "aria-label": "Close", onclick: () => this.close() }, "×");
    // the body fills the dialog's box, so a click whose target is the dialog itself is on the backdrop
    this.dialog = h("dialog", { class: "shortcuts-dialog", "aria-labelledby": "shortcuts-title" }, h("div", { class: "dialog-body" },
      h("div", { class: "dialog-head" }, h("h2", { id: "shortcuts-title" }, "Keyboard shortcuts"), close),
      h("div", { class: "shortcut-groups" }, [...groups].map(([where, list]) =>
        h("section", { class: "shortcut-group" },
          h("h3", {}, where),
          h("dl", {}, list.flatMap((s) => [
            h("dt", {}, s.keys.flatMap((k, i) => [i ? h("span", { class: "plus", "aria-hidden": "true" }, "+") : null, h("kbd", {}, keyLabel(k))])),
            h("dd", {}, s.action),
          ]))))),
      h("p", { class: "hint" }, "Shortcuts do nothing while you type in a field."),
    ));
    // a click on the backdrop closes it too
    this.dialog.addEventListener("click", (e) => {
      if (e.target === this.dialog) this.close();
    });
    root.append(this.dialog);
  }

  get open() {
    return this.dialog.open;
  }

  show() {
    if (!this.dialog.open) this.dialog.showModal(); // Esc closes a modal dialog by itself
  }

  close() {
    this.dialog.close();
  }

  toggle() {
    if (this.open) this.close();
    else this.show();
  }

  remove() {
    this.dialog.remove();
  }
}
