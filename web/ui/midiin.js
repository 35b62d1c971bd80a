/**
 * Playing from a MIDI keyboard or controller (Web MIDI), in the sound panel.
 *
 * - *MIDI input* picks a device (`navigator.requestMIDIAccess()`; the list
 *   follows devices coming and going; the choice is remembered in this
 *   browser). Where the browser has no Web MIDI (Safari), the page is not
 *   secure (https or localhost) or permission is refused, it says so.
 * - What is played there (note-on, note-off, the sustain pedal CC 64, the
 *   pitch wheel) is heard here at once (`../sound/live.js`) and sent to
 *   everyone with `session.liveNote` on the selected track: not an edit.
 * - *Record notes* (or R) collects what is played, at its place on the
 *   shared timeline, while the transport plays; when it stops, the take is
 *   written into the selected track, quantized to the chosen grid with a
 *   strength, as one edit (one undo): inside the notes clip a note falls in,
 *   else as free notes, as the piano roll places them.
 * - *Learn* maps a controller's knobs and faders (any CC but 64) to the
 *   mixer's sliders: click Learn, click a slider, move a knob. A mapped CC
 *   then moves the slider as a drag would: heard at once (the mixer's
 *   preview), shared as edits at most `COMMITS_PER_S` a second per control,
 *   the last value always. Mappings are kept in this browser, per session.
 *
 * @module ui/midiin
 */

import { LIMITS, PPQ, ROLES, SERVER_TYPES } from "../protocol.js";
import { nearestGrid } from "../editing.js";
import { LivePlayer } from "../sound/live.js";
import { h } from "./dom.js";
import { pref, setPref } from "./prefs.js";
import { ownsKey } from "./shortcuts.js";

/** The quantize choices: a grid in ticks (0: off). */
export const QUANTIZE_GRIDS = Object.freeze([
  ["off", 0],
  ["1/8", PPQ / 2],
  ["1/16", PPQ / 4],
  ["1/32", PPQ / 8],
]);
/** The sustain pedal's controller: never learned, always the pedal. */
export const SUSTAIN_CC = 64;
/** Edits a mapped control sends at most per second while a knob turns. */
export const COMMITS_PER_S = 20;
/** Who plays here, to the live player (the others are their client ids). */
const LOCAL = "local";

const round = (x) => Math.floor(x + 0.5); // half-up, as editing.js rounds

/**
 * Move each note's start toward its nearest grid line by `strength` (0..1),
 * as the piano roll's Q does (lengths stay); a grid of 0 leaves them be.
 * @template {{start: number}} N
 * @param {N[]} notes starts in ticks
 * @param {number} grid ticks (0: off)
 * @param {number} [strength] 0..1
 * @returns {N[]} new notes, the input untouched
 */
export function quantizeTake(notes, grid, strength = 1) {
  const s = Math.max(0, Math.min(1, Number(strength)));
  return notes.map((n) => {
    if (!grid) return { ...n };
    const start = Math.max(0, n.start + round((nearestGrid(n.start, grid) - n.start) * s));
    return { ...n, start };
  });
}

/**
 * One MIDI message as what it means here (channel messages only), or null.
 * Note-on at velocity 0 is a note-off; the wheel is -1..1 (centre 0).
 * @param {ArrayLike<number>} data
 * @returns {null | {type: "on", pitch: number, vel: number} | {type: "off", pitch: number}
 *   | {type: "cc", cc: number, value: number} | {type: "bend", value: number}}
 */
export function parseMidi(data) {
  if (!data || data.length < 2) return null;
  const status = data[0] & 0xf0;
  const a = data[1] & 0x7f;
  const b = (data[2] ?? 0) & 0x7f;
  if (status === 0x90 && data.length >= 3) return b === 0 ? { type: "off", pitch: a } : { type: "on", pitch: a, vel: b };
  if (status === 0x80) return { type: "off", pitch: a };
  if (status === 0xb0 && data.length >= 3) return { type: "cc", cc: a, value: b };
  if (status === 0xe0 && data.length >= 3) {
    const raw = (b << 7) | a; // 14 bits, 8192 at rest
    return { type: "bend", value: raw >= 8192 ? (raw - 8192) / 8191 : (raw - 8192) / 8192 };
  }
  return null;
}

