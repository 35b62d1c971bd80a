/**
 * Per-listener preferences kept in this browser (localStorage), never in the
 * shared project: how *I* like to play and stop is nobody else's business.
 *
 * Each preference has a default and a check, so a stale or hand-edited value
 * falls back to the default instead of breaking the page.
 *
 * @module ui/prefs
 */

const PREFIX = "backline.pref.";

/** @type {Record<string, {fallback: any, valid: (v: any) => boolean}>} */
const PREFS = {
  countIn: { fallback: 0, valid: (v) => v === 0 || v === 1 || v === 2 }, // bars before the downbeat
  stopBack: { fallback: false, valid: (v) => typeof v === "boolean" }, // stop returns to where play began
  snap: { fallback: "bar", valid: (v) => v === "bar" || v === "beat" }, // ruler: locate and loop grid
  monitor: { fallback: true, valid: (v) => typeof v === "boolean" }, // hear the project here
  midiInput: { fallback: "", valid: (v) => typeof v === "string" }, // the MIDI input's id (ui/midiin.js)
  midiMap: { fallback: {}, valid: (v) => v !== null && typeof v === "object" && !Array.isArray(v) }, // learned CCs, by session
};

/** Values set on this page: what counts when storage is unavailable. */
const memory = new Map();

/** The stored value of preference `name`, or its default. */
export function pref(name) {
  const { fallback, valid } = PREFS[name];
  if (memory.has(name)) return memory.get(name);
  try {
    const raw = localStorage.getItem(PREFIX + name);
    if (raw === null) return fallback;
    const value = JSON.parse(raw);
    return valid(value) ? value : fallback;
  } catch {
    return fallback;
  }
}

/** Store preference `name` (ignored when invalid or when storage is unavailable). */
export function setPref(name, value) {
  if (!PREFS[name].valid(value)) return;
  memory.set(name, value);
  try {
    localStorage.setItem(PREFIX + name, JSON.stringify(value));
  } catch {
    // no storage: the choice lasts for this page only
  }
}
