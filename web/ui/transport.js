/**
 * The transport bar: go to bar 1, play/stop, loop on/off, the bar:beat
 * position (redrawn every animation frame from the shared timeline and the
 * server clock), tempo (typed or tapped), meter, the ruler, and the key
 * (tonic and mode, shown in the page header next to the project name: a
 * change asks whether to transpose the notes and chords too, ui/chords.js).
 *
 * Play starts from where the transport stands (the cursor: a click on the
 * ruler moves it), after this user's count-in; Stop stays, or returns to where
 * the play began: both are this user's preferences (ui/prefs.js), sent with
 * each press, not project settings. A refused tempo or meter is reported once
 * (by `app.run` when refused here, by the page's `rejected` toast when the
 * server refuses) and the field shows the project's value again.
 *
 * Every control that edits is disabled, with the reason as its tooltip, for
 * someone who may not edit (`app.editBlockReason()`).
 *
 * @module ui/transport
 */

import { METER_DENOMINATORS, MODES, PPQ, PROJECT_ID, SCHEMAS } from "../protocol.js";
import { NOTE_NAMES } from "../harmony.js";
import { KeyChangeDialog, keyChangeOps } from "./chords.js";
import { h } from "./dom.js";
import { pref, setPref } from "./prefs.js";
import { Ruler } from "./ruler.js";

const TEMPO = SCHEMAS.project.tempo;
const METER = SCHEMAS.project.meter;
const TAP_RESET_MS = 2000;
const SVG = "http://www.w3.org/2000/svg";

/** Icons drawn as SVG paths (16x16), so they look the same whatever fonts there are. */
const ICONS = {
  play: "M4 2.5v11l9-5.5z",
  stop: "M3.5 3.5h9v9h-9z",
  rewind: "M3 3h2v10H3zM14 3v10L6 8z",
  loop: "M4 5h7V3l3 3-3 3V7H5v2H3V6a1 1 0 0 1 1-1zm8 6H5v2l-3-3 3-3v2h6V7h2v3a1 1 0 0 1-1 1z",
};

function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", `icon icon-${name}`);
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

/** Toolbar buttons keep the focus where it was (Space then still means play/stop). */
const keepFocus = (e) => e.preventDefault();

