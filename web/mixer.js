/**
 * The mixer's math for the browser: `protocol/mixer.py`'s, line for line.
 *
 * The EQ bands are Web Audio `BiquadFilterNode`s, whose coefficients are the
 * Audio EQ Cookbook's; `biquad` computes the same coefficients here (for
 * drawing a strip's EQ curve and for the tests that hold Python, this module
 * and Chromium's own filters together), and `nodeParams` says how to set a
 * BiquadFilterNode so that it is that filter (Web Audio takes a high-pass's Q
 * in decibels). The parameters themselves (names, ranges, defaults) are
 * fields of the document and come from `/protocol.js` like every other field.
 *
 * @module mixer
 */

/** [field prefix, filter type] of a strip's EQ, in signal order (mixer.py BANDS). */
export const BANDS = [
  ["eq_hp", "highpass"],
  ["eq_low", "lowshelf"],
  ["eq_mid1", "peaking"],
  ["eq_mid2", "peaking"],
  ["eq_high", "highshelf"],
];

export const dbToGain = (db) => 10 ** (db / 20);
export const gainToDb = (gain) => (gain <= 0 ? -Infinity : 20 * Math.log10(gain));

/**
 * Normalised coefficients (a0 = 1) of the filter Web Audio's BiquadFilterNode of
 * type `kind` computes; for a highpass `q` is linear (Web Audio gets its dB).
 * @returns {{b0: number, b1: number, b2: number, a1: number, a2: number}}
 */
export function biquad(kind, freq, gainDb, q, rate) {
  const f = Math.min(freq, rate / 2) / rate;
  const w0 = 2 * Math.PI * f;
  const cos = Math.cos(w0);
  const sin = Math.sin(w0);
  const a = 10 ** (gainDb / 40);
  let b0, b1, b2, a0, a1, a2;
  if (kind === "highpass") {
    const alpha = sin / (2 * q);
    [b0, b1, b2] = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2];
    [a0, a1, a2] = [1 + alpha, -2 * cos, 1 - alpha];
  } else if (kind === "peaking") {
    const alpha = sin / (2 * q);
    [b0, b1, b2] = [1 + alpha * a, -2 * cos, 1 - alpha * a];
    [a0, a1, a2] = [1 + alpha / a, -2 * cos, 1 - alpha / a];
  } else if (kind === "lowshelf" || kind === "highshelf") {
    const k = 2 * Math.sqrt(a) * ((sin / 2) * Math.sqrt(2)); // 2 sqrt(A) alpha, S = 1
    const sign = kind === "lowshelf" ? 1 : -1;
    b0 = a * (a + 1 - sign * (a - 1) * cos + k);
    b1 = sign * 2 * a * (a - 1 - sign * (a + 1) * cos);
    b2 = a * (a + 1 - sign * (a - 1) * cos - k);
    a0 = a + 1 + sign * (a - 1) * cos + k;
    a1 = -sign * 2 * (a - 1 + sign * (a + 1) * cos);
    a2 = a + 1 + sign * (a - 1) * cos - k;
  } else {
    throw new Error(`unknown filter type ${kind}`);
  }
  return { b0: b0 / a0, b1: b1 / a0, b2: b2 / a0, a1: a1 / a0, a2: a2 / a0 };
}

/** The filter's gain at `freq`, in dB. */
export function responseDb(c, freq, rate) {
  const w = (2 * Math.PI * freq) / rate;
  const [re1, im1] = [Math.cos(w), -Math.sin(w)]; // e^{-jw}
  const [re2, im2] = [re1 * re1 - im1 * im1, 2 * re1 * im1];
  const numRe = c.b0 + c.b1 * re1 + c.b2 * re2;
  const numIm = c.b1 * im1 + c.b2 * im2;
  const denRe = 1 + c.a1 * re1 + c.a2 * re2;
  const denIm = c.a1 * im1 + c.a2 * im2;
  return gainToDb(Math.hypot(numRe, numIm) / Math.hypot(denRe, denIm));
}

/** The strip's switched-on bands, in order: [prefix, kind, coefficients]. */
export function trackEq(track, rate) {
  const out = [];
  for (const [prefix, kind] of BANDS) {
    if (!track[`${prefix}_on`]) continue;
    const gain = kind === "highpass" ? 0 : track[`${prefix}_gain`];
    const q = track[`${prefix}_q`] ?? 1;
    out.push([prefix, kind, biquad(kind, track[`${prefix}_freq`], gain, q, rate)]);
  }
  return out;
}

/**
 * How to set a BiquadFilterNode so that it is band `prefix` of `track`:
 * {type, frequency, Q, gain} (a shelf's Q is unused by Web Audio).
 */
export function nodeParams(track, prefix, kind) {
  const q = track[`${prefix}_q`] ?? 1;
  return {
    type: kind,
    frequency: track[`${prefix}_freq`],
    Q: kind === "highpass" ? 20 * Math.log10(q) : q,
    gain: kind === "highpass" ? 0 : track[`${prefix}_gain`],
  };
}

/** The compressor's static gain change (dB, ≤ 0) at `levelDb` (mixer.py compressor_gain_db). */
export function compressorGainDb(levelDb, threshold, ratio, knee) {
  const over = levelDb - threshold;
  const slope = 1 / ratio - 1;
  if (knee > 0 && Math.abs(over) <= knee / 2) return (slope * (over + knee / 2) ** 2) / (2 * knee);
  return over > 0 ? slope * over : 0;
}
