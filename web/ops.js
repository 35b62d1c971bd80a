/**
 * The document and op engine for the browser, as `protocol/model.py` and
 * `protocol/ops.py` define them: validate an op, apply it, return its inverse.
 *
 * Field types, ranges, lengths and defaults are not written here, nor the
 * keys each op takes: they come from the server's generated `/protocol.js`
 * (SCHEMAS with the ranges inside loop, transport and lanes, LIMITS, OP_KEYS,
 * PPQ), so a range changed in Python is the browser's range at the next page
 * load. An invalid op throws a `BacklineError` with the protocol's code and
 * leaves the document as it was.
 *
 * @module ops
 */

import { ERROR_CODES, HARMONY, ID_PATTERN, KINDS, LIMITS, OP_KEYS, OP_TYPES, PPQ, PROJECT_ID, SCHEMAS } from "./protocol.js";

const E = ERROR_CODES;
const ID_RE = new RegExp(ID_PATTERN);
const TABLES = { track: "tracks", pattern: "patterns", note: "notes", clip: "clips", section: "sections", chord: "chords" };
/** The key of the sections' spans (not a valid entity id), as model.py's SECTIONS. */
export const SECTIONS = "#sections";
/** The key of the chord track's spans, as model.py's CHORDS. */
export const CHORDS = "#chords";
const SPAN_KINDS = ["clip", "section", "chord"];

/** An error with one of the protocol's stable codes (ERROR_CODES). */
export class BacklineError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = "BacklineError";
    this.code = code;
  }
}

const fail = (code, message) => {
  throw new BacklineError(code, message);
};

/** Deep copy of plain data. */
export function copy(value) {
  if (Array.isArray(value)) return value.map(copy);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value)) out[key] = copy(value[key]);
    return out;
  }
  return value;
}

/** Deep equality of plain data (what Python's == is on decoded msgpack). */
export function equal(a, b) {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => equal(x, b[i]));
  }
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && equal(a[k], b[k]));
  }
  return false;
}

const typeName = (v) => (v === null ? "None" : Array.isArray(v) ? "list" : typeof v);
const isInt = (v) => typeof v === "number" && Number.isInteger(v);
const chars = (s) => [...s].length; // Python counts code points, JS .length counts UTF-16 units

export function checkId(value, name = "id") {
  if (typeof value !== "string") fail(E.BAD_FIELD, `${name} must be a string id, not ${typeName(value)}`);
  if (!value || chars(value) > LIMITS.max_id_len) {
    fail(E.OUT_OF_RANGE, `${name} must be 1 to ${LIMITS.max_id_len} characters`);
  }
  if (!ID_RE.test(value)) fail(E.BAD_FIELD, `${name} may only hold letters, digits and _ . : -`);
  return value;
}

function intIn(name, value, lo, hi) {
  if (!isInt(value)) fail(E.BAD_FIELD, `${name} must be an integer, not ${typeName(value)}`);
  if (!(lo <= value && value <= hi)) {
    fail(E.OUT_OF_RANGE, `${name} must be between ${lo} and ${hi}, got ${value}`);
  }
  return value;
}

function bool(name, value) {
  if (typeof value !== "boolean") fail(E.BAD_FIELD, `${name} must be true or false, not ${typeName(value)}`);
  return value;
}

function record(name, value, keys) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    fail(E.BAD_FIELD, `${name} must be a map with keys ${keys.join(", ")}`);
  }
  const have = Object.keys(value);
  if (have.length !== keys.length || !keys.every((k) => Object.hasOwn(value, k))) {
    fail(E.BAD_FIELD, `${name} must have exactly the keys ${keys.join(", ")}`);
  }
  return value;
}

