/**
 * Look-ahead scheduling of sound on the shared timeline.
 *
 * A JavaScript timer cannot click on time (it wakes late, and a background tab
 * throttles it), but an AudioContext starts a sound at an exact sample. So a
 * short timer wakes about every 25 ms and schedules, at exact AudioContext
 * times, every event that falls within the next ~100 ms of the shared
 * timeline. Events are positions in beats; the timeline (timeline.js) turns
 * them into server time (µs), and a {@link ContextClock} turns server time
 * into AudioContext time, corrected for output latency so that a sound is
 * *heard* when the server clock says.
 *
 * The first half of this module is pure (which events fall in a window of
 * server time) and tested against Python's timeline math; the rest drives the
 * AudioContext.
 *
 * @module sound/scheduler
 */

/** Beats: a grid point this close to a window edge belongs to the later window. */
const EPSILON = 1e-9;

// -- pure: windows of the timeline ----------------------------------------------

/**
 * The span of *linear* beats (the unfolded line, see timeline.js) that sounds
 * during server times [fromUs, toUs), or null when nothing sounds then
 * (stopped, or the whole window is count-in). Consecutive windows give
 * contiguous spans, so an event is never scheduled twice nor skipped as long
 * as the timeline stays the same.
 * @param {import("../timeline.js").Timeline | null} timeline
 * @param {number} fromUs
 * @param {number} toUs
 * @returns {{from: number, to: number} | null} beats, `from` inclusive, `to` exclusive
 */
export function beatWindow(timeline, fromUs, toUs) {
  if (timeline === null || !timeline.playing || toUs <= fromUs) return null;
  const start = Math.max(fromUs, timeline.time); // before the anchor is count-in: silent
  if (toUs <= start) return null;
  const from = start === timeline.time ? timeline.beat : timeline.linearAt(start);
  return { from, to: timeline.linearAt(toUs) };
}

/**
 * Grid points `offset + k * step` (beats) in [from, to), in order.
 * @param {number} from
 * @param {number} to
 * @param {number} step beats between grid points, > 0
 * @param {number} [offset=0]
 * @returns {number[]}
 */
export function gridBeats(from, to, step, offset = 0) {
  if (!(step > 0)) throw new RangeError(`grid step must be positive, not ${step}`);
  const beats = [];
  for (let k = Math.ceil((from - offset) / step - EPSILON); ; k += 1) {
    const beat = offset + k * step;
    if (beat >= to - EPSILON * step) break;
    if (beat >= from - EPSILON * step) beats.push(beat);
  }
  return beats;
}

/**
 * Every event of `source` that sounds in server times [fromUs, toUs), each
 * with the server time it sounds at. Events are asked for in musical beats,
 * one straight stretch at a time (`Timeline#segments`): in a loop, each pass
 * over the region asks again.
 * @template {{beat: number}} E
 * @param {import("../timeline.js").Timeline | null} timeline
 * @param {number} fromUs
 * @param {number} toUs
 * @param {(from: number, to: number) => E[]} eventsBetween events with from <= beat < to
 * @returns {Array<E & {time: number}>}
 */
export function eventsInWindow(timeline, fromUs, toUs, eventsBetween) {
  const window = beatWindow(timeline, fromUs, toUs);
  if (window === null || timeline === null) return [];
  const out = [];
  for (const [linearLo, linearHi, musicalLo] of timeline.segments(window.from, window.to)) {
    for (const event of eventsBetween(musicalLo, musicalLo + (linearHi - linearLo))) {
      out.push({ ...event, time: timeline.timeAt(linearLo + (event.beat - musicalLo)) });
    }
  }
  return out;
}

/**
 * Whether two timelines describe the same motion (a new document object with
 * an unchanged transport needs no rescheduling).
 * @param {import("../timeline.js").Timeline | null} a
 * @param {import("../timeline.js").Timeline | null} b
 * @returns {boolean}
 */
export function sameTimeline(a, b) {
  if (a === null || b === null) return a === b;
  return (
    a.playing === b.playing &&
    a.tempo === b.tempo &&
    a.beat === b.beat &&
    a.time === b.time &&
    a.start === b.start &&
    a.meter[0] === b.meter[0] &&
    a.meter[1] === b.meter[1] &&
    (a.loop === null ? b.loop === null : b.loop !== null && a.loop[0] === b.loop[0] && a.loop[1] === b.loop[1])
  );
}

