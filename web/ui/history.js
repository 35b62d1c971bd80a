/**
 * The History panel: the session's versions newest first, in sessions of work,
 * with named versions; audition an old version here while everyone else keeps
 * editing, restore it, compare two versions, fork the session.
 *
 * The server keeps every version (server/sessions/past.py) and answers with
 * `history` frames (net.js, "the past"): a page of the timeline
 * (`versions`), the project at a version (`projectAt`), a `diff`; `label`
 * names the current version and `fork` copies a version into a new session
 * (both `done`, and an `admin` frame, `label` or `forked`, to everyone);
 * `restore` is an edit the server turns into ONE new version for everyone,
 * which the normal Undo takes back in one step. Editors and owners only: a
 * viewer is refused (`forbidden`), and the panel says so instead.
 *
 * Auditioning a version changes what THIS page shows and plays, nothing else:
 *   - What is heard: the sound engine reads the project through one function,
 *     the `project` of the context app.js gives the sound panel; it asks
 *     {@link HistoryPanel#playbackProject} first, which is the old version's
 *     snapshot while auditioning. The transport (play, stop, tempo, loop) stays
 *     the shared one: the old content plays in time with the live playhead.
 *   - What is seen: the editors (tracks, arrangement and chords, steps, piano
 *     roll, mixer) are given {@link HistoryPanel#view} instead of the session,
 *     a proxy whose `project` is the audition's document; everything else (its
 *     edits, its live `timeline()`, its events) is the session's own. The
 *     replica keeps following everyone's edits underneath.
 *   - Edits are off: `app.editBlockReason()` gives the audition as its reason,
 *     so every edit control is disabled with it as the tooltip and shortcuts
 *     toast it. Not every editor checks that reason on every path, so the one
 *     place every edit goes through is guarded too: the session's own `edit`
 *     and `history` (undo, redo, restore, import), wrapped on the instance,
 *     refuse locally (a `forbidden` BacklineError, nothing sent, the seq not
 *     taken) while auditioning, except transport intents (play, stop, seek),
 *     so that the audition can be played (Space, or the banner's Play).
 * Starting or ending an audition emits the session's `change` (reason
 * `audition`), so the page redraws and the sound engine takes the project again.
 *
 * @module ui/history
 */

import { ERROR_CODES, KINDS, ROLES, SERVER_TYPES } from "../protocol.js";
import { BacklineError, Document } from "../ops.js";
import { chordSymbol } from "../harmony.js";
import { Confirmer, copyField, inviteLink } from "./access.js";
import { h, pitchName } from "./dom.js";

/** A gap longer than this between two versions starts a new session of work (ms). */
export const WORK_GAP_MS = 30 * 60 * 1000;
/** Versions asked for at a time. */
export const PAGE = 200;
/** How long after a version arrives the list asks again (several at once: one request). */
const REFRESH_MS = 250;
/** Old projects kept for auditions and diffs. */
const KEEP_PROJECTS = 6;
/** Ops that may be sent while auditioning: the shared transport, to hear the audition. */
export const TRANSPORT_OPS = Object.freeze(new Set(["play", "stop", "seek"]));
/** A diff lists at most this many entities of one kind and change; beyond, a count. */
const DIFF_LIST = 6;
/** The order diff entries are shown in. */
const DIFF_KINDS = ["project", ...KINDS];
const CHANGES = [["added", "Added"], ["removed", "Removed"], ["changed", "Changed"]];
/** What the page says a viewer cannot do here. */
export const VIEWER_NOTE = "Only editors and owners can browse the history.";

// -- pure helpers -----------------------------------------------------------------

/** Whether every op of `ops` is a transport intent (see {@link TRANSPORT_OPS}). */
export function transportOnly(ops) {
  return Array.isArray(ops) && ops.length > 0 && ops.every((op) => TRANSPORT_OPS.has(op?.op));
}

/**
 * Versions ([version, by, at unix ms, source, summary], oldest first) as sessions
 * of work: a new one wherever two consecutive versions are more than `gapMs`
 * apart. Newest first, and each one's rows newest first; `authors` in order of
 * first appearance.
 * @param {Array<Array<any>>} rows
 * @returns {Array<{from: number, to: number, rows: Array<Array<any>>, authors: string[]}>}
 */
export function groupVersions(rows, gapMs = WORK_GAP_MS) {
  const groups = [];
  let current = null;
  for (const row of rows) {
    const at = row[2];
    if (current === null || at - current.to > gapMs) {
      current = { from: at, to: at, rows: [], authors: [] };
      groups.push(current);
    }
    current.rows.push(row);
    current.to = Math.max(current.to, at);
    if (!current.authors.includes(row[1])) current.authors.push(row[1]);
  }
  for (const group of groups) group.rows.reverse();
  return groups.reverse();
}

/**
 * The badge of a version's source, or null for a plain edit ("op").
 * @param {string} source "op", "undo", "redo", "restore", "fork", "midi", "json" or "v12"
 * @returns {{text: string, title: string, kind: string} | null}
 */
export function sourceBadge(source) {
  if (/^v\d+$/.test(String(source))) return { text: `↺ ${source}`, title: `Restored from ${source}`, kind: "restore" };
  switch (source) {
    case "restore": return { text: "restore", title: "A project restored", kind: "restore" };
    case "midi": return { text: "MIDI", title: "A MIDI file imported", kind: "import" };
    case "json": return { text: "JSON", title: "A project file imported", kind: "import" };
    case "fork": return { text: "fork", title: "Where this fork began", kind: "fork" };
    case "undo": return { text: "undo", title: "An undo", kind: "undo" };
    case "redo": return { text: "redo", title: "A redo", kind: "undo" };
    default: return null;
  }
}