/** Check one field's value against its description in SCHEMAS; the normalised value. */
export function checkField(spec, name, value) {
  if (spec.optional && value === null) return null;
  switch (spec.type) {
    case "int":
      return intIn(name, value, spec.min, spec.max);
    case "number":
      if (typeof value !== "number") fail(E.BAD_FIELD, `${name} must be a number, not ${typeName(value)}`);
      if (!(spec.min <= value && value <= spec.max)) {
        fail(E.OUT_OF_RANGE, `${name} must be between ${spec.min} and ${spec.max}, got ${value}`);
      }
      return value;
    case "bool":
      return bool(name, value);
    case "text":
      if (typeof value !== "string") fail(E.BAD_FIELD, `${name} must be a string, not ${typeName(value)}`);
      if (chars(value) > spec.max_len) fail(E.TOO_LARGE, `${name} is longer than ${spec.max_len} characters`);
      return value;
    case "choice":
      if (!spec.choices.some((c) => typeof c === typeof value)) {
        fail(E.BAD_FIELD, `${name} must be one of ${spec.choices.join(", ")}`);
      }
      if (!spec.choices.includes(value)) fail(E.OUT_OF_RANGE, `${name} must be one of ${spec.choices.join(", ")}`);
      return value;
    case "id":
      return checkId(value, name);
    case "meter": {
      if (!Array.isArray(value) || value.length !== 2) fail(E.BAD_FIELD, `${name} must be [numerator, denominator]`);
      const [lo, hi] = spec.numerator;
      intIn(`${name} numerator`, value[0], lo, hi);
      if (!isInt(value[1])) fail(E.BAD_FIELD, `${name} denominator must be one of ${spec.denominators.join(", ")}`);
      if (!spec.denominators.includes(value[1])) {
        fail(E.OUT_OF_RANGE, `${name} denominator must be one of ${spec.denominators.join(", ")}`);
      }
      return [value[0], value[1]];
    }
    case "color":
      if (typeof value !== "string") {
        fail(E.BAD_FIELD, `${name} must be a colour string like '#4f8cff', not ${typeName(value)}`);
      }
      if (!new RegExp(spec.pattern).test(value)) {
        fail(E.OUT_OF_RANGE, `${name} must look like '#4f8cff' (six lower-case hex digits)`);
      }
      return value;
    case "key":
      if (typeof value !== "string") fail(E.BAD_FIELD, `${name} must be a string like 'C major'`);
      if (!new RegExp(spec.pattern).test(value)) {
        fail(E.OUT_OF_RANGE, `${name} must look like 'C major', 'F# minor' or 'Bb dorian'`);
      }
      return value;
    case "loop": {
      const rec = record(name, value, ["start", "end", "on"]);
      const start = checkField(spec.tick, `${name}.start`, rec.start);
      const end = checkField(spec.tick, `${name}.end`, rec.end);
      if (end <= start) fail(E.OUT_OF_RANGE, `${name}.end must be after ${name}.start`);
      return { start, end, on: bool(`${name}.on`, rec.on) };
    }
    case "transport": {
      const withStart = value !== null && typeof value === "object" && Object.hasOwn(value, "start");
      const rec = record(name, value, withStart ? ["playing", "beat", "time", "start"] : ["playing", "beat", "time"]);
      const out = {
        playing: bool(`${name}.playing`, rec.playing),
        beat: checkField(spec.beat, `${name}.beat`, rec.beat),
        time: checkField(spec.time, `${name}.time`, rec.time),
      };
      if (withStart) out.start = checkField(spec.beat, `${name}.start`, rec.start);
      return out;
    }
    case "lanes": {
      if (!Array.isArray(value)) fail(E.BAD_FIELD, `${name} must be a list of lanes`);
      if (value.length > spec.max_lanes) fail(E.TOO_LARGE, `${name} has more than ${spec.max_lanes} lanes`);
      return value.map((lane, i) => {
        const rec = record(`${name}[${i}]`, lane, ["sound", "steps"]);
        if (!Array.isArray(rec.steps)) fail(E.BAD_FIELD, `${name}[${i}].steps must be a list of velocities`);
        if (rec.steps.length > spec.max_steps) {
          fail(E.TOO_LARGE, `${name}[${i}].steps has more than ${spec.max_steps} steps`);
        }
        return {
          sound: checkField(spec.sound, `${name}[${i}].sound`, rec.sound),
          steps: rec.steps.map((s) => checkField(spec.step, `${name}[${i}].steps`, s)),
        };
      });
    }
    default:
      throw new BacklineError(E.INTERNAL, `unknown field type ${spec.type}`);
  }
}

