/**
 * Live notes: what someone plays now on a MIDI keyboard, heard at once (mine
 * as I play them, the others' as their `live` frames arrive), never scheduled
 * on the timeline and never an edit.
 *
 * A note is played as the project's own notes are (`playback.js`): the
 * track's SoundFont sample (`playSample`, at the velocity's layer and
 * `noteGain`) or, when the server has no SoundFont, the built-in synth
 * (`instruments.js`), into the track's channel strip, so the track's EQ,
 * compressor, volume, pan, sends, mute and solo apply (a muted track's strip
 * is silent). Unlike a scheduled note its end is not known when it starts: it
 * is held behind a gate of its own until note-off, or until the sustain pedal
 * comes up if it was down then, and fades with the same release as a note
 * that ends before its sample (dsp RELEASE_S). A drum hit is a one-shot. The
 * pitch wheel (±2 semitones) retunes the player's sounding voices (detune).
 *
 * Live notes are heard through the project's chain, so only while the page
 * monitors the project (the panel's *Monitor*); a sample not loaded yet is
 * fetched and starts when it comes in, if the key is still down.
 *
 * @module sound/live
 */

import { RELEASE_END_S, RELEASE_S, noteGain } from "../dsp.js";
import { playDrum, playNote } from "./instruments.js";
import { playSample } from "./playback.js";
import { keyOf } from "./samples.js";

/** The wheel's reach each way, in cents (the General MIDI default: two semitones). */
export const BEND_CENTS = 200;
/** The synth needs a note's length up front: a held one is "until note-off", at most this. */
const SYNTH_HOLD_S = 3600;
/** How long a drum hit whose sample is still loading may start late. */
const LATE_HIT_S = 0.25;
/** While keys are down the chain stays awake this far ahead (it sleeps once silent). */
const AWAKE_S = 2;

/**
 * @typedef {{pitch: number, gate: GainNode, sources: AudioScheduledSourceNode[], oneShot: boolean,
 *   released: boolean, sustained: boolean}} Voice
 * @typedef {{voices: Map<number, Voice>, bend: number, pedal: boolean}} Player
 */

export class LivePlayer {
  /**
   * @param {{sound: () => any, track: (requested: string | null) => string | null}} options
   *   sound: the sound panel's handle (`context`, `playback`, `library`), or null;
   *   track: the track a note plays on, from the one it names (null: none named)
   */
  constructor({ sound, track }) {
    this.sound = sound;
    this.track = track;
    /** @type {Map<string, Player>} by who plays (a client id, or "local") */
    this.players = new Map();
    this.awakeTimer = null;
  }

  /** @param {string} who */
  player(who) {
    let player = this.players.get(who);
    if (player === undefined) {
      player = { voices: new Map(), bend: 0, pedal: false };
      this.players.set(who, player);
    }
    return player;
  }

  /**
   * Start `pitch` for `who` on `track` (null: the page's choice); false when it
   * cannot be heard here (not monitoring, no such track, an audio track).
   * @param {string} who
   * @param {number} pitch
   * @param {number} vel 1..127
   * @param {string | null} [trackId]
   */
  noteOn(who, pitch, vel, trackId = null) {
    const player = this.player(who);
    const old = player.voices.get(pitch);
    if (old !== undefined) {
      player.voices.delete(pitch);
      this.release(old); // struck again: the old one makes way
    }
    const sound = this.sound();
    const playback = sound?.playback;
    const context = sound?.context;
    if (!playback || !context || context.state === "closed") return false;
    const id = this.track(trackId);
    const track = id === null ? undefined : playback.tracks.get(id);
    const strip = id === null ? undefined : playback.strips.get(id);
    if (track === undefined || strip === undefined || track.kind === "audio") return false;
    const at = context.currentTime;
    const gate = new GainNode(context, { gain: 1 });
    gate.connect(strip.input);
    /** @type {Voice} */
    const voice = { pitch, gate, sources: [], oneShot: track.kind === "drums", released: false, sustained: false };
    player.voices.set(pitch, voice);
    playback.awake(at + AWAKE_S);
    this.keepAwake();
    const library = sound.library;
    if (library?.available) {
      const key = keyOf(track, pitch, vel);
      voice.oneShot = key.drum;
      const start = (buffer) => {
        const when = context.currentTime;
        this.started(voice, [playSample(context, gate, buffer, { gain: noteGain(vel, key.layer), when, seconds: null })], player);
      };
      const buffer = library.get(key);
      if (buffer !== undefined) {
        start(buffer);
      } else {
        library.load(key).then((loaded) => {
          const late = context.currentTime - at;
          if (loaded && (voice.oneShot ? late < LATE_HIT_S : !voice.released)) start(loaded);
        });
      }
    } else if (voice.oneShot) {
      this.started(voice, playDrum(context, gate, pitch, vel, at), player);
    } else {
      this.started(voice, playNote(context, gate, { pitch, vel, program: track.instrument }, at, SYNTH_HOLD_S), player);
    }
    return true;
  }