const pad = (n) => String(n).padStart(2, "0");
const clock = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;
const dayStart = (ms) => new Date(new Date(ms).setHours(0, 0, 0, 0)).getTime();

/** A day as the list says it: "Today", "Yesterday", else the date. */
export function dayName(ms, now = Date.now()) {
  const days = Math.round((dayStart(now) - dayStart(ms)) / 86_400_000);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  const d = new Date(ms);
  const year = d.getFullYear() === new Date(now).getFullYear() ? undefined : "numeric";
  return d.toLocaleDateString(undefined, { weekday: "short", day: "numeric", month: "short", year });
}

/** When a version was made, short: "just now", "5 min ago" within the hour, else "14:05". */
export function shortTime(ms, now = Date.now()) {
  const ago = now - ms;
  if (ago < 45_000) return "just now";
  if (ago < 3_600_000) return `${Math.max(1, Math.round(ago / 60_000))} min ago`;
  return clock(new Date(ms));
}

/** A session of work's span: "Today, 14:02–15:40" (one day) or from one day to another. */
export function spanText(from, to, now = Date.now()) {
  const a = new Date(from);
  const b = new Date(to);
  if (dayStart(from) === dayStart(to)) {
    return `${dayName(from, now)}, ${clock(a)}${to - from >= 60_000 ? `–${clock(b)}` : ""}`;
  }
  return `${dayName(from, now)} ${clock(a)} – ${dayName(to, now)} ${clock(b)}`;
}

/** The name a new fork gets unless changed: `<session>-fork`, within the id limits. */
export function forkName(session, maxLength = 64) {
  return `${session.slice(0, Math.max(1, maxLength - 5))}-fork`;
}

/**
 * The server's summary of a version ("+3 note, ~1 entity, -2 entities, ~project")
 * in words: "+3 notes, 1 change, 2 deleted, project settings".
 */
export function summaryText(summary) {
  return String(summary ?? "").split(", ").filter(Boolean).map((part) => {
    if (part === "~project") return "project settings";
    const m = /^([+~-])(\d+) (\w+)$/.exec(part);
    if (m === null) return part;
    const [, sign, count, noun] = m;
    const n = Number(count);
    const s = n === 1 ? "" : "s";
    if (sign === "+") return `+${n} ${noun.replace(/s$/, "")}${s}`;
    if (sign === "-") return `${n} deleted`;
    if (noun === "track") return `${n} track${s} moved`;
    return `${n} change${s}`;
  }).join(", ");
}

/** This page's address for `session` (`#session=…`): opens it where this browser joined it before. */
export function sessionLink(session, href = globalThis.location.href) {
  const url = new URL(href);
  url.hash = new URLSearchParams({ session }).toString();
  return url.toString();
}

/** An entity as a diff names it: "Bass", "C4 in Keys", "Chorus", "Am7". */
export function entityLabel(kind, entity, doc) {
  if (!entity) return "";
  const trackName = (id) => doc?.tracks.get(id)?.name ?? "";
  switch (kind) {
    case "project": return "Project";
    case "track":
    case "pattern":
    case "section":
      return entity.name ?? "";
    case "note": {
      const track = trackName(entity.track);
      return `${pitchName(entity.pitch)}${track ? ` in ${track}` : ""}`;
    }
    case "clip": {
      const track = trackName(entity.track);
      return track ? `in ${track}` : "";
    }
    case "chord":
      try {
        return chordSymbol(entity);
      } catch {
        return "";
      }
    default:
      return "";
  }
}

// -- the panel ----------------------------------------------------------------------

export class HistoryPanel {
  /**
   * Built before the editor's views (they are given {@link HistoryPanel#view});
   * `mount` puts it on the page once the editor's frame is there.
   * @param {import("../net.js").Session} session
   * @param {any} app the page (toasts, run, render, editBlockReason, transport)
   */
  constructor(session, app) {
    this.session = session;
    this.app = app;
    this.alive = true;
    /** @type {Map<number, Array<any>>} versions by number: [version, by, at, source, summary] */
    this.rows = new Map();
    this.labels = [];
    this.parent = null;
    this.forks = [];
    this.names = {};
    this.credits = [];
    this.latest = session.version;
    this.more = false;
    this.loaded = false; // a first page came
    this.forbidden = false;
    this.stale = true; // versions came while the panel was closed
    this.asked = 0; // version lists asked for: only the latest answer is drawn
    this.refreshTimer = null;
    /** the version clicked last (the diff's first end, the fork's default), or null */
    this.selected = null;
    /** @type {{version: number, doc: Document, data: any} | null} the version this page plays and shows */
    this.audition = null;
    this.auditionAsked = 0;
    this.diffAsked = 0; // comparisons asked for: only the latest is drawn
    this.online = ""; // who is here, as the list last drew them
    this.root = null;
    /** @type {Map<number, {doc: Document, data: any}>} old projects, the latest used last */
    this.projects = new Map();
    this.confirmer = new Confirmer();
    this.view = this.viewOf(session);
    this.build();
    this.guard(session);
    this.unsubscribe = [
      session.on("edit", () => this.versionsCame()),
      session.on(SERVER_TYPES.ADMIN, (m) => this.admin(m)),
      session.on(SERVER_TYPES.WELCOME, () => { this.stale = true; this.refreshSoon(); }),
      session.on("change", ({ reason } = {}) => {
        if (reason === "admin") this.roleChanged();
        this.showPlaying();
      }),
      session.on("peers", () => this.peersChanged()),
    ];
    this.onPlace = () => this.place();
    window.addEventListener("resize", this.onPlace);
    window.addEventListener("scroll", this.onPlace, { passive: true });
    this.ticker = setInterval(() => { if (this.open) this.refreshTimes(); }, 30_000);
  }