/**
 * A take being recorded: each note where the shared timeline was when it was
 * struck (server time), as long as it was held (its note-on's tempo).
 */
export class Take {
  constructor() {
    /** @type {Array<{pitch: number, vel: number, start: number, dur: number}>} ticks */
    this.notes = [];
    /** @type {Map<number, {pitch: number, vel: number, t: number, timeline: import("../timeline.js").Timeline}>} */
    this.held = new Map();
    /** notes struck while the transport was not playing (not recorded) */
    this.skipped = 0;
  }

  /**
   * @param {number} pitch
   * @param {number} vel
   * @param {number} t server µs
   * @param {import("../timeline.js").Timeline | null} timeline the transport then
   */
  on(pitch, vel, t, timeline) {
    if (this.held.has(pitch)) this.off(pitch, t, timeline);
    if (timeline === null || !timeline.rolling(t)) {
      this.skipped += 1;
      return;
    }
    this.held.set(pitch, { pitch, vel, t, timeline });
  }

  /**
   * @param {number} pitch
   * @param {number} t server µs
   * @param {import("../timeline.js").Timeline | null} now the transport now: one that
   *   stopped meanwhile ends the note where it stopped
   */
  off(pitch, t, now) {
    const note = this.held.get(pitch);
    if (note === undefined) return;
    this.held.delete(pitch);
    let end = t;
    if (now !== null && !now.playing && now.time > note.t) end = Math.min(end, now.time);
    const { timeline } = note;
    const start = Math.min(LIMITS.max_tick, Math.max(0, round(timeline.beatAt(note.t) * PPQ)));
    const dur = Math.min(LIMITS.max_tick, Math.max(1, round((timeline.linearAt(end) - timeline.linearAt(note.t)) * PPQ)));
    this.notes.push({ pitch, vel: note.vel, start, dur });
  }

  /** End the notes still held at `t`; the take's notes, by start then pitch. */
  finish(t, now) {
    for (const pitch of [...this.held.keys()]) this.off(pitch, t, now);
    return [...this.notes].sort((x, y) => x.start - y.start || x.pitch - y.pitch);
  }

  get size() {
    return this.notes.length + this.held.size;
  }
}

/**
 * Why Web MIDI cannot be used on this page, or null when it can be tried.
 * @returns {string | null}
 */
export function midiUnavailable() {
  if (typeof navigator.requestMIDIAccess === "function") return null;
  if (!globalThis.isSecureContext) {
    return "MIDI input needs a secure page: open Backline over https:// (or on localhost).";
  }
  return "This browser has no Web MIDI (Safari, for one): play from a MIDI keyboard in Chrome, Edge or Firefox.";
}

/** The slider a mapping drives, found again however often the mixer redraws. */
function findControl(target) {
  const field = CSS.escape(target.field);
  let scope = null;
  if (target.track) scope = `.mixer-strip[data-track="${CSS.escape(target.track)}"]`;
  else if (target.ret) scope = `.mixer-strip[data-return="${CSS.escape(target.ret)}"]`;
  else if (target.channel) scope = ".mixer .channel";
  if (scope === null) return null;
  const input = document.querySelector(`${scope} input[type=range][data-field="${field}"]`);
  return input instanceof HTMLInputElement ? input : null;
}

/** Where a mixer slider is, as a mapping keeps it. */
function locate(input) {
  const field = input.dataset.field;
  const strip = input.closest(".mixer-strip");
  if (strip?.getAttribute("data-track")) return { track: strip.getAttribute("data-track"), field };
  if (strip?.getAttribute("data-return")) return { ret: strip.getAttribute("data-return"), field };
  if (input.closest(".channel")) {
    const band = input.closest("[data-band]")?.querySelector("button")?.textContent ?? "";
    return { channel: true, field, band };
  }
  return null;
}

/**
 * Put the MIDI input's controls at the end of `element` (the sound panel).
 * @param {HTMLElement} element
 * @param {{session: import("../net.js").Session, app: any, sound: () => any}} options
 *   app: the page (selected track, `run`, `editBlockReason`, `toasts`); sound: the panel's handle
 */