/** One project, as `protocol/model.py`'s Document. Mutate only through `apply`. */
export class Document {
  constructor() {
    this.project = {};
    for (const [name, spec] of Object.entries(SCHEMAS.project)) this.project[name] = copy(spec.default);
    /** @type {Map<string, any>} */ this.tracks = new Map();
    /** @type {string[]} */ this.trackOrder = [];
    /** @type {Map<string, any>} */ this.patterns = new Map();
    /** @type {Map<string, any>} */ this.notes = new Map();
    /** @type {Map<string, any>} */ this.clips = new Map();
    /** @type {Map<string, any>} */ this.sections = new Map();
    /** @type {Map<string, any>} */ this.chords = new Map();
    /** @type {Map<string, string>} */ this.kindOf = new Map();
    // derived indexes, as model.py's: track id (or SECTIONS) -> sorted [start, id]
    // pairs of its clips (of the sections); a notes clip's id -> its notes' ids
    /** @type {Map<string, Array<[number, string]>>} */ this.spans = new Map();
    /** @type {Map<string, Set<string>>} */ this.clipNotes = new Map();
  }

  table(kind) {
    return this[TABLES[kind]];
  }

  get(id) {
    if (id === PROJECT_ID) return this.project;
    const kind = this.kindOf.get(id);
    return kind === undefined ? undefined : this.table(kind).get(id);
  }

  /** Tracks in track order. */
  trackList() {
    return this.trackOrder.map((id) => this.tracks.get(id));
  }

  /** The song's sections in timeline order. */
  orderedSections() {
    return (this.spans.get(SECTIONS) ?? []).map(([, id]) => this.sections.get(id));
  }

  /** The chord track in timeline order. */
  orderedChords() {
    return (this.spans.get(CHORDS) ?? []).map(([, id]) => this.chords.get(id));
  }

  /** The clips of one track in timeline order. */
  trackClips(trackId) {
    return (this.spans.get(trackId) ?? []).map(([, id]) => this.clips.get(id));
  }

  /** The notes of a notes clip (ids sorted). */
  notesOf(clipId) {
    return [...(this.clipNotes.get(clipId) ?? [])].sort().map((id) => this.notes.get(id));
  }

  // -- the derived indexes (kept by the op engine) ------------------------------

  index(kind, ent) {
    if (SPAN_KINDS.includes(kind)) {
      this.addSpan(spanKey(kind, ent), ent);
      if (kind === "clip" && ent.pattern === null && !this.clipNotes.has(ent.id)) this.clipNotes.set(ent.id, new Set());
    } else if (kind === "note" && ent.clip !== null) {
      if (!this.clipNotes.has(ent.clip)) this.clipNotes.set(ent.clip, new Set());
      this.clipNotes.get(ent.clip).add(ent.id);
    }
  }

  unindex(kind, ent) {
    if (SPAN_KINDS.includes(kind)) {
      this.removeSpan(spanKey(kind, ent), ent);
      if (kind === "clip") this.clipNotes.delete(ent.id);
    } else if (kind === "note" && ent.clip !== null) {
      this.clipNotes.get(ent.clip)?.delete(ent.id);
    }
  }

  addSpan(key, ent) {
    if (!this.spans.has(key)) this.spans.set(key, []);
    const spans = this.spans.get(key);
    spans.splice(lowerBound(spans, ent.start, ent.id), 0, [ent.start, ent.id]);
  }

  removeSpan(key, ent) {
    const spans = this.spans.get(key);
    spans.splice(lowerBound(spans, ent.start, ent.id), 1);
    if (!spans.length) this.spans.delete(key);
  }

  /**
   * The id of a span under `key` overlapping [start, start + length), other than
   * `ownId`'s; null when none. Spans under a key never overlap: the neighbours tell.
   */
  overlapping(key, start, length, ownId) {
    const spans = this.spans.get(key);
    if (!spans) return null;
    const table = key === SECTIONS ? this.sections : key === CHORDS ? this.chords : this.clips;
    const i = lowerBound(spans, start, "");
    let before = i - 1;
    if (before >= 0 && spans[before][1] === ownId) before -= 1;
    if (before >= 0) {
      const other = table.get(spans[before][1]);
      if (other.start + other.length > start) return other.id;
    }
    let after = i;
    if (after < spans.length && spans[after][1] === ownId) after += 1;
    if (after < spans.length && spans[after][0] < start + length) return spans[after][1];
    return null;
  }

