/**
 * Project export: the JSON `backline state` prints (Python's json.dump with
 * indent 2), byte for byte: floats keep their ".0", non-ASCII is escaped.
 * @module ui/export
 */

import { SCHEMAS } from "../protocol.js";

const FLOAT_FIELDS = {
  project: new Set(Object.entries(SCHEMAS.project).filter(([, s]) => s.type === "number").map(([n]) => n)),
  tracks: new Set(Object.entries(SCHEMAS.track).filter(([, s]) => s.type === "number").map(([n]) => n)),
  // the transport's own fields (its default holds every key) that are numbers
  transport: new Set(Object.keys(SCHEMAS.project.transport.default).filter((k) => SCHEMAS.project.transport[k]?.type === "number")),
};

/** Python's repr of a float. */
function pyFloat(v) {
  if (Number.isInteger(v) && Math.abs(v) < 1e16) return `${v}.0`;
  let s = String(v);
  const m = s.match(/^(-?[\d.]+)e([+-])(\d+)$/);
  if (m) s = `${m[1]}e${m[2]}${m[3].padStart(2, "0")}`;
  return s;
}

function pyString(s) {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function dump(value, indent, floats, path) {
  const pad = "  ".repeat(indent + 1);
  const end = "  ".repeat(indent);
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return `[\n${value.map((v) => pad + dump(v, indent + 1, null, path)).join(",\n")}\n${end}]`;
  }
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (!keys.length) return "{}";
    const parts = keys.map((k) => {
      const v = value[k];
      const nested = k === "transport" ? FLOAT_FIELDS.transport : FLOAT_FIELDS[k] ?? null;
      const text = typeof v === "number" && floats?.has(k) ? pyFloat(v) : dump(v, indent + 1, nested, k);
      return `${pad}${pyString(k)}: ${text}`;
    });
    return `{\n${parts.join(",\n")}\n${end}}`;
  }
  if (typeof value === "string") return pyString(value);
  if (value === null) return "null";
  return String(value);
}

/** The project (snapshot form plus version) as `backline state` prints it. */
export function projectJson(data, version) {
  const top = { ...data, version };
  const keys = Object.keys(top);
  const parts = keys.map((k) => {
    const v = top[k];
    let text;
    if (k === "project") text = dump(v, 1, FLOAT_FIELDS.project, k);
    else if (k === "tracks") text = Array.isArray(v) && v.length
      ? `[\n${v.map((t) => "    " + dump(t, 2, FLOAT_FIELDS.tracks, k)).join(",\n")}\n  ]`
      : "[]";
    else text = dump(v, 1, null, k);
    return `  ${pyString(k)}: ${text}`;
  });
  return `{\n${parts.join(",\n")}\n}\n`;
}

/** Offer a text as a file download. */
export function download(name, text, type = "application/json") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
