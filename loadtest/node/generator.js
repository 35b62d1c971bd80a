// The Node.js load generator: one process drives Backline, a relay or Hocuspocus
// with the same fan-out workload, so a single report can compare them.
//
//   node generator.js          (driven by loadtest/node_generator.py)
//
// Commands arrive as one JSON object per line on stdin; every answer is one
// JSON object per line on stdout, carrying the command's "id":
//
//   {"id", "cmd": "join", "protocol": "backline"|"relay"|"hocuspocus", "members": [...]}
//       open every member's socket (100 at a time) and join; answers {"joined": n}
//   {"id", "cmd": "step", "rate", "settle", "seconds", "max_outstanding"}
//       send `rate` edits/s round-robin over the senders for settle + seconds;
//       prints {"event": "measuring"} when the settle time ends (the driver
//       starts its server-CPU meter then), and answers with the counters of the
//       measured part
//   {"id", "cmd": "drain", "timeout", "per_edit"}
//       wait (bounded) until every edit is acknowledged and delivered per_edit
//       times; answers the totals since joining
//   {"id", "cmd": "close"}               close every socket, answer, exit
//
// The Backline and relay members are protocol-free: the driver hands each one
// its prebuilt frames (base64) and where in the edit frame the 4-byte seq goes.
// Only the parts needed to count are decoded: the `ops` frame's batch count,
// and for a sender the batches that carry its own client id. The Hocuspocus
// members speak the Yjs sync protocol (y-protocols/sync in Hocuspocus'
// envelope): a sender makes each edit on a real Y.Doc, receivers only read
// the header and struct lengths of each update they receive.
//
// Fast by construction: `ws` client without compression, a zero masking key
// (ws then skips masking), one message listener per socket, no promise, task
// or timer per message; pacing runs on one 1 ms timer for all senders.

"use strict";

const readline = require("node:readline");
const { performance } = require("node:perf_hooks");
const WebSocket = require("ws");
const msgpack = require("@msgpack/msgpack");
const Y = require("yjs");

const WS_OPTIONS = {
  perMessageDeflate: false,
  maxPayload: 256 * 1024 * 1024,
  skipUTF8Validation: true,
  // the server cannot tell a zero key from a random one; ws skips masking for it
  generateMask: (mask) => mask.fill(0),
};
const JOIN_BATCH = 100;
const JOIN_TIMEOUT_MS = 60_000;
const KEEPALIVE_MS = 20_000; // Hocuspocus closes a connection silent for 60 s

const now = () => performance.now();

function send(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

// -- small binary helpers ----------------------------------------------------------

function varUint(value, out) {
  while (value > 0x7f) {
    out.push(0x80 | (value & 0x7f));
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

function varString(text, out) {
  const bytes = Buffer.from(text, "utf8");
  varUint(bytes.length, out);
  for (const b of bytes) out.push(b);
  return out;
}

function writeSeq(frame, positions, seq) {
  for (const at of positions) frame.writeUInt32BE(seq, at);
}

function summarize(values) {
  // the same quantile as loadtest.clients.percentile: the item at int(q * n) of the sorted list
  values.sort((a, b) => a - b);
  const n = values.length;
  const at = (q) => (n ? values[Math.min(n - 1, Math.floor(q * n))] : null);
  return { n, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: n ? values[n - 1] : null };
}

// -- Backline and relay: msgpack `ops` frames ---------------------------------------

// Open `member`'s socket: `onOpen(ws)` starts its join, `onMessage` sees every
// message. The promise settles when the member calls `joinedCallback` (joined) or
// `failCallback` (refused, a socket error), or after JOIN_TIMEOUT_MS.
function openMember(member, protocols, onOpen, onMessage) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(member.spec.url, protocols, WS_OPTIONS);
    member.ws = ws;
    const timer = setTimeout(
      () => reject(new Error(`join timed out: ${member.spec.url}`)),
      JOIN_TIMEOUT_MS,
    );
    member.joinedCallback = () => {
      clearTimeout(timer);
      resolve();
    };
    member.failCallback = (error) => {
      clearTimeout(timer);
      reject(error);
    };
    ws.on("open", () => onOpen(ws));
    ws.on("message", onMessage);
    ws.on("error", (error) => member.failCallback(error));
    ws.on("close", onSocketClosed);
  });
}

