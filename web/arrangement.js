/**
 * What the arrangement plays, and when: `protocol/arrangement.py`'s rules, for
 * the browser's scheduler. Both are checked against each other on random
 * projects (tests/web/test_arrangement_js.py), so the browser plays what a bot
 * plays and what a render holds.
 *
 * - A free note (`clip` null) sounds at `start` for `dur` ticks.
 * - A note in a notes clip sounds at the clip's start plus its own `start`;
 *   one starting at or after the clip's end is silent, one running past it is
 *   cut at the end.
 * - A pattern clip repeats its pattern from the clip's start: the steps that
 *   start before the clip's end sound, each one step long.
 * - A pattern no clip places loops from bar 1 while the transport rolls.
 *
 * Positions are beats (quarter notes from bar 1); sounds come out with the
 * project's swing applied, ordered by (beat, track, pitch, velocity, beats).
 * Windows partition: adjacent ranges never share or drop a sound.
 *
 * @module arrangement
 */

import { BEAT_EPSILON as EPSILON, PPQ } from "./protocol.js";
import { barLength, swingUnwarp, swingWarp } from "./timeline.js";

/**
 * @typedef {{beat: number, beats: number, track: string, pitch: number, velocity: number}} Sound
 * @typedef {{project: any, tracks: any[], patterns: any[], notes: any[], clips: any[], sections?: any[]}} Data
 */

/**
 * Whether each track is heard: not muted, and soloed if anyone is.
 * @param {Array<{id: string, mute: boolean, solo: boolean}>} tracks
 * @returns {Map<string, boolean>}
 */
export function audibleTracks(tracks) {
  const soloing = tracks.some((t) => t.solo);
  return new Map(tracks.map((t) => [t.id, !t.mute && (!soloing || t.solo)]));
}

const byStart = (a, b) => a.start - b.start;

/** First index in `notes` (sorted by start) whose beat `(offset + start) / PPQ` is not below `beat`. */
function firstFrom(notes, offset, beat) {
  let lo = 0;
  let hi = notes.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((offset + notes[mid].start) / PPQ < beat - EPSILON) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The project (snapshot form) made ready for many `soundsBetween` calls: built
 * once per change, so a scheduler's window costs a binary search per track.
 */
export class Arrangement {
  /** @param {Data} data */
  constructor(data) {
    this.swing = data.project.swing ?? 0;
    this.meter = data.project.meter;
    this.patterns = new Map(data.patterns.map((p) => [p.id, p]));
    this.clips = data.clips;
    const placed = new Set(data.clips.map((c) => c.pattern).filter((p) => p !== null && p !== undefined));
    this.unplaced = data.patterns.filter((p) => !placed.has(p.id));
    /** @type {Map<string, any[]>} free notes per track, by start */
    this.free = new Map();
    /** @type {Map<string, any[]>} a notes clip's notes, by start */
    this.inClip = new Map();
    for (const note of data.notes) {
      const clip = note.clip ?? null;
      const table = clip === null ? this.free : this.inClip;
      const key = clip === null ? note.track : clip;
      if (!table.has(key)) table.set(key, []);
      table.get(key).push(note);
    }
    for (const list of [...this.free.values(), ...this.inClip.values()]) list.sort(byStart);
    this.data = data;
  }

  /**
   * Every sound starting in beats [lo, hi) (swung time).
   * @param {number} lo
   * @param {number} hi
   * @returns {Sound[]}
   */
  soundsBetween(lo, hi) {
    if (hi <= lo) return [];
    const swing = this.swing;
    const a = swingUnwarp(lo, swing);
    const b = swingUnwarp(hi, swing);
    /** @type {Array<[number, number, string, number, number]>} */
    const straight = [];
    for (const pattern of this.unplaced) patternSounds(straight, pattern, 0, null, a, b);
    for (const clip of this.clips) {
      const start = clip.start;
      const end = clip.start + clip.length;
      if (end / PPQ <= a - EPSILON || start / PPQ >= b) continue;
      if (clip.pattern !== null && clip.pattern !== undefined) {
        patternSounds(straight, this.patterns.get(clip.pattern), start, end, a, b);
        continue;
      }
      const notes = this.inClip.get(clip.id) ?? [];
      for (let i = firstFrom(notes, start, a); i < notes.length; i += 1) {
        const note = notes[i];
        const beat = (start + note.start) / PPQ;
        if (beat >= b - EPSILON || note.start >= clip.length) break;
        const dur = Math.min(note.dur, clip.length - note.start);
        straight.push([beat, dur / PPQ, note.track, note.pitch, note.vel]);
      }
    }
    for (const notes of this.free.values()) {
      for (let i = firstFrom(notes, 0, a); i < notes.length; i += 1) {
        const note = notes[i];
        const beat = note.start / PPQ;
        if (beat >= b - EPSILON) break;
        straight.push([beat, note.dur / PPQ, note.track, note.pitch, note.vel]);
      }
    }
    straight.sort(compareSounds);
    return straight.map(([at, length, track, pitch, velocity]) => {
      const beat = swingWarp(at, swing);
      return { beat, beats: swingWarp(at + length, swing) - beat, track, pitch, velocity };
    });
  }

  /** The tick where the song ends, rounded up to a bar line (see {@link songEnd}). */
  songEnd() {
    return songEnd(this.data);
  }
}

/**
 * The tick where the song ends: the last clip, section or free note's end (an
 * unplaced pattern counts one pass from bar 1), rounded up to a bar line; 0 for
 * an empty project.
 * @param {Data} data
 * @returns {number}
 */
export function songEnd(data) {
  let last = 0;
  for (const c of data.clips) last = Math.max(last, c.start + c.length);
  for (const s of data.sections ?? []) last = Math.max(last, s.start + s.length);
  for (const n of data.notes) if ((n.clip ?? null) === null) last = Math.max(last, n.start + n.dur);
  const placed = new Set(data.clips.map((c) => c.pattern));
  for (const p of data.patterns) {
    if (!placed.has(p.id)) last = Math.max(last, Math.floor((p.length * PPQ) / p.steps_per_beat));
  }
  const bar = Math.round(barLength(data.project.meter) * PPQ);
  return Math.ceil(last / bar) * bar;
}

function compareSounds(x, y) {
  return x[0] - y[0] || cmp(x[2], y[2]) || x[3] - y[3] || x[4] - y[4] || x[1] - y[1];
}

const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/** The pattern's steps in straight beats [a, b), repeating from tick `start` until `end` (null: forever). */
function patternSounds(out, pattern, start, end, a, b) {
  const perBeat = pattern.steps_per_beat;
  const length = pattern.length;
  const lanes = pattern.lanes.filter((lane) => lane.steps.some((v) => v > 0));
  if (!lanes.length) return;
  const origin = start / PPQ;
  const first = Math.max(0, Math.ceil((a - origin) * perBeat - EPSILON));
  let last = Math.ceil((b - origin) * perBeat - EPSILON);
  if (end !== null) last = Math.min(last, Math.ceil(((end - start) / PPQ) * perBeat - EPSILON));
  for (let n = first; n < last; n += 1) {
    const step = n % length;
    for (const lane of lanes) {
      const velocity = lane.steps[step];
      if (velocity > 0) out.push([origin + n / perBeat, 1 / perBeat, pattern.track, lane.sound, velocity]);
    }
  }
}