  // -- the session seen through an audition -----------------------------------------

  /**
   * The session as the editors see it: its `project` is the audition's document
   * while there is one; everything else (methods bound to it) is the session's.
   */
  viewOf(session) {
    const bound = new WeakMap();
    return new Proxy(session, {
      get: (target, key) => {
        if (key === "project") return this.audition?.doc ?? target.project;
        const value = Reflect.get(target, key, target);
        if (typeof value !== "function") return value;
        if (!bound.has(value)) bound.set(value, value.bind(target));
        return bound.get(value);
      },
      set: (target, key, value) => Reflect.set(target, key, value, target),
    });
  }

  /** Refuse every edit here while auditioning (the transport aside): see the module's notes. */
  guard(session) {
    const edit = session.edit;
    const history = session.history;
    const panel = this;
    session.edit = function guardedEdit(ops, id = null) {
      if (panel.audition !== null && !transportOnly(ops)) throw panel.refusal();
      return edit.call(session, ops, id);
    };
    session.history = function guardedHistory(type, fields = {}) {
      if (panel.audition !== null) throw panel.refusal();
      return history.call(session, type, fields);
    };
  }

  refusal() {
    return new BacklineError(ERROR_CODES.FORBIDDEN, this.blockReason());
  }

  /** Why nothing may be edited now (app.editBlockReason gives it while auditioning). */
  blockReason() {
    return `Auditioning v${this.audition?.version}: your edits are off`;
  }

  get auditioning() {
    return this.audition !== null;
  }

  /** The document the editors show: the audition's, or null for the live one. */
  shown() {
    return this.audition?.doc ?? null;
  }

  /** What the sound engine plays instead of the live project (snapshot form), or null. */
  playbackProject() {
    return this.audition?.data ?? null;
  }

  // -- building -------------------------------------------------------------------------

  build() {
    this.button = h("button", {
      type: "button", class: "history-open", "aria-pressed": "false", "aria-keyshortcuts": "H",
      "aria-controls": "history-panel", title: "History: versions, named versions, audition, restore, fork (H)",
      onclick: () => this.toggle(),
    }, "History");
    const close = h("button", { type: "button", class: "dialog-close", "aria-label": "Close the history", title: "Close (H)", onclick: () => this.hide() }, "×");
    this.latestBadge = h("span", { class: "history-latest" });
    this.parentLine = h("p", { class: "history-parent", hidden: true });
    this.forksLine = h("p", { class: "history-forks", hidden: true });
    this.nameInput = h("input", {
      class: "history-name-input", type: "text", maxlength: 64, placeholder: "Name this version…",
      "aria-label": "Name for the current version", autocomplete: "off",
    });
    this.nameButton = h("button", { type: "submit", class: "history-name-button" }, "Name");
    this.nameForm = h("form", { class: "history-name", onsubmit: (e) => this.nameVersion(e) }, this.nameInput, this.nameButton);
    this.namedOnly = h("input", { type: "checkbox", class: "history-named-only", onchange: () => this.renderList() });
    this.forkButton = h("button", { type: "button", class: "history-fork-open", "aria-haspopup": "dialog", onclick: () => this.showFork() }, "Fork…");
    this.tools = h("div", { class: "history-tools" },
      h("label", { class: "history-filter" }, this.namedOnly, " Named only"),
      this.forkButton);
    this.note = h("p", { class: "hint history-note", role: "status" });
    this.list = h("ul", {
      class: "history-list", role: "listbox", "aria-label": "Versions, newest first", tabindex: "0",
      onkeydown: (e) => this.listKey(e), onfocus: (e) => this.listFocused(e),
    });
    this.moreButton = h("button", { type: "button", class: "history-more", hidden: true, onclick: () => this.loadOlder() }, "Load older");
    this.diffEl = h("section", { class: "history-diff", hidden: true, "aria-label": "Changes between two versions" });
    this.hint = h("p", { class: "hint history-hint" }, "Click a version to audition it; Shift-click another to compare.");
    this.el = h("aside", { id: "history-panel", class: "panel history-panel", hidden: true, "aria-labelledby": "history-title" },
      h("div", { class: "panel-head" }, h("h2", { id: "history-title" }, "History"), this.latestBadge, close),
      this.parentLine, this.forksLine, this.nameForm, this.tools, this.note, this.diffEl, this.hint, this.list, this.moreButton);
    this.el.addEventListener("keydown", (e) => this.panelKey(e));

    // the audition banner, above the editor
    this.bannerTitle = h("strong", { class: "audition-title" });
    this.bannerMeta = h("span", { class: "audition-meta" });
    this.bannerPlay = h("button", { type: "button", class: "audition-play", title: "Play / stop the shared transport (Space): you hear this version", onclick: () => this.app.transport?.toggle() }, "Play");
    this.bannerRestoreSlot = h("span", { class: "audition-restore-slot" });
    this.bannerBack = h("button", { type: "button", class: "primary audition-back", "aria-keyshortcuts": "Escape", title: "Back to the live project (Esc)", onclick: () => this.backToLive() }, "Back to live");
    this.banner = h("div", { class: "audition-banner", role: "status", hidden: true },
      h("span", { class: "audition-pulse", "aria-hidden": "true" }),
      h("span", { class: "audition-text" }, this.bannerTitle, h("span", { class: "audition-off" }, " — your edits are off"), this.bannerMeta),
      h("span", { class: "audition-actions" }, this.bannerPlay, this.bannerRestoreSlot, this.bannerBack));

    this.buildFork();
  }

