/**
 * Musical time for the browser: where the shared transport is at a given server
 * time, and back.
 *
 * This is the same math as `protocol/timeline.py`, operation for operation.
 * Every participant, Python bot or browser, evaluates it on the same document
 * with its own estimate of the server clock, and they only agree on which beat
 * it is if they compute the same numbers — down to which side of a bar line a
 * position just short of it falls. So the arithmetic here is written in the
 * same order as in Python (IEEE doubles then give bit-identical results), and
 * Python's integer semantics (`math.floor`, `math.ceil`, `int()`, `max`, and
 * the exceptions they raise) are reproduced by the small helpers below. Both
 * implementations are checked against `protocol/timeline_vectors.json`.
 *
 * A beat is a quarter note. The transport in the document is an anchor: while
 * playing, beat `beat` happens at server time `time` (µs) and the position
 * advances at `tempo` beats per minute; while stopped, the position stays at
 * `beat`. The *linear* position is that straight line (`linearAt`); the
 * *musical* one (`beatAt`) folds into the project's loop when it is on and the
 * music was started before the loop's end. `segments` cuts a linear range into
 * the stretches where the musical position runs straight. Swing
 * (`swingWarp`) moves the second sixteenth of every eighth later.
 *
 * Pure functions only: no clock is read here, `now` is always an argument.
 * Server times are plain numbers, exact as long as they stay below 2^53 µs
 * (about 285 years), which a µs clock does.
 *
 * @module timeline
 */

// The constants are protocol/timeline.py's own, from the generated /protocol.js:
// US_PER_MINUTE; DEFAULT_LEAD_US, how far ahead a play request starts at least;
// MAX_LEAD_RTT_US, the largest round trip a start waits for; BEAT_EPSILON, how
// close (in beats) to a bar line a position counts as on it (absorbs float rounding).
import { BEAT_EPSILON as EPSILON, DEFAULT_LEAD_US, MAX_LEAD_RTT_US, PPQ, US_PER_MINUTE } from "./protocol.js";

export { DEFAULT_LEAD_US, US_PER_MINUTE };

// -- Python semantics ----------------------------------------------------------

/**
 * Python's `math.floor`: an integer, never -0, and an error (not NaN or
 * Infinity) for a non-finite argument, so a broken position fails loudly here
 * just as it does in Python instead of drawing bar "NaN".
 * @param {number} x
 * @returns {number}
 */
function floor(x) {
  if (!Number.isFinite(x)) throw new RangeError(`cannot floor ${x}`);
  return Math.floor(x) + 0; // + 0 turns -0 into 0: Python ints have no sign of zero
}

/**
 * Python's `math.ceil`; see {@link floor}. `Math.ceil(-0.5)` is -0 in JS but
 * `0` in Python.
 * @param {number} x
 * @returns {number}
 */
function ceil(x) {
  if (!Number.isFinite(x)) throw new RangeError(`cannot ceil ${x}`);
  return Math.ceil(x) + 0;
}

/**
 * Python's `int()` of a number: truncation toward zero.
 * @param {number} x
 * @returns {number}
 */
function trunc(x) {
  if (!Number.isFinite(x)) throw new RangeError(`cannot convert ${x} to an integer`);
  return Math.trunc(x) + 0;
}

/**
 * Python's `a / b` on numbers: dividing by zero is an error (ZeroDivisionError),
 * not Infinity, so a zero tempo or meter unit cannot slip through as NaN beats.
 * @param {number} a
 * @param {number} b
 * @returns {number}
 */
function divide(a, b) {
  if (b === 0) throw new RangeError("division by zero");
  return a / b;
}

/**
 * Python's two-argument `max(a, b)`: `a` unless `b` is greater. Unlike
 * `Math.max` it keeps `a` when `b` is NaN and does not prefer +0 over -0.
 * @param {number} a
 * @param {number} b
 * @returns {number}
 */
function max(a, b) {
  return b > a ? b : a;
}

/**
 * Python's `record[key]`: a missing key is an error (KeyError), not `undefined`
 * quietly read as false or NaN further on.
 * @param {unknown} record
 * @param {string} key
 * @returns {unknown}
 */
function field(record, key) {
  if (record === null || typeof record !== "object" || !Object.hasOwn(record, key)) {
    throw new TypeError(`missing ${key}`);
  }
  return /** @type {Record<string, unknown>} */ (record)[key];
}

/**
 * Python's `float()` of a document value: numbers as they are, booleans as 0/1.
 * Anything else (a missing key, a string) is refused: Python would raise too
 * for all but numeric strings, which a validated document never holds.
 * @param {unknown} value
 * @param {string} name
 * @returns {number}
 */
