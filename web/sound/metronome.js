/**
 * A Web Audio metronome on the shared timeline: a short click on every beat of
 * the meter (every eighth in 6/8, every quarter in 4/4), a higher, louder one
 * on each bar line. It is a scheduler {@link import("./scheduler.js").Source}:
 * the scheduler decides when, this module only decides what.
 *
 * @module sound/metronome
 */

import { barLength } from "../timeline.js";
import { gridBeats } from "./scheduler.js";

/** Beats (quarter notes): a click this close to a bar line is on it. */
const EPSILON = 1e-6;

/**
 * The clicks in beats [from, to): one per beat of the meter, accented on bar lines.
 * @param {number} from
 * @param {number} to
 * @param {readonly [number, number] | number[]} meter
 * @returns {Array<{beat: number, accent: boolean}>}
 */
export function clicksBetween(from, to, meter) {
  const bar = barLength(meter);
  const unit = 4 / meter[1];
  return gridBeats(from, to, unit).map((beat) => {
    const inBar = beat - Math.round(beat / bar) * bar;
    return { beat, accent: Math.abs(inBar) < EPSILON };
  });
}

export class Metronome {
  /**
   * @param {BaseAudioContext} context
   * @param {AudioNode} destination
   */
  constructor(context, destination) {
    this.context = context;
    this.output = context.createGain();
    this.output.gain.value = 0.5;
    this.output.connect(destination);
  }

  /**
   * @param {number} from
   * @param {number} to
   * @param {import("../timeline.js").Timeline} timeline
   */
  events(from, to, timeline) {
    return clicksBetween(from, to, timeline.meter);
  }

  /**
   * One click: a sine burst with a 1 ms attack and a fast exponential decay.
   * @param {{accent: boolean}} event
   * @param {number} when context time, seconds
   * @returns {AudioScheduledSourceNode[]}
   */
  play(event, when) {
    const context = this.context;
    const osc = context.createOscillator();
    const env = context.createGain();
    osc.frequency.value = event.accent ? 1760 : 1320;
    const peak = event.accent ? 1.0 : 0.6;
    env.gain.setValueAtTime(0, when);
    env.gain.linearRampToValueAtTime(peak, when + 0.001);
    env.gain.exponentialRampToValueAtTime(0.001, when + 0.05);
    osc.connect(env).connect(this.output);
    osc.start(when);
    osc.stop(when + 0.06);
    osc.onended = () => env.disconnect();
    return [osc];
  }
}
