/**
 * The project played in the browser: the arrangement's sounds through one
 * channel strip per track (volume, pan, mute, solo), on the shared timeline.
 *
 * What sounds when is not decided here: `../arrangement.js` holds the rules
 * (`protocol/arrangement.py`'s, which the bots and renders use too): free
 * notes, notes clips, pattern clips, unplaced patterns looping from bar 1, and
 * the project's swing. On a `drums` track pitches are General MIDI drum notes;
 * on any other track they are played by the synth (a pattern step lasts one
 * step). Muted tracks are still scheduled, into a silent strip, so an unmute is
 * heard at once.
 *
 * It is a scheduler {@link import("./scheduler.js").Source}; `update(project)`
 * takes the new document after every change, and the caller then asks the
 * scheduler to reschedule, so edits are heard within the look-ahead.
 *
 * @module sound/playback
 */

import { Arrangement, audibleTracks } from "../arrangement.js";
import { PPQ } from "../protocol.js";
import { playDrum, playNote } from "./instruments.js";

export { PPQ }; // ticks per quarter note: the protocol's (protocol/model.py PPQ)
export { audibleTracks };

/**
 * @typedef {{id: string, name?: string, kind: string, instrument: number, volume: number, pan: number, mute: boolean, solo: boolean}} Track
 * @typedef {import("../arrangement.js").Data} Project
 * @typedef {{beat: number, track: string, sound: number, vel: number, beats: number}} Hit
 *   one thing to play: `sound` is a drum note or a pitch, `beats` its length
 */

/** @param {import("../arrangement.js").Sound} s @returns {Hit} */
const toHit = (s) => ({ beat: s.beat, track: s.track, sound: s.pitch, vel: s.velocity, beats: s.beats });

/**
 * Everything the project plays in beats [from, to), in order (one-off: a player
 * keeps an {@link Arrangement} instead).
 * @param {Project} project
 * @param {number} from
 * @param {number} to
 * @returns {Hit[]}
 */
export function hitsBetween(project, from, to) {
  return new Arrangement(project).soundsBetween(from, to).map(toHit);
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
    this.project = { project: { swing: 0, meter: [4, 4] }, tracks: [], patterns: [], notes: [], clips: [] };
    this.arrangement = new Arrangement(this.project);
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
    this.arrangement = new Arrangement(project);
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
    return this.arrangement.soundsBetween(from, to).map(toHit);
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
