/**
 * The signal chain's definitions for the browser: `protocol/dsp.py`'s, line for line.
 *
 * The constants come from `/protocol.js` (`DSP`), generated from the Python
 * module on every server start; the formulas are written again here because
 * they run in the browser, and tests hold them to the Python ones (and to
 * `backline.media.chain`, the numpy form the server's renders use). The
 * stateful processors at the end (`Compressor`, `Limiter`) are what the
 * AudioWorklets in `sound/worklets.js` run on each render quantum; they are
 * plain classes so that a test can feed them arrays directly.
 *
 * Pure: no DOM, no Web Audio (an AudioWorkletGlobalScope imports it too).
 *
 * @module dsp
 */

import { DSP } from "./protocol.js";
import { compressorGainDb, dbToGain } from "./mixer.js";

export { DSP };
export const { BLOCK, RATE, LEVEL_FLOOR_DB, LIMITER_DELAY, LIMITER_MARGIN_DB, LIMITER_RELEASE_MS } = DSP;
export const { DRUM_BANK, LAYERS, NOTE_HOLD_S, DRUM_HOLD_S, RELEASE_S, RELEASE_END_S, MIN_DELAY_SAMPLES } = DSP;

/** The one-pole coefficient per control block for a time constant of `ms`. */
export function blockCoefficient(ms, rate = RATE) {
  return Math.exp(-BLOCK / ((rate * ms) / 1000));
}

const FLOOR = 10 ** (LEVEL_FLOOR_DB / 20);

/** A block's peak magnitude in dB, floored at LEVEL_FLOOR_DB. */
export function levelDb(peak) {
  return peak > FLOOR ? 20 * Math.log10(peak) : LEVEL_FLOOR_DB;
}

/** One block of the compressor's smoothing (dsp.smooth_gain). */
export function smoothGain(gainDb, target, attack, release) {
  const coef = target < gainDb ? attack : release;
  return coef * gainDb + (1 - coef) * target;
}

/** The compressor's smoothed gain change (dB) after a block of peak `peak` (dsp.compressor_step). */
export function compressorStep(gainDb, peak, threshold, ratio, knee, attack, release) {
  return smoothGain(gainDb, compressorGainDb(levelDb(peak), threshold, ratio, knee), attack, release);
}

/** The linear gain on sample `i` of a block ramping from `before` to `after` (dsp.ramp). */
export function ramp(before, after, i) {
  return before + ((after - before) * (i + 1)) / BLOCK;
}

// -- the true-peak limiter ------------------------------------------------------

/** For phases 1/4, 2/4, 3/4: the 12 taps over x[m-5] … x[m+6] (dsp.true_peak_kernel). */
export const TRUE_PEAK_KERNEL = DSP.TRUE_PEAK_KERNEL;
const PAST = 5; // taps before the sample, and after it (TRUE_PEAK_TAPS = 12)
const FUTURE = DSP.TRUE_PEAK_TAPS - PAST - 1;
/** An interpolated point is at most this times its window's sample peak (chain._REACH). */
const REACH = Math.max(...TRUE_PEAK_KERNEL.map((taps) => taps.reduce((s, t) => s + Math.abs(t), 0)));

/** The limiter's gain at a block's end (dsp.limiter_step). */
export function limiterStep(gain, need, needNext, release) {
  const recovered = gain >= 1 ? 1 : gain ** release;
  return Math.min(recovered, need, needNext, 1);
}

/** The largest gain that keeps a block of true peak `truePeak` under the ceiling (dsp.limiter_need). */
export function limiterNeed(truePeak, ceilingDb) {
  const limit = dbToGain(ceilingDb - LIMITER_MARGIN_DB);
  return truePeak <= limit ? 1 : limit / truePeak;
}

// -- pan, reverb, delay ----------------------------------------------------------

/** StereoPannerNode's law on a stereo input as [ll, rl, lr, rr] (dsp.pan_gains). */
export function panGains(pan) {
  if (pan <= 0) {
    const x = ((pan + 1) * Math.PI) / 2;
    return [1, Math.cos(x), 0, Math.sin(x)];
  }
  const x = (pan * Math.PI) / 2;
  return [Math.cos(x), 0, Math.sin(x), 1];
}

/** Samples of the reverb's impulse response (dsp.reverb_length). */
export function reverbLength(decayS, predelayMs, rate = RATE) {
  return Math.max(1, Math.round((predelayMs / 1000 + decayS) * rate));
}

/** Deterministic white noise in [-1, 1): sample `n` of `channel` (dsp.noise, murmur3's finaliser). */
export function noise(n, channel) {
  let h = (Math.imul(n, 0x9e3779b1) + Math.imul(channel, 0x632be5ab) + 0x5bd1e995) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 31 - 1;
}

