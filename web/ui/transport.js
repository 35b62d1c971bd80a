/**
 * The transport bar: play/stop on the shared quantised start, the bar:beat
 * position from the shared timeline and the server clock (redrawn every
 * animation frame), tempo (typed or tapped) and meter.
 * @module ui/transport
 */

import { METER_DENOMINATORS, SCHEMAS } from "../protocol.js";
import { h, setValue } from "./dom.js";

const TEMPO = SCHEMAS.project.tempo;
const TAP_RESET_MS = 2000;

export class TransportBar {
  constructor(root, session, app) {
    this.session = session;
    this.app = app;
    this.taps = [];
    this.play = h("button", { class: "play", type: "button", onclick: () => this.toggle(), "aria-keyshortcuts": "Space" }, "Play");
    this.position = h("output", { class: "position", "aria-label": "Position (bar:beat)", "data-testid": "position" }, "1:1");
    this.state = h("span", { class: "count-in", "aria-live": "off" });
    this.tempo = h("input", {
      type: "number", min: TEMPO.min, max: TEMPO.max, step: "0.1", class: "tempo", "aria-label": "Tempo (BPM)",
      onchange: () => this.commitTempo(Number(this.tempo.value)),
      onkeydown: (e) => { if (e.key === "Enter") this.commitTempo(Number(this.tempo.value)); },
    });
    this.tap = h("button", { type: "button", class: "tap", onclick: () => this.tapTempo(), title: "Tap tempo: click on each beat" }, "Tap");
    this.numerator = h("input", {
      type: "number", min: SCHEMAS.project.meter.numerator[0], max: SCHEMAS.project.meter.numerator[1], step: 1,
      class: "meter-num", "aria-label": "Beats per bar", onchange: () => this.commitMeter(),
    });
    this.denominator = h("select", { class: "meter-den", "aria-label": "Beat unit", onchange: () => this.commitMeter() },
      METER_DENOMINATORS.map((d) => h("option", { value: d }, d)));
    root.append(
      h("div", { class: "transport", role: "toolbar", "aria-label": "Transport" },
        this.play,
        h("div", { class: "position-box" }, this.position, this.state),
        h("label", { class: "field" }, h("span", {}, "Tempo"), this.tempo, this.tap),
        h("label", { class: "field" }, h("span", {}, "Meter"), this.numerator, h("span", { "aria-hidden": "true" }, "/"), this.denominator),
      ),
    );
    this.frame = () => {
      this.drawPosition();
      requestAnimationFrame(this.frame);
    };
    requestAnimationFrame(this.frame);
  }

  toggle() {
    const playing = this.session.project.project.transport.playing;
    this.app.run(() => (playing ? this.session.stop() : this.session.play()));
  }

  commitTempo(bpm) {
    if (!Number.isFinite(bpm)) return;
    if (bpm === this.session.project.project.tempo) return;
    this.app.run(() => this.session.setTempo(Math.round(bpm * 100) / 100));
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
    const [n, d] = this.session.project.project.meter;
    if (numerator === n && denominator === d) return;
    this.app.run(() => this.session.setMeter(numerator, denominator));
  }

  render() {
    const project = this.session.project.project;
    const playing = project.transport.playing;
    this.play.textContent = playing ? "Stop" : "Play";
    this.play.setAttribute("aria-pressed", String(playing));
    this.play.classList.toggle("playing", playing);
    setValue(this.tempo, project.tempo);
    setValue(this.numerator, project.meter[0]);
    setValue(this.denominator, project.meter[1]);
    this.play.disabled = !this.session.canEdit;
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
      else if (timeline.playing) state = "playing";
    } catch {
      // no valid timeline yet
    }
    if (this.position.textContent !== text) this.position.textContent = text;
    if (this.state.textContent !== state) this.state.textContent = state;
  }
}

