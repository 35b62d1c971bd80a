/**
 * Files in: a Standard MIDI File or a project JSON dropped anywhere on the
 * studio (or picked with the header's "Import…", or Mod+O) becomes ONE
 * undoable version, computed by the server (net.js `importMidi` and
 * `importProject`; server/sessions/past.py). A MIDI file adds its tracks and
 * notes and sets the tempo and meter; a project file (what "Export JSON" and
 * `backline state` write) replaces the whole project, so it is confirmed first.
 *
 * Checked here before anything is sent: the kind of file (by its name, else by
 * its first bytes), the right to edit, and the frame against the server's cap
 * (`LIMITS.max_frame_bytes`, from /protocol.js): the server never reads a
 * bigger frame, so such an edit would never be answered. Everything after
 * that is the server's to refuse (`bad_import` for a file it cannot read,
 * `limit_exceeded`, `forbidden`), and comes back as a toast.
 * @module ui/dropimport
 */

import { CLIENT_TYPES, LIMITS, ROLES } from "../protocol.js";
import { encode } from "../msgpack.js";
import { h } from "./dom.js";
import { typingIn } from "./shortcuts.js";

/** What the file picker offers (the kinds `kindOf` knows). */
const ACCEPT = ".mid,.midi,.json,audio/midi,audio/x-midi,application/json";
/** A project file read as text at most this many times the frame cap (its JSON is larger than its frame). */
const JSON_TEXT_FACTOR = 8;

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const kib = (bytes) => `${Math.max(1, Math.round(bytes / 1024))} KiB`;

/** "midi", "project" or null, from the file's name (else its first bytes: "MThd", "{"). */
export function kindOf(name, head = new Uint8Array()) {
  const lower = name.toLowerCase();
  if (lower.endsWith(".mid") || lower.endsWith(".midi") || lower.endsWith(".smf")) return "midi";
  if (lower.endsWith(".json")) return "project";
  if (head.length >= 4 && String.fromCharCode(...head.subarray(0, 4)) === "MThd") return "midi";
  const first = head.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09 && b !== 0xef && b !== 0xbb && b !== 0xbf);
  return first === 0x7b ? "project" : null; // "{", after whitespace or a UTF-8 byte order mark
}

/** "3 tracks, 412 notes" (and whatever else there is: patterns, clips, sections, chords). */
export function countText(counts) {
  const parts = [plural(counts.track ?? 0, "track"), plural(counts.note ?? 0, "note")];
  for (const kind of ["pattern", "clip", "section", "chord"]) if (counts[kind]) parts.push(plural(counts[kind], kind));
  return parts.join(", ");
}

/** The entities a batch inserts, by kind (a nested `batch` op counts its own). */
function inserted(ops, counts = {}) {
  for (const op of ops) {
    if (op.op === "insert") counts[op.kind] = (counts[op.kind] ?? 0) + 1;
    else if (op.op === "batch") inserted(op.ops ?? [], counts);
  }
  return counts;
}

/** What a project (snapshot form, as exported) holds, by kind. */
function held(data) {
  const size = (rows) => (Array.isArray(rows) ? rows.length : 0);
  return { track: size(data.tracks), note: size(data.notes), pattern: size(data.patterns), clip: size(data.clips), section: size(data.sections), chord: size(data.chords) };
}

export class DropImport {
  /**
   * @param {HTMLElement} root where the overlay, the picker and the dialog go (the body)
   * @param {import("../net.js").Session} session
   * @param {any} app the page (app.js): `editBlockReason`, `toasts`, `select`
   * @param {HTMLButtonElement | null} button the header's "Import…": disabled here, with the
   *   reason as its tooltip, while this user may not edit
   */
  constructor(root, session, app, button = null) {
    this.session = session;
    this.app = app;
    this.button = button;
    this.buttonTitle = button?.title ?? "";
    /** @type {{name: string, seq: number | null} | null} the import under way */
    this.busy = null;
    this.depth = 0; // dragenter minus dragleave: 0 when the drag left the page
    this.title = h("p", { class: "drop-title" });
    this.lines = h("p", { class: "drop-lines" });
    this.reason = h("p", { class: "drop-reason" });
    this.overlay = h("div", { class: "drop-overlay", hidden: true, "aria-hidden": "true" },
      h("div", { class: "drop-card" }, h("div", { class: "drop-icon" }, "⤓"), this.title, this.lines, this.reason));
    this.input = h("input", {
      type: "file", accept: ACCEPT, class: "import-input", hidden: true, "aria-label": "Import a MIDI file or project JSON",
      onchange: () => {
        const file = this.input.files?.[0];
        this.input.value = ""; // the same file again is a new choice
        if (file) this.importFile(file);
      },
    });
    this.confirmTitle = h("h2", { id: "import-confirm-title" });
    this.confirmText = h("p", { class: "hint", id: "import-confirm-text" });
    this.replaceButton = h("button", { type: "button", class: "primary import-replace", onclick: () => this.dialog.close("replace") }, "Replace the project");
    const cancel = h("button", { type: "button", class: "import-cancel", autofocus: true, onclick: () => this.dialog.close() }, "Cancel");
    this.dialog = h("dialog", { class: "shortcuts-dialog import-dialog", "aria-labelledby": "import-confirm-title", "aria-describedby": "import-confirm-text" },
      h("div", { class: "dialog-body" }, h("div", { class: "dialog-head" }, this.confirmTitle), this.confirmText,
        h("div", { class: "row import-choices" }, cancel, this.replaceButton)));
    this.dialog.addEventListener("keydown", (e) => e.stopPropagation()); // its keys are its own
    this.dialog.addEventListener("click", (e) => {
      if (e.target === this.dialog) this.dialog.close(); // the backdrop: cancel
    });
    root.append(this.overlay, this.input, this.dialog);
    this.listeners = [
      ["dragenter", (e) => this.dragEnter(e)],
      ["dragover", (e) => this.dragOver(e)],
      ["dragleave", (e) => this.dragLeave(e)],
      ["drop", (e) => this.drop(e)],
      ["keydown", (e) => this.key(e)],
    ];
    for (const [type, fn] of this.listeners) document.addEventListener(type, fn);
    // the reason to block comes and goes with the role, a lock, the connection, an audition
    this.off = [session.on("change", () => this.showButton()), session.on("state", () => this.showButton())];
    this.showButton();
  }

