/**
 * The mixer: a channel strip per track (meter, fader, pan, mute, solo, the two
 * sends), the reverb and delay returns, and the master (gain, true-peak
 * limiter, meter); below them the selected track's EQ (a response curve with a
 * handle per band, and each band's switch, frequency, gain and Q) and its
 * compressor (transfer curve, gain-reduction meter, every parameter).
 *
 * Every control is a document field (`protocol/mixer.py`), so everyone hears
 * and sees the same mix: a value is *heard* while it is dragged (the page's
 * own playback previews it) and becomes one edit when it is let go, undoable
 * like any other. Double-click a control to put it back to its default.
 * Controls are disabled, with the reason as their tooltip, for someone who
 * may not edit.
 *
 * @module ui/mixer
 */

import { BANDS, compressorGainDb, responseDb, trackEq } from "../mixer.js";
import { PROJECT_ID, SCHEMAS } from "../protocol.js";
import { h, setValue } from "./dom.js";

const RATE = 48_000;
const STEPS = 1000; // slider resolution
const METER_FLOOR = -60;
const METER_TOP = 6;
const HOLD_S = 1.5;

const fmtDb = (v) => (Number.isFinite(v) ? `${v > 0 ? "+" : ""}${v.toFixed(1)} dB` : "−∞ dB");
const fmtHz = (v) => (v >= 1000 ? `${(v / 1000).toFixed(v >= 10_000 ? 1 : 2)} kHz` : `${Math.round(v)} Hz`);
const fmtMs = (v) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`);
const fmtGain = (v) => fmtDb(v <= 0 ? -Infinity : 20 * Math.log10(v));
const fmtPct = (v) => `${Math.round(v * 100)}%`;
const fmtPan = (v) => (Math.abs(v) < 0.005 ? "C" : `${Math.round(Math.abs(v) * 100)}${v < 0 ? "L" : "R"}`);

/** Delay times a producer reaches for, in beats (quarter notes). */
export const DELAY_NOTES = [
  [0.25, "1/16"], [1 / 3, "1/8 T"], [0.5, "1/8"], [0.75, "1/8 ."], [2 / 3, "1/4 T"],
  [1, "1/4"], [1.5, "1/4 ."], [2, "1/2"], [3, "1/2 ."], [4, "1 bar (4/4)"],
];

/**
 * How a field is shown: its label, scale (linear or logarithmic slider),
 * readout, and the precision its edits are rounded to.
 */
const FIELDS = {
  volume: { label: "Volume", format: fmtGain, round: 0.001 },
  pan: { label: "Pan", format: fmtPan, round: 0.01 },
  send_reverb: { label: "Reverb", format: fmtPct, round: 0.01 },
  send_delay: { label: "Delay", format: fmtPct, round: 0.01 },
  comp_threshold: { label: "Threshold", format: fmtDb, round: 0.1 },
  comp_ratio: { label: "Ratio", format: (v) => `${v.toFixed(1)}:1`, round: 0.1, log: true },
  comp_attack: { label: "Attack", format: fmtMs, round: 0.1, log: true },
  comp_release: { label: "Release", format: fmtMs, round: 1, log: true },
  comp_knee: { label: "Knee", format: fmtDb, round: 0.5 },
  comp_makeup: { label: "Makeup", format: fmtDb, round: 0.1 },
  reverb_level: { label: "Level", format: fmtGain, round: 0.01 },
  reverb_decay: { label: "Decay", format: (v) => `${v.toFixed(2)} s`, round: 0.01, log: true },
  reverb_predelay: { label: "Pre-delay", format: fmtMs, round: 1 },
  reverb_damping: { label: "Damping", format: fmtPct, round: 0.01 },
  delay_level: { label: "Level", format: fmtGain, round: 0.01 },
  delay_feedback: { label: "Feedback", format: fmtPct, round: 0.01 },
  delay_tone: { label: "Tone", format: fmtHz, round: 10, log: true },
  master_gain: { label: "Master", format: fmtGain, round: 0.001 },
  limiter_ceiling: { label: "Ceiling", format: (v) => `${v.toFixed(1)} dBTP`, round: 0.1 },
};
for (const [prefix] of BANDS) {
  FIELDS[`${prefix}_freq`] = { label: "Freq", format: fmtHz, round: 0.1, log: true };
  FIELDS[`${prefix}_gain`] = { label: "Gain", format: fmtDb, round: 0.1 };
  FIELDS[`${prefix}_q`] = { label: "Q", format: (v) => v.toFixed(2), round: 0.01, log: true };
}

const BAND_NAMES = { eq_hp: "High-pass", eq_low: "Low shelf", eq_mid1: "Low mid", eq_mid2: "High mid", eq_high: "High shelf" };

const quantize = (value, step) => Math.round(value / step) * step;

/**
 * A slider for one numeric field of `kind` ("track" or "project").
 * @param {string} kind
 * @param {string} field
 * @param {{preview: (v: number) => void, commit: (v: number) => void, vertical?: boolean}} on
 */
function slider(kind, field, { preview, commit, vertical = false }) {
  const schema = SCHEMAS[kind][field];
  const info = FIELDS[field];
  const [lo, hi] = [schema.min, schema.max];
  const toPos = (v) => (info.log ? Math.log(v / lo) / Math.log(hi / lo) : (v - lo) / (hi - lo)) * STEPS;
  const fromPos = (p) => {
    const x = p / STEPS;
    const v = info.log ? lo * (hi / lo) ** x : lo + x * (hi - lo);
    return Math.min(hi, Math.max(lo, quantize(v, info.round)));
  };
  let dragging = false; // a value from elsewhere never moves a slider under the pointer
  const input = h("input", {
    type: "range", min: 0, max: STEPS, step: 1, class: vertical ? "fader" : "knob",
    "aria-label": info.label, "data-field": field,
    onpointerdown: () => { dragging = true; },
    onpointerup: () => { dragging = false; },
    oninput: () => {
      const v = fromPos(Number(input.value));
      out.textContent = info.format(v);
      input.setAttribute("aria-valuetext", info.format(v));
      preview(v);
    },
    onchange: () => { dragging = false; commit(fromPos(Number(input.value))); },
    ondblclick: () => commit(schema.default),
  });
  const out = h("output", { class: "readout" });
  const label = h("label", { class: `control${vertical ? " vertical" : ""}` }, h("span", { class: "control-name" }, info.label), input, out);
  let shown = null; // the value on show, and the block reason: unchanged ones touch no DOM
  let blocked;
  return {
    el: label,
    input,
    set(value) {
      if (dragging || value === shown) return;
      shown = value;
      input.value = String(Math.round(toPos(value)));
      out.textContent = info.format(value);
      input.setAttribute("aria-valuetext", info.format(value));
    },
    block(reason) {
      if (reason === blocked) return;
      blocked = reason;
      input.disabled = reason !== null;
      label.title = reason ?? `${info.label} (double-click: default)`;
    },
  };
}

/** A switch (aria-pressed button) for a boolean field. */
function switchButton(text, title, onToggle) {
  const button = h("button", { type: "button", class: "toggle small", "aria-pressed": "false", title, onclick: onToggle }, text);
  let shown = null;
  let blocked;
  return {
    el: button,
    set(on) {
      if (on !== shown) button.setAttribute("aria-pressed", String((shown = on)));
    },
    block(reason) {
      if (reason === blocked) return;
      blocked = reason;
      button.disabled = reason !== null;
      button.title = reason ?? title;
    },
  };
}

/** A stereo peak meter: two bars, a peak-hold line each, a readout and a clip light. */
class Meter {
  constructor(label) {
    this.bars = [h("div", { class: "meter-fill" }), h("div", { class: "meter-fill" })];
    this.holds = [h("div", { class: "meter-hold" }), h("div", { class: "meter-hold" })];
    this.readout = h("span", { class: "meter-db" }, "−∞");
    this.clip = h("span", { class: "meter-clip", title: "Went over 0 dBFS (click to clear)", onclick: () => this.clearClip() });
    this.el = h("div", { class: "meter", role: "meter", "aria-label": label, "aria-valuemin": METER_FLOOR, "aria-valuemax": METER_TOP },
      this.clip,
      h("div", { class: "meter-bars" }, ...this.bars.map((b, i) => h("div", { class: "meter-bar" }, b, this.holds[i]))),
      this.readout);
    this.hold = [-Infinity, -Infinity];
    this.holdAt = [0, 0];
    this.peak = -Infinity;
  }

  static height(db) {
    if (!Number.isFinite(db)) return 0;
    return Math.max(0, Math.min(1, (db - METER_FLOOR) / (METER_TOP - METER_FLOOR))) * 100;
  }

  /** @param {number[]} dbs per channel @param {number} now seconds */
  set(dbs, now) {
    dbs.forEach((db, i) => {
      if (db >= this.hold[i] || now - this.holdAt[i] > HOLD_S) {
        this.hold[i] = db;
        this.holdAt[i] = now;
      }
      if (db >= 0) this.clip.classList.add("on");
    });
    // a meter redraws only what moved by a visible step (a silent one costs nothing)
    const view = [...dbs, ...this.hold].map((db) => Math.round(Meter.height(db) * 2) / 2);
    if (view.join() === this.view) return;
    this.view = view.join();
    view.forEach((height, i) => {
      if (i < 2) this.bars[i].style.height = `${height}%`;
      else this.holds[i - 2].style.bottom = `${height}%`;
    });
    const loudest = Math.max(...this.hold);
    this.readout.textContent = Number.isFinite(loudest) ? loudest.toFixed(1) : "−∞";
    this.el.setAttribute("aria-valuenow", Number.isFinite(loudest) ? loudest.toFixed(1) : String(METER_FLOOR));
  }

  clearClip() {
    this.clip.classList.remove("on");
  }
}

/** Draws the selected strip's EQ response, with a draggable handle per switched-on band. */
class EqCurve {
  constructor(mixer) {
    this.mixer = mixer;
    this.canvas = h("canvas", { class: "eq-curve", width: 560, height: 180, role: "img", "aria-label": "EQ response",
      onpointerdown: (e) => this.down(e), onpointermove: (e) => this.move(e), onpointerup: (e) => this.up(e),
      onpointercancel: () => { this.drag = null; }, onwheel: (e) => this.wheel(e) });
    this.drag = null;
    this.range = 24; // dB shown above and below 0
  }

  x(freq) { return (Math.log(freq / 20) / Math.log(1000)) * this.canvas.width; }
  freqAt(x) { return 20 * 1000 ** (x / this.canvas.width); }
  y(db) { return this.canvas.height / 2 - (db / this.range) * (this.canvas.height / 2 - 8); }
  dbAt(y) { return ((this.canvas.height / 2 - y) / (this.canvas.height / 2 - 8)) * this.range; }

  handles(track) {
    return BANDS.filter(([p]) => track[`${p}_on`]).map(([prefix, kind]) => ({
      prefix, kind, x: this.x(track[`${prefix}_freq`]), y: this.y(kind === "highpass" ? 0 : track[`${prefix}_gain`]),
    }));
  }

  draw(track) {
    const c = this.canvas;
    const g = c.getContext("2d");
    if (!g) return;
    g.clearRect(0, 0, c.width, c.height);
    g.strokeStyle = "#353a48";
    g.lineWidth = 1;
    g.fillStyle = "#a9afbf";
    g.font = "11px system-ui";
    for (const f of [50, 100, 200, 500, 1000, 2000, 5000, 10_000]) {
      const x = Math.round(this.x(f)) + 0.5;
      g.beginPath(); g.moveTo(x, 0); g.lineTo(x, c.height); g.stroke();
      g.fillText(f >= 1000 ? `${f / 1000}k` : String(f), x + 2, c.height - 4);
    }
    for (const db of [-18, -12, -6, 0, 6, 12, 18]) {
      const y = Math.round(this.y(db)) + 0.5;
      g.strokeStyle = db === 0 ? "#59607a" : "#2a2e3a";
      g.beginPath(); g.moveTo(0, y); g.lineTo(c.width, y); g.stroke();
      if (db !== 0) g.fillText(`${db > 0 ? "+" : ""}${db}`, 2, y - 2);
    }
    if (track === null) return;
    const bands = trackEq(track, RATE);
    g.strokeStyle = track.color ?? "#8f7bff";
    g.lineWidth = 2;
    g.beginPath();
    for (let px = 0; px <= c.width; px += 2) {
      const f = this.freqAt(px);
      const db = bands.reduce((sum, [, , coeffs]) => sum + responseDb(coeffs, f, RATE), 0);
      const y = this.y(Math.max(-this.range * 1.5, Math.min(this.range * 1.5, db)));
      if (px === 0) g.moveTo(px, y); else g.lineTo(px, y);
    }
    g.stroke();
    for (const hd of this.handles(track)) {
      g.fillStyle = this.drag?.prefix === hd.prefix ? "#ffb547" : "#eef0f5";
      g.beginPath(); g.arc(hd.x, hd.y, 6, 0, 2 * Math.PI); g.fill();
      g.fillStyle = "#14161c";
      g.fillText(hd.prefix === "eq_hp" ? "HP" : hd.prefix.slice(3, 4).toUpperCase() + (hd.prefix.match(/\d/)?.[0] ?? ""), hd.x - 6, hd.y - 9);
    }
  }

  point(e) {
    const box = this.canvas.getBoundingClientRect();
    return [((e.clientX - box.left) / box.width) * this.canvas.width, ((e.clientY - box.top) / box.height) * this.canvas.height];
  }

  down(e) {
    const track = this.mixer.selected();
    if (track === null || this.mixer.app.editBlockReason() !== null) return;
    const [x, y] = this.point(e);
    const near = this.handles(track).find((hd) => Math.hypot(hd.x - x, hd.y - y) < 12);
    if (!near) return;
    e.preventDefault();
    this.canvas.setPointerCapture?.(e.pointerId);
    this.drag = { prefix: near.prefix, kind: near.kind, fields: {} };
  }

  move(e) {
    const d = this.drag;
    const track = this.mixer.selected();
    if (d === null || track === null) return;
    const [x, y] = this.point(e);
    const freqSchema = SCHEMAS.track[`${d.prefix}_freq`];
    d.fields[`${d.prefix}_freq`] = Math.min(freqSchema.max, Math.max(freqSchema.min, quantize(this.freqAt(x), 0.1)));
    if (d.kind !== "highpass") {
      const gain = SCHEMAS.track[`${d.prefix}_gain`];
      d.fields[`${d.prefix}_gain`] = Math.min(gain.max, Math.max(gain.min, quantize(this.dbAt(y), 0.1)));
    }
    this.mixer.previewTrack(track.id, d.fields);
    this.draw({ ...track, ...d.fields });
  }

  up() {
    const d = this.drag;
    this.drag = null;
    this.mixer.curveShown = null; // drawn again from the document (the edit may be refused)
    const track = this.mixer.selected();
    if (d === null || track === null || Object.keys(d.fields).length === 0) return;
    this.mixer.commit(track.id, d.fields);
  }

  /** The wheel over a handle changes its Q (peaking bands and the high-pass). */
  wheel(e) {
    const track = this.mixer.selected();
    if (track === null || this.mixer.app.editBlockReason() !== null) return;
    const [x, y] = this.point(e);
    const near = this.handles(track).find((hd) => Math.hypot(hd.x - x, hd.y - y) < 14 && SCHEMAS.track[`${hd.prefix}_q`]);
    if (!near) return;
    e.preventDefault();
    const field = `${near.prefix}_q`;
    const schema = SCHEMAS.track[field];
    const q = Math.min(schema.max, Math.max(schema.min, quantize(track[field] * (e.deltaY < 0 ? 1.1 : 1 / 1.1), 0.01)));
    this.mixer.commit(track.id, { [field]: q });
  }
}

/** The compressor's static curve (input → output level) with the current reduction. */
function drawTransfer(canvas, track, reduction) {
  const g = canvas.getContext("2d");
  if (!g) return;
  const { width: w, height: hgt } = canvas;
  const lo = -60;
  const px = (db) => ((db - lo) / -lo) * w;
  const py = (db) => hgt - ((db - lo) / -lo) * hgt;
  g.clearRect(0, 0, w, hgt);
  g.strokeStyle = "#2a2e3a";
  for (const db of [-48, -36, -24, -12]) {
    g.beginPath(); g.moveTo(px(db), 0); g.lineTo(px(db), hgt); g.moveTo(0, py(db)); g.lineTo(w, py(db)); g.stroke();
  }
  g.strokeStyle = "#59607a";
  g.beginPath(); g.moveTo(0, hgt); g.lineTo(w, 0); g.stroke();
  g.strokeStyle = track.comp_on ? "#ffb547" : "#59607a";
  g.lineWidth = 2;
  g.beginPath();
  for (let x = 0; x <= w; x += 2) {
    const input = lo + (x / w) * -lo;
    const out = input + compressorGainDb(input, track.comp_threshold, track.comp_ratio, track.comp_knee) + track.comp_makeup;
    if (x === 0) g.moveTo(x, py(out)); else g.lineTo(x, py(out));
  }
  g.stroke();
  g.lineWidth = 1;
  g.fillStyle = "#a9afbf";
  g.font = "11px system-ui";
  g.fillText(`GR ${reduction.toFixed(1)} dB`, 4, 12);
}

export class MixerPanel {
  /**
   * @param {HTMLElement} root
   * @param {import("../net.js").Session} session
   * @param {any} app
   * @param {{bounce: () => void}} actions
   */
  constructor(root, session, app, actions) {
    this.session = session;
    this.app = app;
    /** @type {Map<string, any>} */
    this.strips = new Map();
    this.list = h("div", { class: "mixer-strips", role: "group", "aria-label": "Channel strips" });
    this.returns = this.returnStrips();
    this.master = this.masterStrip();
    this.eq = new EqCurve(this);
    this.bounceButton = h("button", { type: "button", class: "primary bounce", "aria-keyshortcuts": "Control+B Meta+B", onclick: () => actions.bounce() }, "Bounce…");
    this.title = h("span", { class: "mixer-selected" });
    this.detail = this.channelDetail();
    this.el = h("section", { class: "panel mixer", id: "mixer", "aria-labelledby": "mixer-title", tabindex: "-1" },
      h("div", { class: "panel-head" }, h("h2", { id: "mixer-title" }, "Mixer"),
        h("div", { class: "row" }, h("span", { class: "hint" }, "Drag to hear · release to share · double-click: default"), this.bounceButton)),
      h("div", { class: "mixer-row" }, this.list, ...this.returns.map((r) => r.el), this.master.el),
      this.detail.el);
    root.append(this.el);
  }

  /** The selected track with every mixer field (or null). */
  selected() {
    const id = this.app.selectedTrack;
    const track = id ? this.session.project.tracks.get(id) : undefined;
    return track && track.kind !== "audio" ? { ...defaultsOf("track"), ...track } : null;
  }

  previewTrack(id, fields) {
    this.app.editor?.sound?.preview?.(id, fields);
  }

  /** One edit with every field of `fields` (a single undo step). */
  commit(id, fields) {
    const ops = Object.entries(fields).map(([field, value]) => ({ op: "set", id, field, value }));
    this.app.run(() => this.session.edit(ops))?.done.catch(() => {});
  }

  control(kind, id, field, vertical = false) {
    return slider(kind, field, {
      vertical,
      preview: (v) => this.previewTrack(typeof id === "function" ? id() : id, { [field]: v }),
      commit: (v) => this.commit(typeof id === "function" ? id() : id, { [field]: v }),
    });
  }

  strip(track) {
    const id = track.id;
    const s = {};
    s.name = h("button", { type: "button", class: "strip-name", onclick: () => this.app.select(id) });
    s.meter = new Meter(`Level of ${track.name}`);
    s.gr = h("span", { class: "strip-gr", title: "Compressor gain reduction" });
    s.volume = this.control("track", id, "volume", true);
    s.pan = this.control("track", id, "pan");
    s.reverb = this.control("track", id, "send_reverb");
    s.delay = this.control("track", id, "send_delay");
    s.mute = switchButton("M", "Mute", () => this.commit(id, { mute: !this.session.project.tracks.get(id).mute }));
    s.solo = switchButton("S", "Solo", () => this.commit(id, { solo: !this.session.project.tracks.get(id).solo }));
    s.eqOn = h("span", { class: "strip-flag", title: "EQ bands on" }, "EQ");
    s.compOn = h("span", { class: "strip-flag", title: "Compressor on" }, "Comp");
    s.el = h("div", { class: "mixer-strip", "data-track": id },
      s.name,
      h("div", { class: "strip-flags" }, s.eqOn, s.compOn),
      h("div", { class: "strip-fader" }, s.meter.el, s.volume.el),
      s.gr, s.pan.el, s.reverb.el, s.delay.el,
      h("div", { class: "toggles" }, s.mute.el, s.solo.el));
    s.controls = [s.volume, s.pan, s.reverb, s.delay, s.mute, s.solo];
    return s;
  }

  returnStrips() {
    const reverb = {};
    reverb.level = this.control("project", PROJECT_ID, "reverb_level", true);
    reverb.decay = this.control("project", PROJECT_ID, "reverb_decay");
    reverb.predelay = this.control("project", PROJECT_ID, "reverb_predelay");
    reverb.damping = this.control("project", PROJECT_ID, "reverb_damping");
    reverb.el = h("div", { class: "mixer-strip return", "data-return": "reverb" },
      h("span", { class: "strip-name static" }, "Reverb"),
      h("div", { class: "strip-fader" }, reverb.level.el), reverb.decay.el, reverb.predelay.el, reverb.damping.el);
    reverb.controls = [reverb.level, reverb.decay, reverb.predelay, reverb.damping];
    reverb.values = ["reverb_level", "reverb_decay", "reverb_predelay", "reverb_damping"];

    const delay = {};
    delay.level = this.control("project", PROJECT_ID, "delay_level", true);
    delay.time = h("select", { class: "delay-time", "aria-label": "Delay time (synced to the tempo)",
      onchange: () => this.commit(PROJECT_ID, { delay_beats: Number(delay.time.value) }) },
      DELAY_NOTES.map(([beats, name]) => h("option", { value: String(beats) }, name)));
    delay.timeField = h("label", { class: "control" }, h("span", { class: "control-name" }, "Time"), delay.time);
    delay.feedback = this.control("project", PROJECT_ID, "delay_feedback");
    delay.tone = this.control("project", PROJECT_ID, "delay_tone");
    delay.el = h("div", { class: "mixer-strip return", "data-return": "delay" },
      h("span", { class: "strip-name static" }, "Delay"),
      h("div", { class: "strip-fader" }, delay.level.el), delay.timeField, delay.feedback.el, delay.tone.el);
    delay.controls = [delay.level, delay.feedback, delay.tone,
      { block: (reason) => { delay.time.disabled = reason !== null; delay.time.title = reason ?? "Delay time, in notes of the tempo"; } }];
    delay.values = ["delay_level", "delay_feedback", "delay_tone"];
    return [reverb, delay];
  }

  masterStrip() {
    const m = {};
    m.meter = new Meter("Master level");
    m.gain = this.control("project", PROJECT_ID, "master_gain", true);
    m.limiter = switchButton("Limiter", "True-peak limiter on the master", () => this.commit(PROJECT_ID, { limiter_on: !this.session.project.project.limiter_on }));
    m.ceiling = this.control("project", PROJECT_ID, "limiter_ceiling");
    m.gr = h("span", { class: "strip-gr", title: "Limiter gain reduction" });
    m.el = h("div", { class: "mixer-strip master", "data-return": "master" },
      h("span", { class: "strip-name static" }, "Master"),
      h("div", { class: "strip-fader" }, m.meter.el, m.gain.el),
      m.gr, m.limiter.el, m.ceiling.el);
    m.controls = [m.gain, m.limiter, m.ceiling];
    return m;
  }

  channelDetail() {
    const d = {};
    const id = () => this.app.selectedTrack;
    d.bands = BANDS.map(([prefix, kind]) => {
      const on = switchButton(BAND_NAMES[prefix], `${BAND_NAMES[prefix]} on/off`, () => {
        const track = this.selected();
        if (track) this.commit(track.id, { [`${prefix}_on`]: !track[`${prefix}_on`] });
      });
      const freq = this.control("track", id, `${prefix}_freq`);
      const gain = kind === "highpass" ? null : this.control("track", id, `${prefix}_gain`);
      const q = SCHEMAS.track[`${prefix}_q`] ? this.control("track", id, `${prefix}_q`) : null;
      const el = h("div", { class: "eq-band", "data-band": prefix }, on.el, freq.el, gain?.el ?? null, q?.el ?? null);
      return { prefix, on, freq, gain, q, el, controls: [on, freq, gain, q].filter(Boolean) };
    });
    d.compOn = switchButton("Compressor", "Compressor on/off", () => {
      const track = this.selected();
      if (track) this.commit(track.id, { comp_on: !track.comp_on });
    });
    d.comp = ["comp_threshold", "comp_ratio", "comp_attack", "comp_release", "comp_knee", "comp_makeup"].map((f) => [f, this.control("track", id, f)]);
    d.transfer = h("canvas", { class: "comp-curve", width: 160, height: 160, role: "img", "aria-label": "Compressor curve" });
    d.empty = h("p", { class: "hint" }, "Select an instrument or drums track to shape its EQ and dynamics.");
    d.body = h("div", { class: "channel-body" },
      h("div", { class: "eq" }, h("h3", {}, "EQ"), this.eq.canvas, h("div", { class: "eq-bands" }, d.bands.map((b) => b.el))),
      h("div", { class: "comp" }, h("h3", {}, "Dynamics"), d.compOn.el,
        h("div", { class: "comp-body" }, d.transfer, h("div", { class: "comp-controls" }, d.comp.map(([, c]) => c.el)))));
    d.el = h("div", { class: "channel", role: "group", "aria-label": "Selected channel" },
      h("div", { class: "channel-head" }, h("h3", {}, "Channel"), this.title), d.empty, d.body);
    return d;
  }

  render() {
    const doc = this.session.project;
    const reason = this.app.editBlockReason();
    const live = new Set(doc.trackOrder);
    for (const [id, s] of this.strips) {
      if (!live.has(id)) {
        s.el.remove();
        this.strips.delete(id);
      }
    }
    doc.trackOrder.forEach((id, index) => {
      const track = { ...defaultsOf("track"), ...doc.tracks.get(id) };
      let s = this.strips.get(id);
      if (s === undefined) {
        s = this.strip(track);
        this.strips.set(id, s);
      }
      if (this.list.children[index] !== s.el) this.list.insertBefore(s.el, this.list.children[index] ?? null);
      s.el.classList.toggle("selected", id === this.app.selectedTrack);
      s.el.style.setProperty("--track", track.color);
      setText(s.name, track.name);
      s.name.setAttribute("aria-pressed", String(id === this.app.selectedTrack));
      s.name.title = `Edit ${track.name}'s EQ and dynamics`;
      for (const f of ["volume", "pan"]) s[f].set(track[f]);
      s.reverb.set(track.send_reverb);
      s.delay.set(track.send_delay);
      s.mute.set(track.mute);
      s.solo.set(track.solo);
      s.eqOn.classList.toggle("on", BANDS.some(([p]) => track[`${p}_on`]));
      s.compOn.classList.toggle("on", track.comp_on);
      s.el.classList.toggle("audio", track.kind === "audio");
      for (const c of s.controls) c.block(reason);
    });
    const project = { ...defaultsOf("project"), ...doc.project };
    for (const r of this.returns) {
      r.values.forEach((field, i) => r.controls[i].set(project[field]));
      for (const c of r.controls) c.block(reason);
    }
    const delay = this.returns[1];
    if (![...delay.time.options].some((o) => Number(o.value) === project.delay_beats)) {
      delay.time.append(h("option", { value: String(project.delay_beats) }, `${+project.delay_beats.toFixed(3)} beats`));
    }
    setValue(delay.time, String(project.delay_beats));
    this.master.gain.set(project.master_gain);
    this.master.limiter.set(project.limiter_on);
    this.master.ceiling.set(project.limiter_ceiling);
    for (const c of this.master.controls) c.block(reason);
    this.bounceButton.disabled = this.app.bounceBlockReason() !== null;
    this.bounceButton.title = this.app.bounceBlockReason() ?? "Render the song to WAV files on the server (Ctrl+B)";

    const track = this.selected();
    this.detail.empty.hidden = track !== null;
    this.detail.body.hidden = track === null;
    setText(this.title, track ? track.name : "");
    if (track !== null) {
      for (const band of this.detail.bands) {
        band.on.set(track[`${band.prefix}_on`]);
        band.el.classList.toggle("off", !track[`${band.prefix}_on`]);
        band.freq.set(track[`${band.prefix}_freq`]);
        band.gain?.set(track[`${band.prefix}_gain`]);
        band.q?.set(track[`${band.prefix}_q`]);
        for (const c of band.controls) c.block(reason);
      }
      this.detail.compOn.set(track.comp_on);
      this.detail.compOn.block(reason);
      for (const [field, c] of this.detail.comp) {
        c.set(track[field]);
        c.block(reason);
      }
      const curve = JSON.stringify([track.color, ...BANDS.flatMap(([p]) => [track[`${p}_on`], track[`${p}_freq`], track[`${p}_gain`], track[`${p}_q`]])]);
      if (this.eq.drag === null && curve !== this.curveShown) {
        this.curveShown = curve;
        this.eq.draw(track);
      }
    }
    this.tick();
  }

  /** Meters and reductions, every animation frame (the page's loop calls it). */
  tick() {
    const levels = this.app.editor?.sound?.levels?.() ?? null;
    const now = performance.now() / 1000;
    for (const [id, s] of this.strips) {
      const level = levels?.tracks[id];
      s.meter.set(level ? [level.left, level.right] : [-Infinity, -Infinity], now);
      const gr = level?.reduction ?? 0;
      setText(s.gr, gr < -0.05 ? `GR ${gr.toFixed(1)}` : "");
    }
    this.master.meter.set(levels ? [levels.master.left, levels.master.right] : [-Infinity, -Infinity], now);
    const limiting = levels?.limiter ?? 0;
    setText(this.master.gr, limiting < -0.05 ? `GR ${limiting.toFixed(1)}` : "");
    const track = this.selected();
    if (track === null) return;
    const reduction = levels?.tracks[track.id]?.reduction ?? 0;
    const key = JSON.stringify([track.id, track.comp_on, track.comp_threshold, track.comp_ratio,
      track.comp_knee, track.comp_makeup, reduction.toFixed(1)]);
    if (key === this.transferShown) return; // redrawn only when it changed
    this.transferShown = key;
    drawTransfer(this.detail.transfer, track, reduction);
  }
}

/** Set an element's text only when it differs (a text write invalidates the layout). */
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** The schema's defaults for one kind of entity. */
function defaultsOf(kind) {
  DEFAULTS[kind] ??= Object.fromEntries(Object.entries(SCHEMAS[kind]).map(([name, f]) => [name, f.default]));
  return DEFAULTS[kind];
}
const DEFAULTS = {};
