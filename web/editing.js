/**
 * Editing commands on a selection of notes, as the ops of one batch: the
 * browser's copy of protocol/editing.py, function for function (a test runs
 * both on the same random selections and compares the ops exactly).
 *
 * Notes are records as the document holds them ({id, track, clip, pitch,
 * start, dur, vel}); `origins` maps a notes clip's id to its start, so that a
 * note in a clip is handled where it sounds. Every command handles the notes
 * in selection order (absolute start, pitch, id), refuses an empty selection
 * with `nothing_selected`, a note leaving its range with `out_of_range`
 * (quantize and resize clamp instead), makes a set op only for a field that
 * changes, and refuses more ops than one batch carries with `too_large`.
 * Rounding is half-up: `Math.floor(x + 0.5)`, as in Python.
 *
 * @module editing
 */

import { ERROR_CODES, LIMITS, PPQ } from "./protocol.js";
import { BacklineError } from "./ops.js";
import { snapToScale } from "./harmony.js";

/** The fields of a note a copy carries (everything but its id). */
export const NOTE_FIELDS = Object.freeze(["track", "clip", "pitch", "start", "dur", "vel"]);

const MAX_TICK = LIMITS.max_tick;
const fail = (code, message) => {
  throw new BacklineError(code, message);
};
const isInt = (v) => typeof v === "number" && Number.isInteger(v);
const round = (x) => Math.floor(x + 0.5);

function originOf(note, origins) {
  const clip = note.clip;
  if (clip === null || clip === undefined || !origins) return 0;
  return origins[clip] ?? 0;
}

function checkSelection(notes, what = "no notes selected") {
  if (!notes || notes.length === 0) fail(ERROR_CODES.NOTHING_SELECTED, what);
}

function checkGrid(grid) {
  if (!isInt(grid) || grid < 1 || grid > MAX_TICK) fail(ERROR_CODES.OUT_OF_RANGE, `grid must be an integer number of ticks from 1, not ${grid}`);
  return grid;
}

function bounded(ops) {
  if (ops.length > LIMITS.max_ops_per_batch) fail(ERROR_CODES.TOO_LARGE, `${ops.length} ops: one edit carries at most ${LIMITS.max_ops_per_batch}`);
  return ops;
}

const setOp = (id, field, value) => ({ op: "set", id, field, value });

/** Compare as Python compares tuples of (int, int, str). */
function compare(a, b) {
  for (let i = 0; i < a.length; i++) {
    if (a[i] < b[i]) return -1;
    if (a[i] > b[i]) return 1;
  }
  return 0;
}

/**
 * The notes by absolute start, then pitch, then id.
 * @param {object[]} notes
 * @param {Record<string, number>} [origins]
 */
export function selectionOrder(notes, origins = null) {
  return notes
    .map((n) => [[n.start + originOf(n, origins), n.pitch, n.id], n])
    .sort((a, b) => compare(a[0], b[0]))
    .map(([, n]) => n);
}

/** `[first start, last end]` of the notes, in absolute ticks. */
export function span(notes, origins = null) {
  checkSelection(notes);
  let first = Infinity;
  let last = -Infinity;
  for (const n of notes) {
    const o = originOf(n, origins);
    first = Math.min(first, n.start + o);
    last = Math.max(last, n.start + n.dur + o);
  }
  return [first, last];
}

/** The grid line nearest to `tick` (a tie goes to the later line). */
export function nearestGrid(tick, grid) {
  const below = tick - (((tick % grid) + grid) % grid);
  return 2 * (tick - below) >= grid ? below + grid : below;
}

/** Move each note's start toward its nearest grid line by `strength` (0..1); never below 0. */
export function quantize(notes, grid, strength = 1, origins = null) {
  checkSelection(notes);
  checkGrid(grid);
  if (typeof strength !== "number" || !(strength >= 0 && strength <= 1)) fail(ERROR_CODES.OUT_OF_RANGE, `strength must be from 0 to 1, not ${strength}`);
  const ops = [];
  for (const n of selectionOrder(notes, origins)) {
    const origin = originOf(n, origins);
    const at = n.start + origin;
    const target = at + round((nearestGrid(at, grid) - at) * strength);
    const start = Math.min(MAX_TICK, Math.max(0, target - origin));
    if (start !== n.start) ops.push(setOp(n.id, "start", start));
  }
  return bounded(ops);
}

/** Shift the notes by `ticks` and `semitones`; refused if any would leave its range. */
export function move(notes, ticks = 0, semitones = 0, origins = null) {
  checkSelection(notes);
  const order = selectionOrder(notes, origins);
  for (const n of order) {
    if (n.pitch + semitones < 0 || n.pitch + semitones > 127) fail(ERROR_CODES.OUT_OF_RANGE, `pitch ${n.pitch + semitones} is outside 0..127`);
    if (n.start + ticks < 0 || n.start + ticks > MAX_TICK) fail(ERROR_CODES.OUT_OF_RANGE, `start ${n.start + ticks} is outside 0..${MAX_TICK}`);
  }
  const ops = [];
  for (const n of order) {
    if (ticks) ops.push(setOp(n.id, "start", n.start + ticks));
    if (semitones) ops.push(setOp(n.id, "pitch", n.pitch + semitones));
  }
  return bounded(ops);
}