class OpsMember {
  // `spec`: url, sender, edit (base64), seq_at (offsets of the seq in edit), and
  // hello (base64, Backline) or client (relay: the `by` the frames carry)
  constructor(spec, shared) {
    this.spec = spec;
    this.sender = spec.sender;
    this.edit = Buffer.from(spec.edit, "base64");
    this.seqAt = spec.seq_at;
    this.prefix = shared.opsPrefix;
    this.protocols = shared.subprotocol ? [shared.subprotocol] : [];
    this.client = spec.client || "";
    this.marker = this.client ? markerFor(this.client) : null;
    this.joined = !spec.hello;
    this.seq = 0;
    this.totalDeliveries = 0; // since joining, never reset: what drain checks
    this.sent = new Map(); // seq -> send time (ms)
    this.reset();
  }

  reset() {
    this.deliveries = 0;
    this.frames = 0;
    this.rtts = [];
    this.echoRtts = this.rtts;
  }

  outstanding() {
    return this.sent.size;
  }

  clearSent() {
    this.sent.clear();
  }

  join() {
    return openMember(
      this,
      this.protocols,
      (ws) => {
        if (this.spec.hello) ws.send(Buffer.from(this.spec.hello, "base64"));
        else this.joinedCallback();
      },
      (data) => (this.joined ? this.onFrame(data) : this.onJoinFrame(data)),
    );
  }

  onJoinFrame(data) {
    const message = msgpack.decode(data);
    if (message && message.type === "welcome") {
      this.client = message.client;
      this.marker = markerFor(this.client);
      this.joined = true;
      this.joinedCallback();
    } else if (message && message.type === "error") {
      this.failCallback(new Error(`join refused: ${JSON.stringify(message)}`));
    }
  }

  sendEdit(t) {
    const seq = ++this.seq;
    const frame = Buffer.from(this.edit); // a copy: ws may still hold the previous one
    writeSeq(frame, this.seqAt, seq);
    this.sent.set(seq, t);
    this.ws.send(frame);
  }

  onFrame(data) {
    this.frames += 1;
    const prefix = this.prefix;
    const n = prefix.length;
    if (data.length <= n || prefix.compare(data, 0, n) !== 0) return;
    const c = data[n];
    const batches = c < 0xa0 ? c - 0x90 : c === 0xdc ? data.readUInt16BE(n + 1) : data.readUInt32BE(n + 1);
    this.deliveries += batches;
    this.totalDeliveries += batches;
    if (this.sent.size > 0 && data.indexOf(this.marker, n) !== -1) {
      const t = now();
      for (const batch of msgpack.decode(data).batches) {
        if (batch.by !== this.client) continue;
        const sentAt = this.sent.get(batch.seq);
        if (sentAt !== undefined) {
          this.sent.delete(batch.seq);
          this.rtts.push(t - sentAt);
        }
      }
    }
  }

  close() {
    return closeSocket(this.ws);
  }
}

function markerFor(client) {
  return Buffer.concat([msgpack.encode("by"), msgpack.encode(client)]);
}

// -- Hocuspocus: the Yjs sync protocol in Hocuspocus' envelope ------------------------
// Every message: varString document name, varUint type (Sync 0, Awareness 1,
// Auth 2, QueryAwareness 3, SyncReply 4, SyncStatus 8), then the type's body;
// a Sync body is varUint step (0: sync step 1, 1: step 2, 2: update) and a
// varUint8Array (a state vector or a v1 update).

const SYNC = 0;
const AUTH = 2;
const QUERY_AWARENESS = 3;
const SYNC_REPLY = 4;
const SYNC_STATUS = 8;
const STEP1 = 0;
const STEP2 = 1;
const UPDATE = 2;
const AUTHENTICATED = 2;
const PERMISSION_DENIED = 1;
const EMPTY_UPDATE = [0, 0]; // no structs, empty delete set

class HocuspocusMember {
  constructor(spec) {
    this.spec = spec;
    this.sender = spec.sender;
    this.name = Buffer.from(varString(spec.document, []));
    this.acks = []; // send times of unacknowledged updates, oldest first (acks come in order)
    this.ackHead = 0;
    this.forgotten = 0; // acks still due for updates `clearSent` gave up on
    this.sentClock = new Map(); // clock of an own edit -> send time, for its broadcast copy
    this.client = -1;
    this.seq = 0;
    this.totalDeliveries = 0;
    this.synced = false;
    this.gotStep2 = false;
    if (this.sender) {
      this.doc = new Y.Doc();
      this.map = this.doc.getMap("project");
      this.client = this.doc.clientID;
      this.lastUpdate = null;
      this.doc.on("update", (update) => {
        this.lastUpdate = update;
      });
    }
    this.reset();
  }

