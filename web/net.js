/**
 * The session connection for the browser: what `client/session.py` is for Python.
 *
 * Speaks docs/PROTOCOL.md over one websocket (binary msgpack frames,
 * subprotocol backline.v1): hello/welcome, optimistic edits acknowledged by
 * their own batch, rejects rolled back, presence, chat, clock sync by
 * ping/pong, and reconnect with resume (same client id, last version; the
 * unacknowledged edits are sent again).
 *
 * Events (`session.on(type, fn)`, which returns an unsubscribe function):
 * every server message by its `type` (`welcome`, `ops`, `reject`, `presence`,
 * `chat`, `pong`, `error`, `rtc`, `live`: someone else's live note, see
 * `liveNote`), plus
 *   - `change`   the project changed (any reason)
 *   - `state`    connection state: `connecting`, `connected`, `reconnecting`, `closed`
 *   - `rejected` `{seq, code, message}`: my edit was refused and rolled back
 *   - `peers`    the presence list changed
 *
 * @module net
 */

import {
  CLIENT_TYPES as C,
  CLOSE_REASONS,
  DEFAULT_LEAD_US,
  ERROR_CODES,
  FINAL_CLOSE_CODES,
  LIMITS,
  MESSAGE_LIMITS,
  PROJECT_ID,
  ROLES,
  SCHEMAS,
  SERVER_TYPES as S,
  SUBPROTOCOL,
} from "./protocol.js";
import { decode, encode } from "./msgpack.js";
import { BacklineError, Document } from "./ops.js";
import { Replica, resolve } from "./replica.js";
import { Clock } from "./clock.js";
import { Timeline } from "./timeline.js";

const { track: TRACK, pattern: PATTERN, note: NOTE } = SCHEMAS;
const CLOCK_BURST = 16;
const CLOCK_BURST_MS = 20;
const CLOCK_INTERVAL_MS = 1000;
const MAX_BACKOFF_MS = 5000;
const OPEN_TIMEOUT_MS = 10000;
/** The `live` bucket when a welcome does not say: the server's default. */
const LIVE_RATE = [LIMITS.live_rate, LIMITS.live_burst];
/** Live events kept waiting for the bucket at most (beyond: the oldest note-ons go). */
const LIVE_QUEUE = 2000;

/**
 * The websocket URL of the server that served this page; with `session`, its path
 * `/s/<session>` (what a load balancer routes on, docs/SCALING.md).
 */