  /** The voice's sources began: tune them to the wheel, let the gate go when they end. */
  started(voice, sources, player) {
    voice.sources.push(...sources);
    if (!voice.oneShot) this.tune(voice, player.bend, true);
    let left = voice.sources.length;
    for (const source of sources) {
      source.addEventListener("ended", () => {
        left -= 1;
        if (left <= 0) voice.gate.disconnect();
      });
    }
  }

  /**
   * Let `pitch` go (held on while the pedal is down).
   * @param {string} who
   * @param {number} pitch
   */
  noteOff(who, pitch) {
    const player = this.players.get(who);
    const voice = player?.voices.get(pitch);
    if (player === undefined || voice === undefined) return;
    if (voice.oneShot) {
      player.voices.delete(pitch); // a drum rings out by itself
    } else if (player.pedal) {
      voice.sustained = true;
    } else {
      player.voices.delete(pitch);
      this.release(voice);
    }
  }

  /**
   * The sustain pedal: released notes ring on while it is down, and stop as it comes up.
   * @param {string} who
   * @param {boolean} on
   */
  sustain(who, on) {
    const player = this.player(who);
    player.pedal = on;
    if (on) return;
    for (const [pitch, voice] of player.voices) {
      if (!voice.sustained) continue;
      player.voices.delete(pitch);
      this.release(voice);
    }
  }

  /**
   * The pitch wheel: -1..1, ±BEND_CENTS, for the voices sounding and the next ones.
   * @param {string} who
   * @param {number} value
   */
  bend(who, value) {
    const player = this.player(who);
    player.bend = Math.max(-1, Math.min(1, Number(value) || 0));
    for (const voice of player.voices.values()) if (!voice.oneShot) this.tune(voice, player.bend, false);
  }

  /** Silence everything `who` holds (everyone's when null): they left, or the line dropped. */
  allOff(who = null) {
    for (const [id, player] of this.players) {
      if (who !== null && id !== who) continue;
      for (const voice of player.voices.values()) this.release(voice);
      this.players.delete(id);
    }
  }

  /**
   * A `live` frame from someone else: `{by, event, pitch, vel, value, on, track}`.
   * @param {{by: string, event: string, pitch?: number, vel?: number, value?: number, on?: boolean, track?: string | null}} message
   */
  handle(message) {
    const { by, event } = message;
    if (event === "on") this.noteOn(by, /** @type {number} */ (message.pitch), /** @type {number} */ (message.vel), message.track ?? null);
    else if (event === "off") this.noteOff(by, /** @type {number} */ (message.pitch));
    else if (event === "bend") this.bend(by, /** @type {number} */ (message.value));
    else if (event === "sustain") this.sustain(by, Boolean(message.on));
  }

  /** Fade a voice out as a note shorter than its sample ends, then stop it. */
  release(voice) {
    if (voice.released) return;
    voice.released = true;
    if (voice.oneShot) return;
    const context = voice.gate.context;
    const t = context.currentTime;
    voice.gate.gain.cancelScheduledValues(t);
    voice.gate.gain.setValueAtTime(voice.gate.gain.value, t);
    voice.gate.gain.setTargetAtTime(0, t, RELEASE_S);
    for (const source of voice.sources) {
      try {
        source.stop(t + RELEASE_END_S);
      } catch {
        // never started: nothing to stop
      }
    }
    if (voice.sources.length === 0) voice.gate.disconnect();
  }

  /** @param {Voice} voice @param {number} bend @param {boolean} now */
  tune(voice, bend, now) {
    const cents = bend * BEND_CENTS;
    for (const source of voice.sources) {
      const detune = /** @type {any} */ (source).detune;
      if (!detune) continue;
      const t = source.context.currentTime;
      if (now) detune.setValueAtTime(cents, t);
      else detune.setTargetAtTime(cents, t, 0.005); // a wheel moves smoothly, not in steps
    }
  }

  /** Keep the chain awake while any key is down (it sleeps once everything has rung out). */
  keepAwake() {
    if (this.awakeTimer !== null) return;
    this.awakeTimer = setInterval(() => {
      const held = [...this.players.values()].some((p) => [...p.voices.values()].some((v) => !v.released && !v.oneShot));
      const sound = this.sound();
      if (held && sound?.playback && sound.context) {
        sound.playback.awake(sound.context.currentTime + AWAKE_S);
      } else if (!held) {
        clearInterval(this.awakeTimer);
        this.awakeTimer = null;
      }
    }, 500);
  }

  close() {
    this.allOff();
    if (this.awakeTimer !== null) clearInterval(this.awakeTimer);
    this.awakeTimer = null;
  }
}
