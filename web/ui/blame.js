/**
 * Who made and who last changed a thing, on hover: "Made by Ann 3 min ago ·
 * last changed by Bob 20 s ago" over a track, clip, section, chord, the step
 * sequencer's pattern, or a note of the piano roll.
 *
 * The server keeps every entity's blame (`session.blame()`: editors and
 * owners; a viewer is refused and simply gets no such tooltips). This page
 * asks for it after each welcome, then keeps it current from the batches
 * accepted since (the session's `edit` events), as the server's sequencer
 * does (protocol/history.py `touched`): an insert makes an entity, any other
 * write changes it, a delete forgets it. A batch carries no time: one that
 * arrives here is stamped with this browser's clock (unix ms, as the server's).
 * Names come from the answer's `names` and from presence.
 *
 * One tooltip serves every view: a delegated `pointermove` on the document
 * finds the entity under the pointer, either an element matching one of
 * {@link TARGETS} (the ids the views already put on their DOM:
 * `data-track`, `data-clip`, …) or a drawn thing, through a hit test
 * registered for an element with `hitTest` (the piano roll's notes, the step
 * sequencer's grid).
 * @module ui/blame
 */

import { ROLES, SERVER_TYPES } from "../protocol.js";
import { h, pitchName } from "./dom.js";

/** Hover this long (ms) on one thing before its tooltip shows. */
const SHOW_DELAY_MS = 350;
/** Between the pointer and the tooltip (px). */
const GAP = 14;

/** Elements that stand for one entity, and how to read its id. */
const TARGETS = [
  [".strip[data-track]", (el) => el.dataset.track],
  [".arr-row-head", (el) => el.closest(".arr-row")?.dataset.track],
  [".arr-clip[data-clip]", (el) => el.dataset.clip],
  [".arr-section[data-section]", (el) => el.dataset.section],
  [".arr-chord[data-chord]", (el) => el.dataset.chord],
  ["[data-entity-id]", (el) => el.dataset.entityId],
];
const TARGET_SELECTOR = TARGETS.map(([selector]) => selector).join(", ");

/** "just now", "20 s ago", "3 min ago", "2 h ago", "4 days ago", else the date. */
export function ago(at, now = Date.now()) {
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  if (s < 86400 * 30) {
    const days = Math.floor(s / 86400);
    return `${days} day${days === 1 ? "" : "s"} ago`;
  }
  return `on ${new Date(at).toLocaleDateString()}`;
}

export class BlameTips {
  /**
   * @param {HTMLElement} root where the tooltip goes (the body)
   * @param {import("../net.js").Session} session
   * @param {any} app the page (app.js): its views, for their hit tests
   */
  constructor(root, session, app) {
    this.session = session;
    this.app = app;
    /** @type {Map<string, [string, number, string, number]>} id -> [made by, at, changed by, at] */
    this.blame = new Map();
    /** @type {Map<string, string>} client id -> name, from the server's answer */
    this.names = new Map();
    this.loaded = false;
    this.refused = false; // a viewer: no blame for this connection
    this.asking = null; // the updates seen while a request is under way: [version, ops, by, at]
    /** @type {Array<[HTMLElement, (e: PointerEvent) => string | null]>} */
    this.hits = [];
    this.hovered = null; // the entity id under the pointer
    this.shown = null; // the entity id whose tooltip is up
    this.timer = null;
    this.ticker = null;
    this.last = { x: 0, y: 0 };
    this.head = h("div", { class: "blame-what" });
    this.line = h("div", { class: "blame-line" });
    this.tip = h("div", { class: "blame-tip", role: "tooltip", id: "blame-tip", hidden: true }, this.head, this.line);
    root.append(this.tip);

    const roll = app.roll;
    if (roll?.noteAt) this.hitTest(roll.scroller, (e) => roll.noteAt(e));
    const steps = app.steps;
    if (steps?.grid) this.hitTest(steps.grid, () => steps.patternId);

    this.off = [
      session.on(SERVER_TYPES.WELCOME, () => this.fetch()),
      session.on("edit", ({ batch }) => this.record(batch)),
      session.on("change", ({ reason }) => {
        if (reason === "admin" && !this.loaded && session.role !== ROLES.VIEWER) this.fetch(); // made an editor
      }),
    ];
    this.onMove = (e) => this.move(e);
    this.onHide = () => this.hide();
    this.onOut = (e) => {
      if (e.relatedTarget === null) this.hide(); // the pointer left the page
    };
    document.addEventListener("pointermove", this.onMove, { passive: true });
    document.addEventListener("pointerdown", this.onHide, true);
    document.addEventListener("keydown", this.onHide, true);
    document.addEventListener("wheel", this.onHide, { passive: true, capture: true });
    document.addEventListener("pointerout", this.onOut);
    if (session.state === "connected") this.fetch();
  }

