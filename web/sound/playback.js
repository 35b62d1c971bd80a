/**
 * The project played in the browser: drum patterns and notes, through one
 * channel strip per track (volume, pan, mute, solo), on the shared timeline.
 *
 * How the document maps to time (positions are ticks at PPQ, 960 per quarter
 * note; beats are quarter notes):
 * - A note sounds at beat `start / PPQ` for `dur / PPQ` beats.
 * - A pattern's step `i` is `i / steps_per_beat` beats into the pattern, which
 *   lasts `length / steps_per_beat` beats and repeats. A pattern that clips
 *   place plays only inside its clips: from each clip's `start`, repeating,
 *   for the steps that start before `start + length` ticks. A pattern no clip
 *   places loops from beat 0 (bar 1) for as long as the transport rolls, so a
 *   fresh step sequencer pattern is heard at once. Either way on the
 *   pattern's own track. (The Python drummer bot's rule, `client/drums.py`.)
 * - On a `drums` track, lane sounds and note pitches are General MIDI drum
 *   notes; on any other track they are pitches played by the synth (a pattern
 *   step lasts one step).
 * - Audible tracks: not muted, and soloed when any track is soloed.
 *
 * It is a scheduler {@link import("./scheduler.js").Source}; `update(project)`
 * takes the new document after every change, and the caller then asks the
 * scheduler to reschedule, so edits are heard within the look-ahead.
 *
 * @module sound/playback
 */

import { PPQ } from "../protocol.js";
import { playDrum, playNote } from "./instruments.js";

export { PPQ }; // ticks per quarter note: the protocol's (protocol/model.py PPQ)
/** Beats: tolerance for a step on a window edge (steps are exact fractions, windows are floats). */
const EPSILON = 1e-9;

/**
 * @typedef {{id: string, name?: string, kind: string, instrument: number, volume: number, pan: number, mute: boolean, solo: boolean}} Track
 * @typedef {{id: string, track: string, length: number, steps_per_beat: number, lanes: Array<{sound: number, steps: number[]}>}} Pattern
 * @typedef {{id: string, track: string, pitch: number, start: number, dur: number, vel: number}} Note
 * @typedef {{id: string, track: string, pattern: string, start: number, length: number}} Clip
 * @typedef {{tracks: Track[], patterns: Pattern[], notes: Note[], clips: Clip[]}} Project
 * @typedef {{beat: number, track: string, sound: number, vel: number, beats: number}} Hit
 *   one thing to play: `sound` is a drum note or a pitch, `beats` its length
 */

/**
 * Whether each track is heard: not muted, and soloed if anyone is.
 * @param {Track[]} tracks
 * @returns {Map<string, boolean>}
 */
export function audibleTracks(tracks) {
  const soloing = tracks.some((t) => t.solo);
  return new Map(tracks.map((t) => [t.id, !t.mute && (!soloing || t.solo)]));
}

/**
 * The steps of `pattern` that sound in beats [from, to), with the pattern
 * starting (step 0) at beat `origin` and repeating, and nothing outside
 * [origin, end).
 * @param {Pattern} pattern
 * @param {number} from
 * @param {number} to
 * @param {number} origin
 * @param {number} end
 * @returns {Hit[]}
 */
export function patternHits(pattern, from, to, origin = 0, end = Infinity) {
  const hits = [];
  const spb = pattern.steps_per_beat;
  const lo = Math.max(from, origin);
  const hi = Math.min(to, end);
  if (hi <= lo || pattern.length < 1) return hits;
  // global step numbers g (from the origin) with origin + g / spb in [lo, hi)
  const first = Math.ceil((lo - origin) * spb - EPSILON);
  for (let g = first; ; g += 1) {
    const beat = origin + g / spb;
    if (beat >= hi - EPSILON / spb) break;
    const step = g % pattern.length;
    for (const lane of pattern.lanes) {
      const vel = lane.steps[step] ?? 0;
      if (vel > 0) hits.push({ beat, track: pattern.track, sound: lane.sound, vel, beats: 1 / spb });
    }
  }
  return hits;
}

/**
 * Everything the project plays in beats [from, to), ordered by beat.
 * @param {Project} project
 * @param {number} from
 * @param {number} to
 * @param {Map<string, Note[]>} [notesByTrack] notes sorted by start (see {@link indexNotes})
 * @returns {Hit[]}
 */
