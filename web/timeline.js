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
 * `beat`.
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
import { BEAT_EPSILON as EPSILON, DEFAULT_LEAD_US, MAX_LEAD_RTT_US, US_PER_MINUTE } from "./protocol.js";

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
 * The transport record of the document.
 * @typedef {{playing: boolean, beat: number, time: number}} Transport
 */

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
   */
  constructor(tempo, meter, playing, beat, time) {
    /** @readonly */ this.tempo = tempo;
    /** @readonly @type {readonly [number, number]} */
    this.meter = Object.freeze([meter[0], meter[1]]);
    /** @readonly */ this.playing = playing;
    /** @readonly */ this.beat = beat;
    /** @readonly */ this.time = time;
    Object.freeze(this);
  }

  /**
   * The timeline of a project record (the document's `project`), converting
   * its fields as Python's `Timeline.of` does.
   * @param {{tempo: number, meter: Meter, transport: Transport}} project
   * @returns {Timeline}
   */
  static of(project) {
    const transport = field(project, "transport");
    const meter = field(project, "meter");
    if (!Array.isArray(meter) || meter.length !== 2) {
      throw new TypeError("project meter must be [numerator, denominator]");
    }
    return new Timeline(
      toFloat(field(project, "tempo"), "tempo"),
      [toInt(meter[0], "meter numerator"), toInt(meter[1], "meter denominator")],
      truthy(field(transport, "playing")),
      toFloat(field(transport, "beat"), "transport beat"),
      toInt(field(transport, "time"), "transport time"),
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

  /**
   * The position at server time `t` (µs). While playing this is linear in `t`
   * everywhere, also before the anchor (a count-in: {@link Timeline#rolling}
   * says whether sound should be made yet).
   * @param {number} t
   * @returns {number}
   */
  beatAt(t) {
    if (!this.playing) return this.beat;
    // Divide by µs per beat rather than multiply by tempo / 60e6: Python does,
    // and the rounding must be the same.
    return this.beat + divide(t - this.time, this.usPerBeat);
  }

  /**
   * The server time (µs) at which `beat` plays; only while playing.
   * @param {number} beat
   * @returns {number}
   * @throws {RangeError} while stopped: no beat has a time
   */
  timeAt(beat) {
    if (!this.playing) throw new RangeError("the transport is stopped: no beat has a time");
    return this.time + (beat - this.beat) * this.usPerBeat;
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
   * The same motion, re-anchored at `now`: used before a tempo or meter
   * change. Within the count-in (`now` before the anchor) the anchor stays:
   * the start has not happened yet and keeps its time.
   * @param {number} now
   * @returns {Transport}
   */
  anchoredAt(now) {
    if (!this.playing || now < this.time) return this.transport();
    return { playing: true, beat: this.beatAt(now), time: now };
  }

  /**
   * Play: from the next bar line of the current position, `leadUs` after `now`.
   * @param {number} now
   * @param {number} leadUs
   * @returns {Transport}
   */
  started(now, leadUs) {
    if (this.playing) return this.transport();
    return { playing: true, beat: nextBarLine(this.beat, this.meter), time: now + leadUs };
  }

  /**
   * Stop where the music is at `now` (at the start beat if still counting in).
   * @param {number} now
   * @returns {Transport}
   */
  stopped(now) {
    if (!this.playing) return this.transport();
    return { playing: false, beat: max(this.beat, this.beatAt(now)), time: now };
  }

  /**
   * Move to `beat`; while playing, everyone continues from it `leadUs` after `now`.
   * @param {number} beat
   * @param {number} now
   * @param {number} leadUs
   * @returns {Transport}
   */
  sought(beat, now, leadUs) {
    if (this.playing) return { playing: true, beat, time: now + leadUs };
    return { playing: false, beat, time: now };
  }

  /**
   * The transport record this timeline was made from.
   * @returns {Transport}
   */
  transport() {
    return { playing: this.playing, beat: this.beat, time: this.time };
  }
}