function toFloat(value, name) {
  if (typeof value === "number") return value;
  if (typeof value === "boolean") return value ? 1 : 0;
  throw new TypeError(`${name} must be a number, not ${value === null ? "null" : typeof value}`);
}

/**
 * Python's `int()` of a document value: like {@link toFloat}, then truncated.
 * @param {unknown} value
 * @param {string} name
 * @returns {number}
 */
function toInt(value, name) {
  return trunc(toFloat(value, name));
}

/**
 * Python's `bool()` of a document value. It differs from JS truthiness for
 * empty lists and maps (false in Python) and NaN (true in Python).
 * @param {unknown} value
 * @returns {boolean}
 */
function truthy(value) {
  if (typeof value === "number") return value !== 0;
  if (Array.isArray(value)) return value.length > 0;
  if (value !== null && typeof value === "object") return Object.keys(value).length > 0;
  return Boolean(value);
}

// -- the math ------------------------------------------------------------------

/**
 * A meter as the document holds it: `[numerator, denominator]`, e.g. `[6, 8]`.
 * @typedef {readonly [number, number] | number[]} Meter
 */

/**
 * The transport record of the document (`start` while playing: where this play began).
 * @typedef {{playing: boolean, beat: number, time: number, start?: number}} Transport
 */

const SWING_PAIR = 0.5; // beats: swing moves the second half of every eighth ...
const SWING_MAX_DELAY = 0.25 / 3; // ... by up to a third of a sixteenth

/**
 * Where a straight position sounds with `swing` (0 straight, 1 a triplet feel):
 * within every eighth, the second sixteenth starts `swing` x a third of a
 * sixteenth late; eighth-note lines stay where they are.
 * @param {number} beat
 * @param {number} swing
 * @returns {number}
 */
export function swingWarp(beat, swing) {
  if (swing <= 0) return beat;
  const pair = floor(divide(beat, SWING_PAIR) + EPSILON) * SWING_PAIR;
  const x = beat - pair;
  const half = SWING_PAIR / 2;
  const middle = half + swing * SWING_MAX_DELAY;
  if (x < half) return pair + divide(x * middle, half);
  return pair + middle + divide((x - half) * (SWING_PAIR - middle), half);
}

/**
 * The straight position {@link swingWarp} moves to `beat` (its inverse).
 * @param {number} beat
 * @param {number} swing
 * @returns {number}
 */
export function swingUnwarp(beat, swing) {
  if (swing <= 0) return beat;
  const pair = floor(divide(beat, SWING_PAIR) + EPSILON) * SWING_PAIR;
  const y = beat - pair;
  const half = SWING_PAIR / 2;
  const middle = half + swing * SWING_MAX_DELAY;
  if (y < middle) return pair + divide(y * half, middle);
  return pair + half + divide((y - middle) * half, SWING_PAIR - middle);
}

/**
 * Beats (quarter notes) per bar: 4/4 -> 4, 6/8 -> 3, 7/8 -> 3.5.
 * @param {Meter} meter
 * @returns {number}
 */
export function barLength(meter) {
  const [numerator, denominator] = meter;
  return divide(numerator * 4, denominator);
}

/**
 * The first bar line at or after `beat` (bars counted from beat 0). A beat
 * within EPSILON past a bar line counts as on it, so 4.0000000001 in 4/4 is
 * already at its bar line rather than a whole bar before the next.
 * @param {number} beat
 * @param {Meter} meter
 * @returns {number}
 */
export function nextBarLine(beat, meter) {
  const length = barLength(meter);
  return ceil(divide(beat, length) - EPSILON) * length;
}

/**
 * How far ahead (µs) a start must be so that the slowest participant hears of
 * it in time. The start reaches a participant about half an RTT after the
 * server decides it; one more RTT covers jitter, and 50 ms leaves room to
 * schedule audio. Whole microseconds, truncated like Python's `int()`.
 * @param {number} maxRttUs
 * @param {number} [minimumUs=DEFAULT_LEAD_US]
 * @returns {number}
 */
export function leadFor(maxRttUs, minimumUs = DEFAULT_LEAD_US) {
  return max(minimumUs, trunc(1.5 * Math.min(maxRttUs, MAX_LEAD_RTT_US)) + 50_000);
}

