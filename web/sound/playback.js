/**
 * The project played in the browser: the arrangement's sounds, played by the
 * server's SoundFont samples, through the signal chain (`chain.js`: a strip
 * per track with EQ, compressor, volume, pan and sends; the reverb and delay
 * returns; master gain and the true-peak limiter), on the shared timeline.
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
import { LIMITER_DELAY, NOTE_HOLD_S, RELEASE_END_S, RELEASE_S, noteGain } from "../dsp.js";
import { Bus, cycleLatency, loadWorklets, Strip, trackWithDefaults } from "./chain.js";
import { playDrum, playNote } from "./instruments.js";
import { keyOf, wantedKeys } from "./samples.js";

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

/**
 * Play one sample: `gain` from `when`; a pitched note shorter than its sample
 * fades from its end with RELEASE_S and stops RELEASE_END_S later (dsp.release_gain).
 * @param {BaseAudioContext} context
 * @param {AudioNode} out
 * @param {AudioBuffer} buffer
 * @param {{gain: number, when: number, seconds: number | null}} how seconds: null for a one-shot
 * @returns {AudioBufferSourceNode}
 */
export function playSample(context, out, buffer, { gain, when, seconds }) {
  const source = new AudioBufferSourceNode(context, { buffer });
  const level = new GainNode(context, { gain });
  source.connect(level).connect(out);
  source.start(when);
  if (seconds !== null && seconds < NOTE_HOLD_S && seconds < buffer.duration) {
    level.gain.setValueAtTime(gain, when + seconds);
    level.gain.setTargetAtTime(0, when + seconds, RELEASE_S);
    source.stop(when + seconds + RELEASE_END_S);
  }
  source.onended = () => level.disconnect();
  return source;
}

/** dB of a linear peak (−∞ for silence). */
const toDb = (peak) => (peak > 0 ? 20 * Math.log10(peak) : -Infinity);

export class Playback {
  /**
   * A Playback with the whole chain: loads the worklets into `context` first.
   * @param {BaseAudioContext} context
   * @param {AudioNode} destination
   * @param {{library?: import("./samples.js").SampleLibrary | null, compensate?: boolean}} [options]
   */
  static async create(context, destination, options = {}) {
    const [, loopExtra] = await Promise.all([loadWorklets(context), cycleLatency()]);
    return new Playback(context, destination, { ...options, dynamics: true, loopExtra });
  }

  /**
   * @param {BaseAudioContext} context
   * @param {AudioNode} destination
   * @param {{library?: import("./samples.js").SampleLibrary | null, dynamics?: boolean, compensate?: boolean, loopExtra?: number}} [options]
   *   library: where the samples come from (none: the synth); dynamics: the
   *   worklets are loaded (see `create`); compensate: start sounds early by the limiter's delay;
   *   loopExtra: what the engine adds to a delay in a cycle (`cycleLatency`, measured by `create`)
   */
  constructor(context, destination, { library = null, dynamics = false, compensate = true, loopExtra = 0 } = {}) {
    this.context = context;
    this.library = library;
    this.compensate = compensate;
    this.bus = new Bus(context, destination, { dynamics, loopExtra });
    this.output = this.bus.output;
    /** @type {Project} */
    this.project = { project: { swing: 0, meter: [4, 4] }, tracks: [], patterns: [], notes: [], clips: [] };
    this.arrangement = new Arrangement(this.project);
    /** @type {Map<string, Strip>} */
    this.strips = new Map();
    /** @type {Map<string, Track>} */
    this.tracks = new Map();
    /** called when samples that were missing have come in (the panel reschedules) */
    this.onReady = () => {};
    this.prefetching = null;
    // A live chain sleeps (cut from the destination: no CPU) until a sound is due,
    // and again once the last one and the returns' tails have died away.
    this.sleeps = typeof AudioContext !== "undefined" && context instanceof AudioContext;
    this.quietAt = 0; // context time when everything played so far has rung out
    this.watch = null;
    if (this.sleeps) this.bus.sleep();
  }

  /** Wake the chain for a sound sounding until context time `until`. */
  awake(until) {
    this.quietAt = Math.max(this.quietAt, until + this.bus.tail + 0.5);
    if (!this.sleeps) return;
    this.bus.wake();
    this.watch ??= setInterval(() => {
      if (this.context.currentTime < this.quietAt) return;
      this.bus.sleep();
      for (const strip of this.strips.values()) strip.quiet();
      clearInterval(this.watch);
      this.watch = null;
    }, 1000);
  }