/**
 * The reverb's impulse response, each channel at unit energy (dsp.reverb_sample,
 * media.chain.reverb_ir): what the browser's ConvolverNode (normalize off) convolves with.
 * @returns {[Float32Array, Float32Array]}
 */
export function reverbIr(decayS, predelayMs, damping, rate = RATE) {
  const length = reverbLength(decayS, predelayMs, rate);
  const start = Math.round((predelayMs / 1000) * rate);
  const out = [];
  for (const channel of [0, 1]) {
    const ir = new Float64Array(length);
    let energy = 0;
    for (let n = start; n < length; n += 1) {
      const t = (n - start) / rate;
      const amplitude = 10 ** ((-3 * t) / decayS);
      const dark = damping > 0 ? 1 - 10 ** ((-3 * t * damping * 4) / decayS) : 0;
      const bright = noise(n, channel);
      const smooth = (bright + noise(n - 1, channel) + noise(n - 2, channel) + noise(n - 3, channel)) / 2;
      const v = amplitude * ((1 - dark) * bright + dark * smooth);
      ir[n] = v;
      energy += v * v;
    }
    const scale = energy > 0 ? 1 / Math.sqrt(energy) : 1;
    out.push(Float32Array.from(ir, (v) => v * scale));
  }
  return /** @type {[Float32Array, Float32Array]} */ (out);
}

/** The echo's delay in whole samples: `beats` at `tempo` BPM (dsp.delay_samples). */
export function delaySamples(beats, tempo, rate = RATE) {
  return Math.max(MIN_DELAY_SAMPLES, Math.round(((beats * 60) / tempo) * rate));
}

/** The pole of the delay loop's one-pole low-pass (dsp.one_pole). */
export function onePole(cutoffHz, rate = RATE) {
  return Math.exp((-2 * Math.PI * Math.min(cutoffHz, rate / 2)) / rate);
}

// -- instruments ------------------------------------------------------------------

/**
 * Which rendered sample a note of a `kind` track plays (dsp.sample_key): its path
 * under /samples/ is `name`.
 */
export function sampleKey(kind, instrument, pitch, velocity) {
  const layer = LAYERS.find((v) => v >= velocity) ?? LAYERS[LAYERS.length - 1];
  const bank = kind === "drums" ? DRUM_BANK : 0;
  return { bank, program: instrument, pitch, layer, drum: bank === DRUM_BANK, name: `${bank}/${instrument}/${pitch}/${layer}.flac` };
}

/** The gain a note at `velocity` plays its layer's sample with (dsp.note_gain). */
export function noteGain(velocity, layer) {
  return (velocity / layer) ** 2;
}

/** The fade's gain `t` seconds after a pitched note's end (dsp.release_gain). */
export function releaseGain(t) {
  return t >= RELEASE_END_S ? 0 : Math.exp(-t / RELEASE_S);
}

// -- the stateful processors the AudioWorklets run ---------------------------------

/**
 * The compressor on a stream (media.chain.compress, block by block): feed it
 * whole blocks of `BLOCK` stereo samples; it changes them in place.
 */
export class Compressor {
  /** @param {{threshold: number, ratio: number, knee: number, attack: number, release: number, makeup: number}} params */
  constructor(params) {
    this.gainDb = 0; // the smoothed gain change after the last block
    this.set(params);
  }

  /** New parameters (a track's `comp_*` fields, without the prefix): from the next block on. */
  set({ threshold, ratio, knee, attack, release, makeup }) {
    this.threshold = threshold;
    this.ratio = ratio;
    this.knee = knee;
    this.attack = blockCoefficient(attack);
    this.release = blockCoefficient(release);
    this.makeup = dbToGain(makeup);
  }

  /**
   * Compress `BLOCK` samples of both channels from `offset`, in place.
   * @param {Float32Array} left
   * @param {Float32Array} right
   * @param {number} offset
   */
  block(left, right, offset) {
    let peak = 0;
    for (let i = offset; i < offset + BLOCK; i += 1) {
      const a = Math.abs(left[i]);
      const b = Math.abs(right[i]);
      if (a > peak) peak = a;
      if (b > peak) peak = b;
    }
    const before = dbToGain(this.gainDb);
    this.gainDb = compressorStep(this.gainDb, peak, this.threshold, this.ratio, this.knee, this.attack, this.release);
    const after = dbToGain(this.gainDb);
    for (let i = 0; i < BLOCK; i += 1) {
      const g = ramp(before, after, i) * this.makeup;
      left[offset + i] *= g;
      right[offset + i] *= g;
    }
  }
}

