/**
 * Simple synthesised instruments: a drum kit made of oscillators and noise,
 * and a polyphonic subtractive synth. Every voice is a few Web Audio nodes
 * created for one hit or note and started at an exact context time; the
 * scheduler gets the started source nodes back so it can cancel them.
 *
 * Drum sounds follow the General MIDI drum map (36 kick, 38 snare, 42 closed
 * hi-hat, ...); a sound without a voice of its own gets a short blip.
 *
 * @module sound/instruments
 */

/** @type {WeakMap<BaseAudioContext, AudioBuffer>} one second of white noise per context */
const NOISE = new WeakMap();

/**
 * @param {BaseAudioContext} context
 * @returns {AudioBuffer}
 */
function noiseBuffer(context) {
  let buffer = NOISE.get(context);
  if (buffer === undefined) {
    buffer = context.createBuffer(1, context.sampleRate, context.sampleRate);
    const data = buffer.getChannelData(0);
    let seed = 0x2545f491; // a fixed xorshift seed: the same noise every run
    for (let i = 0; i < data.length; i += 1) {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      data[i] = ((seed >>> 0) / 0xffffffff) * 2 - 1;
    }
    NOISE.set(context, buffer);
  }
  return buffer;
}

/**
 * A gain node whose level rises to `peak` at `when` and decays exponentially
 * to silence over `decay` seconds.
 * @param {BaseAudioContext} context
 * @param {number} when
 * @param {number} peak
 * @param {number} decay
 */
function envelope(context, when, peak, decay) {
  const env = context.createGain();
  env.gain.setValueAtTime(0, when);
  env.gain.linearRampToValueAtTime(peak, when + 0.002);
  env.gain.exponentialRampToValueAtTime(0.0005, when + decay);
  return env;
}

/**
 * @param {BaseAudioContext} context
 * @param {AudioNode} out
 * @param {number} when
 * @param {number} gain
 * @param {{from: number, to: number, decay: number, type?: OscillatorType}} tone
 * @returns {AudioScheduledSourceNode}
 */
function sweep(context, out, when, gain, { from, to, decay, type = "sine" }) {
  const osc = context.createOscillator();
  osc.type = type;
  osc.frequency.setValueAtTime(from, when);
  osc.frequency.exponentialRampToValueAtTime(to, when + decay * 0.6);
  const env = envelope(context, when, gain, decay);
  osc.connect(env).connect(out);
  osc.start(when);
  osc.stop(when + decay + 0.01);
  osc.onended = () => env.disconnect();
  return osc;
}

/**
 * @param {BaseAudioContext} context
 * @param {AudioNode} out
 * @param {number} when
 * @param {number} gain
 * @param {{filter: BiquadFilterType, hz: number, q?: number, decay: number, offset?: number}} shape
 * @returns {AudioScheduledSourceNode}
 */
function noise(context, out, when, gain, { filter, hz, q = 1, decay, offset = 0 }) {
  const source = context.createBufferSource();
  source.buffer = noiseBuffer(context);
  const biquad = context.createBiquadFilter();
  biquad.type = filter;
  biquad.frequency.value = hz;
  biquad.Q.value = q;
  const env = envelope(context, when, gain, decay);
  source.connect(biquad).connect(env).connect(out);
  source.start(when, offset);
  source.stop(when + decay + 0.01);
  source.onended = () => env.disconnect();
  return source;
}

/** @typedef {(context: BaseAudioContext, out: AudioNode, when: number, gain: number) => AudioScheduledSourceNode[]} Voice */

