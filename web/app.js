/**
 * The Backline web client: join a session, then the shared editor.
 *
 * The join link the server prints (`/#session=jam&token=...`) fills the join
 * form; a name and colour are remembered in localStorage. Once joined, the
 * token leaves the address bar and is kept per session (rejoin.js), so a
 * reload (`#session=jam`) joins again by itself, as the same identity; "Leave"
 * forgets it. Everything shown is drawn from the session's live mirror
 * (net.js) and redrawn on each change, at most once per animation frame.
 *
 * `window.backline` is a small read-only hook for tests and the curious.
 *
 * @module app
 */

import { CLOSE_CODES, PROJECT_ID, ROLES, SCHEMAS, SERVER_TYPES } from "./protocol.js";
import { Session } from "./net.js";
import { claimIdentity, forget, forgetIdentity, rememberIdentity, rememberJoin, storedIdentity, storedJoin } from "./rejoin.js";
import { h, textOn } from "./ui/dom.js";
import { joinForm, joinParams, rejoinScreen } from "./ui/join.js";
import { ownsKey, ShortcutHelp, typingIn } from "./ui/shortcuts.js";
import { Toasts } from "./ui/toast.js";
import { TransportBar } from "./ui/transport.js";
import { TrackList } from "./ui/tracks.js";
import { StepSequencer } from "./ui/steps.js";
import { PianoRoll } from "./ui/pianoroll.js";
import { ArrangementView } from "./ui/arrangement.js";
import { People } from "./ui/people.js";
import { download, projectJson } from "./ui/export.js";
import { projectMidi } from "./ui/midi.js";
import { MixerPanel } from "./ui/mixer.js";
import { Bounce } from "./ui/bounce.js";
import { HistoryPanel } from "./ui/history.js";
import { DropImport } from "./ui/dropimport.js";
import { BlameTips } from "./ui/blame.js";

const STATE_TEXT = { connecting: "Connecting…", connected: "Connected", reconnecting: "Reconnecting…", closed: "Disconnected" };
/** Closes that mean the token itself was refused: a stored one is forgotten. */
const TOKEN_REFUSED = [
  CLOSE_CODES.BAD_TOKEN, CLOSE_CODES.TOKEN_EXPIRED, CLOSE_CODES.WRONG_SESSION,
  CLOSE_CODES.REVOKED, CLOSE_CODES.INVITE_USED, CLOSE_CODES.SESSION_NOT_FOUND,
];
/** Why someone may not edit, as the disabled controls' tooltips say it. */
export const BLOCK_REASONS = Object.freeze({
  viewer: "Viewers can listen and chat, not edit",
  locked: "Locked by an owner",
  closed: "Disconnected: join again to edit",
  bounceViewer: "Viewers can listen, not bounce: ask an owner for an editor invite",
});

/** A join that was given up ("Use another invite") while it was under way. */
class JoinCancelled extends Error {}

class App {
  constructor(root) {
    this.root = root;
    this.toasts = new Toasts(document.body);
    this.session = null;
    this.editor = null; // what the mounted editor needs taken down: see unmountEditor
    this.attempts = 0; // joins started: a join that is no longer the latest gives up
    this.selectedTrack = null;
    // the notes clip being edited: set by the arrangement (ui/arrangement.js) when one notes
    // clip is selected there, for the piano roll to edit inside it (null: none); the
    // clip's track is then also `selectedTrack`. Reset when the clip goes away.
    this.selectedClip = null;
    this.drumTrack = null;
    this.synthTrack = null;
    this.pending = false;
    document.addEventListener("keydown", (e) => this.shortcut(e));
    const params = joinParams();
    const stored = params.session && !params.token ? storedJoin(params.session) : null;
    if (stored) this.rejoin(params.session, stored);
    else this.showJoin(params);
  }

  // -- joining --------------------------------------------------------------

  /** A reload (or a new tab) of a session this browser joined: join again without the form. */
  async rejoin(session, stored) {
    const screen = rejoinScreen(session, stored.name, () => this.abandonJoin(session, stored));
    this.root.replaceChildren(screen.el);
    try {
      await this.join({ session, token: stored.token, name: stored.name, color: stored.color }, screen.status);
    } catch (err) {
      if (err instanceof JoinCancelled) return;
      this.showJoin({ session, token: storedJoin(session)?.token ?? "", name: stored.name, color: stored.color }, `Could not rejoin: ${err.message}`);
    }
  }

  abandonJoin(session, stored) {
    this.attempts += 1; // the join under way gives up at its next step
    this.session?.close();
    this.showJoin({ session, token: "", name: stored.name, color: stored.color });
  }

