/**
 * The instruments the browser plays: the server's SoundFont samples.
 *
 * The server renders each General MIDI note with FluidSynth once per
 * (bank, program, pitch, velocity layer) and serves it as FLAC
 * (`GET /samples/<bank>/<program>/<pitch>/<layer>.flac`, with the session's
 * token as a Bearer header); the renders, the bots and this page play the
 * very same samples. `GET /samples` says whether there is a SoundFont at all
 * (else the page plays its built-in synth, with a notice saying why).
 *
 * Samples are fetched ahead of need: `prefetch` takes every key a project
 * can play (see `wantedKeys`), at most `PARALLEL` requests at a time, and
 * reports progress; a key asked for while it is loading is simply not ready
 * (`get` returns undefined) and the scheduler plays it once it is. A busy
 * server answers 503: those requests are retried with a growing pause.
 * Decoded buffers are kept in a least-recently-used cache of `MAX_BUFFERS`.
 *
 * @module sound/samples
 */

import { Arrangement } from "../arrangement.js";
import { sampleKey } from "../dsp.js";
import { PPQ } from "../protocol.js";

export const PARALLEL = 4;
export const MAX_BUFFERS = 768;
const RETRIES = 6;

/** A sample's key, from a track and a sound (dsp.sample_key). */
export function keyOf(track, pitch, velocity) {
  return sampleKey(track.kind, track.instrument, pitch, velocity);
}

/**
 * Every sample the project's instrument and drum tracks play, by name (muted
 * tracks too, so an unmute is heard at once; an unplaced pattern loops the
 * same sounds, so its first pass is enough).
 * @param {import("../arrangement.js").Data} project
 * @returns {Map<string, ReturnType<typeof sampleKey>>}
 */
export function wantedKeys(project) {
  const tracks = new Map(project.tracks.map((t) => [t.id, t]));
  const arrangement = new Arrangement(project);
  const end = arrangement.songEnd() / PPQ;
  const keys = new Map();
  for (const sound of arrangement.soundsBetween(0, end + 1)) {
    const track = tracks.get(sound.track);
    if (track === undefined || track.kind === "audio") continue;
    const key = keyOf(track, sound.pitch, sound.velocity);
    keys.set(key.name, key);
  }
  return keys;
}

export class SampleLibrary {
  /**
   * @param {BaseAudioContext} context decodes into buffers of its rate
   * @param {{base: string, token: string, fetch?: typeof fetch}} where the server's HTTP origin and a token
   */
  constructor(context, { base, token, fetch: fetcher = globalThis.fetch.bind(globalThis) }) {
    this.context = context;
    this.base = base.replace(/\/$/, "");
    this.token = token;
    this.fetch = fetcher;
    /** @type {Map<string, AudioBuffer>} most recently used last */
    this.buffers = new Map();
    /** @type {Map<string, Promise<AudioBuffer | null>>} */
    this.loading = new Map();
    /** @type {{available: boolean, soundfont: string | null, reason: string} | null} */
    this.info = null;
    this.failed = 0;
    /** @type {Set<(state: {loaded: number, wanted: number, failed: number}) => void>} */
    this.listeners = new Set();
    this.wanted = 0;
    this.done = 0;
  }

  /** `GET /samples`: whether the server has instruments (cached after the first answer). */
  async index() {
    if (this.info === null) {
      try {
        const answer = await this.request("/samples");
        this.info = await answer.json();
      } catch (error) {
        this.info = { available: false, soundfont: null, reason: `the server's instruments are unreachable (${error.message})` };
      }
    }
    return this.info;
  }

  get available() {
    return this.info?.available === true;
  }

  async request(path) {
    let pause = 100;
    for (let attempt = 0; ; attempt += 1) {
      const answer = await this.fetch(`${this.base}${path}`, { headers: { Authorization: `Bearer ${this.token}` } });
      if (answer.ok) return answer;
      if (answer.status !== 503 || attempt >= RETRIES) {
        let message = `HTTP ${answer.status}`;
        try {
          message = (await answer.json()).message ?? message;
        } catch {
          // not JSON: the status says enough
        }
        throw new Error(message);
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause *= 2;
    }
  }

  /** The decoded sample, if it is ready (and marks it recently used). */
  get(key) {
    const buffer = this.buffers.get(key.name);
    if (buffer !== undefined) {
      this.buffers.delete(key.name);
      this.buffers.set(key.name, buffer);
    }
    return buffer;
  }

  /** Load one sample (once, however often asked); null if the server could not give it. */
  load(key) {
    const ready = this.buffers.get(key.name);
    if (ready !== undefined) return Promise.resolve(ready);
    let pending = this.loading.get(key.name);
    if (pending === undefined) {
      pending = (async () => {
        try {
          const answer = await this.request(`/samples/${key.name}`);
          const buffer = await this.context.decodeAudioData(await answer.arrayBuffer());
          this.buffers.set(key.name, buffer);
          while (this.buffers.size > MAX_BUFFERS) this.buffers.delete(this.buffers.keys().next().value);
          return buffer;
        } catch (error) {
          this.failed += 1;
          console.warn(`sample ${key.name}: ${error.message}`);
          return null;
        } finally {
          this.loading.delete(key.name);
        }
      })();
      this.loading.set(key.name, pending);
    }
    return pending;
  }

  /**
   * Load every key not loaded yet, `PARALLEL` at a time; resolves when all are
   * in (or failed). Progress goes to `onProgress` listeners.
   * @param {Iterable<ReturnType<typeof sampleKey>>} keys
   */
  async prefetch(keys) {
    const missing = [...keys].filter((k) => !this.buffers.has(k.name));
    if (missing.length === 0) return;
    this.wanted += missing.length;
    this.notify();
    let next = 0;
    const worker = async () => {
      while (next < missing.length) {
        const key = missing[next];
        next += 1;
        await this.load(key);
        this.done += 1;
        this.notify();
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, missing.length) }, worker));
  }

  /** Whether loads are in flight, and how far they got. */
  get progress() {
    return { loaded: this.done, wanted: this.wanted, failed: this.failed };
  }

  onProgress(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  notify() {
    const state = this.progress;
    if (this.done >= this.wanted) {
      this.done = 0;
      this.wanted = 0;
    }
    for (const fn of this.listeners) fn(state);
  }
}