  /** The snapshot form of docs/PROTOCOL.md: tracks in order, others sorted by id. */
  toData() {
    const sortedFields = (e) => Object.fromEntries(Object.keys(e).sort().map((k) => [k, copy(e[k])]));
    const sortedTable = (t) => [...t.keys()].sort().map((id) => sortedFields(t.get(id)));
    return {
      project: sortedFields(this.project),
      tracks: this.trackOrder.map((id) => sortedFields(this.tracks.get(id))),
      patterns: sortedTable(this.patterns),
      notes: sortedTable(this.notes),
      clips: sortedTable(this.clips),
      sections: sortedTable(this.sections),
      chords: sortedTable(this.chords),
    };
  }

  /**
   * Rebuild from the snapshot form (trusted: it comes from the server). A field or
   * kind the snapshot predates gets its default (an optional field: null), as
   * model.py's from_data does.
   */
  static fromData(data) {
    const doc = new Document();
    doc.project = upgraded(SCHEMAS.project, data.project);
    for (const kind of KINDS) {
      const table = doc.table(kind);
      for (const entity of data[TABLES[kind]] ?? []) {
        table.set(entity.id, upgraded(SCHEMAS[kind], entity));
        doc.kindOf.set(entity.id, kind);
      }
    }
    for (const kind of ["clip", "section", "chord", "note"]) for (const ent of doc.table(kind).values()) doc.index(kind, ent);
    doc.trackOrder = data.tracks.map((t) => t.id);
    return doc;
  }
}

function upgraded(schema, entity) {
  const ent = copy(entity);
  for (const [name, fieldSpec] of Object.entries(schema)) {
    if (!Object.hasOwn(ent, name) && (fieldSpec.default !== null || fieldSpec.optional)) ent[name] = copy(fieldSpec.default);
  }
  return ent;
}