export function hitsBetween(project, from, to, notesByTrack = indexNotes(project.notes)) {
  const hits = [];
  const placed = new Set(project.clips.map((c) => c.pattern));
  const patterns = new Map(project.patterns.map((p) => [p.id, p]));
  for (const pattern of project.patterns) {
    if (!placed.has(pattern.id)) hits.push(...patternHits(pattern, from, to));
  }
  for (const clip of project.clips) {
    const pattern = patterns.get(clip.pattern);
    if (pattern !== undefined) {
      hits.push(...patternHits(pattern, from, to, clip.start / PPQ, (clip.start + clip.length) / PPQ));
    }
  }
  for (const notes of notesByTrack.values()) {
    // first note starting at or after `from`: binary search on the sorted starts
    let lo = 0;
    let hi = notes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (notes[mid].start / PPQ < from) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < notes.length && notes[i].start / PPQ < to; i += 1) {
      const n = notes[i];
      hits.push({ beat: n.start / PPQ, track: n.track, sound: n.pitch, vel: n.vel, beats: n.dur / PPQ });
    }
  }
  return hits.sort((a, b) => a.beat - b.beat);
}

/**
 * Notes per track, sorted by start.
 * @param {Note[]} notes
 * @returns {Map<string, Note[]>}
 */
export function indexNotes(notes) {
  /** @type {Map<string, Note[]>} */
  const byTrack = new Map();
  for (const note of notes) {
    let list = byTrack.get(note.track);
    if (list === undefined) byTrack.set(note.track, (list = []));
    list.push(note);
  }
  for (const list of byTrack.values()) list.sort((a, b) => a.start - b.start);
  return byTrack;
}

/** One track's channel strip: gain (volume, mute/solo) then stereo pan. */
class Strip {
  /**
   * @param {BaseAudioContext} context
   * @param {AudioNode} destination
   */
  constructor(context, destination) {
    this.input = context.createGain();
    this.pan = context.createStereoPanner();
    this.input.connect(this.pan).connect(destination);
  }

  /**
   * @param {Track} track
   * @param {boolean} audible
   * @param {number} now context time
   */
  set(track, audible, now) {
    const gain = audible ? track.volume : 0;
    this.input.gain.setTargetAtTime(gain, now, 0.01); // 10 ms: no zipper clicks
    this.pan.pan.setTargetAtTime(track.pan, now, 0.01);
  }

  disconnect() {
    this.input.disconnect();
    this.pan.disconnect();
  }
}

export class Playback {
  /**
   * @param {BaseAudioContext} context
   * @param {AudioNode} destination
   */
  constructor(context, destination) {
    this.context = context;
    this.output = context.createGain();
    this.output.connect(destination);
    /** @type {Project} */
    this.project = { tracks: [], patterns: [], notes: [], clips: [] };
    /** @type {Map<string, Note[]>} */
    this.notes = new Map();
    /** @type {Map<string, Strip>} */
    this.strips = new Map();
    /** @type {Map<string, Track>} */
    this.tracks = new Map();
  }

  /**
   * Take the document after a change: channel strips follow at once, the
   * scheduler's next window plays the new patterns and notes.
   * @param {Project} project
   */
  update(project) {
    this.project = project;
    this.notes = indexNotes(project.notes);
    this.tracks = new Map(project.tracks.map((t) => [t.id, t]));
    const audible = audibleTracks(project.tracks);
    const now = this.context.currentTime;
    for (const track of project.tracks) {
      let strip = this.strips.get(track.id);
      if (strip === undefined) {
        strip = new Strip(this.context, this.output);
        this.strips.set(track.id, strip);
      }
      strip.set(track, audible.get(track.id) ?? false, now);
    }
    for (const [id, strip] of this.strips) {
      if (!this.tracks.has(id)) {
        strip.disconnect();
        this.strips.delete(id);
      }
    }
  }

  /**
   * @param {number} from
   * @param {number} to
   */
  events(from, to) {
    return hitsBetween(this.project, from, to, this.notes);
  }

  /**
   * @param {Hit} hit
   * @param {number} when
   * @param {import("../timeline.js").Timeline} timeline
   * @returns {AudioScheduledSourceNode[]}
   */
  play(hit, when, timeline) {
    const track = this.tracks.get(hit.track);
    const strip = this.strips.get(hit.track);
    if (track === undefined || strip === undefined) return [];
    if (track.kind === "drums") {
      return playDrum(this.context, strip.input, hit.sound, hit.vel, when);
    }
    const seconds = (hit.beats * timeline.usPerBeat) / 1e6;
    const note = { pitch: hit.sound, vel: hit.vel, program: track.instrument };
    return playNote(this.context, strip.input, note, when, seconds);
  }
}