  showJoin(params, message = "") {
    this.root.replaceChildren(joinForm(params, message, (options, status) => this.join(options, status)));
  }

  /**
   * Join (`options`: session, token, name, color), resuming this tab's earlier
   * identity in that session when it has one no other tab holds.
   */
  async join(options, status = () => {}) {
    const attempt = ++this.attempts;
    const given = () => attempt !== this.attempts;
    const identity = storedIdentity(options.session);
    const resume = identity && (await claimIdentity(options.session, identity.client)) ? identity : {};
    if (given()) throw new JoinCancelled("cancelled");
    const session = new Session({ ...options, ...resume });
    this.session = session;
    this.exposeDebugHook();
    const unwatch = session.on("state", ({ state, reason }) => {
      if (state !== "connected") status(`${STATE_TEXT[state] ?? state}${reason ? ` (${reason})` : ""}`);
    });
    session.on("state", ({ state, reason, code }) => this.showState(state, reason, code));
    session.on(SERVER_TYPES.WELCOME, (w) => rememberIdentity(options.session, w.client, w.resume));
    try {
      await session.connect();
    } catch (error) {
      if (given()) throw new JoinCancelled("cancelled");
      if (session.closeCode === CLOSE_CODES.BAD_RESUME && resume.client) {
        forgetIdentity(options.session); // that identity is gone: join as a new one
        return this.join(options, status);
      }
      if (TOKEN_REFUSED.includes(session.closeCode)) forget(options.session);
      throw error;
    } finally {
      unwatch();
    }
    if (given()) {
      session.close();
      throw new JoinCancelled("cancelled");
    }
    rememberJoin(options.session, options);
    if (!resume.client) claimIdentity(options.session, session.clientId); // so a copied tab does not take it
    // keep the token out of the address bar (and out of screenshots and history)
    history.replaceState(null, "", `${location.pathname}#session=${encodeURIComponent(options.session)}`);
    this.mountEditor();
    return session;
  }

  /** Leave the session: say goodbye, forget its token here, back to the join form. */
  leave() {
    const s = this.session;
    if (!s) return;
    const { session, name, color } = s.options;
    s.close();
    forget(session);
    this.unmountEditor();
    this.showJoin({ session, token: "", name, color }, "You left the session. Join again with an invite.");
  }

  // -- the editor -------------------------------------------------------------