  /** Have `fn(event)` name the entity drawn under the pointer inside `el` (a canvas view). */
  hitTest(el, fn) {
    this.hits.push([el, fn]);
  }

  // -- the blame ------------------------------------------------------------------

  /** Ask the server for all of it (once per connection; viewers are refused). */
  async fetch() {
    const s = this.session;
    if (s.role === ROLES.VIEWER) {
      this.refused = true;
      return;
    }
    const updates = [];
    this.asking = updates;
    try {
      const answer = await s.blame();
      if (this.asking !== updates) return; // a newer request took over
      this.blame = new Map(Object.entries(answer.blame ?? {}));
      this.names = new Map(Object.entries(answer.names ?? {}));
      this.loaded = true;
      this.refused = false;
      // what came after the version it describes: again, on top of it
      for (const [version, ops, by, at] of updates) if (version > (answer.version ?? 0)) this.apply(ops, by, at);
    } catch (error) {
      if (this.asking !== updates) return;
      if (error.code === "forbidden") this.refused = true;
      else console.warn("backline: no blame", error);
    } finally {
      if (this.asking === updates) this.asking = null;
    }
  }

  /** An accepted batch: its writes made or changed entities, now, by its author. */
  record(batch) {
    const at = Date.now();
    this.asking?.push([batch.v, batch.ops, batch.by, at]);
    this.apply(batch.ops, batch.by, at);
    if (this.shown !== null) this.fill(this.shown);
  }

  apply(ops, by, at) {
    for (const op of ops ?? []) {
      if (op.op === "batch") this.apply(op.ops, by, at);
      else if (op.op === "delete") this.blame.delete(op.id);
      else if (typeof op.id === "string") {
        const row = this.blame.get(op.id);
        if (op.op === "insert" || row === undefined) this.blame.set(op.id, [by, at, by, at]);
        else this.blame.set(op.id, [row[0], row[1], by, at]);
      }
    }
  }

  /** [made by, made at, changed by, changed at] of `id`, or undefined. */
  of(id) {
    return this.blame.get(id);
  }

  /** A participant's name: as presence says it now, else as the server knew it. */
  nameOf(client) {
    const s = this.session;
    if (client === s.clientId) return `${s.options.name} (you)`;
    return s.peers.get(client)?.name || this.names.get(client) || "someone who left";
  }

  /**
   * "Made by Ann 3 min ago · last changed by Bob 20 s ago" (the second part when it
   * differs), as [text, name, text, …] pieces (the names are set apart), or null.
   */
  pieces(id, now = Date.now()) {
    const row = this.of(id);
    if (row === undefined) return null;
    const [madeBy, madeAt, changedBy, changedAt] = row;
    const made = ["Made by ", this.nameOf(madeBy), ` ${ago(madeAt, now)}`];
    if (changedBy === madeBy && changedAt === madeAt) return made;
    return [...made, " · last changed by ", this.nameOf(changedBy), ` ${ago(changedAt, now)}`];
  }

  /** The tooltip's line for `id` as plain text, or null. */
  text(id, now = Date.now()) {
    return this.pieces(id, now)?.join("") ?? null;
  }

