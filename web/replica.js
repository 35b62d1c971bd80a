/**
 * The browser's optimistic copy of the project, rebased on the server's order,
 * exactly as `protocol/replica.py` (and transport intents resolved as
 * `protocol/transport.py` does, with this client's estimate of server time).
 *
 * @module replica
 */

import { COUNT_IN, ERROR_CODES, INTENT_KEYS, PROJECT_ID, REANCHOR_FIELDS, SCHEMAS, SEEK_BEAT } from "./protocol.js";
import { BacklineError, Document, apply, applyAll, checkField, equal } from "./ops.js";
import { Timeline } from "./timeline.js";

const setTransport = (value) => ({ op: "set", id: PROJECT_ID, field: "transport", value });

function resolveOne(project, op, now, leadUs) {
  if (op === null || typeof op !== "object") return [op];
  const kind = op.op;
  if (typeof kind === "string" && Object.hasOwn(INTENT_KEYS, kind)) {
    const { required, optional } = INTENT_KEYS[kind];
    const keys = Object.keys(op);
    const extra = keys.filter((k) => !required.includes(k) && !optional.includes(k));
    const missing = required.filter((k) => !keys.includes(k));
    if (extra.length || missing.length) {
      const what = extra.length ? `has unknown key(s) ${extra.sort().join(", ")}` : `needs ${missing.sort().join(", ")}`;
      throw new BacklineError(ERROR_CODES.BAD_FIELD, `${kind} op ${what}`);
    }
    const timeline = Timeline.of(project);
    let value;
    if (kind === "play") {
      const beat = Object.hasOwn(op, "beat") ? checkField(SEEK_BEAT, "play beat", op.beat) : null;
      const countIn = Object.hasOwn(op, "count_in") ? checkField(COUNT_IN, "count_in", op.count_in) : 0;
      value = timeline.started(now, leadUs, beat, countIn);
    } else if (kind === "stop") {
      const back = Object.hasOwn(op, "back") ? checkField({ type: "bool" }, "stop back", op.back) : false;
      value = timeline.stopped(now, back);
    } else {
      value = timeline.sought(checkField(SEEK_BEAT, "seek beat", op.beat), now, leadUs);
    }
    project.transport = value;
    return [setTransport(value)];
  }
  if (kind === "set" && op.id === PROJECT_ID) {
    if (op.field === "transport") {
      throw new BacklineError(ERROR_CODES.BAD_FIELD, "transport changes only through play, stop and seek ops");
    }
    if (REANCHOR_FIELDS.includes(op.field) && Object.hasOwn(op, "value")) {
      const value = checkField(SCHEMAS.project[op.field], op.field, op.value);
      const out = [];
      const timeline = Timeline.of(project);
      if (timeline.playing) {
        const anchored = timeline.anchoredAt(now);
        project.transport = anchored;
        out.push(setTransport(anchored));
      }
      project[op.field] = value;
      out.push(op);
      return out;
    }
  }
  return [op];
}

/**
 * The plain ops that carry out `ops` at server time `now` (µs): intents become
 * transport sets, tempo/meter changes while playing get a re-anchoring set.
 */
export function resolve(doc, ops, now, leadUs) {
  const project = { ...doc.project };
  const out = [];
  for (const op of ops) {
    if (op !== null && typeof op === "object" && op.op === "batch" && Array.isArray(op.ops)) {
      const inner = [];
      for (const child of op.ops) inner.push(...resolveOne(project, child, now, leadUs));
      out.push({ ...op, ops: inner });
    } else {
      out.push(...resolveOne(project, op, now, leadUs));
    }
  }
  return out;
}

/** One of my edits the server has not confirmed yet. */
class Pending {
  constructor(seq, ops, inverse) {
    this.seq = seq;
    this.ops = ops;
    this.inverse = inverse; // null while it does not apply locally (the server decides)
  }
}

export class Replica {
  constructor(doc = new Document()) {
    this.doc = doc;
    this.version = 0;
    this.client = "";
    /** @type {Pending[]} */ this.pending = [];
  }

  /** Apply my edit optimistically; throws (keeping nothing) when it is invalid here. */
  local(seq, ops) {
    const inverse = applyAll(this.doc, ops);
    this.pending.push(new Pending(seq, ops, inverse));
    return inverse;
  }

  /** Await a server-side edit (undo/redo) that has no local ops. */
  track(seq) {
    this.pending.push(new Pending(seq, [], null));
  }

  /** Apply a batch `{v, by, seq, ops}` in server order; throws on a version gap or desync. */
  confirm(batch) {
    if (batch.v !== this.version + 1) {
      throw new BacklineError(ERROR_CODES.INTERNAL, `expected version ${this.version + 1}, got ${batch.v}`);
    }
    const mine = batch.by === this.client;
    const head = this.pending.length ? this.pending[0] : null;
    if (mine && head !== null && head.seq === batch.seq && head.inverse !== null && equal(head.ops, batch.ops)) {
      this.pending.shift(); // applied by the server unchanged, on the state we applied it on
    } else if (!this.pending.length) {
      this.applyConfirmed(batch);
    } else {
      this.rewind();
      this.applyConfirmed(batch);
      if (mine) this.pending = this.pending.filter((p) => p.seq !== batch.seq);
      this.replay();
    }
    this.version = batch.v;
  }

  /** Drop a rejected edit of mine and undo its local effect; the dropped edit or null. */
  reject(seq) {
    const found = this.pending.find((p) => p.seq === seq);
    if (found === undefined) return null;
    this.rewind();
    this.pending.splice(this.pending.indexOf(found), 1);
    this.replay();
    return found;
  }

  /** Start over from a snapshot; the seqs it already holds (dropped from pending). */
  reset(doc, version, ackedSeq) {
    const dropped = this.pending.filter((p) => p.seq <= ackedSeq).map((p) => p.seq);
    this.doc = doc;
    this.version = version;
    this.pending = this.pending.filter((p) => p.seq > ackedSeq).map((p) => new Pending(p.seq, p.ops, null));
    this.replay();
    return dropped;
  }

  applyConfirmed(batch) {
    try {
      applyAll(this.doc, batch.ops);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new BacklineError(ERROR_CODES.INTERNAL, `confirmed batch v${batch.v} does not apply: ${message}`);
    }
  }

  rewind() {
    for (const pending of [...this.pending].reverse()) {
      if (pending.inverse !== null) {
        apply(this.doc, pending.inverse);
        pending.inverse = null;
      }
    }
  }

  replay() {
    for (const pending of this.pending) {
      if (pending.ops.length) {
        try {
          pending.inverse = applyAll(this.doc, pending.ops);
        } catch (error) {
          if (!(error instanceof BacklineError)) throw error;
          pending.inverse = null;
        }
      }
    }
  }
}