  mountEditor() {
    const s = this.session;
    this.editor = { alive: true };
    this.stateBadge = h("span", { class: "conn", role: "status" });
    this.blockBadge = h("span", { class: "conn-locked", hidden: true });
    this.undoButton = h("button", { type: "button", "data-edit": "", onclick: () => this.undo(false), "aria-keyshortcuts": "Control+Z Meta+Z" }, "Undo");
    this.redoButton = h("button", { type: "button", "data-edit": "", onclick: () => this.undo(true), "aria-keyshortcuts": "Control+Shift+Z Meta+Shift+Z" }, "Redo");
    const exportButton = h("button", { type: "button", onclick: () => this.exportJson() }, "Export JSON");
    const midiButton = h("button", { type: "button", onclick: () => this.exportMidi() }, "Export MIDI");
    const importButton = h("button", { type: "button", class: "import", "data-edit": "", "aria-keyshortcuts": "Control+O Meta+O", title: "Import a MIDI file (adds tracks) or a project JSON (replaces the project); or drop one on the page (Ctrl/Cmd-O)", onclick: () => this.dropImport.pick() }, "Import…");
    this.help = new ShortcutHelp(document.body);
    const helpButton = h("button", { type: "button", class: "help", "aria-keyshortcuts": "?", title: "Keyboard shortcuts (?)", onclick: () => this.help.show() }, "Keyboard shortcuts");
    const leaveButton = h("button", { type: "button", class: "leave", title: "Leave the session and forget its invite in this browser", onclick: () => this.leave() }, "Leave");
    this.projectName = h("input", {
      class: "project-name", "aria-label": "Project name", "data-edit": "", maxlength: SCHEMAS.project.name.max_len,
      onchange: () => this.renameProject(),
      onkeydown: (e) => { if (e.key === "Enter") this.projectName.blur(); else if (e.key === "Escape") { this.projectName.value = s.project.project.name; this.projectName.blur(); } },
    });
    this.keySlot = h("div", { class: "key-slot" }); // the transport's key control (ui/transport.js) goes here
    // the history (ui/history.js): its header button, and the session as the editors see it (`view`:
    // an audition's project while auditioning, else the live one)
    this.history = new HistoryPanel(s, this);
    const view = this.history.view;
    const header = h("header", { class: "top" },
      h("div", { class: "brand" }, h("strong", {}, "Backline"), h("span", { class: "session-name" }, s.options.session), this.projectName, this.keySlot),
      h("div", { class: "row" }, this.blockBadge, this.undoButton, this.redoButton, this.history.button, exportButton, midiButton, importButton, helpButton, leaveButton, this.stateBadge));
    const transport = h("div", {});
    const left = h("div", { class: "col-left" });
    const center = h("div", { class: "col-center" });
    const right = h("div", { class: "col-right" });
    this.soundSlot = h("section", { class: "panel sound", "aria-label": "Sound" });
    right.append(this.soundSlot);
    this.root.replaceChildren(header, transport, h("main", { class: "editor" }, left, center, right));
    this.history.mount(this.root);
    this.transport = new TransportBar(transport, s, this);
    this.tracks = new TrackList(left, view, this);
    this.arrangement = new ArrangementView(center, view, this);
    this.steps = new StepSequencer(center, view, this);
    this.roll = new PianoRoll(center, view, this);
    this.bounce = new Bounce(document.body, {
      session: s.options.session,
      base: () => new URL(s.options.url.replace(/^ws/, "http")).origin,
      token: () => s.options.token,
      reason: () => this.bounceBlockReason(),
      toast: (text, kind) => this.toasts.show(text, kind),
    });
    this.mixer = new MixerPanel(center, view, this, { bounce: () => this.bounce.show() });
    this.people = new People(right, s, this);
    this.dropImport = new DropImport(document.body, s, this, importButton); // files dropped or picked (ui/dropimport.js)
    this.blame = new BlameTips(document.body, s, this); // who made what, on hover (ui/blame.js)
    this.showState(s.state, s.closeReason);

    s.on("change", () => this.render());
    s.on("peers", () => this.render());
    s.on(SERVER_TYPES.CHAT, () => this.people.renderChat());
    s.on(SERVER_TYPES.WELCOME, () => { this.render(); this.people.renderChat(); });
    s.on("rejected", (r) => {
      if (!this.dropImport.handles(r.seq)) this.toasts.show(`Edit refused (${r.code}): ${r.message}`, "error"); // an import says it itself
    });
    s.on(SERVER_TYPES.ERROR, (m) => this.toasts.show(`Server: ${m.message}`, "error"));
    const editor = this.editor;
    const frame = () => {
      if (!editor.alive) return;
      this.tick();
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
    s.setPresence({ name: s.options.name, color: s.color, selection: [] });
    this.render();
    this.people.renderChat();
    this.mountSound();
  }

  /** The sound engineer's panel (web/sound/panel.js), if present. */
  async mountSound() {
    const s = this.session;
    let cache = null;
    s.on("change", () => { cache = null; });
    const ctx = {
      send: (message) => s.send(message),
      serverNow: () => s.serverNow(),
      timeline: () => {
        try {
          return s.timeline();
        } catch {
          return null;
        }
      },
      // what is heard: an audition's project while auditioning (ui/history.js), else the live one
      project: () => (cache ??= this.history?.playbackProject() ?? s.project.toData()),
      me: () => ({ client: s.clientId, name: s.options.name, color: s.color, role: s.role }),
      http: () => new URL(s.options.url.replace(/^ws/, "http")).origin, // the server's HTTP side
      token: () => s.options.token,
      session: () => s.options.session,
      peers: () => s.peerList(),
      on: (type, fn) => s.on(type, fn),
      onChange: (fn) => s.on("change", fn),
      iceServers: () => s.lastWelcome?.ice_servers ?? [], // STUN/TURN, this client's credentials
    };
    const editor = this.editor;
    try {
      const { mountSoundPanel } = await import("./sound/panel.js");
      if (!editor.alive) return; // left while it loaded
      editor.sound = mountSoundPanel(this.soundSlot, ctx);
    } catch (error) {
      this.soundSlot.replaceChildren(
        h("h2", {}, "Sound"),
        h("p", { class: "hint audio-unavailable" }, `Audio unavailable: ${error.message}`),
      );
    }
    try {
      const { mountMidiInput } = await import("./ui/midiin.js"); // playing from a MIDI keyboard
      if (editor.alive) editor.midi = mountMidiInput(this.soundSlot, { session: s, app: this, sound: () => editor.sound ?? null });
    } catch (error) {
      console.error("backline: no MIDI input", error);
    }
  }

  /** Run an edit; a locally invalid one becomes a toast instead of an exception. */
  run(fn) {
    try {
      return fn();
    } catch (error) {
      this.toasts.show(`Not applied (${error.code ?? "error"}): ${error.message}`, "error");
      return null;
    }
  }

  /**
   * Why this user may not edit now, or null when they may: what every edit
   * control shows (disabled, with this as its tooltip). For the panels too.
   */
  editBlockReason() {
    const s = this.session;
    if (!s || s.closed) return BLOCK_REASONS.closed;
    if (s.role === ROLES.VIEWER) return BLOCK_REASONS.viewer;
    if (!s.canEdit) return BLOCK_REASONS.locked;
    if (this.history?.auditioning) return this.history.blockReason();
    return null;
  }

  /** Why this user may not bounce now (the server lets owners and editors render), or null. */
  bounceBlockReason() {
    const s = this.session;
    if (!s || s.closed) return BLOCK_REASONS.closed;
    if (s.role === ROLES.VIEWER) return BLOCK_REASONS.bounceViewer;
    return null;
  }

  /** An edit from a shortcut: refused here with the reason when this user may not edit. */
  editByKey(fn) {
    const reason = this.editBlockReason();
    if (reason !== null) this.toasts.show(reason, "error");
    else fn();
  }

  /** The header's project name field: set the shared name (empty: back to what it was). */
  renameProject() {
    const name = this.projectName.value.trim();
    const current = this.session.project.project.name;
    if (!name || name === current) this.projectName.value = current;
    else this.run(() => this.session.set(PROJECT_ID, "name", name))?.done.catch(() => {});
  }

  undo(redo) {
    const edit = this.run(() => (redo ? this.session.redo() : this.session.undo()));
    edit?.done.catch(() => {}); // a refusal is shown by the `rejected` toast
  }

  /** The page's own shortcuts (ui/shortcuts.js lists them all); never while typing. */
  shortcut(e) {
    if (!this.editor || e.defaultPrevented || this.help?.open || this.bounce?.open) return; // a dialog handles Esc
    const target = e.target;
    const typing = typingIn(target);
    if ((e.ctrlKey || e.metaKey) && !e.altKey && (e.key === "z" || e.key === "Z" || e.key === "y")) {
      if (typing) return; // the field's own undo
      e.preventDefault();
      this.editByKey(() => this.undo(e.key === "y" || e.shiftKey));
      return;
    }
    if ((e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && (e.key === "b" || e.key === "B")) {
      e.preventDefault();
      this.bounce.show();
      return;
    }
    if (ownsKey(target, e.key) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (this.history?.key(e)) return; // H; while auditioning Esc (back to live) and Space (ui/history.js)
    if (e.key === " ") {
      if (target.closest?.(".roll-canvas")) return; // the roll's canvas has its own Space
      e.preventDefault();
      this.editByKey(() => this.transport.toggle());
    } else if (e.key === "Home") {
      e.preventDefault();
      this.editByKey(() => this.transport.goToStart());
    } else if ((e.key === "l" || e.key === "L") && !e.shiftKey) {
      e.preventDefault();
      this.editByKey(() => this.transport.toggleLoop());
    } else if (e.key === "?") {
      e.preventDefault();
      this.help.show();
    } else if ((e.key === "x" || e.key === "X") && !e.shiftKey && !typing) {
      e.preventDefault();
      this.mixer.el.scrollIntoView({ block: "nearest" });
      this.mixer.el.focus({ preventScroll: true });
    }
  }

  select(trackId) {
    this.selectedTrack = trackId;
    const track = (this.history?.shown() ?? this.session.project).tracks.get(trackId);
    if (track?.kind === "drums") this.drumTrack = trackId;
    else if (track) this.synthTrack = trackId;
    this.session.setPresence({ cursor: { view: "track", track: trackId } });
    this.render();
  }

  /** Keep the selections pointing at live tracks (someone may have removed one). */
  fixSelection() {
    const doc = this.history?.shown() ?? this.session.project; // what the editors show
    const tracks = doc.trackList();
    if (!doc.tracks.has(this.selectedTrack)) this.selectedTrack = tracks[0]?.id ?? null;
    if (this.selectedClip !== null && !doc.clips.has(this.selectedClip)) this.selectedClip = null;
    if (!doc.tracks.has(this.drumTrack)) this.drumTrack = tracks.find((t) => t.kind === "drums")?.id ?? null;
    if (!doc.tracks.has(this.synthTrack)) this.synthTrack = tracks.find((t) => t.kind !== "drums")?.id ?? null;
  }

  /** Which peers look at which track (from their cursors). */
  peersByTrack() {
    const out = new Map();
    const doc = this.session.project;
    for (const peer of this.session.peers.values()) {
      const c = peer.cursor;
      if (!c) continue;
      const track = c.track ?? doc.patterns.get(c.pattern)?.track;
      if (!track) continue;
      if (!out.has(track)) out.set(track, []);
      out.get(track).push(peer);
    }
    return out;
  }

  render() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.renderNow();
    });
  }