  /** "Track · Bass", "Note · C4", …: what the tooltip is about. */
  describe(id) {
    const doc = this.session.project;
    const kind = doc.kindOf.get(id);
    const entity = doc.get(id);
    if (kind === undefined || entity === undefined) return null;
    const label = kind[0].toUpperCase() + kind.slice(1);
    let name = "";
    if (kind === "note") name = pitchName(entity.pitch);
    else if (kind === "clip") name = entity.pattern === null ? `${doc.clipNotes.get(id)?.size ?? 0} notes` : doc.patterns.get(entity.pattern)?.name ?? "";
    else if (kind === "chord") name = document.querySelector(`.arr-chord[data-chord="${CSS.escape(id)}"]`)?.dataset.symbol ?? "";
    else name = entity.name ?? "";
    return name ? `${label} · ${name}` : label;
  }

  // -- hovering -------------------------------------------------------------------

  /** The entity under a pointer event, or null. */
  entityAt(e) {
    const target = e.target;
    if (!(target instanceof Element)) return null;
    for (const [el, fn] of this.hits) {
      if (el.isConnected && el.contains(target)) return fn(e) ?? null;
    }
    const el = target.closest(TARGET_SELECTOR);
    if (el === null) return null;
    for (const [selector, read] of TARGETS) if (el.matches(selector)) return read(el) ?? null;
    return null;
  }

  move(e) {
    this.last = { x: e.clientX, y: e.clientY };
    // none while dragging, nor over an audition (ui/history.js): this blame is the live project's
    const id = !this.loaded || e.buttons !== 0 || this.app.history?.auditioning ? null : this.entityAt(e);
    if (id !== this.hovered) {
      this.hovered = id;
      this.hide(false);
      if (id !== null) this.timer = setTimeout(() => this.show(id), SHOW_DELAY_MS);
    } else if (this.shown !== null) {
      this.place();
    }
  }

  show(id) {
    this.timer = null;
    if (this.hovered !== id || !this.fill(id)) return;
    this.shown = id;
    this.tip.hidden = false;
    this.place();
    this.ticker = setInterval(() => {
      if (this.shown !== null && !this.fill(this.shown)) this.hide();
    }, 1000); // "20 s ago" keeps counting
  }

  /** Write `id`'s tooltip; false when there is nothing to say (or it is gone). */
  fill(id) {
    const pieces = this.pieces(id);
    if (pieces === null || !this.session.project.kindOf.has(id)) return false;
    this.head.textContent = this.describe(id) ?? "";
    this.line.replaceChildren(...pieces.map((text, i) => (i % 3 === 1 ? h("strong", {}, text) : text)));
    this.tip.dataset.entity = id;
    return true;
  }

  /** Above the pointer (a native `title` shows below it), inside the window. */
  place() {
    const { x, y } = this.last;
    const box = this.tip.getBoundingClientRect();
    const left = Math.max(8, Math.min(window.innerWidth - box.width - 8, x - box.width / 2));
    const top = y - box.height - GAP >= 8 ? y - box.height - GAP : y + GAP + 10;
    this.tip.style.left = `${Math.round(left)}px`;
    this.tip.style.top = `${Math.round(top)}px`;
  }

  /** Take the tooltip down (`forget`: the pointer must move onto a thing again). */
  hide(forget = true) {
    clearTimeout(this.timer);
    clearInterval(this.ticker);
    this.timer = null;
    this.ticker = null;
    this.shown = null;
    this.tip.hidden = true;
    if (forget) this.hovered = null;
  }

  remove() {
    this.hide();
    for (const off of this.off) off();
    document.removeEventListener("pointermove", this.onMove);
    document.removeEventListener("pointerdown", this.onHide, true);
    document.removeEventListener("keydown", this.onHide, true);
    document.removeEventListener("wheel", this.onHide, { capture: true });
    document.removeEventListener("pointerout", this.onOut);
    this.tip.remove();
  }
}
