/**
 * The Backline web client: join a session, then the shared editor.
 *
 * The join link the server prints (`/#session=jam&token=...`) fills the join
 * form; a name and colour are remembered in localStorage. Everything shown is
 * drawn from the session's live mirror (net.js) and redrawn on each change,
 * at most once per animation frame.
 *
 * `window.backline` is a small read-only hook for tests and the curious.
 *
 * @module app
 */

import { LIMITS, ROLES, SERVER_TYPES } from "./protocol.js";
import { Session } from "./net.js";
import { checkId } from "./ops.js";
import { h, textOn } from "./ui/dom.js";
import { Toasts } from "./ui/toast.js";
import { TransportBar } from "./ui/transport.js";
import { TrackList } from "./ui/tracks.js";
import { StepSequencer } from "./ui/steps.js";
import { PianoRoll } from "./ui/pianoroll.js";
import { People } from "./ui/people.js";
import { download, projectJson } from "./ui/export.js";
import { projectMidi } from "./ui/midi.js";

const COLORS = ["#e4572e", "#17bebb", "#ffc914", "#76b041", "#7c5cff", "#ff6fb5", "#2e86de"];
const STATE_TEXT = { connecting: "Connecting…", connected: "Connected", reconnecting: "Reconnecting…", closed: "Disconnected" };

// The join link carries session and token in the fragment (#session=…&token=…), which
// browsers never send to a server, its logs or a Referer; never from the query string.
function joinParams() {
  const params = new URLSearchParams(location.hash.slice(1));
  return {
    session: params.get("session") ?? "",
    token: params.get("token") ?? "",
    name: params.get("name") ?? localStorage.getItem("backline.name") ?? "",
    color: params.get("color") ?? localStorage.getItem("backline.color") ?? COLORS[Math.floor(Math.random() * COLORS.length)],
  };
}

class App {
  constructor(root) {
    this.root = root;
    this.toasts = new Toasts(document.body);
    this.session = null;
    this.selectedTrack = null;
    this.drumTrack = null;
    this.synthTrack = null;
    this.pending = false;
    this.showJoin(joinParams());
  }

  // -- joining --------------------------------------------------------------