export class TransportBar {
  constructor(root, session, app) {
    this.session = session;
    this.app = app;
    this.taps = [];
    const button = (cls, label, onclick, extra = {}) =>
      h("button", { type: "button", class: cls, onclick, onmousedown: keepFocus, "data-edit": "", ...extra }, label);
    this.rewind = button("rewind", icon("rewind"), () => this.goToStart(), { "aria-label": "Go to bar 1", "aria-keyshortcuts": "Home" });
    this.playLabel = h("span", {}, "Play");
    this.playIcon = h("span", { class: "play-icon" }, icon("play"));
    this.play = button("play", [this.playIcon, this.playLabel], () => this.toggle(), { "aria-keyshortcuts": "Space" });
    this.loop = button("loop toggle", [icon("loop"), h("span", {}, "Loop")], () => this.toggleLoop(), { "aria-keyshortcuts": "L", "aria-pressed": "false" });
    this.loopRange = h("output", { class: "loop-range", "aria-label": "Loop region (bar:beat)" });
    this.position = h("output", { class: "position", "aria-label": "Position (bar:beat)", "data-testid": "position" }, "1:1");
    this.state = h("span", { class: "play-state", "aria-live": "off" });
    this.tempo = h("input", {
      type: "number", min: TEMPO.min, max: TEMPO.max, step: "0.1", class: "tempo", "aria-label": "Tempo (BPM)", "data-edit": "",
      // `change` alone: Enter fires it too, so one commit (and at most one refusal) per entry
      onchange: () => this.commitTempo(this.tempo.value),
    });
    this.tap = button("tap", "Tap", () => this.tapTempo());
    this.numerator = h("input", {
      type: "number", min: METER.numerator[0], max: METER.numerator[1], step: 1,
      class: "meter-num", "aria-label": "Beats per bar", "data-edit": "", onchange: () => this.commitMeter(),
    });
    this.denominator = h("select", { class: "meter-den", "aria-label": "Beat unit", "data-edit": "", onchange: () => this.commitMeter() },
      METER_DENOMINATORS.map((d) => h("option", { value: d }, d)));
    this.keyTonic = h("select", { class: "key-tonic", "aria-label": "Key tonic", "data-edit": "", onchange: () => this.changeKey() },
      NOTE_NAMES.map((n) => h("option", { value: n }, n)));
    this.keyMode = h("select", { class: "key-mode", "aria-label": "Key mode", "data-edit": "", onchange: () => this.changeKey() },
      MODES.map((m) => h("option", { value: m }, m)));
    this.keyDialog = new KeyChangeDialog(document.body);
    this.countIn = h("select", {
      class: "count-in-select", "aria-label": "Count-in before play (my preference)", "data-edit": "",
      onchange: () => setPref("countIn", Number(this.countIn.value)),
    }, [["0", "Off"], ["1", "1 bar"], ["2", "2 bars"]].map(([v, t]) => h("option", { value: v, selected: Number(v) === pref("countIn") }, t)));
    this.stopBack = h("select", {
      class: "stop-back-select", "aria-label": "What Stop does (my preference)", "data-edit": "",
      onchange: () => setPref("stopBack", this.stopBack.value === "back"),
    }, [["stay", "Stay"], ["back", "Return"]].map(([v, t]) => h("option", { value: v, selected: (v === "back") === pref("stopBack") }, t)));
    this.snap = h("select", {
      class: "snap-select", "aria-label": "Ruler snap (my preference)", "data-edit": "",
      onchange: () => setPref("snap", this.snap.value),
    }, [["bar", "Bar"], ["beat", "Beat"]].map(([v, t]) => h("option", { value: v, selected: v === pref("snap") }, t)));
    const zoom = (factor, label, text) => h("button", { type: "button", class: "zoom", onmousedown: keepFocus, "aria-label": label, title: label, onclick: () => this.ruler.zoom(factor) }, text);
    const field = (label, ...controls) => h("label", { class: "field" }, h("span", {}, label), ...controls);
    const group = (...children) => h("div", { class: "tp-group" }, ...children);
    this.rulerSlot = h("div", { class: "ruler-slot" });
    root.append(
      h("div", { class: "transport", role: "toolbar", "aria-label": "Transport" },
        h("div", { class: "transport-row" },
          group(this.rewind, this.play, this.loop),
          h("div", { class: "position-box" }, this.position, this.state),
          group(field("Tempo", this.tempo), this.tap),
          group(field("Meter", this.numerator, h("span", { "aria-hidden": "true" }, "/"), this.denominator)),
          group(field("Count-in", this.countIn), field("On stop", this.stopBack)),
          h("div", { class: "tp-spacer" }),
          group(field("Loop", this.loopRange), field("Snap", this.snap), zoom(0.8, "Zoom out", "−"), zoom(1.25, "Zoom in", "+")),
        ),
        this.rulerSlot,
      ),
    );
    // the key: in the page header, next to the project's name, when the page has a place for it
    const keyControl = h("div", { class: "field key-field", role: "group", "aria-label": "Key" }, h("span", {}, "Key"), this.keyTonic, this.keyMode);
    if (app.keySlot) app.keySlot.append(keyControl);
    else root.querySelector(".tp-spacer").before(group(keyControl));
    this.ruler = new Ruler(this.rulerSlot, session, app, { bars: 16 });
    this.alive = true;
    this.frame = () => {
      if (!this.alive) return;
      this.drawPosition();
      requestAnimationFrame(this.frame);
    };
    requestAnimationFrame(this.frame);
  }

  destroy() {
    this.alive = false;
    this.ruler.destroy();
    this.keyDialog.remove();
  }

  get project() {
    return this.session.project.project;
  }

  // -- transport ----------------------------------------------------------------

  /** Play from the cursor after my count-in, or stop (staying, or back where play began). */
  toggle() {
    const playing = this.project.transport.playing;
    this.app.run(() => (playing ? this.session.stop(pref("stopBack")) : this.session.play(null, pref("countIn"))));
  }

  goToStart() {
    this.app.run(() => this.session.seek(0));
  }

  toggleLoop() {
    const loop = this.project.loop;
    this.app.run(() => this.session.set(PROJECT_ID, "loop", { ...loop, on: !loop.on }));
  }

  // -- tempo and meter ----------------------------------------------------------

  /** Show the project's tempo and meter, also in a focused field (after a refusal). */
  revert() {
    this.tempo.value = String(this.project.tempo);
    this.numerator.value = String(this.project.meter[0]);
    this.denominator.value = String(this.project.meter[1]);
    this.showKey();
  }

  /** The key selects show the project's key. */
  showKey() {
    const [tonic, mode] = String(this.project.key).split(" ");
    if (this.keyTonic.value !== tonic) this.keyTonic.value = tonic;
    if (this.keyMode.value !== mode) this.keyMode.value = mode;
  }

  /** Run an edit; whether it is refused here or by the server, the fields go back. */
  commit(fn) {
    const edit = this.app.run(fn);
    if (edit === null) this.revert();
    else edit.done.catch(() => this.revert());
  }

