/**
 * The count-in, heard: metronome clicks on the beats before a downbeat.
 *
 * A play with a count-in starts the transport bars ahead (docs/PROTOCOL.md,
 * "Transport intents"): the timeline's anchor lies in the future and nothing
 * of the project sounds before it, so the scheduler (which plays the project
 * from the anchor on) has nothing to give. These clicks fill the wait: one
 * per beat of the meter, for the whole bars between the moment this page
 * learnt of the start and the downbeat (the transport does not say how many
 * bars the player asked for; the start lead alone, 200 ms, is shorter than a
 * bar, so a play without count-in stays silent). Clicks are placed like every
 * other sound, at AudioContext times from the shared server clock, a little
 * ahead of time, and cancelled when the transport changes (a stop during the
 * count-in).
 *
 * @module sound/countin
 */

import { barLength } from "../timeline.js";
import { Metronome } from "./metronome.js";
import { sameTimeline, startTicker } from "./scheduler.js";

const LOOKAHEAD_US = 150_000;
const INTERVAL_MS = 25;

/**
 * The count-in clicks of `timeline`, as server times, when this page saw the
 * start at `seenUs`: whole bars of the meter's beats before the downbeat.
 * @param {import("../timeline.js").Timeline | null} timeline
 * @param {number} seenUs
 * @returns {Array<{time: number, accent: boolean}>} in time order
 */
export function countInClicks(timeline, seenUs) {
  if (timeline === null || !timeline.playing || seenUs >= timeline.time) return [];
  const unitUs = (4 / timeline.meter[1]) * timeline.usPerBeat;
  const beatsPerBar = Math.round(barLength(timeline.meter) / (4 / timeline.meter[1]));
  const bars = Math.floor((timeline.time - seenUs) / (unitUs * beatsPerBar) + 1e-6);
  const clicks = [];
  for (let k = bars * beatsPerBar; k >= 1; k -= 1) {
    clicks.push({ time: timeline.time - k * unitUs, accent: k % beatsPerBar === 0 });
  }
  return clicks;
}

export class CountIn {
  /**
   * @param {BaseAudioContext} context
   * @param {{toContext: (us: number) => number, toServer: (s: number) => number, serverNow: () => number}} clock
   * @param {AudioNode} destination
   */
  constructor(context, clock, destination) {
    this.context = context;
    this.clock = clock;
    this.metronome = new Metronome(context, destination);
    /** @type {import("../timeline.js").Timeline | null} */
    this.current = null;
    /** server µs when this page first saw the current play, or null while stopped */
    this.seen = null;
    /** @type {Array<{time: number, accent: boolean}>} clicks still to schedule */
    this.clicks = [];
    /** @type {AudioScheduledSourceNode[]} */
    this.nodes = [];
    /** @type {(() => void) | null} */
    this.stopTicker = null;
    /** the clicks of the current count-in (server times), and those handed to the context */
    this.planned = [];
    this.scheduled = [];
  }

  /**
   * The transport may have changed: plan the clicks of a new count-in.
   * @param {import("../timeline.js").Timeline | null} timeline
   * @param {number} now server µs
   */
  follow(timeline, now) {
    if (timeline === null || !timeline.playing) {
      this.seen = null;
      this.current = timeline;
      this.cancel();
      return;
    }
    if (this.seen === null) this.seen = now;
    if (sameTimeline(timeline, this.current)) return;
    this.current = timeline;
    this.cancel();
    this.clicks = countInClicks(timeline, this.seen).filter((c) => c.time > now);
    this.planned = this.clicks.map((c) => c.time);
    if (this.clicks.length && this.stopTicker === null) this.stopTicker = startTicker(INTERVAL_MS, () => this.pump());
    this.pump();
  }

  /** Schedule the clicks due within the look-ahead; stop waking once all are. */
  pump() {
    const earliest = this.clock.toServer(this.context.currentTime);
    const until = this.clock.serverNow() + LOOKAHEAD_US;
    while (this.clicks.length && this.clicks[0].time < until) {
      const click = /** @type {{time: number, accent: boolean}} */ (this.clicks.shift());
      if (click.time < earliest) continue; // too late for this one
      this.nodes.push(...this.metronome.play(click, this.clock.toContext(click.time)));
      this.scheduled.push(click.time);
    }
    if (!this.clicks.length) this.idle();
  }

  idle() {
    this.stopTicker?.();
    this.stopTicker = null;
  }

  /** Silence clicks not yet heard. */
  cancel() {
    this.clicks = [];
    this.planned = [];
    this.scheduled = [];
    this.idle();
    for (const node of this.nodes) {
      try {
        node.stop(0);
      } catch {
        // already over
      }
    }
    this.nodes = [];
  }

  close() {
    this.cancel();
    this.metronome.output.disconnect();
  }
}