  reset() {
    this.deliveries = 0;
    this.frames = 0;
    this.rtts = [];
    this.echoRtts = [];
  }

  outstanding() {
    return this.acks.length - this.ackHead;
  }

  clearSent() {
    this.forgotten += this.outstanding();
    this.acks = [];
    this.ackHead = 0;
    this.sentClock.clear();
  }

  message(type, body) {
    return Buffer.concat([this.name, Buffer.from(varUint(type, [])), Buffer.from(body)]);
  }

  syncMessage(step, payload) {
    const head = varUint(step, varUint(SYNC, []));
    varUint(payload.length, head);
    return Buffer.concat([this.name, Buffer.from(head), Buffer.from(payload)]);
  }

  join() {
    return openMember(
      this,
      [],
      (ws) => {
        ws.send(this.message(AUTH, varString(this.spec.token, varUint(0, []))));
        const stateVector = this.sender ? Y.encodeStateVector(this.doc) : Uint8Array.of(0);
        ws.send(this.syncMessage(STEP1, stateVector));
      },
      (data) => this.onMessage(data),
    );
  }

  onMessage(data) {
    // skip the document name (one connection per document)
    let p = 0;
    let len = 0;
    let shift = 0;
    let b;
    do {
      b = data[p++];
      len += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    p += len;
    const type = data[p++]; // every type in use is < 128: one byte
    if (type === SYNC || type === SYNC_REPLY) {
      const step = data[p++];
      if (step === UPDATE) {
        this.frames += 1;
        this.onUpdate(data, p);
      } else if (step === STEP2) {
        this.gotStep2 = true;
      } else if (step === STEP1) {
        this.answerStep1(data, p);
      }
    } else if (type === SYNC_STATUS) {
      if (!this.synced) {
        // the acknowledgement of our sync step 2: joined
        if (this.gotStep2) {
          this.synced = true;
          this.joinedCallback();
        }
      } else if (this.forgotten > 0) {
        this.forgotten -= 1; // a late ack of an update sent before the last drain
      } else if (this.ackHead < this.acks.length) {
        this.rtts.push(now() - this.acks[this.ackHead++]);
        if (this.ackHead > 4096 && this.ackHead * 2 > this.acks.length) {
          this.acks = this.acks.slice(this.ackHead);
          this.ackHead = 0;
        }
      }
    } else if (type === AUTH) {
      if (data[p] === PERMISSION_DENIED) this.failCallback(new Error("hocuspocus: permission denied"));
      else if (data[p] !== AUTHENTICATED) this.failCallback(new Error(`hocuspocus: auth message ${data[p]}`));
    }
  }

  answerStep1(data, p) {
    // the server's state vector; a receiver has nothing the server lacks
    let payload = EMPTY_UPDATE;
    if (this.sender) {
      reader.buf = data;
      reader.p = p;
      const n = reader.varUint();
      payload = Y.encodeStateAsUpdate(this.doc, data.subarray(reader.p, reader.p + n));
    }
    this.ws.send(this.syncMessage(STEP2, payload));
  }

  sendEdit(t) {
    const seq = ++this.seq;
    this.map.set("tempo", 121 + (seq % 1000) / 1000);
    const update = this.lastUpdate;
    // a local transaction's v1 update: 1 client, then numStructs, client, clock
    reader.buf = update;
    reader.p = 0;
    reader.varUint();
    reader.varUint();
    reader.varUint();
    this.sentClock.set(reader.varUint(), t);
    this.acks.push(t);
    this.ws.send(this.syncMessage(UPDATE, update));
  }

  onUpdate(data, p) {
    reader.buf = data;
    reader.p = p;
    reader.varUint(); // the update's byte length
    const own = this.sender && this.sentClock.size > 0 ? this : null;
    let edits = countStructs(own);
    if (edits < 0) edits = fallbackCount(data, p);
    this.deliveries += edits;
    this.totalDeliveries += edits;
  }

  matchEcho(client, clock, length, t) {
    if (client !== this.client) return;
    for (let c = clock; c < clock + length; c++) {
      const sentAt = this.sentClock.get(c);
      if (sentAt !== undefined) {
        this.sentClock.delete(c);
        this.echoRtts.push(t - sentAt);
      }
    }
  }

  close() {
    return closeSocket(this.ws);
  }
}

// A cursor over one buffer, shared by every member (one message is read at a time).
const reader = {
  buf: null,
  p: 0,
  varUint() {
    const buf = this.buf;
    let value = 0;
    let shift = 0;
    let b;
    do {
      b = buf[this.p++];
      value += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return value;
  },
  skipVarInt() {
    while (this.buf[this.p++] & 0x80);
  },
  skipBytes() {
    const n = this.varUint();
    this.p += n;
  },
  skipAny() {
    // lib0's writeAny: a tag byte, then the value
    const tag = this.buf[this.p++];
    if (tag === 125) this.skipVarInt();
    else if (tag === 124) this.p += 4;
    else if (tag === 123 || tag === 122) this.p += 8;
    else if (tag === 119 || tag === 116) this.skipBytes();
    else if (tag === 118) {
      for (let n = this.varUint(); n > 0; n--) {
        this.skipBytes();
        this.skipAny();
      }
    } else if (tag === 117) {
      for (let n = this.varUint(); n > 0; n--) this.skipAny();
    } else if (tag < 120) return false; // not a tag lib0 writes
    return true;
  },
};

// The edits (clock units of Items) in the v1 update at `reader`, or -1 for content
// this reader does not skip. Per client: numStructs, client, clock, then structs;
// a struct is an info byte (low 5 bits: 0 GC, 10 Skip, else the Item's content
// type; 0x80 origin, 0x40 right origin, 0x20 parentSub), as Yjs' readStructs.
function countStructs(own) {
  const r = reader;
  const t = own ? now() : 0;
  let edits = 0;
  for (let clients = r.varUint(); clients > 0; clients--) {
    let structs = r.varUint();
    const client = r.varUint();
    let clock = r.varUint();
    for (; structs > 0; structs--) {
      const info = r.buf[r.p++];
      const ref = info & 0x1f;
      let length = 1;
      if (ref === 0 || ref === 10) {
        clock += r.varUint(); // GC or Skip: no edit
        continue;
      }
      if (info & 0x80) {
        r.varUint();
        r.varUint();
      }
      if (info & 0x40) {
        r.varUint();
        r.varUint();
      }
      if ((info & 0xc0) === 0) {
        if (r.varUint() === 1) r.skipBytes();
        else {
          r.varUint();
          r.varUint();
        }
        if (info & 0x20) r.skipBytes();
      }
      if (ref === 8) {
        length = r.varUint(); // ContentAny
        for (let i = 0; i < length; i++) if (!r.skipAny()) return -1;
      } else if (ref === 1) {
        length = r.varUint(); // ContentDeleted
      } else if (ref === 3 || ref === 5) {
        r.skipBytes(); // Binary, Embed
      } else if (ref === 6) {
        r.skipBytes(); // Format: key, value
        r.skipBytes();
      } else {
        return -1; // String, JSON, Type, Doc: not what the workload sends
      }
      if (own !== null) own.matchEcho(client, clock, length, t);
      clock += length;
      edits += length;
    }
  }
  return edits;
}

function fallbackCount(data, p) {
  reader.buf = data;
  reader.p = p;
  const n = reader.varUint();
  const { structs } = Y.decodeUpdate(data.subarray(reader.p, reader.p + n));
  let edits = 0;
  for (const s of structs) if (s.constructor === Y.Item) edits += s.length;
  return edits;
}

// -- shared machinery ----------------------------------------------------------------

function closeSocket(ws) {
  return new Promise((resolve) => {
    if (!ws || ws.readyState === WebSocket.CLOSED) return resolve();
    ws.once("close", resolve);
    ws.close(1000);
  });
}

let members = [];
let senders = [];
let keepalive = null;
let closing = false;
let socketsLost = 0; // closed by the server (or the network) before `close`

function onSocketClosed() {
  if (!closing) socketsLost += 1;
}

async function join(command) {
  const shared = {
    opsPrefix: command.ops_prefix ? Buffer.from(command.ops_prefix, "base64") : Buffer.alloc(0),
    subprotocol: command.subprotocol || "",
  };
  const made = command.members.map((spec) =>
    command.protocol === "hocuspocus" ? new HocuspocusMember(spec) : new OpsMember(spec, shared),
  );
  const t0 = now();
  for (let i = 0; i < made.length; i += JOIN_BATCH) {
    await Promise.all(made.slice(i, i + JOIN_BATCH).map((m) => m.join()));
  }
  members = members.concat(made);
  senders = members.filter((m) => m.sender);
  if (command.protocol === "hocuspocus" && keepalive === null) {
    keepalive = setInterval(() => {
      for (const m of members) if (m instanceof HocuspocusMember) m.ws.send(m.message(QUERY_AWARENESS, []));
    }, KEEPALIVE_MS);
  }
  return { joined: made.length, join_s: (now() - t0) / 1000 };
}

function step(command, reply) {
  const rate = command.rate;
  const maxOutstanding = command.max_outstanding;
  const start = now();
  const measureFrom = start + command.settle * 1000;
  const until = measureFrom + command.seconds * 1000;
  const n = senders.length;
  let sent = 0;
  let held = 0;
  let k = 0;
  let measuring = null;
  const tick = () => {
    const t = now();
    if (measuring === null && t >= measureFrom) {
      for (const m of members) m.reset();
      measuring = { t0: t, cpu0: process.cpuUsage(), seq0: senders.reduce((a, m) => a + m.seq, 0) };
      send({ event: "measuring" });
    }
    if (t >= until) {
      reply(finishStep(measuring, held));
      return;
    }
    const due = Math.floor(((t - start) / 1000) * rate) - sent;
    for (let i = 0; i < due; i++) {
      const member = senders[k];
      k = k + 1 < n ? k + 1 : 0;
      if (member.outstanding() < maxOutstanding) member.sendEdit(t);
      else held += 1;
    }
    if (due > 0) sent += due;
    setTimeout(tick, 1);
  };
  tick();
}

function finishStep(measuring, held) {
  const t = now();
  const elapsed = (t - measuring.t0) / 1000;
  const cpu = process.cpuUsage(measuring.cpu0);
  const rtts = [];
  const echoes = [];
  for (const m of senders) {
    for (const r of m.rtts) rtts.push(r);
    if (m.echoRtts !== m.rtts) for (const r of m.echoRtts) echoes.push(r);
  }
  const acked = rtts.length;
  // edits still unacknowledged at the end count with their age so far
  for (const m of senders) {
    if (m instanceof OpsMember) for (const sentAt of m.sent.values()) rtts.push(t - sentAt);
    else for (let i = m.ackHead; i < m.acks.length; i++) rtts.push(t - m.acks[i]);
  }
  return {
    elapsed_s: elapsed,
    deliveries: members.reduce((a, m) => a + m.deliveries, 0),
    frames: members.reduce((a, m) => a + m.frames, 0),
    acked,
    edits_sent: senders.reduce((a, m) => a + m.seq, 0) - measuring.seq0,
    held_back: held,
    rtt_ms: summarize(rtts),
    echo_rtt_ms: summarize(echoes),
    generator_cpu_s: (cpu.user + cpu.system) / 1e6,
  };
}

function drain(command, reply) {
  // wait (bounded) until every edit is acknowledged and delivered `per_edit` times
  const deadline = now() + command.timeout * 1000;
  const totals = () => ({
    edits_total: senders.reduce((a, m) => a + m.seq, 0),
    deliveries_total: members.reduce((a, m) => a + m.totalDeliveries, 0),
  });
  const poll = () => {
    const { edits_total, deliveries_total } = totals();
    const busy =
      senders.some((m) => m.outstanding() > 0) || deliveries_total < edits_total * command.per_edit;
    if (busy && now() < deadline) {
      setTimeout(poll, 20);
      return;
    }
    const left = senders.reduce((a, m) => a + m.outstanding(), 0);
    for (const m of senders) m.clearSent();
    reply({ unacknowledged: left, edits_total, deliveries_total, sockets_lost: socketsLost });
  };
  poll();
}

async function closeAll() {
  closing = true;
  if (keepalive !== null) clearInterval(keepalive);
  const closed = Promise.all(members.map((m) => m.close()));
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  return { closed: members.length };
}

function handle(line) {
  if (!line.trim()) return;
  const command = JSON.parse(line);
  const reply = (body) => send({ id: command.id, ...body });
  const fail = (error) => send({ id: command.id, error: String(error && error.stack ? error.stack : error) });
  try {
    if (command.cmd === "join") join(command).then(reply, fail);
    else if (command.cmd === "step") step(command, reply);
    else if (command.cmd === "drain") drain(command, reply);
    else if (command.cmd === "close") {
      closeAll().then((body) => {
        reply(body);
        process.exit(0);
      }, fail);
    } else fail(new Error(`unknown command ${command.cmd}`));
  } catch (error) {
    fail(error);
  }
}

readline.createInterface({ input: process.stdin }).on("line", handle);
process.stdin.on("end", () => process.exit(0));