  renderNow() {
    if (!this.editor) return;
    this.fixSelection();
    this.transport.render();
    this.tracks.render();
    this.arrangement.render();
    this.steps.render();
    this.roll.render();
    this.mixer.render();
    this.people.render();
    const reason = this.editBlockReason();
    this.blockBadge.hidden = reason === null;
    this.blockBadge.textContent = reason ?? "";
    if (document.activeElement !== this.projectName) this.projectName.value = this.session.project.project.name;
    this.projectName.disabled = reason !== null;
    this.projectName.title = reason ?? "Project name (everyone sees it; Enter to save)";
    this.undoButton.disabled = reason !== null;
    this.redoButton.disabled = reason !== null;
    this.undoButton.title = reason ?? "Undo my last edit (Ctrl/Cmd-Z)";
    this.redoButton.title = reason ?? "Redo (Ctrl/Cmd-Shift-Z)";
    this.rendered = (this.rendered ?? 0) + 1;
  }

  /** Per animation frame: the playhead in the grid and the roll. */
  tick() {
    let position = null;
    try {
      const timeline = this.session.timeline();
      const now = this.session.serverNow();
      if (timeline.rolling(now)) position = timeline.beatAt(now);
    } catch {
      position = null;
    }
    this.arrangement.tick(position);
    this.steps.tick(position);
    this.roll.tick(position);
    this.mixer.tick();
  }

