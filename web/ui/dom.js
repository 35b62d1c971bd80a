/**
 * A tiny element builder and a few shared UI helpers (no framework).
 * @module ui/dom
 */

/**
 * `h("button", {class: "x", onclick: fn, "aria-label": "Play"}, "▶")`.
 * Attributes starting with `on` become listeners; `class`, `text`, `value`,
 * `checked` and `disabled` set properties; the rest are attributes.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (key === "value" || key === "checked" || key === "disabled") el[key] = value;
    else if (value === false || value === null || value === undefined) el.removeAttribute(key);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  return el;
}

/** Set an input's value unless the user is typing in it. */
export function setValue(input, value) {
  if (document.activeElement !== input && input.value !== String(value)) input.value = String(value);
}

const NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];

/** MIDI pitch as a name: 60 -> "C4". */
export const pitchName = (pitch) => `${NAMES[pitch % 12]}${Math.floor(pitch / 12) - 1}`;

export const isBlack = (pitch) => NAMES[pitch % 12].includes("#");

/** General MIDI drum sounds, for lane labels. */
export const DRUM_NAMES = {
  35: "Kick 2", 36: "Kick", 37: "Side stick", 38: "Snare", 39: "Clap", 40: "Snare 2",
  41: "Low tom 2", 42: "Closed hat", 43: "Low tom", 44: "Pedal hat", 45: "Mid tom 2",
  46: "Open hat", 47: "Mid tom", 48: "High tom 2", 49: "Crash", 50: "High tom", 51: "Ride",
  52: "China", 53: "Ride bell", 54: "Tambourine", 55: "Splash", 56: "Cowbell", 57: "Crash 2",
  59: "Ride 2", 60: "High bongo", 61: "Low bongo", 62: "Conga mute", 63: "Conga", 64: "Low conga",
  69: "Cabasa", 70: "Maracas", 75: "Claves", 76: "Wood block",
};

export const drumName = (sound) => DRUM_NAMES[sound] ?? `Sound ${sound}`;

/** Readable text colour (black or white) on a background colour. */
export function textOn(color) {
  const n = parseInt(color.slice(1), 16);
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 140 ? "#111" : "#fff";
}