/**
 * The look-ahead true-peak limiter on a stream (media.chain.limit, delayed):
 * `push` takes any number of stereo samples and `pull` gives the limited
 * signal `LIMITER_DELAY` samples later, so a block is emitted only once the
 * next block's true peak is known.
 */
export class Limiter {
  constructor(ceilingDb = -1) {
    this.ceilingDb = ceilingDb;
    this.release = blockCoefficient(LIMITER_RELEASE_MS);
    const size = 4096; // ring buffers: far more than the ~200 samples in flight
    this.size = size;
    this.input = [new Float32Array(size), new Float32Array(size)];
    this.received = 0; // input samples so far
    this.emitted = 0; // blocks emitted so far
    this.needs = new Map(); // block index → need, for the two blocks in view
    this.gain = null; // gain at the end of the last emitted block (null: none yet)
    this.output = [new Float32Array(size), new Float32Array(size)];
    this.outWrite = LIMITER_DELAY; // the first LIMITER_DELAY samples out are silence
    this.outRead = 0;
  }

  /** Input sample `n` of `channel` (zero before the stream). */
  at(channel, n) {
    return n < 0 ? 0 : this.input[channel][n % this.size];
  }

  /** What block `k` needs: its true peak (samples and 4x points between) against the ceiling. */
  need(k) {
    let known = this.needs.get(k);
    if (known !== undefined) return known;
    const limit = dbToGain(this.ceilingDb - LIMITER_MARGIN_DB);
    let peak = 0;
    let near = 0; // the neighbourhood's sample peak: quiet blocks skip the interpolation
    for (let c = 0; c < 2; c += 1) {
      for (let n = k * BLOCK - PAST; n < (k + 1) * BLOCK + FUTURE; n += 1) {
        const v = Math.abs(this.at(c, n));
        if (v > near) near = v;
        if (n >= k * BLOCK && n < (k + 1) * BLOCK && v > peak) peak = v;
      }
    }
    if (near * REACH > limit) {
      for (let c = 0; c < 2; c += 1) {
        for (let m = k * BLOCK; m < (k + 1) * BLOCK; m += 1) {
          for (const taps of TRUE_PEAK_KERNEL) {
            let acc = 0;
            for (let j = 0; j < taps.length; j += 1) acc += taps[j] * this.at(c, m + j - PAST);
            const v = Math.abs(acc);
            if (v > peak) peak = v;
          }
        }
      }
    }
    known = limiterNeed(peak, this.ceilingDb);
    this.needs.set(k, known);
    return known;
  }

  /**
   * Take stereo samples [from, to) of `left` and `right`.
   * @param {Float32Array} left
   * @param {Float32Array} right
   */
  push(left, right, from = 0, to = left.length) {
    for (let i = from; i < to; i += 1) {
      const n = this.received % this.size;
      this.input[0][n] = left[i];
      this.input[1][n] = right[i];
      this.received += 1;
    }
    // a block goes out once the next one and the estimator's future taps are in
    while ((this.emitted + 2) * BLOCK + FUTURE <= this.received) this.emit();
  }

  emit() {
    const k = this.emitted;
    const need = this.need(k);
    const before = this.gain ?? Math.min(1, need); // the first block looks ahead at itself
    const after = limiterStep(this.gain ?? 1, need, this.need(k + 1), this.release);
    for (let i = 0; i < BLOCK; i += 1) {
      const g = ramp(before, after, i);
      const n = k * BLOCK + i;
      const w = this.outWrite % this.size;
      this.output[0][w] = this.at(0, n) * g;
      this.output[1][w] = this.at(1, n) * g;
      this.outWrite += 1;
    }
    this.gain = after;
    this.needs.delete(k);
    this.emitted += 1;
  }

  /** The gain reduction now, in dB (≤ 0), for the meter. */
  get reductionDb() {
    return this.gain === null ? 0 : 20 * Math.log10(this.gain);
  }

  /**
   * Write the next `count` output samples into `left` and `right` (silence
   * where none is ready yet, which never happens once a stream is running).
   * @param {Float32Array} left
   * @param {Float32Array} right
   */
  pull(left, right, count = left.length) {
    for (let i = 0; i < count; i += 1) {
      if (this.outRead < this.outWrite) {
        const r = this.outRead % this.size;
        left[i] = this.outRead < LIMITER_DELAY ? 0 : this.output[0][r];
        right[i] = this.outRead < LIMITER_DELAY ? 0 : this.output[1][r];
        this.outRead += 1;
      } else {
        left[i] = 0;
        right[i] = 0;
      }
    }
  }
}