export function mountMidiInput(element, { session, app, sound }) {
  /** @type {Map<number, {track: string | null, vel: number}>} keys down here, and the track each was sent on */
  const held = new Map();
  /** what the others were last told of my pedal and wheel (let go with the device) */
  let pedal = false;
  let bent = false;
  /** @type {Take | null} the take being recorded */
  let take = null;
  let takeTrack = null;
  const cleanups = [];
  const listen = (target, type, fn, capture = false) => {
    target.addEventListener(type, fn, capture);
    cleanups.push(() => target.removeEventListener(type, fn, capture));
  };

  // -- which track live notes play on -----------------------------------------

  /** The track a note plays on: the one named (if here), else the selected one, else the first instrument track. */
  function trackFor(requested = null) {
    const doc = session.project;
    const usable = (id) => id && doc.tracks.has(id) && doc.tracks.get(id).kind !== "audio";
    if (usable(requested)) return requested;
    if (usable(app.selectedTrack)) return app.selectedTrack;
    const tracks = doc.trackList();
    return (tracks.find((t) => t.kind === "instrument") ?? tracks.find((t) => t.kind === "drums"))?.id ?? null;
  }

  const live = new LivePlayer({ sound, track: trackFor });
  cleanups.push(session.on(SERVER_TYPES.LIVE, (message) => live.handle(message)));
  cleanups.push(session.on("peers", (peers) => {
    const here = new Set(peers.map((p) => p.client));
    for (const who of [...live.players.keys()]) if (who !== LOCAL && !here.has(who)) live.allOff(who);
  }));
  cleanups.push(session.on("state", ({ state }) => {
    if (state === "connected") return;
    for (const who of [...live.players.keys()]) if (who !== LOCAL) live.allOff(who); // their note-offs may be lost
  }));

  // -- the controls -------------------------------------------------------------

  const select = /** @type {HTMLSelectElement} */ (h("select", { id: "midi-input", "data-midi": "input" }));
  const status = h("p", { class: "midi-status", role: "status", "data-midi": "status" });
  const target = h("p", { class: "midi-target hint", "data-midi": "target" });
  const recordButton = h("button", {
    type: "button", class: "midi-record", "aria-pressed": "false", "data-midi": "record", "aria-keyshortcuts": "R",
    onclick: () => toggleRecording(),
  }, "● Record notes");
  const quantize = /** @type {HTMLSelectElement} */ (h("select", { id: "midi-quantize", "data-midi": "quantize" },
    QUANTIZE_GRIDS.map(([name, grid]) => h("option", { value: String(grid) }, name))));
  quantize.value = String(PPQ / 4);
  const strength = /** @type {HTMLInputElement} */ (h("input", {
    id: "midi-strength", type: "number", min: 0, max: 100, step: 5, value: "100", "data-midi": "strength", class: "midi-strength",
  }));
  const takeStatus = h("p", { class: "midi-take", role: "status", "aria-live": "polite", "data-midi": "take" });
  const learnButton = h("button", {
    type: "button", class: "midi-learn", "aria-pressed": "false", "data-midi": "learn",
    title: "Map a knob or fader of your controller to a mixer control",
    onclick: () => setLearning(!learning),
  }, "Learn");
  const learnStatus = h("span", { class: "midi-learn-status hint", role: "status", "data-midi": "learn-status" });
  const mapList = h("ul", { class: "midi-maps", "aria-label": "MIDI mappings", "data-midi": "maps" });

  const section = h("section", { class: "midi-in", "aria-labelledby": "midi-title", "data-midi": "panel" },
    h("h3", { id: "midi-title" }, "MIDI keyboard"),
    h("div", { class: "midi-device" }, h("label", { for: "midi-input" }, "MIDI input"), select),
    status,
    target,
    h("div", { class: "sound-row" }, recordButton),
    h("div", { class: "midi-quantize" },
      h("label", { for: "midi-quantize" }, "Quantize"), quantize,
      h("label", { for: "midi-strength" }, "Strength"), h("span", { class: "midi-percent" }, strength, " %")),
    takeStatus,
    h("div", { class: "sound-row" }, learnButton, learnStatus),
    mapList);
  element.append(section);

  // -- devices ------------------------------------------------------------------

  /** @type {any} the MIDIAccess, once given */
  let access = null;
  /** @type {Promise<any> | null} */
  let asking = null;
  /** @type {any} the input listened to */
  let attached = null;
  const unavailable = midiUnavailable();

  function say(text, problem = false) {
    status.textContent = text;
    status.classList.toggle("midi-problem", problem);
  }

  function inputs() {
    return access ? [...access.inputs.values()] : [];
  }

  function listInputs() {
    const wanted = select.value || pref("midiInput");
    const list = inputs();
    const options = [h("option", { value: "" }, access ? "No MIDI input" : "No MIDI input (choose to look for devices)")];
    for (const input of list) {
      const name = [input.name || "MIDI input", input.manufacturer ? `(${input.manufacturer})` : ""].join(" ").trim();
      options.push(h("option", { value: input.id }, input.state === "disconnected" ? `${name} — disconnected` : name));
    }
    if (wanted && !list.some((i) => i.id === wanted)) options.push(h("option", { value: wanted }, "Remembered device — not connected"));
    select.replaceChildren(...options);
    select.value = wanted ?? "";
    attach();
  }

  /** Listen to the chosen input (when connected), and only to it. */
  function attach() {
    const chosen = inputs().find((i) => i.id === select.value && i.state !== "disconnected") ?? null;
    if (chosen !== attached) {
      if (attached !== null) attached.onmidimessage = null;
      releaseHeld();
      attached = chosen;
      if (attached !== null) attached.onmidimessage = (e) => onMessage(e);
    }
    if (!access) return;
    if (attached !== null) say(`Listening to ${attached.name || "the MIDI input"}.`);
    else if (select.value) say("The chosen device is not connected: plug it in and it is used again.", true);
    else if (inputs().length === 0) say("No MIDI devices found: connect one and it appears here.");
    else say("Choose a device to play from.");
  }

  /** Ask for Web MIDI (the browser may ask the user); the list follows devices from then on. */
  function askAccess() {
    if (access || asking || unavailable) return asking;
    asking = navigator.requestMIDIAccess({ sysex: false }).then(
      (midi) => {
        access = midi;
        access.onstatechange = () => listInputs();
        listInputs();
        return access;
      },
      (error) => {
        asking = null;
        const denied = error?.name === "NotAllowedError" || error?.name === "SecurityError";
        say(denied
          ? "MIDI access was refused: allow MIDI devices for this site in the browser's settings, then choose again."
          : `MIDI is unavailable: ${error?.message ?? error}`, true);
        return null;
      },
    );
    return asking;
  }

  if (unavailable !== null) {
    select.replaceChildren(h("option", { value: "" }, "Web MIDI unavailable"));
    select.disabled = true;
    select.title = unavailable;
    say(unavailable, true);
  } else {
    listInputs();
    say("Choose the list to look for MIDI devices (the browser may ask for permission).");
    // asking opens a permission prompt: only when the user reaches for the list, unless
    // a device is remembered or access was already granted
    for (const type of ["pointerdown", "focus", "keydown"]) listen(select, type, () => askAccess());
    if (pref("midiInput")) askAccess();
    else {
      navigator.permissions?.query({ name: /** @type {PermissionName} */ ("midi") })
        .then((p) => { if (p.state === "granted") askAccess(); })
        .catch(() => {});
    }
  }
  listen(select, "change", () => {
    setPref("midiInput", select.value);
    attach();
  });

  // -- notes --------------------------------------------------------------------

  const mayPlay = () => session.role === ROLES.OWNER || session.role === ROLES.EDITOR;

  /** The server time (µs) a MIDI event happened: its timestamp, through the synced clock. */
  function eventTime(e) {
    const now = performance.now();
    const stamp = typeof e?.timeStamp === "number" && e.timeStamp > 0 && e.timeStamp <= now ? e.timeStamp : now;
    return session.clock.toServer(stamp * 1000);
  }

  function timeline() {
    try {
      return session.timeline();
    } catch {
      return null;
    }
  }

  function send(event, fields) {
    if (mayPlay()) session.liveNote(event, fields);
  }

  function onMessage(e) {
    const m = parseMidi(e.data);
    if (m === null) return;
    const t = eventTime(e);
    if (m.type === "on") {
      if (held.has(m.pitch)) noteOff(m.pitch, t);
      const track = trackFor();
      held.set(m.pitch, { track, vel: m.vel });
      live.noteOn(LOCAL, m.pitch, m.vel, track);
      send("on", { pitch: m.pitch, vel: m.vel, track });
      if (take !== null) {
        take.on(m.pitch, m.vel, t, timeline());
        showTake();
      }
    } else if (m.type === "off") {
      noteOff(m.pitch, t);
    } else if (m.type === "bend") {
      live.bend(LOCAL, m.value);
      bent = m.value !== 0;
      send("bend", { value: Math.round(m.value * 10000) / 10000, track: trackFor() });
    } else if (m.cc === SUSTAIN_CC) {
      const on = m.value >= 64;
      pedal = on;
      live.sustain(LOCAL, on);
      send("sustain", { on, track: trackFor() });
    } else {
      controller(m.cc, m.value);
    }
  }

  function noteOff(pitch, t) {
    if (!held.has(pitch)) return;
    const { track } = /** @type {{track: string | null}} */ (held.get(pitch));
    held.delete(pitch);
    live.noteOff(LOCAL, pitch);
    send("off", { pitch, track });
    take?.off(pitch, t, timeline());
  }

  /** Let go of every key, the pedal and the wheel (the device went away or was switched). */
  function releaseHeld() {
    const t = session.serverNow();
    for (const pitch of [...held.keys()]) noteOff(pitch, t);
    if (pedal) send("sustain", { on: false, track: trackFor() });
    if (bent) send("bend", { value: 0, track: trackFor() });
    pedal = bent = false;
    live.sustain(LOCAL, false);
    live.bend(LOCAL, 0);
  }

  // -- recording ------------------------------------------------------------------

  function showTake() {
    if (take === null) return;
    const n = take.size;
    const rolling = timeline()?.rolling(session.serverNow()) ?? false;
    takeStatus.classList.add("recording");
    takeStatus.textContent = `● Recording: ${n} note${n === 1 ? "" : "s"}${rolling ? "" : " (start the transport: notes are recorded while it plays)"}`;
  }

  function toggleRecording() {
    if (take === null) startRecording();
    else stopRecording();
  }

  function startRecording() {
    const reason = app.editBlockReason();
    if (reason !== null) {
      app.toasts?.show(reason, "error");
      return;
    }
    take = new Take();
    takeTrack = trackFor();
    recordButton.setAttribute("aria-pressed", "true");
    recordButton.classList.add("on");
    // keys already down are part of the take from now
    const t = session.serverNow();
    for (const [pitch, { vel }] of held) take.on(pitch, vel, t, timeline());
    showTake();
  }

  function stopRecording() {
    const done = take;
    take = null;
    recordButton.setAttribute("aria-pressed", "false");
    recordButton.classList.remove("on");
    takeStatus.classList.remove("recording");
    if (done === null) return;
    const notes = done.finish(session.serverNow(), timeline());
    const trackId = trackFor() ?? takeTrack;
    if (notes.length === 0) {
      takeStatus.textContent = done.skipped > 0 ? "Nothing recorded: notes are recorded while the transport plays." : "Nothing recorded.";
      return;
    }
    if (trackId === null) {
      takeStatus.textContent = "Nothing written: add an instrument track to record into.";
      return;
    }
    const grid = Number(quantize.value);
    const amount = Math.max(0, Math.min(100, Number(strength.value) || 0)) / 100;
    const placed = quantizeTake(notes, grid, amount);
    const written = writeTake(trackId, placed);
    const name = session.project.tracks.get(trackId)?.name ?? "the track";
    if (written) {
      const how = grid ? `quantized to ${quantize.selectedOptions[0]?.textContent} at ${Math.round(amount * 100)} %` : "not quantized";
      takeStatus.textContent = `Take: ${placed.length} note${placed.length === 1 ? "" : "s"} written to ${name} (${how}; Undo takes it back).`;
    } else {
      takeStatus.textContent = "The take was not written.";
    }
  }

  /** The take's notes as inserts (one edit): inside the notes clip each falls in, else free notes. */
  function writeTake(trackId, notes) {
    const doc = session.project;
    const clips = doc.trackClips(trackId).filter((c) => c && (c.pattern ?? null) === null);
    const ops = notes.map((n) => {
      const clip = clips.find((c) => c.start <= n.start && n.start < c.start + c.length);
      const value = { track: trackId, pitch: n.pitch, start: n.start - (clip ? clip.start : 0), dur: n.dur, vel: n.vel };
      if (clip) value.clip = clip.id;
      return { op: "insert", kind: "note", id: session.newId(), value };
    });
    let ok = true;
    // one edit, unless the take is longer than a batch carries
    for (let i = 0; i < ops.length; i += LIMITS.max_ops_per_batch) {
      const edit = app.run(() => session.edit(ops.slice(i, i + LIMITS.max_ops_per_batch)));
      edit?.done.catch(() => {});
      ok = ok && edit !== null;
    }
    return ok;
  }

  listen(document, "keydown", (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.shiftKey) return;
    if (e.key !== "r" && e.key !== "R") return;
    if (ownsKey(e.target, e.key) || document.querySelector("dialog[open]")) return;
    e.preventDefault();
    toggleRecording();
  });

  // -- learn: controllers to mixer controls -------------------------------------

  let learning = false;
  /** @type {HTMLInputElement | null} */
  let learnTarget = null;
  /** @type {Map<string, {pos: number, last: number, timer: any}>} commits per control */
  const commits = new Map();
  const sessionName = session.options.session;

  /** @returns {Array<{cc: number, target: any}>} */
  function mappings() {
    const all = pref("midiMap");
    const list = all[sessionName];
    return Array.isArray(list) ? list.filter((m) => m && Number.isInteger(m.cc) && m.target && typeof m.target.field === "string") : [];
  }

  function saveMappings(list) {
    setPref("midiMap", { ...pref("midiMap"), [sessionName]: list });
    renderMappings();
  }

  function describe(target) {
    const control = findControl(target);
    const what = control?.getAttribute("aria-label") ?? target.field;
    if (target.track) {
      const track = session.project.tracks.get(target.track);
      return `${track ? track.name : "a track not in this session"} · ${what}`;
    }
    if (target.ret) return `${target.ret === "master" ? "Master" : `${target.ret[0].toUpperCase()}${target.ret.slice(1)} return`} · ${what}`;
    return `Selected channel · ${target.band ? `${target.band} ` : ""}${what}`;
  }

  let shownMaps = "";
  function renderMappings() {
    const list = mappings();
    const key = JSON.stringify([list, list.map((m) => describe(m.target))]);
    if (key === shownMaps) return;
    shownMaps = key;
    mapList.replaceChildren(...list.map((m) => h("li", { class: "midi-map", "data-cc": m.cc },
      h("span", { class: "midi-cc" }, `CC ${m.cc}`), " → ", h("span", { class: "midi-map-target" }, describe(m.target)),
      h("button", { type: "button", class: "small midi-map-remove", "aria-label": `Remove the mapping of CC ${m.cc}`, title: "Remove",
        onclick: () => saveMappings(mappings().filter((x) => x.cc !== m.cc)) }, "×"))));
    mapList.hidden = list.length === 0;
  }

  function setLearning(on) {
    learning = on;
    learnButton.setAttribute("aria-pressed", String(on));
    document.body.classList.toggle("midi-learning", on);
    pick(null);
    learnStatus.textContent = on ? "Click a mixer slider, then move a knob or fader." : "";
  }

  function pick(input) {
    learnTarget?.classList.remove("midi-learn-target");
    learnTarget = input;
    input?.classList.add("midi-learn-target");
    if (input !== null) {
      const where = locate(input);
      learnStatus.textContent = where ? `${describe(where)}: now move a knob or fader.` : "";
    }
  }

  /** While learning, a press on a mixer slider picks it (and does not move it). */
  const pickOnPress = (e) => {
    if (!learning) return;
    const input = /** @type {Element} */ (e.target).closest?.(".mixer input[type=range][data-field]");
    if (!(input instanceof HTMLInputElement)) return;
    e.preventDefault();
    e.stopPropagation();
    if (e.type === "pointerdown") pick(input);
  };
  for (const type of ["pointerdown", "mousedown", "click"]) listen(document, type, pickOnPress, true);
  listen(document, "focusin", (e) => {
    const input = /** @type {Element} */ (e.target).closest?.(".mixer input[type=range][data-field]");
    if (learning && input instanceof HTMLInputElement) pick(input);
  });
  listen(document, "keydown", (e) => {
    if (learning && e.key === "Escape") setLearning(false);
  });

  function controller(cc, value) {
    if (learning) {
      if (learnTarget === null) {
        learnStatus.textContent = `CC ${cc} moved: click a mixer slider first.`;
        return;
      }
      const where = locate(learnTarget);
      if (where === null) return;
      const same = (a, b) => a.field === b.field && a.track === b.track && a.ret === b.ret && Boolean(a.channel) === Boolean(b.channel);
      saveMappings([...mappings().filter((m) => m.cc !== cc && !same(m.target, where)), { cc, target: where }]);
      learnStatus.textContent = `CC ${cc} → ${describe(where)}. Click another slider, or Learn to finish.`;
      pick(null);
      drive({ cc, target: where }, value);
      return;
    }
    const mapping = mappings().find((m) => m.cc === cc);
    if (mapping !== undefined) drive(mapping, value);
  }

  /** Move a mapped slider as a drag does: heard now (input), shared as paced edits (change). */
  function drive(mapping, value) {
    const input = findControl(mapping.target);
    if (input === null || input.disabled) return;
    const lo = Number(input.min || 0);
    const hi = Number(input.max || 100);
    const pos = lo + Math.round((value / 127) * (hi - lo));
    input.value = String(pos);
    input.dispatchEvent(new Event("input", { bubbles: true }));
    const key = JSON.stringify(mapping.target);
    const state = commits.get(key) ?? { pos, last: -Infinity, timer: null };
    commits.set(key, state);
    state.pos = pos;
    if (state.timer !== null) return; // one is due: it sends the latest value
    const wait = state.last + 1000 / COMMITS_PER_S - performance.now();
    if (wait <= 0) commit(mapping.target, state);
    else state.timer = setTimeout(() => commit(mapping.target, state), wait);
  }

  function commit(where, state) {
    state.timer = null;
    state.last = performance.now();
    const input = findControl(where);
    if (input === null || input.disabled) return;
    input.value = String(state.pos); // a redraw from an earlier edit may have moved it back
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // -- what the controls show -------------------------------------------------------

  let shownTarget = "";
  function refresh() {
    const id = trackFor();
    const track = id ? session.project.tracks.get(id) : null;
    const monitoring = Boolean(sound()?.playback);
    const text = [
      track ? `Plays on ${track.name}${track.kind === "drums" ? " (drums)" : ""}: select another track to switch.` : "No instrument track to play on.",
      mayPlay() ? "" : "Viewers hear the others play, but cannot play into the session.",
      monitoring ? "" : "Monitor is off: you do not hear live notes here (the others do).",
    ].filter(Boolean).join(" ");
    if (text !== shownTarget) target.textContent = shownTarget = text;
    const reason = app.editBlockReason();
    recordButton.disabled = reason !== null && take === null;
    recordButton.title = reason ?? "Record what you play into the selected track (R)";
    renderMappings();
    if (take !== null) showTake();
  }
  cleanups.push(session.on("change", refresh));
  const refresher = setInterval(refresh, 300); // the selection and Monitor are the page's, with no event
  refresh();

  const api = {
    el: section,
    live,
    get recording() { return take !== null; },
    get learning() { return learning; },
    /** For tests and the curious: the MIDI input listened to, or null. */
    get input() { return attached; },
    close() {
      if (take !== null) stopRecording();
      releaseHeld();
      if (attached !== null) attached.onmidimessage = null;
      attached = null;
      if (access) access.onstatechange = null;
      clearInterval(refresher);
      for (const c of commits.values()) clearTimeout(c.timer);
      for (const fn of cleanups) fn();
      document.body.classList.remove("midi-learning");
      live.close();
      section.remove();
      if (/** @type {any} */ (globalThis).backlineMidi === api) delete (/** @type {any} */ (globalThis).backlineMidi);
    },
  };
  // a handle for debugging and for the browser tests, as the sound panel's
  /** @type {any} */ (globalThis).backlineMidi = api;
  return api;
}