  buildFork() {
    const close = h("button", { type: "button", class: "dialog-close", "aria-label": "Close", onclick: () => this.forkDialog.close() }, "×");
    this.forkName = h("input", {
      name: "fork-name", type: "text", required: true, maxlength: 64, pattern: "[A-Za-z0-9_.:\\-]+",
      autocomplete: "off", spellcheck: "false", autofocus: true,
      title: "Letters, digits and _ . : - (1 to 64)",
    });
    this.forkVersion = h("select", { name: "fork-version" });
    this.forkCreate = h("button", { type: "submit", class: "primary fork-create" }, "Fork");
    this.forkError = h("p", { class: "fork-error", role: "alert" });
    this.forkLink = h("input", { class: "invite-link fork-link", type: "text", readonly: true, "aria-label": "Link to the fork", spellcheck: "false" });
    this.forkCopy = h("button", { type: "button", class: "fork-copy", onclick: () => this.copyForkLink() }, "Copy");
    this.forkOpen = h("a", { class: "fork-open-link", target: "_blank", rel: "noopener" }, "Open");
    this.forkMade = h("p", { class: "hint fork-made" });
    this.forkResult = h("div", { class: "invite-result fork-result", hidden: true },
      h("div", { class: "row invite-link-row" }, this.forkLink, this.forkCopy, this.forkOpen), this.forkMade);
    const field = (label, input) => h("label", { class: "invite-field" }, h("span", {}, label), input);
    this.forkDialog = h("dialog", { class: "shortcuts-dialog fork-dialog", "aria-labelledby": "fork-title" }, h("div", { class: "dialog-body" },
      h("div", { class: "dialog-head" }, h("h2", { id: "fork-title" }, "Fork this session"), close),
      h("p", { class: "hint" }, "A new session with the project as it was at that version: you own it, its history starts there and credits this one's authors. This session is not changed."),
      h("form", { class: "fork-form", onsubmit: (e) => this.fork(e) },
        field("New session name", this.forkName), field("From version", this.forkVersion),
        h("div", { class: "invite-actions" }, this.forkCreate)),
      this.forkError, this.forkResult));
    this.forkDialog.addEventListener("click", (e) => { if (e.target === this.forkDialog) this.forkDialog.close(); });
    // the page's shortcuts (app.js) must not act behind the dialog; Esc still closes it
    this.forkDialog.addEventListener("keydown", (e) => e.stopPropagation());
  }

  /** Put the panel, its banner and its dialog on the page (`root`: the editor's frame). */
  mount(root) {
    this.root = root;
    root.prepend(this.banner);
    root.append(this.el, this.forkDialog);
    this.renderActions();
  }

  destroy() {
    this.alive = false;
    clearTimeout(this.refreshTimer);
    clearInterval(this.ticker);
    for (const off of this.unsubscribe) off();
    window.removeEventListener("resize", this.onPlace);
    window.removeEventListener("scroll", this.onPlace);
    this.audition = null;
    this.banner.remove();
    this.el.remove();
    this.forkDialog.remove();
  }

  // -- showing ----------------------------------------------------------------------------

  get open() {
    return !this.el.hidden;
  }

  toggle() {
    if (this.open) this.hide();
    else this.show();
  }

  show({ focus = true } = {}) {
    this.el.hidden = false;
    this.button.setAttribute("aria-pressed", "true");
    this.place();
    this.renderActions();
    if (this.stale || !this.loaded) this.refresh();
    else this.renderList();
    if (focus) this.list.focus({ preventScroll: true });
  }

  hide() {
    const inside = this.el.contains(document.activeElement);
    this.el.hidden = true;
    this.button.setAttribute("aria-pressed", "false");
    if (inside) this.button.focus({ preventScroll: true });
  }

  /** Keep the panel under the header (and the banner), however the page scrolled. */
  place() {
    if (!this.open || !this.root) return;
    const header = this.root.querySelector(":scope > header");
    const bottoms = [header, this.banner.hidden ? null : this.banner].map((el) => el?.getBoundingClientRect().bottom ?? 0);
    this.el.style.top = `${Math.max(8, ...bottoms.map((b) => b + 8))}px`;
  }

  // -- keys -------------------------------------------------------------------------------------

  /**
   * The page's keys for the history (app.js asks here first, when no field owns
   * the key): H shows or hides the panel; while auditioning, Esc goes back to
   * live and Space plays the shared transport. True when handled.
   */
  key(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return false;
    if ((e.key === "h" || e.key === "H") && !e.shiftKey) {
      e.preventDefault();
      this.toggle();
      return true;
    }
    if (e.key === "Escape" && this.audition !== null) {
      e.preventDefault();
      this.backToLive();
      return true;
    }
    if (e.key === "Escape" && this.open && this.el.contains(e.target)) {
      e.preventDefault();
      this.hide();
      return true;
    }
    if (e.key === " " && this.audition !== null && !e.target?.closest?.(".roll-canvas")) {
      e.preventDefault();
      this.app.transport?.toggle();
      return true;
    }
    return false;
  }

  /** Keys inside the panel that the page must not take: Esc in the name field. */
  panelKey(e) {
    if (e.key === "Escape" && e.target === this.nameInput) {
      this.nameInput.value = "";
      this.list.focus({ preventScroll: true });
      e.preventDefault();
    }
  }

  /** Arrows move in the list, Home/End to its ends; Enter or Space auditions; Shift+Enter compares. */
  listKey(e) {
    const options = [...this.list.querySelectorAll(".history-row")];
    if (options.length === 0) return;
    const current = e.target.closest?.(".history-row");
    const index = current ? options.indexOf(current) : -1;
    let next = null;
    if (e.key === "ArrowDown") next = options[Math.min(options.length - 1, index + 1)];
    else if (e.key === "ArrowUp") next = options[Math.max(0, index - 1)];
    else if (e.key === "Home") next = options[0];
    else if (e.key === "End") next = options[options.length - 1];
    else if ((e.key === "Enter" || e.key === " ") && current && e.target === current) {
      e.preventDefault();
      this.choose(Number(current.dataset.version), e.shiftKey);
      return;
    } else {
      return;
    }
    e.preventDefault();
    this.focusRow(next);
  }