/** The first index whose [start, id] is not below (start, id): Python's bisect_left on tuples. */
function lowerBound(spans, start, id) {
  let lo = 0;
  let hi = spans.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const [s, i] = spans[mid];
    if (s < start || (s === start && i < id)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// -- the op engine ------------------------------------------------------------

function checkShape(op) {
  if (op === null || typeof op !== "object" || Array.isArray(op)) fail(E.BAD_FIELD, "an op must be a map");
  const kind = op.op;
  if (typeof kind !== "string") fail(E.BAD_FIELD, "an op needs a string 'op' key");
  if (!Object.hasOwn(OP_KEYS, kind)) {
    fail(E.BAD_FIELD, `unknown op '${kind.slice(0, 32)}'; expected one of ${OP_TYPES.join(", ")}`);
  }
  const { required, optional } = OP_KEYS[kind];
  const missing = required.filter((k) => !Object.hasOwn(op, k));
  if (missing.length) fail(E.BAD_FIELD, `${kind} op is missing ${missing.sort().join(", ")}`);
  const extra = Object.keys(op).filter((k) => !required.includes(k) && !optional.includes(k));
  if (extra.length) fail(E.BAD_FIELD, `${kind} op has unknown key(s) ${extra.sort().join(", ")}`);
  return kind;
}

function entity(doc, rawId) {
  if (rawId === PROJECT_ID) return [PROJECT_ID, "project", doc.project];
  const id = checkId(rawId);
  const kind = doc.kindOf.get(id);
  if (kind === undefined) fail(E.NOT_FOUND, `no entity with id '${id}'`);
  return [id, kind, doc.table(kind).get(id)];
}

function spec(kind, field) {
  if (typeof field !== "string") fail(E.BAD_FIELD, "field must be a string");
  const found = Object.hasOwn(SCHEMAS[kind], field) ? SCHEMAS[kind][field] : undefined;
  if (found === undefined) fail(E.BAD_FIELD, `${kind} has no field '${field.slice(0, 32)}'`);
  return found;
}

function checkRef(doc, fieldSpec, field, value) {
  if (fieldSpec.ref !== null && value !== null && doc.kindOf.get(value) !== fieldSpec.ref) {
    fail(E.NOT_FOUND, `${field} refers to '${value}', which is not an existing ${fieldSpec.ref}`);
  }
}

// Relations between entities, checked on the entity as it would be (`next`) before
// anything changes: a clip's pattern is on the clip's track, a note belongs only to
// a notes clip of its own track, clips on a track and sections never overlap.
function checkRelations(doc, kind, next) {
  if (kind === "clip") {
    if (next.pattern !== null) {
      const owner = doc.patterns.get(next.pattern).track;
      if (owner !== next.track) {
        fail(E.BAD_FIELD, `clip's pattern '${next.pattern}' belongs to track '${owner}', not '${next.track}'`);
      }
    }
    checkSpan(doc, "clip", next.track, next);
  } else if (kind === "section") {
    checkSpan(doc, "section", SECTIONS, next);
  } else if (kind === "chord") {
    checkSpan(doc, "chord", CHORDS, next);
    const tones = HARMONY.QUALITIES[next.quality][1].length;
    if (next.inversion >= tones) fail(E.OUT_OF_RANGE, `a ${next.quality} chord has inversions 0 to ${tones - 1}`);
  } else if (kind === "note" && next.clip !== null) {
    const clip = doc.clips.get(next.clip);
    if (clip.pattern !== null) fail(E.BAD_FIELD, `a note can only be in a notes clip; '${clip.id}' places a pattern`);
    if (clip.track !== next.track) {
      fail(E.BAD_FIELD, `note is on track '${next.track}' but its clip '${clip.id}' is on '${clip.track}'`);
    }
  }
}

function checkSpan(doc, kind, key, next) {
  const end = next.start + next.length;
  if (end > LIMITS.max_tick) fail(E.OUT_OF_RANGE, `${kind} ends at tick ${end}, after the last tick ${LIMITS.max_tick}`);
  const other = doc.overlapping(key, next.start, next.length, next.id);
  if (other !== null) {
    const where = kind === "section" ? "another section" : kind === "chord" ? "another chord" : "another clip on its track";
    fail(E.OVERLAP, `${kind} [${next.start}, ${end}) overlaps ${where}, '${other}'`);
  }
}

function spanKey(kind, ent) {
  if (kind === "clip") return ent.track;
  return kind === "section" ? SECTIONS : CHORDS;
}

/** A pattern moved to another track takes its clips along (refused on an overlap there). */
function movePattern(doc, id, pattern, track) {
  const clips = [...doc.clips.values()].filter((c) => c.pattern === id);
  for (const clip of clips) {
    const other = doc.overlapping(track, clip.start, clip.length, clip.id);
    if (other !== null) fail(E.OVERLAP, `pattern's clip '${clip.id}' would overlap clip '${other}' on '${track}'`);
  }
  const old = pattern.track;
  for (const clip of clips) {
    doc.removeSpan(clip.track, clip);
    clip.track = track;
    doc.addSpan(track, clip);
  }
  pattern.track = track;
  return { op: "set", id, field: "track", value: old };
}

function checkLaneLengths(lanes, length) {
  lanes.forEach((lane, i) => {
    if (lane.steps.length !== length) {
      fail(E.OUT_OF_RANGE, `lanes[${i}] has ${lane.steps.length} steps; the pattern has ${length}`);
    }
  });
}

const resize = (steps, length) => [...steps.slice(0, length), ...new Array(Math.max(0, length - steps.length)).fill(0)];

function setField(doc, op) {
  const [id, kind, ent] = entity(doc, op.id);
  const field = op.field;
  if (Object.hasOwn(op, "at")) return setStep(id, kind, ent, field, op.at, op.value);
  const fieldSpec = spec(kind, field);
  const value = checkField(fieldSpec, field, op.value);
  checkRef(doc, fieldSpec, field, value);
  const old = ent[field];
  if (kind === "clip" || kind === "section" || kind === "chord" || kind === "note") {
    if (kind === "clip" && field === "pattern" && (old === null) !== (value === null)) {
      fail(E.BAD_FIELD, "a clip stays what it was made as: a pattern clip or a notes clip");
    }
    checkRelations(doc, kind, { ...ent, [field]: value });
    if (kind === "clip" && field === "track") {
      for (const noteId of doc.clipNotes.get(id) ?? []) doc.notes.get(noteId).track = value;
    }
    if (kind === "note") doc.unindex(kind, ent);
    else doc.removeSpan(spanKey(kind, ent), ent);
    ent[field] = value;
    if (kind === "note") doc.index(kind, ent);
    else doc.addSpan(spanKey(kind, ent), ent);
    return { op: "set", id, field, value: old };
  }
  if (kind === "pattern" && field === "track" && value !== old) return movePattern(doc, id, ent, value);
  if (kind === "pattern") {
    if (field === "lanes") checkLaneLengths(value, ent.length);
    else if (field === "length" && ent.lanes.length) {
      const oldLanes = ent.lanes;
      ent.lanes = oldLanes.map((lane) => ({ sound: lane.sound, steps: resize(lane.steps, value) }));
      ent[field] = value;
      return {
        op: "batch",
        ops: [
          { op: "set", id, field: "length", value: old },
          { op: "set", id, field: "lanes", value: oldLanes },
        ],
      };
    }
  }
  ent[field] = value;
  return { op: "set", id, field, value: old };
}

function setStep(id, kind, ent, field, at, value) {
  if (kind !== "pattern" || field !== "steps") fail(E.BAD_FIELD, "'at' is only allowed when setting a pattern's steps");
  if (!Array.isArray(at) || at.length !== 2 || !at.every(isInt)) fail(E.BAD_FIELD, "at must be [lane, step] integers");
  const [lane, step] = at;
  if (!(lane >= 0 && lane < ent.lanes.length)) {
    fail(E.OUT_OF_RANGE, `lane ${lane} does not exist (pattern has ${ent.lanes.length} lanes)`);
  }
  if (!(step >= 0 && step < ent.length)) fail(E.OUT_OF_RANGE, `step ${step} is outside the pattern's ${ent.length} steps`);
  if (!isInt(value)) fail(E.BAD_FIELD, "a step's value must be an integer velocity (0 = off)");
  const { min, max } = SCHEMAS.pattern.lanes.step;
  if (!(value >= min && value <= max)) fail(E.OUT_OF_RANGE, `a step's velocity must be between ${min} and ${max}, got ${value}`);
  const steps = ent.lanes[lane].steps;
  const old = steps[step];
  steps[step] = value;
  return { op: "set", id, field: "steps", at: [lane, step], value: old };
}

function insert(doc, op) {
  const kind = op.kind;
  if (!KINDS.includes(kind)) fail(E.BAD_FIELD, `kind must be one of ${KINDS.join(", ")}`);
  const id = checkId(op.id);
  if (id === PROJECT_ID || doc.kindOf.has(id)) fail(E.CONFLICT, `an entity with id '${id}' already exists`);
  const limit = LIMITS[`max_${kind}s`];
  if (doc.table(kind).size >= limit) fail(E.LIMIT_EXCEEDED, `a project holds at most ${limit} ${kind}s`);
  const given = op.value;
  if (given === null || typeof given !== "object" || Array.isArray(given)) fail(E.BAD_FIELD, "insert value must be a map of fields");
  const schema = SCHEMAS[kind];
  const unknown = Object.keys(given).filter((k) => !Object.hasOwn(schema, k));
  if (unknown.length) fail(E.BAD_FIELD, `${kind} has no field '${unknown[0].slice(0, 32)}'`);
  const ent = { id };
  for (const [name, fieldSpec] of Object.entries(schema)) {
    if (Object.hasOwn(given, name)) {
      const value = checkField(fieldSpec, name, given[name]);
      checkRef(doc, fieldSpec, name, value);
      ent[name] = value;
    } else if (fieldSpec.default !== null || fieldSpec.optional) {
      ent[name] = copy(fieldSpec.default);
    } else if (kind === "clip" && name === "length") {
      // derived: one pass of its pattern
      if (ent.pattern === null) fail(E.BAD_FIELD, "a notes clip needs a length (it has no pattern to take it from)");
      const pattern = doc.patterns.get(ent.pattern);
      ent[name] = Math.max(1, Math.floor((pattern.length * PPQ) / pattern.steps_per_beat));
    } else {
      fail(E.BAD_FIELD, `${kind} needs a ${name}`);
    }
  }
  if (kind === "pattern") checkLaneLengths(ent.lanes, ent.length);
  checkRelations(doc, kind, ent);
  const index = Object.hasOwn(op, "index") ? op.index : null;
  if (index !== null) {
    if (kind !== "track") fail(E.BAD_FIELD, "index is only allowed when inserting a track");
    if (!isInt(index)) fail(E.BAD_FIELD, "index must be an integer");
    if (!(index >= 0 && index <= doc.trackOrder.length)) {
      fail(E.OUT_OF_RANGE, `index must be between 0 and ${doc.trackOrder.length}`);
    }
  }
  doc.table(kind).set(id, ent);
  doc.kindOf.set(id, kind);
  doc.index(kind, ent);
  if (kind === "track") doc.trackOrder.splice(index === null ? doc.trackOrder.length : index, 0, id);
  return { op: "delete", id };
}

function reinsert(doc, kind, ent) {
  const value = {};
  for (const [k, v] of Object.entries(ent)) if (k !== "id") value[k] = v;
  const op = { op: "insert", kind, id: ent.id, value };
  if (kind === "track") op.index = doc.trackOrder.indexOf(ent.id);
  return op;
}

function remove(doc, op) {
  const [id, kind, ent] = entity(doc, op.id);
  if (kind === "project") fail(E.BAD_FIELD, "the project itself cannot be deleted");
  const doomed = [[kind, ent]];
  if (kind === "track") {
    const patterns = [...doc.patterns.values()].filter((p) => p.track === id);
    const patternIds = new Set(patterns.map((p) => p.id));
    doomed.push(...patterns.map((p) => ["pattern", p]));
    doomed.push(...[...doc.clips.values()].filter((c) => c.track === id || patternIds.has(c.pattern)).map((c) => ["clip", c]));
    doomed.push(...[...doc.notes.values()].filter((n) => n.track === id).map((n) => ["note", n]));
  } else if (kind === "pattern") {
    doomed.push(...[...doc.clips.values()].filter((c) => c.pattern === id).map((c) => ["clip", c]));
  } else if (kind === "clip") {
    // a notes clip's notes go with it
    doomed.push(...[...(doc.clipNotes.get(id) ?? [])].sort().map((n) => ["note", doc.notes.get(n)]));
  }
  const inverses = doomed.map(([k, e]) => reinsert(doc, k, e));
  for (const [k, e] of [...doomed].reverse()) {
    // notes before their clip leave the indexes
    doc.unindex(k, e);
    doc.table(k).delete(e.id);
    doc.kindOf.delete(e.id);
  }
  if (kind === "track") doc.trackOrder.splice(doc.trackOrder.indexOf(id), 1);
  return inverses.length === 1 ? inverses[0] : { op: "batch", ops: inverses };
}

function move(doc, op) {
  const [id, kind] = entity(doc, op.id);
  if (kind !== "track") fail(E.BAD_FIELD, "only tracks can be moved");
  const index = op.index;
  if (!isInt(index)) fail(E.BAD_FIELD, "index must be an integer");
  if (!(index >= 0 && index < doc.trackOrder.length)) {
    fail(E.OUT_OF_RANGE, `index must be between 0 and ${doc.trackOrder.length - 1}`);
  }
  const old = doc.trackOrder.indexOf(id);
  doc.trackOrder.splice(old, 1);
  doc.trackOrder.splice(index, 0, id);
  return { op: "move", id, index: old };
}

function batch(doc, ops) {
  if (!Array.isArray(ops)) fail(E.BAD_FIELD, "ops must be a list");
  if (!ops.length) fail(E.BAD_FIELD, "a batch needs at least one op");
  const inverses = [];
  try {
    ops.forEach((op, i) => {
      if (op !== null && typeof op === "object" && op.op === "batch") fail(E.BAD_FIELD, "batches cannot be nested");
      let inverse;
      try {
        inverse = apply(doc, op);
      } catch (error) {
        if (error instanceof BacklineError) throw new BacklineError(error.code, `ops[${i}]: ${error.message}`);
        throw error;
      }
      if (inverse.op === "batch") inverses.push(...[...inverse.ops].reverse());
      else inverses.push(inverse);
    });
  } catch (error) {
    for (const inverse of [...inverses].reverse()) apply(doc, inverse);
    throw error;
  }
  inverses.reverse();
  return inverses.length === 1 ? inverses[0] : { op: "batch", ops: inverses };
}

/**
 * Validate and apply one op; its inverse. Throws without changing `doc`.
 * @param {Document} doc
 * @param {any} op
 * @returns {any}
 */
export function apply(doc, op) {
  const kind = checkShape(op);
  if (kind === "set") return setField(doc, op);
  if (kind === "insert") return insert(doc, op);
  if (kind === "delete") return remove(doc, op);
  if (kind === "move") return move(doc, op);
  return batch(doc, op.ops);
}

/** Apply a list of ops atomically; the inverse batch. */
export function applyAll(doc, ops) {
  return batch(doc, ops);
}