// -- the AudioContext clock -------------------------------------------------------

/**
 * Maps server time (µs) to the AudioContext time at which a sound must start
 * to be heard then. Output latency (the time from the context's clock to the
 * speaker) is subtracted: a sound scheduled at `currentTime + d` is heard
 * about `d + outputLatency` later. The offset between the context's clock and
 * the server clock is re-measured on every `update()`; small wobbles (the
 * context clock moves in 128-sample steps) are smoothed, jumps are taken.
 */
export class ContextClock {
  /**
   * @param {BaseAudioContext} context
   * @param {() => number} serverNow server clock now, µs
   */
  constructor(context, serverNow) {
    this.context = context;
    this.serverNow = serverNow;
    /** @type {number | null} seconds: contextTime - serverTime/1e6 for a heard sound */
    this.offset = null;
  }

  /** Output latency in seconds, as well as the browser knows it. */
  get latency() {
    const context = /** @type {AudioContext} */ (this.context);
    const output = typeof context.outputLatency === "number" ? context.outputLatency : 0;
    const base = typeof context.baseLatency === "number" ? context.baseLatency : 0;
    return output > 0 ? output : base;
  }

  /** Re-measure the offset; returns it (seconds). */
  update() {
    const measured = this.context.currentTime - this.latency - this.serverNow() / 1e6;
    if (this.offset === null || Math.abs(measured - this.offset) > 0.02) {
      this.offset = measured; // first measure, or a jump (clock resync, context resumed)
    } else {
      this.offset += (measured - this.offset) * 0.05; // smooth the 2.7 ms render steps
    }
    return this.offset;
  }

  /**
   * The context time at which to start a sound heard at server time `us`.
   * @param {number} us
   */
  toContext(us) {
    const offset = this.offset ?? this.update();
    return us / 1e6 + offset;
  }

  /**
   * The server time (µs) heard when the context plays time `seconds`.
   * @param {number} seconds
   */
  toServer(seconds) {
    const offset = this.offset ?? this.update();
    return (seconds - offset) * 1e6;
  }
}

/**
 * A fixed mapping, for an OfflineAudioContext: server time `serverUs` is
 * context time `contextTime`.
 */
export class FixedClock {
  /**
   * @param {number} serverUs
   * @param {number} contextTime seconds
   */
  constructor(serverUs, contextTime) {
    this.offset = contextTime - serverUs / 1e6;
    this.now = serverUs;
  }

  serverNow() {
    return this.now;
  }

  update() {
    return this.offset;
  }

  /** @param {number} us */
  toContext(us) {
    return us / 1e6 + this.offset;
  }

  /** @param {number} seconds */
  toServer(seconds) {
    return (seconds - this.offset) * 1e6;
  }
}

// -- the scheduler ------------------------------------------------------------------

/**
 * Something that makes sound on the timeline.
 * @typedef {object} Source
 * @property {(from: number, to: number, timeline: import("../timeline.js").Timeline) => Array<{beat: number}>} events
 *   events with from <= beat < to
 * @property {(event: any, when: number, timeline: import("../timeline.js").Timeline) => (AudioScheduledSourceNode[] | void)} play
 *   start the event at context time `when`; return the nodes, so they can be
 *   cancelled when the timeline or the project changes before they start
 */

/**
 * One scheduled sound, as the test hook reports it.
 * @typedef {{source: string, beat: number, time: number, when: number, now: number, event: any}} Scheduled
 *   `now`: the context time the scheduler saw when it placed the event (`when` is never before it)
 */

/** Ticks from a Worker: unlike a page timer, it is not throttled to 1 Hz in a background tab. */
export function startTicker(/** @type {number} */ ms, /** @type {() => void} */ tick) {
  try {
    const code = `setInterval(() => postMessage(0), ${ms});`;
    const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
    const worker = new Worker(url);
    URL.revokeObjectURL(url);
    worker.onmessage = tick;
    return () => worker.terminate();
  } catch {
    const id = setInterval(tick, ms); // no workers here: wakes only, never clicks
    return () => clearInterval(id);
  }
}