  showButton() {
    if (this.button === null) return;
    const reason = this.app.editBlockReason();
    this.button.disabled = reason !== null;
    this.button.title = reason ?? this.buttonTitle;
  }

  /** Whether the edit `seq` is an import this page made (its refusal is this module's toast). */
  handles(seq) {
    return this.busy !== null && this.busy.seq === seq;
  }

  /** Why this user may not import now ("Importing needs edit rights: …"), or null. */
  refusal() {
    const reason = this.app.editBlockReason();
    if (reason === null) return null;
    return `${this.session.role === ROLES.VIEWER ? "Importing needs edit rights" : "Cannot import now"}: ${reason}`;
  }

  /** The header's "Import…": choose a file (refused with the reason when this user may not edit). */
  pick() {
    const refusal = this.refusal();
    if (refusal !== null) this.fail(refusal);
    else this.input.click();
  }

  /** Mod+O, as the header's button (never while typing, nor behind a dialog). */
  key(e) {
    if (!(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey || (e.key !== "o" && e.key !== "O")) return;
    if (e.defaultPrevented || typingIn(e.target) || this.dialog.open || this.app.help?.open || this.app.bounce?.open) return;
    e.preventDefault(); // not the browser's "open a file"
    this.pick();
  }

  // -- dragging over the page ------------------------------------------------------

  static carriesFiles(e) {
    return Array.from(e.dataTransfer?.types ?? []).includes("Files");
  }

  dragEnter(e) {
    if (!DropImport.carriesFiles(e)) return;
    e.preventDefault();
    this.depth += 1;
    this.showOverlay();
  }

  dragOver(e) {
    if (!DropImport.carriesFiles(e)) return;
    e.preventDefault(); // a drop here is ours (the browser would open the file instead)
    e.dataTransfer.dropEffect = this.app.editBlockReason() === null ? "copy" : "none";
    if (this.overlay.hidden) this.showOverlay();
  }

  dragLeave(e) {
    if (!DropImport.carriesFiles(e)) return;
    this.depth = Math.max(0, this.depth - 1);
    if (this.depth === 0) this.hideOverlay();
  }

  drop(e) {
    if (!DropImport.carriesFiles(e)) return;
    e.preventDefault();
    this.hideOverlay();
    const files = Array.from(e.dataTransfer.files ?? []);
    if (files.length === 0) return;
    const refusal = this.refusal();
    if (refusal !== null) {
      this.fail(refusal);
      return;
    }
    if (files.length > 1) this.app.toasts.show(`One file at a time: importing ${files[0].name}`);
    this.importFile(files[0]);
  }

  showOverlay() {
    const reason = this.app.editBlockReason();
    const viewer = this.session.role === ROLES.VIEWER;
    this.overlay.classList.toggle("blocked", reason !== null);
    this.title.textContent = reason === null ? "Drop to import" : viewer ? "Importing needs edit rights" : "Cannot import now";
    this.lines.textContent = "MIDI adds tracks · Project JSON replaces the project";
    this.reason.textContent = reason === null ? ".mid, .midi or .json: one undoable edit" : reason;
    this.overlay.hidden = false;
  }

  hideOverlay() {
    this.depth = 0;
    this.overlay.hidden = true;
  }

  // -- importing -------------------------------------------------------------------

  /** Check `file`, then send it as one import edit; resolves when the answer is shown. */
  async importFile(file) {
    const refusal = this.refusal();
    if (refusal !== null) return this.fail(refusal);
    if (this.busy !== null) return this.fail(`Still importing ${this.busy.name}: one file at a time`);
    this.busy = { name: file.name, seq: null };
    try {
      const max = LIMITS.max_frame_bytes;
      const head = new Uint8Array(await file.slice(0, 8).arrayBuffer());
      const kind = kindOf(file.name, head);
      if (kind === null) return this.fail(`Cannot import ${file.name}: only MIDI files (.mid, .midi) and project JSON (.json)`);
      if (file.size > (kind === "midi" ? max : max * JSON_TEXT_FACTOR)) return this.tooLarge(file.name);
      if (kind === "midi") {
        const fields = { format: "midi", data: new Uint8Array(await file.arrayBuffer()), name: file.name };
        return this.fits(fields) ? await this.send(file.name, fields) : this.tooLarge(file.name);
      }
      let project;
      try {
        project = JSON.parse(await file.text());
      } catch (error) {
        return this.fail(`${file.name} is not valid JSON: ${error.message}`);
      }
      if (project === null || typeof project !== "object" || Array.isArray(project)) {
        return this.fail(`${file.name} is not a project file (a JSON object with a "project" key)`);
      }
      const fields = { format: "project", project, name: file.name };
      if (!this.fits(fields)) return this.tooLarge(file.name); // before asking
      if (!(await this.confirmReplace(file.name, project))) return false;
      return this.fits(fields) ? await this.send(file.name, fields) : this.tooLarge(file.name);
    } finally {
      this.busy = null;
    }
  }

  fail(text) {
    this.app.toasts.show(text, "error");
    return false;
  }

  tooLarge(name) {
    return this.fail(`${name}: file too large to send (max ${kib(LIMITS.max_frame_bytes)})`);
  }

  /** Whether the import frame fits the server's cap: encoded exactly as net.js sends it
   *  (`history`: type, the next seq, then these fields). */
  fits(fields) {
    return encode({ type: CLIENT_TYPES.IMPORT, seq: this.session.seq + 1, ...fields }).length <= LIMITS.max_frame_bytes;
  }

  /** "Replace the project with song.json?": resolves true to go on. */
  confirmReplace(name, project) {
    const now = held(this.session.project.toData());
    this.confirmTitle.textContent = `Replace the project with ${name}?`;
    this.confirmText.textContent = `The file's ${countText(held(project))} replace everything in the project now `
      + `(${countText(now)}), for everyone in the session. Undo takes it back in one step.`;
    this.dialog.returnValue = "";
    return new Promise((resolve) => {
      this.dialog.addEventListener("close", () => resolve(this.dialog.returnValue === "replace"), { once: true });
      this.dialog.showModal();
    });
  }

  /** Send the import and wait for its version (or its refusal): the toasts say which. */
  async send(name, fields) {
    const s = this.session;
    const refusal = this.refusal(); // it may have come while the dialog was open
    if (refusal !== null) return this.fail(refusal);
    // a toast of its own (the page's fade after a few seconds): it stays until the answer
    const waiting = h("div", { class: "toast toast-info toast-wait" }, `Importing ${name}…`);
    this.app.toasts.el.append(waiting);
    let batch = null;
    const unwatch = s.on("edit", ({ batch: b, mine }) => {
      if (mine && b.seq === this.busy?.seq) batch = b;
    });
    const before = held(s.project.toData());
    try {
      const edit = fields.format === "midi" ? s.importMidi(fields.data, name) : s.importProject(fields.project, name);
      this.busy.seq = edit.seq;
      await edit.done;
      const counts = fields.format === "midi"
        ? (batch ? inserted(batch.ops) : this.grown(before))
        : held(s.project.toData());
      const what = fields.format === "midi" ? `Imported ${name}` : `Replaced the project with ${name}`;
      this.app.toasts.show(`${what}: ${countText(counts)} (Undo to take it back)`);
      const first = batch?.ops.find((op) => op.op === "insert" && op.kind === "track")?.id;
      if (first && s.project.tracks.has(first)) this.app.select(first);
      return true;
    } catch (error) {
      return this.fail(`Could not import ${name} (${error.code ?? "error"}): ${error.message}`);
    } finally {
      unwatch();
      waiting.remove();
    }
  }

  /** What the project gained since `before` (when no batch was seen: a snapshot came instead). */
  grown(before) {
    const after = held(this.session.project.toData());
    return Object.fromEntries(Object.entries(after).map(([k, n]) => [k, Math.max(0, n - (before[k] ?? 0))]));
  }

  remove() {
    for (const [type, fn] of this.listeners) document.removeEventListener(type, fn);
    for (const off of this.off) off();
    if (this.dialog.open) this.dialog.close();
    this.overlay.remove();
    this.input.remove();
    this.dialog.remove();
  }
}
