/**
 * The project rendered in the browser, offline: the very `Playback` the page
 * plays live, in an OfflineAudioContext, from bar 1 to the song's end.
 *
 * The server's render (`media/render.py`) is the one a producer bounces; this
 * one exists so that the two can be compared sample by sample (the parity
 * tests do), and for a quick local preview. Every sound starts exactly on its
 * frame; the limiter's real-time delay is dropped from the front, as the
 * server's render has none.
 *
 * @module sound/offline
 */

import { songEnd } from "../arrangement.js";
import { LIMITER_DELAY, RATE } from "../dsp.js";
import { PPQ } from "../protocol.js";
import { projectWithDefaults } from "./chain.js";
import { Playback } from "./playback.js";

/**
 * @param {import("../arrangement.js").Data} project snapshot form
 * @param {{library?: import("./samples.js").SampleLibrary | null, seconds?: number}} [options]
 *   seconds: how long a render (default: the song plus 4 s of tails)
 * @returns {Promise<AudioBuffer>}
 */
export async function renderOffline(project, { library = null, seconds } = {}) {
  const fields = projectWithDefaults(project.project);
  const spb = 60 / fields.tempo;
  const endBeats = songEnd(project) / PPQ;
  const frames = Math.round((seconds ?? endBeats * spb + 4) * RATE);
  const limited = fields.limiter_on;
  const context = new OfflineAudioContext(2, frames + (limited ? LIMITER_DELAY : 0), RATE);
  const playback = await Playback.create(context, context.destination, { library, compensate: false });
  playback.update(project);
  if (library !== null && (await library.index()).available) await playback.prefetch();
  const timeline = { usPerBeat: spb * 1e6 };
  for (const hit of playback.events(0, endBeats)) {
    playback.play(hit, Math.round(hit.beat * spb * RATE) / RATE, /** @type {any} */ (timeline));
  }
  const rendered = await context.startRendering();
  if (!limited) return rendered;
  const out = new AudioBuffer({ numberOfChannels: 2, length: frames, sampleRate: RATE });
  for (let c = 0; c < 2; c += 1) out.copyToChannel(rendered.getChannelData(c).subarray(LIMITER_DELAY), c);
  return out;
}