/** A position as musicians count it: bar and beat both from 1. */
export class BarBeat {
  /**
   * @param {number} bar from 1
   * @param {number} beat from 1, in the meter's unit (eighths in 6/8)
   * @param {number} fraction of the beat, 0 <= fraction < 1
   */
  constructor(bar, beat, fraction) {
    /** @readonly */ this.bar = bar;
    /** @readonly */ this.beat = beat;
    /** @readonly */ this.fraction = fraction;
    Object.freeze(this);
  }

  /** "bar:beat", as a counter shows it. */
  toString() {
    return `${this.bar}:${this.beat}`;
  }
}

/**
 * The shared transport as a function of server time. Immutable: a transport
 * change is a new document, hence a new Timeline.
 */
export class Timeline {
  /**
   * @param {number} tempo beats per minute
   * @param {Meter} meter
   * @param {boolean} playing
   * @param {number} beat anchor: this beat ...
   * @param {number} time ... happens at this server time (µs)
   * @param {number | null} [start] where this play began
   * @param {readonly [number, number] | null} [loop] the loop region in beats, when on
   */
  constructor(tempo, meter, playing, beat, time, start = null, loop = null) {
    /** @readonly */ this.tempo = tempo;
    /** @readonly @type {readonly [number, number]} */
    this.meter = Object.freeze([meter[0], meter[1]]);
    /** @readonly */ this.playing = playing;
    /** @readonly */ this.beat = beat;
    /** @readonly */ this.time = time;
    /** @readonly */ this.start = start ?? null;
    /** @readonly @type {readonly [number, number] | null} */
    this.loop = loop ? Object.freeze([loop[0], loop[1]]) : null;
    Object.freeze(this);
  }

  /**
   * The timeline of a project record (the document's `project`), converting
   * its fields as Python's `Timeline.of` does.
   * @param {{tempo: number, meter: Meter, transport: Transport, loop?: {start: number, end: number, on: boolean}}} project
   * @returns {Timeline}
   */
  static of(project) {
    const transport = field(project, "transport");
    const meter = field(project, "meter");
    if (!Array.isArray(meter) || meter.length !== 2) {
      throw new TypeError("project meter must be [numerator, denominator]");
    }
    const region = /** @type {any} */ (project).loop;
    const loop = region && region.on ? [divide(region.start, PPQ), divide(region.end, PPQ)] : null;
    const start = /** @type {any} */ (transport).start;
    return new Timeline(
      toFloat(field(project, "tempo"), "tempo"),
      [toInt(meter[0], "meter numerator"), toInt(meter[1], "meter denominator")],
      truthy(field(transport, "playing")),
      toFloat(field(transport, "beat"), "transport beat"),
      toInt(field(transport, "time"), "transport time"),
      start === undefined || start === null ? null : toFloat(start, "transport start"),
      loop,
    );
  }

  /** Microseconds per beat (quarter note). */
  get usPerBeat() {
    return divide(US_PER_MINUTE, this.tempo);
  }

  /** Beats (quarter notes) per bar of this meter. */
  get barLength() {
    return barLength(this.meter);
  }

  /** Whether the musical position folds into the loop (entered before its end). */
  get looping() {
    return this.fold() !== null;
  }

  /** @returns {readonly [number, number] | null} the loop the position folds into */
  fold() {
    const loop = this.loop;
    if (loop === null || this.beat >= loop[1] - EPSILON) return null;
    return loop;
  }

  /**
   * The unfolded position at server time `t` (µs): a straight line while
   * playing, also before the anchor (a count-in).
   * @param {number} t
   * @returns {number}
   */
  linearAt(t) {
    if (!this.playing) return this.beat;
    // Divide by µs per beat rather than multiply by tempo / 60e6: Python does,
    // and the rounding must be the same.
    return this.beat + divide(t - this.time, this.usPerBeat);
  }

  /**
   * The musical position of a linear one (folded into the loop when looping).
   * @param {number} linear
   * @returns {number}
   */
  position(linear) {
    const loop = this.fold();
    if (loop === null || linear < loop[1] - EPSILON) return linear;
    const [lo, hi] = loop; // within EPSILON before the end is at the end: the loop's start
    return lo + (max(0.0, linear - hi) % (hi - lo));
  }

  /**
   * The musical position at server time `t` (µs).
   * @param {number} t
   * @returns {number}
   */
  beatAt(t) {
    return this.position(this.linearAt(t));
  }

  /**
   * The server time (µs) of a linear position; only while playing.
   * @param {number} linear
   * @returns {number}
   * @throws {RangeError} while stopped: no beat has a time
   */
  timeAt(linear) {
    if (!this.playing) throw new RangeError("the transport is stopped: no beat has a time");
    return this.time + (linear - this.beat) * this.usPerBeat;
  }