export function pageSocketUrl(location = globalThis.location, session = "") {
  const path = session ? `s/${encodeURIComponent(session)}` : "";
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/${path}`;
}

/** One submitted edit: `done` resolves with its version once stored, or rejects. */
export class Edit {
  constructor(seq, id, done) {
    this.seq = seq;
    this.id = id;
    this.done = done;
  }
}

export class Session {
  /**
   * `client` with `resume` (both from an earlier welcome) takes that identity
   * back, with its undo history and op ids: what a reloaded page does (app.js).
   * @param {{url?: string, session: string, token: string, name: string, color?: string, client?: string, resume?: string}} options
   */
  constructor(options) {
    this.options = { url: pageSocketUrl(globalThis.location, options.session), ...options };
    this.clientId = options.client && options.resume ? options.client : "";
    this.resume = this.clientId ? options.resume : "";
    /** my colour in effect: the one chosen, or the one the session handed out (welcome) */
    this.color = options.color || null;
    /** whether a welcome has come yet (a first connect is `connecting`, later ones `reconnecting`) */
    this.welcomed = false;
    /** the close code that ended the session for good (see FINAL_CLOSE_CODES), or null */
    this.closeCode = null;
    this.role = ROLES.VIEWER;
    this.replica = new Replica();
    /** @type {Map<string, any>} peers by client id, online only, me excluded */
    this.peers = new Map();
    this.me = null;
    this.chatHistory = [];
    this.clock = new Clock();
    this.state = "connecting";
    this.closeReason = "";
    this.ws = null;
    this.seq = 0;
    this.ids = 0;
    this.salt = Math.floor(Math.random() * 0x10000).toString(16).padStart(4, "0");
    /** @type {Map<number, any>} unacknowledged edit messages by seq, in order */
    this.outbox = new Map();
    /** @type {Map<number, {resolve: Function, reject: Function}>} */
    this.waiters = new Map();
    /** @type {Map<string, Set<Function>>} */
    this.listeners = new Map();
    this.needSnapshot = this.clientId !== ""; // resuming from a fresh page: no version to continue from
    this.closed = false;
    this.backoff = 50;
    this.presencePending = null;
    this.presenceTimer = null;
    this.clockTimer = null;
    this.reconnectTimer = null;
    /** no reconnect before this `performance.now()` (see `drop`) */
    this.offlineUntil = 0;
    this.lastWelcome = null;
    this.locked = false;
    this.requestId = 0;
    /** @type {Map<number, {resolve: Function, reject: Function}>} admin requests by id */
    this.requests = new Map();
  }

  // -- state ----------------------------------------------------------------

  /** The live mirror: confirmed state plus my unacknowledged edits. */
  get project() {
    return this.replica.doc;
  }

  get version() {
    return this.replica.version;
  }

  /** Whether my edits can be accepted: not a viewer, and not locked out (owners never are). */
  get canEdit() {
    return this.role === ROLES.OWNER || (this.role !== ROLES.VIEWER && !this.locked);
  }

  /** Server time now (µs), as this page best knows it. */
  serverNow() {
    return this.clock.now();
  }

  /** The shared transport as a Timeline (see timeline.js). */
  timeline() {
    return Timeline.of(this.project.project);
  }

  // -- events -----------------------------------------------------------------

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type)?.delete(fn);
  }

  emit(type, value) {
    for (const fn of [...(this.listeners.get(type) ?? [])]) {
      try {
        fn(value);
      } catch (error) {
        console.error(`backline: a '${type}' listener failed`, error);
      }
    }
  }

  setState(state, reason = "") {
    this.state = state;
    this.closeReason = reason;
    this.emit("state", { state, reason, code: state === "closed" ? this.closeCode : null });
  }

  // -- connection ---------------------------------------------------------------

  /** Connect and join; resolves on the first welcome, rejects if refused. */
  connect() {
    return new Promise((resolveJoin, rejectJoin) => {
      this.joined = { resolve: resolveJoin, reject: rejectJoin };
      this.open();
    });
  }

  open() {
    if (this.closed) return;
    this.setState(this.welcomed ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(this.options.url, SUBPROTOCOL);
    } catch (error) {
      this.fail(`cannot open the websocket: ${error.message}`);
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let welcomed = false;
    const timeout = setTimeout(() => {
      if (!welcomed) ws.close();
    }, OPEN_TIMEOUT_MS);
    ws.onopen = () => {
      const hello = {
        type: C.HELLO,
        session: this.options.session,
        token: this.options.token,
        name: this.options.name,
      };
      // the colour chosen, else (a reconnect) the one the session gave: kept across drops
      const color = this.options.color || this.color;
      if (color) hello.color = color;
      if (this.clientId) {
        hello.client = this.clientId;
        hello.resume = this.resume;
        if (!this.needSnapshot) hello.version = this.replica.version;
      }
      ws.send(encode(hello));
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws || typeof event.data === "string") return;
      let message;
      try {
        message = decode(new Uint8Array(event.data));
      } catch (error) {
        console.error("backline: undecodable frame", error);
        return;
      }
      if (message.type === S.WELCOME) {
        welcomed = true;
        clearTimeout(timeout);
        this.color = message.color ?? this.options.color; // in effect: chosen or handed out
      }
      try {
        this.handle(message);
      } catch (error) {
        // a batch that does not apply: start over from a snapshot
        console.error("backline: resyncing after", error);
        this.needSnapshot = true;
        ws.close();
      }
    };
    ws.onclose = (event) => {
      clearTimeout(timeout);
      if (this.ws !== ws) return;
      this.ws = null;
      this.stopClock();
      if (this.closed) return;
      // the close policy is the protocol's (CLOSE_REASONS, FINAL_CLOSE_CODES), as the SDK's
      const close = `${event.code}${event.reason ? " " + event.reason : ""}`;
      if (FINAL_CLOSE_CODES.includes(event.code)) {
        this.closeCode = event.code;
        this.fail(`${CLOSE_REASONS[event.code] ?? "closed"} (${close})`);
        return;
      }
      this.setState("reconnecting", `connection lost (${close})`);
      const offline = Math.max(0, this.offlineUntil - performance.now());
      const delay = Math.max(offline, this.backoff * (0.75 + Math.random() / 2));
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
      this.reconnectTimer = setTimeout(() => this.open(), delay);
    };
  }

  fail(reason) {
    this.closed = true;
    this.setState("closed", reason);
    const error = new BacklineError(ERROR_CODES.UNAVAILABLE, reason);
    for (const waiter of this.waiters.values()) waiter.reject(error);
    this.waiters.clear();
    for (const request of this.requests.values()) request.reject(error);
    this.requests.clear();
    if (this.joined) this.joined.reject(error);
    this.joined = null;
  }

  /** Leave the session (sends `bye`). */
  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.stopClock();
    if (this.ws !== null && this.ws.readyState === WebSocket.OPEN) this.ws.send(encode({ type: C.BYE }));
    this.ws?.close();
    this.ws = null;
    this.setState("closed", "left the session");
    if (this.joined) this.joined.reject(new BacklineError(ERROR_CODES.UNAVAILABLE, "left the session"));
    this.joined = null;
  }

  /** Drop the connection as a network failure would (it reconnects by itself, not
   *  sooner than `offlineMs` from now: an outage that lasts). */
  drop(offlineMs = 0) {
    this.offlineUntil = performance.now() + offlineMs;
    this.ws?.close(4999, "dropped by the page");
  }

  startClock(ws) {
    this.stopClock();
    this.clock.reset();
    let sent = 0;
    const tick = () => {
      if (this.ws !== ws || ws.readyState !== WebSocket.OPEN) return;
      const ping = { type: C.PING, t0: this.clock.local() };
      if (this.clock.synced) ping.rtt = Math.min(this.clock.rtt, MESSAGE_LIMITS.max_rtt_us);
      ws.send(encode(ping));
      sent += 1;
      this.clockTimer = setTimeout(tick, sent < CLOCK_BURST ? CLOCK_BURST_MS : CLOCK_INTERVAL_MS);
    };
    tick();
  }

  stopClock() {
    clearTimeout(this.clockTimer);
    this.clockTimer = null;
  }

  // -- incoming ---------------------------------------------------------------

  handle(message) {
    switch (message.type) {
      case S.WELCOME:
        this.onWelcome(message);
        break;
      case S.PONG:
        this.clock.add(message.t0, message.t1, message.t2, this.clock.local());
        break;
      case S.OPS:
        for (const batch of message.batches) this.confirm(batch);
        this.emit("change", { reason: "ops" });
        break;
      case S.REJECT:
        this.onReject(message);
        break;
      case S.PRESENCE:
        this.onPresence(message.peers);
        break;
      case S.CHAT:
        this.chatHistory.push(message);
        this.chatHistory.splice(0, Math.max(0, this.chatHistory.length - 100));
        break;
      case S.ERROR: {
        const request = this.requests.get(message.id);
        if (request !== undefined) {
          this.requests.delete(message.id);
          request.reject(new BacklineError(message.code, message.message));
        } else {
          console.warn(`backline: server error ${message.code}: ${message.message}`);
        }
        break;
      }
      case S.DONE: // an admin request carried out (an invite's carries its token)
      case S.ACCESS: // the answer to `access()`
      case S.HISTORY: // the answer to a history request
        this.requests.get(message.id)?.resolve(message);
        this.requests.delete(message.id);
        break;
      case S.ADMIN:
        // the action is the name of the owner's request (an admin client type)
        if (message.action === C.ROLE && message.client === this.clientId) this.role = message.role;
        if (message.action === C.LOCK) this.locked = Boolean(message.locked);
        this.emit("change", { reason: "admin" });
        break;
      default:
        break;
    }
    this.emit(message.type, message);
  }

  onWelcome(message) {
    this.clientId = message.client;
    this.resume = message.resume ?? ""; // proves this identity when reconnecting
    this.replica.client = message.client;
    this.role = message.role;
    this.locked = Boolean(message.locked);
    this.lastWelcome = message;
    this.welcomed = true;
    // a page that resumed an identity starts counting at 0: continue after what the server holds
    if (typeof message.seq === "number" && message.seq > this.seq) this.seq = message.seq;
    if (message.batches !== null && message.batches !== undefined) {
      for (const batch of message.batches) this.confirm(batch);
    } else {
      const acked = this.replica.reset(Document.fromData(message.snapshot), message.version, message.seq);
      this.needSnapshot = false;
      for (const seq of acked) this.settle(seq, message.version);
    }
    this.peers.clear();
    this.me = null;
    this.onPresence(message.peers, false);
    this.chatHistory = [...message.chat];
    this.backoff = 50;
    const ws = this.ws;
    this.startClock(ws);
    for (const out of this.outbox.values()) ws.send(encode(out)); // resend, in seq order
    this.setState("connected");
    this.flushPresence(); // presence set while away (send() needs the connected state)
    this.emit("change", { reason: "welcome" });
    if (this.joined) this.joined.resolve(this);
    this.joined = null;
  }

  confirm(batch) {
    if (batch.v <= this.replica.version) return; // already have it (catch-up overlap)
    const mine = batch.by === this.clientId;
    this.replica.confirm(batch);
    if (mine) this.settle(batch.seq, batch.v);
    this.emit("edit", { batch, mine });
  }

  settle(seq, version) {
    this.outbox.delete(seq);
    const waiter = this.waiters.get(seq);
    this.waiters.delete(seq);
    waiter?.resolve(version);
  }

  onReject(message) {
    const { seq, code } = message;
    if (this.replica.reject(seq) === null && !this.outbox.has(seq)) return; // e.g. duplicate of a resend
    this.outbox.delete(seq);
    const waiter = this.waiters.get(seq);
    this.waiters.delete(seq);
    waiter?.reject(new BacklineError(code, message.message));
    this.emit("rejected", { seq, code, message: message.message });
    this.emit("change", { reason: "reject" });
  }

  onPresence(list, notify = true) {
    for (const peer of list) {
      if (peer.client === this.clientId) {
        this.me = peer.online === false ? this.me : { ...(this.me ?? {}), ...peer };
        continue;
      }
      if (peer.online === false) this.peers.delete(peer.client);
      else this.peers.set(peer.client, { ...(this.peers.get(peer.client) ?? {}), ...peer });
    }
    if (notify) this.emit("peers", this.peerList());
  }

  /** Everyone here (me first), as presence records. */
  peerList() {
    const me = {
      client: this.clientId,
      name: this.options.name,
      color: this.color ?? this.options.color,
      role: this.role,
      ...(this.me ?? {}),
      online: true,
    };
    return [me, ...this.peers.values()];
  }

  // -- sending ------------------------------------------------------------------

  /** Send any message as it is (e.g. `rtc`, `mix`); false when not connected. */
  send(message) {
    if (this.ws === null || this.ws.readyState !== WebSocket.OPEN || this.state !== "connected") return false;
    this.ws.send(encode(message));
    return true;
  }

  waiter(seq) {
    const done = new Promise((resolveDone, rejectDone) => {
      this.waiters.set(seq, { resolve: resolveDone, reject: rejectDone });
    });
    done.catch(() => {}); // rejections also arrive as `rejected` events
    return done;
  }

  post(message) {
    this.outbox.set(message.seq, message);
    this.send(message);
  }

  /** Apply ops atomically here and send them; throws at once if invalid here. */
  edit(ops, id = null) {
    if (this.closed) throw new BacklineError(ERROR_CODES.UNAVAILABLE, "the session is closed");
    const seq = this.seq + 1;
    // transport intents and tempo changes while playing: the server decides the
    // exact times; until its answer this page's best guess is applied
    this.replica.local(seq, resolve(this.project, ops, Math.round(this.clock.now()), DEFAULT_LEAD_US));
    this.seq = seq;
    const done = this.waiter(seq);
    this.post({ type: C.OP, seq, ops });
    this.emit("change", { reason: "local" });
    return new Edit(seq, id, done);
  }

  undo() {
    return this.history(C.UNDO);
  }

  redo() {
    return this.history(C.REDO);
  }

  history(type, fields = {}) {
    if (this.closed) throw new BacklineError(ERROR_CODES.UNAVAILABLE, "the session is closed");
    const seq = ++this.seq;
    this.replica.track(seq);
    const done = this.waiter(seq);
    this.post({ type, seq, ...fields });
    return new Edit(seq, null, done);
  }

  // -- the past: versions, a version's project, blame, diff; label, restore, fork, import --

  /**
   * The timeline (editors and owners): resolves with the `history` frame: `versions`
   * ([version, by, at unix ms, source, summary], oldest first), `more`, `latest`,
   * `labels`, `parent`, `forks`, `credits`, `names` (client id -> name).
   */
  versions({ before = null, count = 200 } = {}) {
    const message = { type: C.HISTORY, what: "versions", count };
    if (before !== null) message.before = before;
    return this.request(message);
  }

  /** The project at `version` (or at unix-ms `time`): resolves with `version`, `project`, `blame`. */
  projectAt({ version = null, time = null }) {
    const message = { type: C.HISTORY, what: "at" };
    if (version !== null) message.version = version;
    else message.time = time;
    return this.request(message);
  }

  /** Who made and last changed each entity: `blame` (id -> [by, at, changed by, changed at]), `names`. */
  blame() {
    return this.request({ type: C.HISTORY, what: "blame" });
  }

  /** What changed from `from` to `to`: `changes` (id, kind, change, fields, by, at), `authors`. */
  diff(from, to) {
    return this.request({ type: C.HISTORY, what: "diff", version: from, to });
  }

  /** Name the current version; resolves with the `done` frame (`name`, `version`). */
  label(name) {
    return this.request({ type: C.LABEL, name });
  }

  /** Bring `version` back as one undoable edit (the server computes it); an `Edit`. */
  restore(version) {
    return this.history(C.RESTORE, { version });
  }

  /** Copy the project at `version` (null: now) into the new session `session`: `done` with its `token`. */
  fork(session, version = null) {
    const message = { type: C.FORK, session };
    if (version !== null) message.version = version;
    return this.request(message);
  }

  /** Add a Standard MIDI File (an ArrayBuffer or Uint8Array) to the project as one edit. */
  importMidi(data, name = "") {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    return this.history(C.IMPORT, { format: "midi", data: bytes, name });
  }

  /** Make the project equal to a project file (the exported JSON, parsed) as one edit. */
  importProject(project, name = "") {
    return this.history(C.IMPORT, { format: "project", project, name });
  }

  /** A fresh entity id no other client can produce. */
  newId() {
    this.ids += 1;
    return `${this.clientId}:${this.salt}${this.ids.toString(16)}`;
  }

  /** Update my presence; coalesced to at most about 30 frames a second. */
  setPresence(state) {
    this.presencePending = { ...(this.presencePending ?? {}), ...state };
    if (this.presenceTimer === null) {
      this.presenceTimer = setTimeout(() => {
        this.presenceTimer = null;
        this.flushPresence();
      }, 1000 / 30);
    }
  }

  flushPresence() {
    if (this.presencePending === null) return;
    if (this.send({ type: C.PRESENCE, state: this.presencePending })) this.presencePending = null;
  }

  chat(text) {
    return this.send({ type: C.CHAT, text });
  }

  // -- live notes (played now: not edits) ----------------------------------------

  /**
   * Play a live note into the session: `event` is `on` (`fields`: `pitch`,
   * `vel`), `off` (`pitch`), `bend` (`value` -1..1) or `sustain` (`on`), with
   * an optional `track` (whose instrument the others hear it with). The others
   * get it at once as a `live` frame; it is never stored, versioned or undone.
   *
   * Paced to this connection's `live` bucket (`welcome.rates.live`): past its
   * burst, events wait their turn in order (a waiting bend of the same track
   * takes the newer value), so the server never has to refuse one. False when
   * not connected (nothing is kept for a reconnect: a late note is a wrong one).
   * @param {"on" | "off" | "bend" | "sustain"} event
   * @param {{pitch?: number, vel?: number, value?: number, on?: boolean, track?: string | null}} [fields]
   */
  liveNote(event, fields = {}) {
    if (this.ws === null || this.ws.readyState !== WebSocket.OPEN || this.state !== "connected") {
      this.liveQueue = [];
      return false;
    }
    const message = { type: C.LIVE, event, ...fields };
    if (message.track === null || message.track === undefined) delete message.track;
    const queue = (this.liveQueue ??= []);
    if (queue.length > 0 && event === "bend") {
      // the wheel sends many: one waiting for the same track just takes the new value
      const waiting = queue.find((m) => m.event === "bend" && m.track === message.track);
      if (waiting !== undefined) {
        Object.assign(waiting, message);
        return true;
      }
    }
    queue.push(message);
    if (queue.length > LIVE_QUEUE) {
      const i = queue.findIndex((m) => m.event === "on");
      queue.splice(i >= 0 ? i : 0, 1);
    }
    this.flushLive();
    return true;
  }

  /** Send the waiting live events the bucket allows; call again when the next token is due. */
  flushLive() {
    const queue = this.liveQueue ?? [];
    const welcome = this.lastWelcome;
    if (this.liveBucket === undefined || this.liveBucket.welcome !== welcome) {
      // a new connection: the server's bucket for it starts full, so does this one
      const [rate, burst] = welcome?.rates?.live ?? LIVE_RATE;
      // a little under the server's figures: frames bunch up a bit on their way
      this.liveBucket = { welcome, rate: rate * 0.95, burst: Math.max(1, Math.floor(burst * 0.9)), tokens: 0, at: -Infinity };
      this.liveBucket.tokens = this.liveBucket.burst;
      this.liveBucket.at = performance.now();
    }
    const bucket = this.liveBucket;
    const now = performance.now();
    if (bucket.rate > 0) bucket.tokens = Math.min(bucket.burst, bucket.tokens + ((now - bucket.at) / 1000) * bucket.rate);
    bucket.at = now;
    while (queue.length > 0 && (bucket.rate <= 0 || bucket.tokens >= 1)) {
      if (!this.send(queue.shift())) {
        queue.length = 0;
        return;
      }
      if (bucket.rate > 0) bucket.tokens -= 1;
    }
    if (queue.length > 0 && !this.liveTimer) {
      const wait = Math.max(1, ((1 - bucket.tokens) / bucket.rate) * 1000);
      this.liveTimer = setTimeout(() => {
        this.liveTimer = null;
        this.flushLive();
      }, wait);
    }
  }

  // -- owners: admin requests (kick, role, lock, invite, access, revoke) --------

  /** Send an admin request; resolves with its answer (`done`, `access`), rejects with the refusal. */
  request(message) {
    const id = ++this.requestId;
    const answer = new Promise((resolveDone, rejectDone) => {
      this.requests.set(id, { resolve: resolveDone, reject: rejectDone });
    });
    if (!this.send({ ...message, id })) {
      this.requests.delete(id);
      return Promise.reject(new BacklineError(ERROR_CODES.UNAVAILABLE, "not connected"));
    }
    return answer;
  }

  kick(client) {
    return this.request({ type: C.KICK, client });
  }

  setRole(client, role) {
    return this.request({ type: C.ROLE, client, role });
  }

  lock(locked = true) {
    return this.request({ type: C.LOCK, locked });
  }

  /**
   * A personal invite: a token for `role` that `uses` people may join with
   * for `expiresIn` seconds (the server's defaults: 1 person, 7 days).
   * Resolves with the `done` frame: `invite` (its id), `token`, `role`,
   * `name`, `expires` (unix seconds), `uses`.
   */
  invite({ role, name, expiresIn, uses } = {}) {
    const message = { type: C.INVITE, role };
    if (name !== undefined && name !== null) message.name = name;
    if (expiresIn !== undefined && expiresIn !== null) message.expires_in = expiresIn;
    if (uses !== undefined && uses !== null) message.uses = uses;
    return this.request(message);
  }

  /** Who holds access: resolves with the `access` frame (`invites`, `people`). */
  access() {
    return this.request({ type: C.ACCESS });
  }

  /** Revoke exactly one of a person (`client`), an `invite` or a `token` id: closed (4405). */
  revoke({ client, invite, token } = {}) {
    const message = { type: C.REVOKE };
    if (client) message.client = client;
    if (invite) message.invite = invite;
    if (token) message.token = token;
    return this.request(message);
  }

  // -- musical helpers (as the Python SDK's) ------------------------------------

  set(id, field, value) {
    return this.edit([{ op: "set", id, field, value }]);
  }

  /**
   * Play from `beat` (default: where the transport stands, the cursor), after
   * `countIn` bars of count-in (0: none).
   */
  play(beat = null, countIn = 0) {
    const op = { op: "play" };
    if (beat !== null && beat !== undefined) op.beat = beat;
    if (countIn) op.count_in = countIn;
    return this.edit([op]);
  }

  /** Stop where the music is, or with `back` where this play began. */
  stop(back = false) {
    return this.edit([back ? { op: "stop", back: true } : { op: "stop" }]);
  }

  seek(beat) {
    return this.edit([{ op: "seek", beat }]);
  }

  setTempo(bpm) {
    return this.set(PROJECT_ID, "tempo", bpm);
  }

  setMeter(numerator, denominator) {
    return this.set(PROJECT_ID, "meter", [numerator, denominator]);
  }

  addTrack(name = TRACK.name.default, kind = TRACK.kind.default, fields = {}) {
    const id = this.newId();
    return this.edit([{ op: "insert", kind: "track", id, value: { name, kind, ...fields } }], id);
  }

  addPattern(track, { sounds = [], length = PATTERN.length.default, stepsPerBeat = PATTERN.steps_per_beat.default, name = PATTERN.name.default } = {}) {
    const id = this.newId();
    const lanes = sounds.map((sound) => ({ sound, steps: new Array(length).fill(0) }));
    const value = { track, name, length, steps_per_beat: stepsPerBeat, lanes };
    return this.edit([{ op: "insert", kind: "pattern", id, value }], id);
  }

  setStep(pattern, lane, step, velocity = 100) {
    return this.edit([{ op: "set", id: pattern, field: "steps", at: [lane, step], value: velocity }]);
  }

  addNote(track, pitch, start, dur = NOTE.dur.default, vel = NOTE.vel.default) {
    const id = this.newId();
    return this.edit([{ op: "insert", kind: "note", id, value: { track, pitch, start, dur, vel } }], id);
  }

  remove(id) {
    return this.edit([{ op: "delete", id }]);
  }
}