  /**
   * Take the document after a change: channel strips follow at once, the
   * scheduler's next window plays the new patterns and notes, and the samples
   * the project now needs start loading.
   * @param {Project} project
   */
  update(project) {
    this.project = project;
    this.arrangement = new Arrangement(project);
    this.tracks = new Map(project.tracks.map((t) => [t.id, t]));
    const audible = audibleTracks(project.tracks);
    for (const track of project.tracks) {
      let strip = this.strips.get(track.id);
      if (strip === undefined) {
        strip = new Strip(this.context, this.bus);
        this.strips.set(track.id, strip);
      }
      strip.set(track, audible.get(track.id) ?? false);
    }
    for (const [id, strip] of this.strips) {
      if (!this.tracks.has(id)) {
        strip.disconnect();
        this.strips.delete(id);
      }
    }
    const reverb = project.tracks.some((t) => (t.send_reverb ?? 0) > 0);
    this.bus.set(project.project, reverb);
    if (this.library?.available) this.prefetch();
  }

  /** Load the samples the project needs; `onReady` once new ones are in. */
  prefetch() {
    const library = /** @type {import("./samples.js").SampleLibrary} */ (this.library);
    const keys = [...wantedKeys(this.project).values()].filter((k) => library.get(k) === undefined);
    if (keys.length === 0) return this.prefetching ?? Promise.resolve();
    const done = library.prefetch(keys).then(() => this.onReady());
    this.prefetching = done;
    return done;
  }

  /** Seconds a sound starts early so that it leaves the limiter on time. */
  get lead() {
    return this.compensate && this.bus.limiterOn ? LIMITER_DELAY / this.context.sampleRate : 0;
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
    if (track === undefined || strip === undefined || track.kind === "audio") return [];
    const seconds = (hit.beats * timeline.usPerBeat) / 1e6;
    const at = Math.max(this.context.currentTime, when - this.lead);
    this.awake(at + Math.max(seconds, 0) + RELEASE_END_S + 6); // a held sample rings up to ~6 s
    if (this.library?.available) {
      const key = keyOf(track, hit.sound, hit.vel);
      const buffer = this.library.get(key);
      if (buffer === undefined) {
        this.library.load(key).then((b) => b && this.onReady());
        return []; // not in yet: the window is played again once it is
      }
      return [playSample(this.context, strip.input, buffer, { gain: noteGain(hit.vel, key.layer), when: at, seconds: key.drum ? null : seconds })];
    }
    if (track.kind === "drums") return playDrum(this.context, strip.input, hit.sound, hit.vel, at);
    const note = { pitch: hit.sound, vel: hit.vel, program: track.instrument };
    return playNote(this.context, strip.input, note, at, seconds);
  }

  /**
   * Peak levels (dBFS) since the last meter report, per track (post-fader) and
   * of the master (after the limiter), per channel and the louder of the two,
   * and the gain reductions (dB ≤ 0) of each track's compressor and of the limiter.
   * @returns {{master: Level, limiter: number, tracks: Record<string, Level & {reduction: number}>}}
   */
  levels() {
    /** @typedef {{level: number, left: number, right: number}} Level */
    const level = (peaks) => ({ level: toDb(Math.max(...peaks)), left: toDb(peaks[0]), right: toDb(peaks[1]) });
    const tracks = {};
    for (const [id, strip] of this.strips) {
      const on = trackWithDefaults(this.tracks.get(id) ?? {}).comp_on;
      tracks[id] = { ...level(strip.level.peaks), reduction: on ? strip.reduction : 0 };
    }
    return { master: level(this.bus.level.peaks), limiter: this.bus.limiterOn ? this.bus.reduction : 0, tracks };
  }

  /**
   * Hear a field's value before it is an edit (a knob being turned): the strip
   * or the bus takes it now; the next `update` puts the document's values back.
   * @param {string} id a track id, or "project" for the returns and the master
   * @param {Record<string, any>} fields
   */
  preview(id, fields) {
    if (id === "project") {
      const reverb = this.project.tracks.some((t) => (t.send_reverb ?? 0) > 0) || (fields.send_reverb ?? 0) > 0;
      this.bus.set({ ...this.project.project, ...fields }, reverb);
      return;
    }
    const track = this.tracks.get(id);
    const strip = this.strips.get(id);
    if (track === undefined || strip === undefined) return;
    if ((fields.send_reverb ?? 0) > 0) this.bus.set(this.project.project, true);
    strip.set({ ...track, ...fields }, audibleTracks(this.project.tracks).get(id) ?? false);
  }

  disconnect() {
    if (this.watch !== null) clearInterval(this.watch);
    this.watch = null;
    for (const strip of this.strips.values()) strip.disconnect();
    this.bus.disconnect();
  }
}