  listFocused(e) {
    if (e.target !== this.list) return;
    const row = this.list.querySelector(".history-row.selected") ?? this.list.querySelector(".history-row");
    if (row) this.focusRow(row);
  }

  focusRow(row) {
    if (!row) return;
    for (const r of this.list.querySelectorAll(".history-row[tabindex='0']")) r.tabIndex = -1;
    row.tabIndex = 0;
    this.list.tabIndex = -1;
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  // -- the versions -------------------------------------------------------------------------

  /** A version was stored (mine or anyone's): the list follows, now if shown, else when opened. */
  versionsCame() {
    this.latest = Math.max(this.latest, this.session.version);
    this.stale = true;
    this.latestBadge.textContent = `v${this.latest}`;
    this.renderActions();
    this.refreshSoon();
  }

  refreshSoon() {
    if (!this.open || this.refreshTimer !== null) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      this.refresh();
    }, REFRESH_MS);
  }

  /** Ask for the newest page again and merge it with what is loaded. */
  async refresh() {
    if (!this.alive) return;
    if (this.session.role === ROLES.VIEWER) {
      this.forbidden = true;
      this.renderAll();
      return;
    }
    const asked = ++this.asked;
    this.stale = false;
    let answer;
    try {
      answer = await this.session.versions({ count: PAGE });
    } catch (error) {
      if (asked !== this.asked) return;
      this.failed(error, "Could not read the history");
      return;
    }
    if (asked !== this.asked || !this.alive) return;
    this.forbidden = false;
    const page = answer.versions ?? [];
    const loadedMax = Math.max(0, ...this.rows.keys());
    if (page.length > 0 && this.rows.size > 0 && page[0][0] > loadedMax + 1) {
      this.rows.clear(); // more came than a page since: start from the newest again
    }
    const oldest = this.oldestLoaded();
    for (const row of page) this.rows.set(row[0], row);
    if (oldest === null || (page.length > 0 && page[0][0] <= oldest)) this.more = Boolean(answer.more);
    this.took(answer);
    this.renderAll();
  }

  /** The page before the oldest one loaded. */
  async loadOlder() {
    const before = this.oldestLoaded();
    if (before === null) return;
    this.moreButton.disabled = true;
    try {
      const answer = await this.session.versions({ before, count: PAGE });
      for (const row of answer.versions ?? []) this.rows.set(row[0], row);
      this.more = Boolean(answer.more);
      this.took(answer);
      this.renderAll();
    } catch (error) {
      this.failed(error, "Could not read older versions");
    } finally {
      this.moreButton.disabled = false;
    }
  }

  oldestLoaded() {
    return this.rows.size ? Math.min(...this.rows.keys()) : null;
  }

  /** What every versions answer carries besides the page. */
  took(answer) {
    this.loaded = true;
    this.latest = Math.max(answer.latest ?? 0, this.session.version);
    this.labels = [...(answer.labels ?? [])];
    this.parent = answer.parent ?? null;
    this.forks = [...(answer.forks ?? [])];
    this.names = { ...this.names, ...(answer.names ?? {}) };
    this.credits = answer.credits ?? [];
  }

  failed(error, what) {
    if (error?.code === ERROR_CODES.FORBIDDEN) {
      this.forbidden = true;
      this.renderAll();
      return;
    }
    this.note.textContent = `${what} (${error?.code ?? "error"}): ${error?.message ?? error}`;
    this.app.toasts.show(this.note.textContent, "error");
  }

  /** Someone named a version or forked the session: shown at once (and the list asked again). */
  admin(message) {
    if (message.action === "label") {
      const known = this.labels.some((l) => l.version === message.version && l.name === message.name && l.by === message.by);
      if (!known) this.labels.push({ version: message.version, name: message.name, by: message.by, at: Date.now() });
      this.renderList();
      this.refreshSoon();
    } else if (message.action === "forked") {
      const known = this.forks.some((f) => f.session === message.session);
      if (!known) this.forks.push({ session: message.session, version: message.version, by: message.by, at: Date.now() });
      this.renderHead();
    }
  }

  /** A role change (or a lock): a viewer's panel says why it shows nothing. */
  roleChanged() {
    const viewer = this.session.role === ROLES.VIEWER;
    if (viewer && this.audition !== null) this.backToLive();
    if (viewer !== this.forbidden) {
      this.forbidden = viewer;
      if (!viewer) this.stale = true;
      if (this.open) this.refresh();
    }
    this.renderActions();
  }

  peersChanged() {
    const online = this.session.peerList().map((p) => `${p.client}:${p.color}`).join(",");
    if (online === this.online) return;
    this.online = online;
    if (this.open) this.renderList();
  }

  nameOf(client) {
    if (!client) return "someone";
    if (client === this.session.clientId) return this.session.options.name || this.names[client] || client;
    return this.names[client] || this.session.peers.get(client)?.name || client;
  }

  colorOf(client) {
    if (client === this.session.clientId) return this.session.color ?? this.session.options.color ?? null;
    return this.session.peers.get(client)?.color ?? null;
  }

  labelsByVersion() {
    const out = new Map();
    for (const label of this.labels) {
      if (!out.has(label.version)) out.set(label.version, []);
      out.get(label.version).push(label);
    }
    return out;
  }

  // -- drawing --------------------------------------------------------------------------------

  renderAll() {
    this.renderHead();
    this.renderActions();
    this.renderList();
  }

  renderHead() {
    this.latestBadge.textContent = this.latest ? `v${this.latest}` : "";
    const p = this.parent;
    this.parentLine.hidden = p === null;
    if (p !== null) {
      const credits = (p.credits ?? []).map((c) => c.name || c.client).filter(Boolean);
      this.parentLine.replaceChildren(
        "Forked from ", this.sessionAnchor(p.session, "history-parent-session"), ` v${p.version}`,
        p.name || p.by ? ` by ${p.name || this.nameOf(p.by)}` : "",
        credits.length ? h("span", { class: "history-credits" }, ` · credits: ${credits.join(", ")}`) : null);
    }
    this.forksLine.hidden = this.forks.length === 0;
    this.forksLine.replaceChildren("Forks: ", ...this.forks.flatMap((f, i) => [
      i ? ", " : "",
      h("span", { class: "history-fork" }, this.sessionAnchor(f.session), ` (v${f.version}, by ${this.nameOf(f.by)})`),
    ]));
  }

  /** A session's name, linking to it (a new tab; it rejoins where this browser holds its invite). */
  sessionAnchor(session, className = "") {
    return h("a", { class: `history-session ${className}`.trim(), href: sessionLink(session), target: "_blank", rel: "noopener",
      title: `Open ${session} in a new tab (it needs an invite to it, unless this browser joined it before)` }, session);
  }

  /** Editors and owners name, restore and fork; a viewer is told why there is nothing. */
  renderActions() {
    const viewer = this.forbidden || this.session.role === ROLES.VIEWER;
    const reason = this.app.editBlockReason?.() ?? null;
    this.nameForm.hidden = viewer;
    this.tools.hidden = viewer;
    this.hint.hidden = viewer;
    this.nameButton.textContent = this.latest ? `Name v${this.latest}` : "Name";
    const locked = reason !== null && this.audition === null; // locked or closed (an audition only blocks edits)
    this.nameButton.disabled = locked;
    this.nameInput.disabled = locked;
    this.nameButton.title = locked ? reason : "Name the current version (everyone sees it)";
    if (viewer) {
      this.note.textContent = VIEWER_NOTE;
      this.list.replaceChildren();
      this.moreButton.hidden = true;
      this.diffEl.hidden = true;
    } else if (this.note.textContent === VIEWER_NOTE) {
      this.note.textContent = "";
    }
  }

  renderList() {
    if (!this.open || this.forbidden) return;
    const focused = this.list.contains(document.activeElement) ? document.activeElement?.closest?.(".history-row")?.dataset.version : null;
    const labels = this.labelsByVersion();
    const rows = [...this.rows.values()].sort((a, b) => a[0] - b[0]);
    const named = this.namedOnly.checked;
    const now = Date.now();
    const groups = groupVersions(rows)
      .map((g) => ({ ...g, rows: named ? g.rows.filter((r) => labels.has(r[0])) : g.rows }))
      .filter((g) => g.rows.length > 0);
    const items = groups.map((g, i) => {
      const id = `history-group-${i}`;
      const authors = g.authors.map((c) => this.nameOf(c)).join(", ");
      const count = g.rows.length === 1 ? "1 version" : `${g.rows.length} versions`;
      return h("li", { class: "history-group", role: "group", "aria-labelledby": id },
        h("div", { class: "history-group-head", id },
          h("span", { class: "history-group-span" }, spanText(g.from, g.to, now)),
          h("span", { class: "history-group-who" }, authors),
          h("span", { class: "history-group-count" }, count)),
        h("ul", { class: "history-rows", role: "presentation" }, g.rows.map((r) => this.row(r, labels.get(r[0]) ?? [], now))));
    });
    if (items.length === 0) {
      const text = !this.loaded ? "Loading…" : named ? "No named versions yet: name one above." : "No versions yet.";
      items.push(h("li", { class: "hint history-empty" }, text));
    }
    this.list.replaceChildren(...items);
    this.moreButton.hidden = !this.more;
    const back = focused ? this.list.querySelector(`.history-row[data-version="${focused}"]`) : null;
    if (back) this.focusRow(back);
    else this.list.tabIndex = 0;
  }

  row([version, by, at, source, summary], labels, now) {
    const badge = sourceBadge(source);
    const color = this.colorOf(by);
    const name = this.nameOf(by);
    const live = version === this.latest;
    const auditioned = this.audition?.version === version;
    const selected = this.selected === version;
    const classes = ["history-row", auditioned ? "auditioning" : "", selected ? "selected" : "", live ? "live" : ""].filter(Boolean).join(" ");
    const actions = [
      live
        ? null
        : h("button", { type: "button", class: "history-audition", "aria-label": `Audition v${version}`, title: "Audition: hear and see this version here (nobody else is affected)", onclick: (e) => { e.stopPropagation(); this.auditionVersion(version); } }, "▶"),
      h("button", { type: "button", class: "history-compare", "aria-label": `Compare v${version}`, title: "Compare with the selected version (or with live)", onclick: (e) => { e.stopPropagation(); this.compareWith(version); } }, "Diff"),
      live ? null : this.restoreButton(version, "Restore"),
    ];
    const el = h("li", {
      class: classes, role: "option", tabindex: "-1", "data-version": version,
      "aria-selected": String(selected || auditioned),
      "aria-label": `v${version} by ${name}${labels.length ? `, named ${labels.map((l) => l.name).join(", ")}` : ""}: ${summaryText(summary)}`,
      onclick: (e) => { if (!e.target.closest("button")) this.choose(version, e.shiftKey); },
    },
    h("span", { class: "history-v" }, `v${version}`),
    h("span", { class: "history-who" },
      h("span", { class: `dot${color ? "" : " offline"}`, style: color ? { background: color } : {}, title: color ? `${name} is here` : `${name} is not here now`, "aria-hidden": "true" }),
      h("span", { class: "history-name" }, name)),
    h("time", { class: "history-when", datetime: new Date(at).toISOString(), title: new Date(at).toLocaleString(), "data-at": at }, shortTime(at, now)),
    h("span", { class: "history-what" },
      live ? h("span", { class: "history-badge badge-live" }, "live") : null,
      badge ? h("span", { class: `history-badge badge-${badge.kind}`, title: badge.title }, badge.text) : null,
      labels.map((l) => h("span", { class: "history-chip", title: `Named by ${this.nameOf(l.by)}` }, l.name)),
      h("span", { class: "history-summary", title: summary || "" }, summaryText(summary))),
    h("span", { class: "history-actions" }, actions));
    return el;
  }

  restoreButton(version, label) {
    return this.confirmer.button({
      key: `restore:${version}`,
      label,
      confirm: "Confirm restore",
      className: "history-restore",
      title: `Bring v${version} back for everyone, as one new version (Undo takes it back)`,
      act: () => this.restore(version),
    });
  }

  refreshTimes() {
    const now = Date.now();
    for (const t of this.list.querySelectorAll("time[data-at]")) t.textContent = shortTime(Number(t.dataset.at), now);
  }

  renderBanner() {
    const a = this.audition;
    this.banner.hidden = a === null;
    document.body.classList.toggle("auditioning", a !== null);
    if (a !== null) {
      const row = this.rows.get(a.version);
      const names = this.labels.filter((l) => l.version === a.version).map((l) => `“${l.name}”`);
      this.bannerTitle.textContent = `Auditioning v${a.version}`;
      const meta = [row ? `by ${this.nameOf(row[1])}` : "", row ? new Date(row[2]).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "", ...names];
      this.bannerMeta.textContent = meta.filter(Boolean).length ? ` · ${meta.filter(Boolean).join(" · ")}` : "";
      this.bannerRestoreSlot.replaceChildren(this.restoreButton(a.version, "Restore"));
      this.showPlaying();
    }
    this.place();
  }

  /** The banner's Play follows the shared transport. */
  showPlaying() {
    if (this.audition === null) return;
    const playing = Boolean(this.session.project.project.transport?.playing);
    const text = playing ? "Stop" : "Play";
    if (this.bannerPlay.textContent !== text) this.bannerPlay.textContent = text;
    this.bannerPlay.classList.toggle("playing", playing);
  }

  // -- choosing, auditioning, restoring -------------------------------------------------------

  /** A click on a version: audition it (the live one: back to live); with Shift, compare. */
  choose(version, compare = false) {
    if (compare) {
      this.compareWith(version);
      return;
    }
    this.selected = version;
    if (version === this.latest) this.backToLive();
    else this.auditionVersion(version);
    this.renderList();
  }

  /** The project at `version`, from the server or from the few kept. */
  async projectOf(version) {
    const kept = this.projects.get(version);
    if (kept) {
      this.projects.delete(version);
      this.projects.set(version, kept);
      return kept;
    }
    const answer = await this.session.projectAt({ version });
    const doc = Document.fromData(answer.project);
    const made = { doc, data: doc.toData() };
    this.projects.set(version, made);
    while (this.projects.size > KEEP_PROJECTS) this.projects.delete(this.projects.keys().next().value);
    return made;
  }

  /** Hear and see `version` on this page (see the module's notes); nobody else is affected. */
  async auditionVersion(version) {
    const asked = ++this.auditionAsked;
    this.selected = version;
    let past;
    try {
      past = await this.projectOf(version);
    } catch (error) {
      if (asked === this.auditionAsked) this.app.toasts.show(`Could not audition v${version} (${error.code ?? "error"}): ${error.message}`, "error");
      return;
    }
    if (asked !== this.auditionAsked || !this.alive) return;
    this.audition = { version, doc: past.doc, data: past.data };
    this.changed();
  }

  /** Back to the live project: heard, shown and editable again. */
  backToLive() {
    this.auditionAsked += 1; // an audition still loading is dropped
    if (this.audition === null) return;
    this.audition = null;
    this.changed();
  }

  /** The audition began, moved or ended: redraw, and let the sound take the project again. */
  changed() {
    this.renderBanner();
    this.renderActions();
    this.renderList();
    this.session.emit("change", { reason: "audition" });
  }

  /** Restore `version` for everyone: one new version, one Undo step. */
  async restore(version) {
    this.backToLive();
    let edit;
    try {
      edit = this.session.restore(version);
    } catch (error) {
      this.app.toasts.show(`Not restored (${error.code ?? "error"}): ${error.message}`, "error");
      return;
    }
    try {
      const made = await edit.done;
      this.app.toasts.show(`Restored v${version} as v${made} (Undo to take it back)`);
    } catch {
      // refused: the page's `rejected` toast says why
    }
  }

  // -- naming --------------------------------------------------------------------------------------

  async nameVersion(e) {
    e.preventDefault();
    const name = this.nameInput.value.trim();
    if (!name) {
      this.nameInput.focus();
      return;
    }
    this.nameButton.disabled = true;
    try {
      const done = await this.session.label(name);
      this.nameInput.value = "";
      this.app.toasts.show(`Named v${done.version} “${done.name}”`);
      this.admin({ action: "label", version: done.version, name: done.name, by: this.session.clientId });
    } catch (error) {
      this.app.toasts.show(`Not named (${error.code ?? "error"}): ${error.message}`, "error");
    } finally {
      this.nameButton.disabled = false;
    }
  }

  // -- comparing -------------------------------------------------------------------------------------

  /** Compare `version` with the selected one (or, none or the same, with the latest). */
  async compareWith(version) {
    const other = this.selected !== null && this.selected !== version ? this.selected : this.latest;
    const [from, to] = version < other ? [version, other] : [other, version];
    if (from === to) {
      this.app.toasts.show("Pick two different versions to compare", "error");
      return;
    }
    this.diffEl.hidden = false;
    this.diffEl.replaceChildren(h("p", { class: "hint" }, `Comparing v${from} with v${to}…`));
    const asked = ++this.diffAsked;
    let diff;
    let docs;
    try {
      [diff, ...docs] = await Promise.all([this.session.diff(from, to), this.docAt(from), this.docAt(to)]);
    } catch (error) {
      if (asked === this.diffAsked) this.diffEl.replaceChildren(h("p", { class: "history-error" }, `Could not compare (${error.code ?? "error"}): ${error.message}`));
      return;
    }
    if (asked !== this.diffAsked) return;
    this.names = { ...this.names, ...(diff.names ?? {}) };
    this.renderDiff(from, to, diff, docs[0], docs[1]);
  }

  /** A version's document: the live one for the latest, else the server's. */
  async docAt(version) {
    if (version === this.session.version) return this.session.project;
    return (await this.projectOf(version)).doc;
  }

  renderDiff(from, to, diff, before, after) {
    const close = h("button", { type: "button", class: "dialog-close", "aria-label": "Close the comparison", onclick: () => { this.diffEl.hidden = true; } }, "×");
    const authors = (diff.authors ?? []).map((c) => this.nameOf(c)).sort((a, b) => a.localeCompare(b));
    const head = h("div", { class: "history-diff-head" },
      h("h3", {}, `v${from} → v${to}`),
      h("span", { class: "hint" }, authors.length ? `by ${authors.join(", ")}` : ""), close);
    const changes = diff.changes ?? [];
    const sections = CHANGES.map(([change, title]) => {
      const these = changes.filter((c) => c.change === change);
      if (these.length === 0) return null;
      const lines = [];
      for (const kind of DIFF_KINDS) {
        const ofKind = these.filter((c) => c.kind === kind);
        if (ofKind.length === 0) continue;
        const doc = change === "removed" ? before : after;
        const entity = (c) => (kind === "project" ? doc?.project : doc?.table(kind)?.get(c.id));
        if (ofKind.length > DIFF_LIST) {
          const who = [...new Set(ofKind.map((c) => c.by).filter(Boolean))].map((c) => this.nameOf(c));
          const fields = [...new Set(ofKind.flatMap((c) => c.fields ?? []))];
          lines.push(this.diffLine(change, kind, `${ofKind.length} ${kind}s`, fields, who));
        } else {
          for (const c of ofKind) {
            lines.push(this.diffLine(change, kind, entityLabel(kind, entity(c), doc) || c.id, c.fields ?? [], c.by ? [this.nameOf(c.by)] : [], c.id));
          }
        }
      }
      return h("div", { class: `history-diff-group diff-${change}` },
        h("h4", {}, `${title} (${these.length})`), h("ul", {}, lines));
    }).filter(Boolean);
    this.diffEl.replaceChildren(head, ...(sections.length ? sections : [h("p", { class: "hint" }, "No differences.")]));
  }

  diffLine(change, kind, label, fields, who, id = null) {
    return h("li", { class: "history-diff-entry", "data-kind": kind, "data-change": change, "data-id": id },
      h("span", { class: "diff-kind" }, kind),
      h("span", { class: "diff-name" }, label),
      fields.length ? h("span", { class: "diff-fields" }, fields.join(", ")) : null,
      who.length ? h("span", { class: "diff-by" }, `by ${who.join(", ")}`) : null);
  }

  // -- forking --------------------------------------------------------------------------------------

  showFork() {
    const session = this.session.options.session;
    this.forkName.value = forkName(session);
    const chosen = this.audition?.version ?? this.selected;
    const options = [h("option", { value: "" }, `Latest (v${this.latest})`)];
    if (chosen !== null && chosen !== this.latest) {
      options.push(h("option", { value: String(chosen), selected: true }, `v${chosen}${this.audition ? " (auditioning)" : " (selected)"}`));
    }
    this.forkVersion.replaceChildren(...options);
    this.forkError.textContent = "";
    this.forkResult.hidden = true;
    this.forkCreate.disabled = false;
    if (!this.forkDialog.open) this.forkDialog.showModal();
    this.forkName.select();
  }

  async fork(e) {
    e.preventDefault();
    if (!this.forkName.reportValidity()) return;
    const name = this.forkName.value.trim();
    const version = this.forkVersion.value ? Number(this.forkVersion.value) : null;
    this.forkError.textContent = "";
    this.forkCreate.disabled = true;
    try {
      const done = await this.session.fork(name, version);
      this.forkLink.value = done.link || inviteLink(done.session, done.token);
      this.forkOpen.href = this.forkLink.value;
      this.forkMade.textContent = `${done.session}: the project at v${done.version}. You own it; the link makes its holder an owner, so send it with care.`;
      this.forkResult.hidden = false;
      this.forkLink.focus();
      this.forkLink.setSelectionRange(0, this.forkLink.value.length, "backward");
      this.forkLink.scrollLeft = 0;
      this.admin({ action: "forked", session: done.session, version: done.version, by: this.session.clientId });
    } catch (error) {
      this.forkError.textContent = error?.code === ERROR_CODES.SESSION_EXISTS
        ? `A session named “${name}” exists already: choose another name.`
        : `Not forked (${error?.code ?? "error"}): ${error?.message ?? error}`;
      this.forkName.focus();
    } finally {
      this.forkCreate.disabled = false;
    }
  }

  async copyForkLink() {
    if (!this.forkLink.value) return;
    if (await copyField(this.forkLink)) this.app.toasts.show("Link copied");
    else this.app.toasts.show("Could not copy: the link is selected, copy it with Ctrl/Cmd-C", "error");
  }
}
