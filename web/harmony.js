/**
 * Keys, scales and chords in the browser: the same functions as protocol/harmony.py,
 * from the same tables (HARMONY in /protocol.js), checked against the Python
 * implementation's vectors in real Chromium (tests/web/test_harmony_js.py).
 *
 * Snapping to a scale: a pitch in the scale stays; any other moves to the nearest
 * scale pitch, and when two are equally near, to the lower one.
 * @module harmony
 */

import { HARMONY, MODES } from "./protocol.js";

export const NOTE_NAMES = HARMONY.NOTE_NAMES;
/** stable name -> [symbol suffix, intervals above the root] */
export const QUALITIES = HARMONY.QUALITIES;
export const SCALE_INTERVALS = HARMONY.SCALE_INTERVALS;
/** The qualities in Python's order: detection prefers earlier (simpler) ones. */
export const QUALITY_ORDER = HARMONY.QUALITY_ORDER;

const LETTER_PC = { C: 0, D: 2, E: 4, F: 5, G: 7, A: 9, B: 11 };
const SHARPS = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
const FLATS = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"];
const COMMON = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];
const NUMERALS = ["I", "II", "III", "IV", "V", "VI", "VII"];
const MAX_CHORD_SYMBOL = 24;

// as protocol/harmony.py's _ALIASES
const ALIASES = {
  M: "maj", maj: "maj", major: "maj",
  "-": "min", min: "min", minor: "min",
  "°": "dim", o: "dim",
  "+": "aug",
  M7: "maj7", "Δ": "maj7", "Δ7": "maj7", ma7: "maj7",
  "-7": "m7", min7: "m7",
  "ø": "m7b5", "ø7": "m7b5", "m7-5": "m7b5", "-7b5": "m7b5",
  "°7": "dim7", o7: "dim7",
  mM7: "mmaj7", "m(maj7)": "mmaj7", "-maj7": "mmaj7",
  sus: "sus4",
  M9: "maj9", "-9": "m9", min9: "m9",
  2: "sus2",
};
const SUFFIX_TO_QUALITY = { ...Object.fromEntries(QUALITY_ORDER.map((name) => [QUALITIES[name][0], name])), ...ALIASES };
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const SUFFIXES = Object.keys(SUFFIX_TO_QUALITY).sort((a, b) => b.length - a.length).map(escape).join("|");
const CHORD_RE = new RegExp(`^([A-G](?:#|b)?)(${SUFFIXES})?(?:/([A-G](?:#|b)?))?$`, "u");
const KEY_RE = new RegExp(`^([A-G](?:#|b)?) (${MODES.join("|")})$`);

/** A refusal with the protocol's code, as the server would send it. */
export class HarmonyError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** "F#" -> 6 */
export function pitchClass(name) {
  let pc = LETTER_PC[name[0]];
  for (const accidental of name.slice(1)) pc += accidental === "#" ? 1 : -1;
  return ((pc % 12) + 12) % 12;
}

/** "F# minor" -> [6, "minor"] */
export function parseKey(key) {
  const match = typeof key === "string" ? KEY_RE.exec(key) : null;
  if (!match) throw new HarmonyError("out_of_range", `key must look like 'C major', 'F# minor' or 'Bb dorian', not '${key}'`);
  return [pitchClass(match[1]), match[2]];
}

export function scalePitchClasses(key) {
  const [tonic, mode] = parseKey(key);
  return SCALE_INTERVALS[mode].map((step) => (tonic + step) % 12);
}

export function inScale(pitch, key) {
  return scalePitchClasses(key).includes(((pitch % 12) + 12) % 12);
}

/** The nearest pitch of the key's scale (ties: the lower), within 0..127. */
export function snapToScale(pitch, key) {
  const scale = new Set(scalePitchClasses(key));
  for (let distance = 0; distance < 7; distance += 1) {
    for (const candidate of [pitch - distance, pitch + distance]) {
      if (candidate >= 0 && candidate <= 127 && scale.has(candidate % 12)) return candidate;
    }
  }
  throw new Error("every scale has a pitch within a fifth");
}

/** Semitones from key `oldKey` to `newKey` the shortest way (-6..+5). */
export function keyShift(oldKey, newKey) {
  const shift = (((parseKey(newKey)[0] - parseKey(oldKey)[0]) % 12) + 12) % 12;
  return shift >= 6 ? shift - 12 : shift;
}

const spell = (pc, flats) => (flats ? FLATS : SHARPS)[((pc % 12) + 12) % 12];
const usesFlats = (root) => root.slice(1).includes("b") || root === "F";

/** The chord's tones from the root up, in the root's spelling. */
export function chordTones(chord) {
  const root = pitchClass(chord.root);
  const flats = usesFlats(chord.root);
  const names = QUALITIES[chord.quality][1].map((step) => spell(root + step, flats));
  names[0] = chord.root;
  return names;
}

export function checkChord(chord) {
  if (!NOTE_NAMES.includes(chord.root)) throw new HarmonyError("bad_field", `root must be a note name like C, F# or Bb, not '${chord.root}'`);
  if (!Object.hasOwn(QUALITIES, chord.quality)) throw new HarmonyError("bad_field", `unknown chord quality '${String(chord.quality).slice(0, 16)}'`);
  const tones = QUALITIES[chord.quality][1].length;
  const inversion = chord.inversion ?? 0;
  if (!Number.isInteger(inversion) || inversion < 0 || inversion >= tones) {
    throw new HarmonyError("out_of_range", `a ${chord.quality} chord has inversions 0 to ${tones - 1}`);
  }
  if (chord.bass != null && !NOTE_NAMES.includes(chord.bass)) throw new HarmonyError("bad_field", `bass must be a note name or null, not '${chord.bass}'`);
  return chord;
}