  showState(state, reason, code = null) {
    if (!this.editor || !this.stateBadge) return;
    this.stateBadge.textContent = STATE_TEXT[state] ?? state;
    this.stateBadge.dataset.state = state;
    this.stateBadge.title = reason || "";
    if (state !== "closed") return;
    if (TOKEN_REFUSED.includes(code)) {
      // the token stopped working (expired, say): nothing to rejoin with
      const { session, name, color } = this.session.options;
      forget(session);
      this.unmountEditor();
      this.showJoin({ session, token: "", name, color }, `Disconnected: ${reason}`);
    } else if (reason !== "left the session") {
      this.toasts.show(`Disconnected: ${reason}`, "error");
    }
    this.render();
  }

  /** Take the editor down: its frame loops, its sound, the dialog. */
  unmountEditor() {
    const editor = this.editor;
    if (!editor) return;
    editor.alive = false;
    editor.midi?.close();
    editor.sound?.close();
    this.transport?.destroy();
    this.arrangement?.destroy();
    this.history?.destroy();
    this.history = null;
    this.help?.remove();
    this.bounce?.remove();
    this.bounce = null;
    this.dropImport?.remove();
    this.blame?.remove();
    this.editor = null;
    this.help = null;
    this.stateBadge = null;
  }

  exportJson() {
    const s = this.session;
    download(`${s.options.session}.json`, projectJson(s.project.toData(), s.version));
  }

  exportMidi() {
    const s = this.session;
    download(`${s.options.session}.mid`, projectMidi(s.project.toData()), "audio/midi");
  }

  // -- the test hook ------------------------------------------------------------

  exposeDebugHook() {
    const app = this;
    const s = () => app.session;
    window.backline = Object.freeze({
      get session() { return s(); },
      state: () => s().state,
      clientId: () => s().clientId,
      version: () => s().version,
      project: () => s().project.toData(),
      pending: () => s().replica.pending.length + s().outbox.size,
      transport: () => ({ ...s().project.project.transport }),
      serverNow: () => s().serverNow(),
      clock: () => ({ offset: s().clock.offset, rtt: s().clock.rtt, synced: s().clock.synced }),
      barBeatAt: (t) => String(s().timeline().barBeatAt(t)),
      position: () => app.transport?.position.textContent ?? null,
      peers: () => s().peerList().map((p) => ({ ...p })),
      exportJson: () => projectJson(s().project.toData(), s().version),
      exportMidi: () => Array.from(projectMidi(s().project.toData())),
      renders: () => app.rendered ?? 0,
      selectedClip: () => app.selectedClip,
      history: () => app.history ?? null,
      editBlockReason: () => app.editBlockReason(),
      roll: () => app.roll ?? null,
      mounted: () => app.editor !== null,
      drop: (offlineMs) => s().drop(offlineMs),
      textOn,
    });
  }
}

new App(document.getElementById("app"));