  /**
   * The linear range [lo, hi) as [linearLo, linearHi, musicalLo] pieces, in each
   * of which the musical position runs straight from musicalLo.
   * @param {number} lo
   * @param {number} hi
   * @returns {[number, number, number][]}
   */
  segments(lo, hi) {
    if (hi <= lo) return [];
    const loop = this.fold();
    if (loop === null) return [[lo, hi, lo]];
    const loopHi = loop[1];
    const out = [];
    let at = lo;
    while (at < hi - EPSILON) {
      const musical = this.position(at);
      const end = at < loopHi - EPSILON ? Math.min(hi, loopHi) : Math.min(hi, at + (loopHi - musical));
      out.push(/** @type {[number, number, number]} */ ([at, end, musical]));
      at = end;
    }
    return out;
  }

  /**
   * Playing and past the start: sound is being made at `t`.
   * @param {number} t
   * @returns {boolean}
   */
  rolling(t) {
    return this.playing && t >= this.time;
  }

  /**
   * Bar and beat (from 1) at `t`; beats of the bar follow the meter's unit.
   * @param {number} t
   * @returns {BarBeat}
   */
  barBeatAt(t) {
    return this.barBeatOf(this.beatAt(t));
  }

  /**
   * Bar and beat (from 1) of a position in beats. A position within EPSILON
   * short of a bar or beat line counts as on it, and a fraction that small is
   * 0, so 3.9999999999 in 4/4 reads 2:1, not 1:4 and 0.99999.
   * @param {number} position
   * @returns {BarBeat}
   */
  barBeatOf(position) {
    const length = this.barLength;
    const bar = floor(divide(position, length) + EPSILON);
    const inBar = max(0.0, position - bar * length);
    const unit = divide(4, this.meter[1]); // one beat of the meter, in quarter notes
    const index = floor(divide(inBar, unit) + EPSILON);
    const fraction = max(0.0, divide(inBar, unit) - index);
    return new BarBeat(bar + 1, index + 1, fraction > EPSILON ? fraction : 0.0);
  }

  /**
   * The beat of the first bar line at or after the position at `t`.
   * @param {number} t
   * @returns {number}
   */
  nextBar(t) {
    return nextBarLine(this.beatAt(t), this.meter);
  }

  // -- transport changes, as the server decides them -------------------------

  /**
   * The same motion, re-anchored at `now`: used before a tempo, meter or loop
   * change. Within the count-in (`now` before the anchor) the anchor stays.
   * @param {number} now
   * @returns {Transport}
   */
  anchoredAt(now) {
    if (!this.playing || now < this.time) return this.transport();
    return record(true, this.beatAt(now), now, this.start);
  }

  /**
   * Play from `beat` (default: where the transport stands), `leadUs` after
   * `now`, after `countIn` bars of count-in.
   * @param {number} now
   * @param {number} leadUs
   * @param {number | null} [beat]
   * @param {number} [countIn]
   * @returns {Transport}
   */
  started(now, leadUs, beat = null, countIn = 0) {
    if (this.playing) return this.transport();
    const begin = beat === null || beat === undefined ? this.beat : beat;
    const count = countIn * this.barLength * this.usPerBeat;
    return record(true, begin, now + leadUs + trunc(count), begin);
  }

  /**
   * Stop where the music is at `now` (at the start beat if still counting in),
   * or, with `back`, where this play began.
   * @param {number} now
   * @param {boolean} [back]
   * @returns {Transport}
   */
  stopped(now, back = false) {
    if (!this.playing) return this.transport();
    let where;
    if (back) where = this.start !== null ? this.start : this.beat;
    else where = now >= this.time ? this.beatAt(now) : this.beat;
    return record(false, where, now, null);
  }

  /**
   * Move to `beat`; while playing, everyone continues from it `leadUs` after `now`.
   * @param {number} beat
   * @param {number} now
   * @param {number} leadUs
   * @returns {Transport}
   */
  sought(beat, now, leadUs) {
    if (this.playing) return record(true, beat, now + leadUs, beat);
    return record(false, beat, now, null);
  }

  /**
   * The transport record this timeline was made from.
   * @returns {Transport}
   */
  transport() {
    return record(this.playing, this.beat, this.time, this.start);
  }
}

/**
 * A transport record; `start` only when known.
 * @param {boolean} playing
 * @param {number} beat
 * @param {number} time
 * @param {number | null} start
 * @returns {Transport}
 */
function record(playing, beat, time, start) {
  /** @type {Transport} */
  const out = { playing, beat, time };
  if (start !== null && start !== undefined) out.start = start;
  return out;
}