  commitTempo(text) {
    const bpm = Number(text);
    if (String(text).trim() === "" || !Number.isFinite(bpm) || bpm === this.project.tempo) {
      this.revert();
      return;
    }
    this.commit(() => this.session.setTempo(Math.round(bpm * 100) / 100));
  }

  /** Tempo from the average interval of the last taps (a pause starts over). */
  tapTempo() {
    const now = performance.now();
    if (this.taps.length && now - this.taps[this.taps.length - 1] > TAP_RESET_MS) this.taps = [];
    this.taps.push(now);
    this.taps = this.taps.slice(-5);
    if (this.taps.length >= 2) {
      const span = (this.taps[this.taps.length - 1] - this.taps[0]) / (this.taps.length - 1);
      const bpm = Math.min(TEMPO.max, Math.max(TEMPO.min, Math.round(600000 / span) / 10));
      this.tempo.value = String(bpm);
      this.commitTempo(bpm);
    }
  }

  commitMeter() {
    const numerator = Number(this.numerator.value);
    const denominator = Number(this.denominator.value);
    const [n, d] = this.project.meter;
    if (this.numerator.value.trim() === "" || (numerator === n && denominator === d)) {
      this.revert();
      return;
    }
    this.commit(() => this.session.setMeter(numerator, denominator));
  }

  // -- the key ------------------------------------------------------------------

  /** A key select changed: ask whether to transpose, then send the key change as one edit (Esc: none). */
  async changeKey() {
    const from = String(this.project.key);
    const to = `${this.keyTonic.value} ${this.keyMode.value}`;
    if (to === from) return;
    const choice = await this.keyDialog.ask(from, to);
    if (choice === null || String(this.project.key) === to) {
      this.showKey();
      return;
    }
    this.commit(() => this.session.edit(keyChangeOps(this.session.project, to, choice === "transpose")));
    this.showKey();
  }

  // -- drawing ------------------------------------------------------------------

  render() {
    const project = this.project;
    const playing = project.transport.playing;
    if (this.playLabel.textContent !== (playing ? "Stop" : "Play")) {
      this.playLabel.textContent = playing ? "Stop" : "Play";
      this.playIcon.replaceChildren(icon(playing ? "stop" : "play"));
    }
    this.play.setAttribute("aria-pressed", String(playing));
    this.play.classList.toggle("playing", playing);
    this.loop.setAttribute("aria-pressed", String(project.loop.on));
    this.loopRange.textContent = `${this.barBeat(project.loop.start)}–${this.barBeat(project.loop.end)}`;
    this.loopRange.classList.toggle("on", project.loop.on);
    for (const [input, value] of [[this.tempo, project.tempo], [this.numerator, project.meter[0]], [this.denominator, project.meter[1]]]) {
      if (document.activeElement !== input && input.value !== String(value)) input.value = String(value);
    }
    if (!this.keyDialog.open) this.showKey();
    const reason = this.app.editBlockReason();
    const tips = new Map([
      [this.rewind, "Go to bar 1 (Home)"],
      [this.play, playing ? "Stop (Space)" : "Play from the cursor (Space)"],
      [this.loop, "Loop on/off (L); drag on the ruler to set the region"],
      [this.tap, "Tap tempo: click on each beat"],
      [this.tempo, "Tempo, beats per minute"],
      [this.numerator, "Beats per bar"],
      [this.denominator, "Beat unit"],
      [this.keyTonic, `Key: ${project.key} (the tonic)`],
      [this.keyMode, `Key: ${project.key} (the mode)`],
      [this.countIn, "Bars of count-in when I press Play"],
      [this.stopBack, "When I press Stop: stay where the music is, or return to where play began"],
      [this.snap, "Ruler grid for locating and loops (Shift: the other one)"],
    ]);
    for (const [control, tip] of tips) {
      control.disabled = reason !== null;
      control.title = reason ?? tip;
    }
  }

  /** A tick position as bar:beat. */
  barBeat(tick) {
    try {
      return String(this.session.timeline().barBeatOf(tick / PPQ));
    } catch {
      return "–";
    }
  }

  drawPosition() {
    let text = "–";
    let state = "";
    try {
      const timeline = this.session.timeline();
      const now = this.session.serverNow();
      const beat = timeline.beatAt(now);
      text = String(timeline.barBeatOf(Math.max(0, beat)));
      if (timeline.playing && !timeline.rolling(now)) state = "count-in";
      else if (timeline.playing) state = timeline.looping ? "looping" : "playing";
    } catch {
      // no valid timeline yet
    }
    if (this.position.textContent !== text) this.position.textContent = text;
    if (this.state.textContent !== state) this.state.textContent = state;
  }
}