export class Scheduler {
  /**
   * @param {object} options
   * @param {BaseAudioContext} options.context
   * @param {ContextClock | FixedClock} options.clock
   * @param {() => (import("../timeline.js").Timeline | null)} options.timeline
   * @param {number} [options.lookaheadMs=100] how far ahead sounds are scheduled
   * @param {number} [options.intervalMs=25] how often the timer wakes
   */
  constructor({ context, clock, timeline, lookaheadMs = 100, intervalMs = 25 }) {
    this.context = context;
    this.clock = clock;
    this.timeline = timeline;
    this.lookaheadUs = lookaheadMs * 1000;
    this.intervalMs = intervalMs;
    /** @type {Map<string, Source>} */
    this.sources = new Map();
    /** @type {import("../timeline.js").Timeline | null} */
    this.current = null;
    /** server µs up to which everything is scheduled */
    this.horizon = -Infinity;
    /** @type {Array<{time: number, when: number, nodes: AudioScheduledSourceNode[], info: Scheduled}>} */
    this.pending = [];
    /** @type {((scheduled: Scheduled) => void) | null} test hook: a sound was scheduled */
    this.onSchedule = null;
    /** @type {((scheduled: Scheduled) => void) | null} test hook: it was cancelled before it started */
    this.onCancel = null;
    /** @type {(() => void) | null} */
    this._stopTicker = null;
  }

  /**
   * @param {string} name
   * @param {Source} source
   */
  add(name, source) {
    this.sources.set(name, source);
    this.reschedule();
  }

  /** @param {string} name */
  remove(name) {
    this.sources.delete(name);
    this.reschedule();
  }

  start() {
    if (this._stopTicker === null) {
      this._stopTicker = startTicker(this.intervalMs, () => this.tick());
      this.tick();
    }
  }

  stop() {
    if (this._stopTicker !== null) {
      this._stopTicker();
      this._stopTicker = null;
    }
    this.cancel(-Infinity);
  }

  /** The timer's work: schedule everything due within the look-ahead. */
  tick() {
    const before = this.clock.offset;
    const offset = this.clock.update();
    // the mapping jumped (a clock resync, a resumed context): what is scheduled
    // but not started sits at the wrong context times, so schedule it again
    if (before !== null && Math.abs(offset - before) > 0.002) this.reschedule();
    this.pump(this.clock.serverNow() + this.lookaheadUs);
  }

  /**
   * Schedule every event up to server time `untilUs` (exclusive).
   * @param {number} untilUs
   */
  pump(untilUs) {
    const timeline = this.timeline();
    if (!sameTimeline(timeline, this.current)) {
      this.current = timeline;
      this.reschedule();
    }
    // never before what the context can still start (a late wake-up skips, not bunches)
    const now = this.context.currentTime; // the audio thread moves it on even within this task
    const earliest = this.clock.toServer(now);
    const from = Math.max(this.horizon, earliest);
    if (untilUs <= from) return;
    this.horizon = untilUs;
    if (timeline === null) return;
    for (const [name, source] of this.sources) {
      const events = eventsInWindow(timeline, from, untilUs, (a, b) =>
        source.events(a, b, timeline),
      );
      for (const event of events) {
        const when = this.clock.toContext(event.time);
        const nodes = source.play(event, when, timeline) || [];
        const info = { source: name, beat: event.beat, time: event.time, when, now, event };
        this.pending.push({ time: event.time, when, nodes, info });
        if (this.onSchedule !== null) this.onSchedule(info);
      }
    }
    const past = this.context.currentTime - 1;
    this.pending = this.pending.filter((p) => p.when > past);
  }

  /**
   * Something changed (timeline, project, sources): drop the sounds that have
   * not started yet and schedule again from what the context can still start.
   */
  reschedule() {
    // a node whose start is at or after currentTime has not started: stop() still silences it
    const cutoff = this.clock.toServer(this.context.currentTime);
    this.cancel(cutoff);
    this.horizon = Math.min(this.horizon, cutoff);
  }

  /**
   * Stop every scheduled sound that sounds at or after server time `fromUs`.
   * @param {number} fromUs
   */
  cancel(fromUs) {
    const keep = [];
    for (const entry of this.pending) {
      if (entry.time >= fromUs) {
        for (const node of entry.nodes) {
          try {
            node.stop(0);
            node.disconnect();
          } catch {
            // already stopped
          }
        }
        if (this.onCancel !== null) this.onCancel(entry.info);
      } else {
        keep.push(entry);
      }
    }
    this.pending = keep;
  }
}