const byHeight = (steps) => steps.map((_, i) => i).sort((a, b) => steps[a] - steps[b]);

/** MIDI pitches lowest first: the root at `octave` (C4 = 60), inversions raised, a bass below. */
export function chordPitches(chord, octave = 4) {
  checkChord(chord);
  const base = 12 * (octave + 1) + pitchClass(chord.root);
  const pitches = QUALITIES[chord.quality][1].map((step) => base + step);
  for (let i = 0; i < (chord.inversion ?? 0); i += 1) pitches[i] += 12;
  pitches.sort((a, b) => a - b);
  if (chord.bass != null) {
    const gap = (((pitches[0] - pitchClass(chord.bass)) % 12) + 12) % 12 || 12;
    pitches.unshift(pitches[0] - gap);
  }
  return pitches;
}

/** "Cmaj7", "Am/C" (an inversion names its lowest tone), "C/Bb". */
export function chordSymbol(chord) {
  checkChord(chord);
  const symbol = chord.root + QUALITIES[chord.quality][0];
  if (chord.bass != null) return `${symbol}/${chord.bass}`;
  if (chord.inversion) return `${symbol}/${chordTones(chord)[byHeight(QUALITIES[chord.quality][1])[chord.inversion]]}`;
  return symbol;
}

/** A chord symbol -> {root, quality, inversion, bass}; throws a HarmonyError (bad_field). */
export function parseChord(symbol) {
  if (typeof symbol !== "string" || !symbol || symbol.length > MAX_CHORD_SYMBOL) {
    throw new HarmonyError("bad_field", `a chord symbol is 1 to ${MAX_CHORD_SYMBOL} characters, like Am7`);
  }
  const match = CHORD_RE.exec(symbol.trim());
  if (!match) throw new HarmonyError("bad_field", `unknown chord symbol '${symbol}' (try C, Am7, F#m7b5, Bb/D)`);
  const [, root, suffix = "", slash] = match;
  const quality = SUFFIX_TO_QUALITY[suffix];
  if (slash === undefined) return { root, quality, inversion: 0, bass: null };
  const steps = QUALITIES[quality][1];
  const order = byHeight(steps);
  for (let inversion = 0; inversion < order.length; inversion += 1) {
    if ((pitchClass(root) + steps[order[inversion]]) % 12 === pitchClass(slash)) return { root, quality, inversion, bass: null };
  }
  return { root, quality, inversion: 0, bass: slash };
}

/** The chord these pitches sound, or null (the lowest pitch decides, as in Python). */
export function detectChord(pitches) {
  if (!pitches.length) return null;
  const lowest = Math.min(...pitches);
  const classes = new Set(pitches.map((p) => ((p % 12) + 12) % 12));
  const bassPc = ((lowest % 12) + 12) % 12;
  let best = null;
  const consider = (kind, rank, chord) => {
    if (best === null || kind < best[0] || (kind === best[0] && rank < best[1])) best = [kind, rank, chord];
  };
  QUALITY_ORDER.forEach((name, rank) => {
    const steps = QUALITIES[name][1];
    const shape = new Set(steps.map((s) => s % 12));
    for (let rootPc = 0; rootPc < 12; rootPc += 1) {
      const tones = new Set([...shape].map((s) => (rootPc + s) % 12));
      const same = tones.size === classes.size && [...tones].every((t) => classes.has(t));
      if (same) {
        const order = byHeight(steps);
        const inversion = order.findIndex((i) => (rootPc + steps[i]) % 12 === bassPc);
        consider(inversion === 0 ? 0 : 1, rank, { root: COMMON[rootPc], quality: name, inversion, bass: null });
      } else if (classes.size > shape.size - 1) {
        const without = new Set([...classes].filter((c) => c !== bassPc));
        if (tones.size === without.size && [...tones].every((t) => without.has(t))) {
          consider(2, rank, { root: COMMON[rootPc], quality: name, inversion: 0, bass: COMMON[bassPc] });
        }
      }
    }
  });
  return best === null ? null : best[2];
}

/** The chords on each degree of the key's scale: {numeral, root, quality, inversion, bass, symbol}. */
export function diatonicChords(key, sevenths = false) {
  const [tonic, mode] = parseKey(key);
  const steps = SCALE_INTERVALS[mode];
  const tonicName = key.split(" ")[0];
  const flats = usesFlats(tonicName) || (["minor", "dorian", "phrygian", "locrian"].includes(mode) && ["D", "G", "C", "F"].includes(tonicName));
  const out = [];
  for (let degree = 0; degree < 7; degree += 1) {
    const stack = [0, 2, 4, 6].map((k) => steps[(degree + k) % 7] + 12 * Math.floor((degree + k) / 7));
    const shape = (sevenths ? stack : stack.slice(0, 3)).map((s) => s - stack[0]);
    const quality = QUALITY_ORDER.find((name) => {
      const iv = QUALITIES[name][1];
      return iv.length === shape.length && iv.every((v, i) => v === shape[i]);
    });
    const root = degree === 0 ? tonicName : spell(tonic + stack[0], flats);
    let numeral = NUMERALS[degree];
    if (shape[1] === 3) numeral = numeral.toLowerCase();
    if (quality === "dim") numeral += "°";
    else if (quality === "m7b5") numeral += "ø7";
    else if (quality === "aug") numeral += "+";
    else if (sevenths) numeral += { maj7: "maj7", 7: "7", m7: "7", dim7: "°7", mmaj7: "maj7" }[quality] ?? "";
    const chord = { root, quality, inversion: 0, bass: null };
    out.push({ numeral, ...chord, symbol: chordSymbol(chord) });
  }
  return out;
}