  showJoin(params) {
    const field = (label, input) => h("label", { class: "join-field" }, h("span", {}, label), input);
    const session = h("input", { name: "session", required: true, value: params.session, autocomplete: "off" });
    // a session name is an id: the protocol's own check (characters and length) says why not
    const checkSession = () => {
      try {
        if (session.value.trim()) checkId(session.value.trim(), "session");
        session.setCustomValidity("");
      } catch (err) {
        session.setCustomValidity(err.message);
      }
    };
    session.addEventListener("input", checkSession);
    checkSession();
    const token = h("input", { name: "token", type: "password", required: true, value: params.token, autocomplete: "off" });
    const name = h("input", { name: "name", required: true, maxlength: LIMITS.max_name_len, value: params.name, autocomplete: "nickname" });
    const color = h("input", { name: "color", type: "color", value: params.color });
    const error = h("p", { class: "join-error", role: "alert" });
    const button = h("button", { type: "submit", class: "primary" }, "Join session");
    const form = h("form", { class: "join", "aria-labelledby": "join-title" },
      h("h1", { id: "join-title" }, "Backline"),
      h("p", { class: "lede" }, "Make music together, live. Join a session with the link you were sent, or paste its name and token."),
      field("Session", session), field("Token", token), field("Your name", name), field("Your colour", color),
      button, error);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      button.disabled = true;
      error.textContent = "";
      localStorage.setItem("backline.name", name.value);
      localStorage.setItem("backline.color", color.value);
      const status = (text) => { error.textContent = text; };
      try {
        await this.join({ session: session.value.trim(), token: token.value.trim(), name: name.value.trim(), color: color.value }, status);
      } catch (err) {
        error.textContent = `Could not join: ${err.message}`;
        button.disabled = false;
      }
    });
    this.root.replaceChildren(form);
    (params.session && params.token ? name : session).focus();
  }

  async join(options, status = () => {}) {
    const session = new Session(options);
    this.session = session;
    this.exposeDebugHook();
    const unwatch = session.on("state", ({ state, reason }) => {
      if (state !== "connected") status(`${STATE_TEXT[state] ?? state}${reason ? ` (${reason})` : ""}`);
    });
    session.on("state", ({ state, reason }) => this.showState(state, reason));
    try {
      await session.connect();
    } finally {
      unwatch();
    }
    // keep the token out of the address bar (and out of screenshots and history)
    history.replaceState(null, "", `${location.pathname}#session=${encodeURIComponent(options.session)}`);
    this.mountEditor();
  }

  // -- the editor -------------------------------------------------------------

  mountEditor() {
    const s = this.session;
    this.stateBadge = h("span", { class: "conn", role: "status" });
    this.lockBadge = h("span", { class: "conn-locked", hidden: true }, "Read-only: locked by an owner");
    this.undoButton = h("button", { type: "button", onclick: () => this.undo(false), "aria-keyshortcuts": "Control+Z Meta+Z", title: "Undo (Ctrl/Cmd-Z)" }, "Undo");
    this.redoButton = h("button", { type: "button", onclick: () => this.undo(true), "aria-keyshortcuts": "Control+Shift+Z Meta+Shift+Z", title: "Redo (Ctrl/Cmd-Shift-Z)" }, "Redo");
    const exportButton = h("button", { type: "button", onclick: () => this.exportJson() }, "Export JSON");
    const midiButton = h("button", { type: "button", onclick: () => this.exportMidi() }, "Export MIDI");
    const header = h("header", { class: "top" },
      h("div", { class: "brand" }, h("strong", {}, "Backline"), h("span", { class: "session-name" }, s.options.session)),
      h("div", { class: "row" }, this.undoButton, this.redoButton, exportButton, midiButton, this.lockBadge, this.stateBadge));
    const transport = h("div", {});
    const left = h("div", { class: "col-left" });
    const center = h("div", { class: "col-center" });
    const right = h("div", { class: "col-right" });
    this.soundSlot = h("section", { class: "panel sound", "aria-label": "Sound" });
    right.append(this.soundSlot);
    this.root.replaceChildren(header, transport, h("main", { class: "editor" }, left, center, right));
    this.transport = new TransportBar(transport, s, this);
    this.tracks = new TrackList(left, s, this);
    this.steps = new StepSequencer(center, s, this);
    this.roll = new PianoRoll(center, s, this);
    this.people = new People(right, s, this);
    this.showState(s.state, s.closeReason);

    s.on("change", () => this.render());
    s.on("peers", () => this.render());
    s.on(SERVER_TYPES.CHAT, () => this.people.renderChat());
    s.on(SERVER_TYPES.WELCOME, () => { this.render(); this.people.renderChat(); });
    s.on("rejected", (r) => this.toasts.show(`Edit refused (${r.code}): ${r.message}`, "error"));
    s.on(SERVER_TYPES.ERROR, (m) => this.toasts.show(`Server: ${m.message}`, "error"));
    document.addEventListener("keydown", (e) => this.shortcut(e));
    const frame = () => {
      this.tick();
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
    s.setPresence({ name: s.options.name, color: s.options.color, selection: [] });
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
      project: () => (cache ??= s.project.toData()),
      me: () => ({ client: s.clientId, name: s.options.name, color: s.options.color, role: s.role }),
      peers: () => s.peerList(),
      on: (type, fn) => s.on(type, fn),
      onChange: (fn) => s.on("change", fn),
    };
    try {
      const { mountSoundPanel } = await import("./sound/panel.js");
      mountSoundPanel(this.soundSlot, ctx);
    } catch (error) {
      this.soundSlot.replaceChildren(
        h("h2", {}, "Sound"),
        h("p", { class: "hint audio-unavailable" }, `Audio unavailable: ${error.message}`),
      );
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

  undo(redo) {
    const edit = this.run(() => (redo ? this.session.redo() : this.session.undo()));
    edit?.done.catch(() => {}); // a refusal is shown by the `rejected` toast
  }

  shortcut(e) {
    const target = e.target;
    const typing = target instanceof HTMLInputElement && target.type !== "range" && target.type !== "color"
      || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
    if ((e.ctrlKey || e.metaKey) && !e.altKey && (e.key === "z" || e.key === "Z" || e.key === "y")) {
      if (typing) return; // the field's own undo
      e.preventDefault();
      this.undo(e.key === "y" || e.shiftKey);
    } else if (e.key === " " && !typing && !(target instanceof HTMLButtonElement) && !target.closest?.(".roll-canvas")) {
      e.preventDefault();
      this.transport.toggle();
    }
  }

  select(trackId) {
    this.selectedTrack = trackId;
    const track = this.session.project.tracks.get(trackId);
    if (track?.kind === "drums") this.drumTrack = trackId;
    else if (track) this.synthTrack = trackId;
    this.session.setPresence({ cursor: { view: "track", track: trackId } });
    this.render();
  }

  /** Keep the selections pointing at live tracks (someone may have removed one). */
  fixSelection() {
    const doc = this.session.project;
    const tracks = doc.trackList();
    if (!doc.tracks.has(this.selectedTrack)) this.selectedTrack = tracks[0]?.id ?? null;
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
    this.fixSelection();
    this.transport.render();
    this.tracks.render();
    this.steps.render();
    this.roll.render();
    this.people.render();
    const canEdit = this.session.canEdit;
    this.lockBadge.hidden = !(this.session.locked && this.session.role !== ROLES.OWNER);
    this.undoButton.disabled = !canEdit;
    this.redoButton.disabled = !canEdit;
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
    this.steps.tick(position);
    this.roll.tick(position);
  }

  showState(state, reason) {
    if (!this.stateBadge) return;
    this.stateBadge.textContent = STATE_TEXT[state] ?? state;
    this.stateBadge.dataset.state = state;
    this.stateBadge.title = reason || "";
    if (state === "closed") this.toasts.show(`Disconnected: ${reason}`, "error");
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
      drop: () => s().drop(),
      textOn,
    });
  }
}

new App(document.getElementById("app"));