/** Set every note's pitch `semitones` higher (lower when negative). */
export function transpose(notes, semitones, origins = null) {
  return move(notes, 0, semitones, origins);
}

/**
 * Every note's pitch to the nearest pitch of `key`'s scale (a tie goes to the
 * lower one, as harmony.snapToScale): a set op for each note that moves.
 * As protocol/editing.py's fit_to_scale (tests/web/test_editing_js.py).
 */
export function fitToScale(notes, key, origins = null) {
  checkSelection(notes);
  const ops = [];
  for (const n of selectionOrder(notes, origins)) {
    const pitch = snapToScale(n.pitch, key);
    if (pitch !== n.pitch) ops.push(setOp(n.id, "pitch", pitch));
  }
  return bounded(ops);
}

/**
 * As move, with each note's new pitch snapped to `key`'s scale (a drag with
 * snap to scale on): a pitch op only for a note whose pitch changes.
 */
export function moveInScale(notes, ticks, semitones, key, origins = null) {
  move(notes, ticks, semitones, origins); // the same range checks
  const ops = [];
  for (const n of selectionOrder(notes, origins)) {
    if (ticks) ops.push(setOp(n.id, "start", n.start + ticks));
    const pitch = snapToScale(n.pitch + semitones, key);
    if (pitch !== n.pitch) ops.push(setOp(n.id, "pitch", pitch));
  }
  return bounded(ops);
}

/** Lengthen (shorten when negative) every note by `ticks`; never shorter than 1. */
export function resize(notes, ticks, origins = null) {
  checkSelection(notes);
  const ops = [];
  for (const n of selectionOrder(notes, origins)) {
    const dur = Math.min(MAX_TICK, Math.max(1, n.dur + ticks));
    if (dur !== n.dur) ops.push(setOp(n.id, "dur", dur));
  }
  return bounded(ops);
}

/** Give every note velocity `vel` (1..127). */
export function setVelocity(notes, vel, origins = null) {
  checkSelection(notes);
  if (!isInt(vel) || vel < 1 || vel > 127) fail(ERROR_CODES.OUT_OF_RANGE, `velocity must be from 1 to 127, not ${vel}`);
  return bounded(selectionOrder(notes, origins).filter((n) => n.vel !== vel).map((n) => setOp(n.id, "vel", vel)));
}

/** Delete every note of the selection. */
export function remove(notes, origins = null) {
  checkSelection(notes);
  return bounded(selectionOrder(notes, origins).map((n) => ({ op: "delete", id: n.id })));
}

function inserts(order, newIds, place) {
  if (newIds.length !== order.length) fail(ERROR_CODES.BAD_FIELD, `${order.length} notes need ${order.length} new ids, not ${newIds.length}`);
  const ops = order.map((n, i) => {
    const value = {};
    for (const field of NOTE_FIELDS) value[field] = n[field] ?? null;
    place(value, n);
    if (value.start < 0 || value.start > MAX_TICK) fail(ERROR_CODES.OUT_OF_RANGE, `start ${value.start} is outside 0..${MAX_TICK}`);
    return { op: "insert", kind: "note", id: newIds[i], value };
  });
  return bounded(ops);
}

/**
 * Copies of the notes right after the selection's span, which is rounded up
 * to `grid` (a beat by default); `newIds` name them in selection order.
 */
export function duplicate(notes, newIds, grid = PPQ, origins = null) {
  checkGrid(grid);
  const [first, last] = span(notes, origins);
  const offset = Math.ceil((last - first) / grid) * grid;
  return inserts(selectionOrder(notes, origins), newIds, (value, n) => { value.start = n.start + offset; });
}

/**
 * Inserts of the clipboard's notes on `track` (in notes `clip`, or free with
 * null), keeping their relative positions, the first at tick `at` (from the
 * clip's start when in a clip).
 */
export function paste(clipboard, at, track, clip, newIds) {
  checkSelection(clipboard, "nothing to paste");
  if (!isInt(at)) fail(ERROR_CODES.OUT_OF_RANGE, `paste position must be an integer tick, not ${at}`);
  const first = Math.min(...clipboard.map((n) => n.start));
  return inserts(selectionOrder(clipboard), newIds, (value, n) => {
    value.track = track;
    value.clip = clip;
    value.start = at + n.start - first;
  });
}

/**
 * Inserts of a chord's notes (`pitches`, lowest first) all at tick `at` (from
 * the clip's start when in notes `clip`) lasting `dur`, on `track`; `newIds`
 * name them lowest first.
 */
export function stamp(pitches, at, dur, track, clip, newIds, vel = 100) {
  checkSelection(pitches, "no chord tones");
  if (!isInt(at)) fail(ERROR_CODES.OUT_OF_RANGE, `chord position must be an integer tick, not ${at}`);
  if (!isInt(dur) || dur < 1 || dur > MAX_TICK) fail(ERROR_CODES.OUT_OF_RANGE, `chord length must be from 1 tick, not ${dur}`);
  for (const p of pitches) if (!isInt(p) || p < 0 || p > 127) fail(ERROR_CODES.OUT_OF_RANGE, `pitch ${p} is outside 0..127`);
  const tones = [...pitches].sort((a, b) => a - b).map((pitch) => ({ track, clip, pitch, start: at, dur, vel }));
  return inserts(tones, newIds, () => {});
}

export { remove as delete };