/** @type {Record<string, Voice>} */
const VOICES = {
  kick: (c, out, when, gain) => [sweep(c, out, when, gain, { from: 150, to: 45, decay: 0.35 })],
  snare: (c, out, when, gain) => [
    sweep(c, out, when, gain * 0.5, { from: 220, to: 160, decay: 0.1, type: "triangle" }),
    noise(c, out, when, gain * 0.8, { filter: "highpass", hz: 1500, decay: 0.18 }),
  ],
  clap: (c, out, when, gain) =>
    [0, 0.011, 0.022].map((delay, i) =>
      noise(c, out, when + delay, gain * (i === 2 ? 0.9 : 0.6), {
        filter: "bandpass",
        hz: 1200,
        q: 2,
        decay: i === 2 ? 0.2 : 0.01,
        offset: 0.1 * i,
      }),
    ),
  closedHat: (c, out, when, gain) => [
    noise(c, out, when, gain * 0.5, { filter: "highpass", hz: 7000, decay: 0.05, offset: 0.4 }),
  ],
  openHat: (c, out, when, gain) => [
    noise(c, out, when, gain * 0.5, { filter: "highpass", hz: 7000, decay: 0.35, offset: 0.4 }),
  ],
  cymbal: (c, out, when, gain) => [
    noise(c, out, when, gain * 0.45, { filter: "highpass", hz: 5000, decay: 1.2, offset: 0.6 }),
  ],
  lowTom: (c, out, when, gain) => [sweep(c, out, when, gain, { from: 140, to: 90, decay: 0.3 })],
  midTom: (c, out, when, gain) => [sweep(c, out, when, gain, { from: 200, to: 130, decay: 0.25 })],
  highTom: (c, out, when, gain) => [sweep(c, out, when, gain, { from: 280, to: 190, decay: 0.2 })],
  blip: (c, out, when, gain) => [
    noise(c, out, when, gain * 0.6, { filter: "bandpass", hz: 3000, q: 4, decay: 0.06 }),
  ],
};

/** General MIDI drum notes to voices. */
const GM_DRUMS = new Map([
  [35, "kick"], [36, "kick"],
  [37, "clap"], [39, "clap"],
  [38, "snare"], [40, "snare"],
  [42, "closedHat"], [44, "closedHat"],
  [46, "openHat"],
  [41, "lowTom"], [43, "lowTom"], [45, "midTom"], [47, "midTom"], [48, "highTom"], [50, "highTom"],
  [49, "cymbal"], [51, "cymbal"], [52, "cymbal"], [55, "cymbal"], [57, "cymbal"], [59, "cymbal"],
]); // prettier-ignore

/**
 * The voice name that plays GM drum `sound`.
 * @param {number} sound
 */
export function drumVoice(sound) {
  return GM_DRUMS.get(sound) ?? "blip";
}

/**
 * Play drum `sound` (GM note) at `when` into `out`.
 * @param {BaseAudioContext} context
 * @param {AudioNode} out
 * @param {number} sound
 * @param {number} velocity 1..127
 * @param {number} when
 * @returns {AudioScheduledSourceNode[]}
 */
export function playDrum(context, out, sound, velocity, when) {
  const gain = (velocity / 127) ** 1.5;
  return VOICES[drumVoice(sound)](context, out, when, gain);
}

/**
 * The frequency (Hz) of MIDI note `pitch` (69 = A4 = 440 Hz).
 * @param {number} pitch
 */
export function frequency(pitch) {
  return 440 * 2 ** ((pitch - 69) / 12);
}

/** Waveforms by GM program family: pianos/organs/strings... a rough, recognisable choice. */
function waveform(/** @type {number} */ program) {
  if (program < 8) return "triangle"; // pianos
  if (program >= 16 && program < 24) return "square"; // organs
  if (program >= 32 && program < 40) return "sawtooth"; // basses
  if (program >= 80 && program < 88) return "square"; // synth leads
  return "sawtooth";
}

/**
 * One synth note: an oscillator through a low-pass filter and an ADSR envelope.
 * Each note has its own nodes, so any number sound at once.
 * @param {BaseAudioContext} context
 * @param {AudioNode} out
 * @param {{pitch: number, vel: number, program?: number}} note
 * @param {number} when context time of the note-on
 * @param {number} seconds duration until note-off
 * @returns {AudioScheduledSourceNode[]}
 */
export function playNote(context, out, note, when, seconds) {
  const peak = 0.3 * (note.vel / 127);
  const attack = 0.005;
  const decay = 0.12;
  const sustain = peak * 0.6;
  const release = 0.08;
  const off = when + Math.max(seconds, attack);
  const osc = context.createOscillator();
  osc.type = /** @type {OscillatorType} */ (waveform(note.program ?? 0));
  osc.frequency.value = frequency(note.pitch);
  const filter = context.createBiquadFilter();
  filter.type = "lowpass";
  filter.frequency.value = Math.min(12000, frequency(note.pitch) * 6);
  const env = context.createGain();
  env.gain.setValueAtTime(0, when);
  env.gain.linearRampToValueAtTime(peak, when + attack);
  env.gain.setTargetAtTime(sustain, when + attack, decay / 3);
  env.gain.setTargetAtTime(0, off, release / 3);
  osc.connect(filter).connect(env).connect(out);
  osc.start(when);
  osc.stop(off + release * 3);
  osc.onended = () => env.disconnect();
  return [osc];
}
