/**
 * The sound panel: metronome and in-browser playback on the shared timeline,
 * and the audio room (input choice, join/leave, the track my audio is, whose
 * mute and solo then apply to me in the room, a level per participant, input
 * and output meters).
 *
 * The page calls {@link mountSoundPanel} once after joining; everything here
 * talks to the session only through the `ctx` it is given.
 *
 * The project is heard by default ("Monitor", a per-listener choice kept in
 * localStorage): browsers only start audio after a user gesture, so the
 * AudioContext is made at once when the page has had one (the join form's
 * click), else on the first click or key anywhere, the Play press included
 * (a capturing listener runs before the press starts the transport). The
 * count-in is heard as clicks whenever monitoring (sound/countin.js).
 *
 * @module sound/panel
 */

import { CLIENT_TYPES, SERVER_TYPES } from "../protocol.js";
import { pref, setPref } from "../ui/prefs.js";
import { RATE } from "../dsp.js";
import { CountIn } from "./countin.js";
import { Metronome } from "./metronome.js";
import { Playback } from "./playback.js";
import { AudioRoom, MAX_GAIN } from "./room.js";
import { mountRecording } from "./recording.js";
import { SampleLibrary } from "./samples.js";
import { ContextClock, Scheduler } from "./scheduler.js";

/**
 * What the page gives the panel.
 * @typedef {object} SoundContext
 * @property {(msg: object) => void} send
 * @property {() => number} serverNow server clock, µs
 * @property {() => (import("../timeline.js").Timeline | null)} timeline null while stopped
 * @property {() => import("./playback.js").Project} project snapshot form
 * @property {() => {client: string, name: string, color: string, role: string}} me
 * @property {() => string} http the server's HTTP origin (instruments, renders)
 * @property {() => string} token the session token (a Bearer header for HTTP)
 * @property {() => string} session the session's name
 * @property {() => Array<{client: string, name: string, color?: string, online?: boolean, audio?: boolean, level?: number}>} peers
 * @property {(type: string, fn: (msg: any) => void) => void} on
 * @property {(fn: () => void) => void} onChange
 * @property {() => RTCIceServer[]} [iceServers] the STUN/TURN servers of the latest welcome
 */

/** Meters show -60..0 dBFS. */
const FLOOR_DB = -60;

/**
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {Array<Node | string>} [children]
 * @returns {HTMLElement}
 */
function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

/** @param {number} db */
function meterValue(db) {
  return Number.isFinite(db) ? Math.max(FLOOR_DB, Math.min(0, db)) : FLOOR_DB;
}

/**
 * A toggle button (aria-pressed), keyboard-operable as any button.
 * @param {string} label
 * @param {string} name
 * @param {(on: boolean) => void | Promise<void>} onToggle
 * @param {string} [title]
 */
function toggle(label, name, onToggle, title = "") {
  const button = /** @type {HTMLButtonElement} */ (
    el("button", { type: "button", class: "sound-toggle", "aria-pressed": "false", "data-sound": name, title }, [label])
  );
  button.addEventListener("click", async () => {
    const on = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", String(on));
    try {
      await onToggle(on);
    } catch (error) {
      button.setAttribute("aria-pressed", String(!on));
      throw error;
    }
  });
  return button;
}

/**
 * A level meter with a visible dB readout.
 * @param {string} label
 * @param {string} name
 */
function levelMeter(label, name) {
  const id = `sound-meter-${name}`;
  const meter = /** @type {HTMLMeterElement} */ (
    el("meter", { id, min: String(FLOOR_DB), max: "0", low: "-40", high: "-6", optimum: "-20", value: String(FLOOR_DB), "data-sound": name })
  );
  const readout = el("span", { class: "sound-db", "aria-hidden": "true" }, ["–∞"]);
  const row = el("div", { class: "sound-meter" }, [el("label", { for: id }, [label]), meter, readout]);
  let shown = "";
  return {
    row,
    /** @param {number} db (the DOM is touched only when what it shows changes: this runs every frame) */
    set(db) {
      const text = Number.isFinite(db) ? `${db.toFixed(0)} dB` : "–∞";
      if (text === shown) return;
      shown = text;
      meter.value = meterValue(db);
      readout.textContent = text;
    },
  };
}

/**
 * Render the sound panel into `element` and wire it to the session.
 * @param {HTMLElement} element
 * @param {SoundContext} ctx
 */
export function mountSoundPanel(element, ctx) {
  /** @type {AudioContext | null} */
  let audio = null;
  /** @type {Scheduler | null} */
  let scheduler = null;
  /** @type {Metronome | null} */
  let metronome = null;
  /** @type {Playback | null} */
  let playback = null;
  /** @type {Promise<void> | null} the monitor being started (worklets loading) */
  let starting = null;
  /** @type {SampleLibrary | null} */
  let library = null;
  /** @type {CountIn | null} */
  let countIn = null;
  /** @type {AudioRoom | null} */
  let room = null;
  /** @type {Array<[string, (msg: any) => void]>} messages that arrive before the room exists */
  const roomHandlers = [];
  const status = el("p", { class: "sound-status", role: "status", "aria-live": "polite" }, ["Audio room: not joined"]);

  /** The shared AudioContext, made (or resumed) inside a user gesture. */
  function context() {
    if (audio === null) {
      // the rate every render, bot and room uses: the chain's filters are the same filters
      audio = new AudioContext({ latencyHint: "interactive", sampleRate: RATE });
      library = new SampleLibrary(audio, { base: ctx.http(), token: ctx.token() });
      library.onProgress(showInstruments);
      const clock = new ContextClock(audio, ctx.serverNow);
      scheduler = new Scheduler({ context: audio, clock, timeline: ctx.timeline });
      audio.addEventListener("statechange", showHearing);
    }
    if (audio.state === "suspended") audio.resume().catch(() => {});
    return audio;
  }

  function roomOf() {
    if (room === null) {
      room = new AudioRoom({
        context: context(),
        send: ctx.send,
        iceServers: ctx.iceServers,
        on: (type, fn) => roomHandlers.push([type, fn]),
        onState: (state, detail) => {
          const words = {
            idle: "not joined",
            starting: "opening the input…",
            connecting: "connecting…",
            connected: "connected",
            reconnecting: "reconnecting…",
            failed: "failed",
          };
          status.textContent = `Audio room: ${words[state]}${detail ? ` (${detail})` : ""}`;
          joinButton.textContent = room?.joined || state === "starting" ? "Leave audio" : "Join audio";
          joinButton.setAttribute("aria-pressed", String(state !== "idle" && state !== "failed"));
        },
      });
    }
    return room;
  }
  for (const type of [SERVER_TYPES.RTC, SERVER_TYPES.WELCOME]) {
    ctx.on(type, (msg) => {
      for (const [t, fn] of roomHandlers) if (t === type) fn(msg);
    });
  }

  function runScheduler() {
    if (scheduler === null) return;
    if (metronome !== null || playback !== null) scheduler.start();
    else scheduler.stop();
  }

  const metronomeButton = toggle("Metronome", "metronome", (on) => {
    const c = context();
    if (on) {
      metronome = new Metronome(c, c.destination);
      scheduler?.add("metronome", metronome);
    } else {
      scheduler?.remove("metronome");
      metronome?.output.disconnect();
      metronome = null;
    }
    runScheduler();
  });

  /** Hear the project (and the count-in) here: needs a gesture, or one the page already had. */
  function startMonitor() {
    if (playback !== null || starting !== null) return starting ?? Promise.resolve();
    const c = context();
    const lib = /** @type {SampleLibrary} */ (library);
    starting = (async () => {
      await lib.index();
      showInstruments();
      const made = await Playback.create(c, c.destination, { library: lib });
      if (starting === null) return made.disconnect(); // switched off while it loaded
      playback = made;
      playback.onReady = () => scheduler?.reschedule(); // samples came in: play the window again
      playback.update(ctx.project());
      scheduler?.add("playback", playback);
      countIn = new CountIn(c, /** @type {Scheduler} */ (scheduler).clock, c.destination);
      countIn.follow(ctx.timeline(), ctx.serverNow());
      runScheduler();
      showHearing();
    })();
    starting.catch((error) => {
      instruments.textContent = `Playback unavailable: ${error.message}`;
    }).finally(() => { starting = null; });
    return starting;
  }

  function stopMonitor() {
    starting = null;
    scheduler?.remove("playback");
    playback?.disconnect();
    playback = null;
    countIn?.close();
    countIn = null;
    runScheduler();
    showHearing();
  }

  /** Which instruments play: the server's SoundFont (and how far its samples loaded), or the synth. */
  const instruments = el("p", { class: "sound-instruments", role: "status", "data-sound": "instruments" });
  function showInstruments() {
    const info = library?.info;
    instruments.classList.toggle("sound-fallback", info != null && !info.available);
    if (!info) {
      instruments.textContent = "";
    } else if (!info.available) {
      instruments.textContent = `Built-in synth: the server has no SoundFont (${info.reason}).`;
    } else {
      const { loaded, wanted } = /** @type {SampleLibrary} */ (library).progress;
      instruments.textContent = wanted > loaded
        ? `Loading instruments… ${loaded}/${wanted}`
        : `Instruments: ${info.soundfont} (General MIDI)`;
    }
  }

  const playButton = toggle("Monitor", "playback", (on) => {
    setPref("monitor", on);
    if (on) startMonitor();
    else stopMonitor();
  }, "Hear the project in this browser (just you: nothing is sent)");
  const hearing = el("p", { class: "sound-hint", role: "status" });

  /** Say when the project would be heard but the browser waits for a gesture. */
  function showHearing() {
    const waiting = pref("monitor") && (audio === null || audio.state !== "running");
    hearing.textContent = waiting ? "Click anywhere or press a key to hear the project." : "";
    hearing.hidden = !waiting;
  }

  // The first gesture anywhere makes (or resumes) the context; capturing, so it
  // runs before the click or key that presses Play.
  const gesture = () => {
    if (pref("monitor")) startMonitor();
    if (audio !== null && audio.state === "suspended") audio.resume().catch(() => {});
    showHearing();
  };
  window.addEventListener("pointerdown", gesture, true);
  window.addEventListener("keydown", gesture, true);
  if (pref("monitor")) {
    playButton.setAttribute("aria-pressed", "true");
    if (navigator.userActivation?.hasBeenActive) startMonitor(); // e.g. the join form's click
  }
  showHearing();

  ctx.onChange(() => {
    if (playback !== null) {
      playback.update(ctx.project());
      scheduler?.reschedule(); // edits are heard from the next window on
    }
    countIn?.follow(ctx.timeline(), ctx.serverNow());
  });

  // -- the audio room ---------------------------------------------------------

  const inputSelect = /** @type {HTMLSelectElement} */ (
    el("select", { id: "sound-input", "data-sound": "input" }, [el("option", { value: "" }, ["Default input"])])
  );
  async function listInputs() {
    const inputs = await AudioRoom.inputs();
    const chosen = inputSelect.value;
    inputSelect.replaceChildren(el("option", { value: "" }, ["Default input"]));
    inputs.forEach((device, i) => {
      if (device.deviceId && device.deviceId !== "default") {
        inputSelect.append(el("option", { value: device.deviceId }, [device.label || `Input ${i + 1}`]));
      }
    });
    inputSelect.value = [...inputSelect.options].some((o) => o.value === chosen) ? chosen : "";
  }
  navigator.mediaDevices?.addEventListener?.("devicechange", () => listInputs());
  listInputs().catch(() => {});
  inputSelect.addEventListener("change", () => {
    if (room?.joined) join(); // switch input: offer again with the new one
  });

  const joinButton = /** @type {HTMLButtonElement} */ (
    el("button", { type: "button", class: "sound-join", "aria-pressed": "false", "data-sound": "join" }, ["Join audio"])
  );
  async function join() {
    try {
      await roomOf().join(inputSelect.value);
      await listInputs(); // device labels appear once permission is given
    } catch (error) {
      status.textContent = `Audio room: ${/** @type {Error} */ (error).message}`;
    }
  }
  joinButton.addEventListener("click", () => {
    if (room?.joined) room.leave();
    else join();
  });

  // -- which track my audio is: the project's mute/solo of it then apply in the room

  const trackSelect = /** @type {HTMLSelectElement} */ (
    el("select", { id: "sound-track", "data-sound": "track" }, [el("option", { value: "" }, ["No track"])])
  );
  function listTracks() {
    const chosen = trackSelect.value;
    const tracks = ctx.project().tracks;
    trackSelect.replaceChildren(
      el("option", { value: "" }, ["No track"]),
      ...tracks.map((t) => el("option", { value: t.id }, [t.name])),
    );
    trackSelect.value = tracks.some((t) => t.id === chosen) ? chosen : "";
    if (chosen && trackSelect.value !== chosen) sendTrack(); // the track was removed
  }
  function sendTrack() {
    ctx.send({ type: CLIENT_TYPES.PRESENCE, state: { track: trackSelect.value || null } });
  }
  trackSelect.addEventListener("change", sendTrack);
  ctx.onChange(listTracks);
  ctx.on(SERVER_TYPES.WELCOME, () => {
    if (trackSelect.value) sendTrack(); // a reconnected session starts unbound
  });
  listTracks();

  const recorder = mountRecording(ctx);

  const inputMeter = levelMeter("Input", "input-level");
  const outputMeter = levelMeter("Mix", "output-level");

  // -- one level slider per other participant ---------------------------------

  const peerList = el("ul", { class: "sound-peers", "aria-label": "Participants' levels in my mix" });
  /** @type {Map<string, {row: HTMLElement, name: HTMLElement, slider: HTMLInputElement, level: HTMLElement}>} */
  const peerRows = new Map();

  function renderPeers() {
    const me = ctx.me().client;
    const others = ctx.peers().filter((p) => p.client !== me && p.online !== false);
    const present = new Set(others.map((p) => p.client));
    for (const [client, row] of peerRows) {
      if (!present.has(client)) {
        row.row.remove();
        peerRows.delete(client);
      }
    }
    for (const peer of others) {
      let row = peerRows.get(peer.client);
      if (row === undefined) {
        const id = `sound-gain-${peer.client.replace(/[^A-Za-z0-9_-]/g, "_")}`;
        const slider = /** @type {HTMLInputElement} */ (
          el("input", { id, type: "range", min: "0", max: String(MAX_GAIN), step: "0.05", value: String(room?.gains[peer.client] ?? 1), "data-client": peer.client })
        );
        const name = el("label", { for: id, class: "sound-peer-name" });
        const level = el("span", { class: "sound-db" });
        slider.addEventListener("input", () => {
          const gain = Number(slider.value);
          slider.setAttribute("aria-valuetext", `${Math.round(gain * 100)} percent`);
          roomOf().setGain(peer.client, gain);
        });
        row = { row: el("li", { class: "sound-peer" }, [name, slider, level]), name, slider, level };
        peerRows.set(peer.client, row);
        peerList.append(row.row);
      }
      row.name.textContent = peer.name;
      row.name.style.setProperty("--peer-color", peer.color ?? "currentColor");
      row.slider.setAttribute("aria-label", `Level of ${peer.name} in my mix`);
      row.level.textContent = peer.audio
        ? typeof peer.level === "number" && peer.level > -100
          ? `${peer.level.toFixed(0)} dB`
          : "in room"
        : "no audio";
    }
  }
  ctx.on(SERVER_TYPES.PRESENCE, renderPeers);
  ctx.on(SERVER_TYPES.WELCOME, renderPeers);
  renderPeers();

  // -- layout -------------------------------------------------------------------

  if (!document.querySelector("link[data-sound-css]")) {
    const css = el("link", { rel: "stylesheet", href: new URL("./sound.css", import.meta.url).href, "data-sound-css": "" });
    document.head.append(css);
  }
  element.classList.add("sound-panel");
  element.replaceChildren(
    el("h2", {}, ["Sound"]),
    el("div", { class: "sound-row" }, [playButton, metronomeButton]),
    hearing,
    instruments,
    el("div", { class: "sound-row" }, [el("label", { for: "sound-input" }, ["Audio input"]), inputSelect, joinButton]),
    el("div", { class: "sound-row" }, [el("label", { for: "sound-track" }, ["My audio is track"]), trackSelect]),
    status,
    recorder.el,
    inputMeter.row,
    outputMeter.row,
    peerList,
  );

  // meters: redrawn each animation frame while in the room
  function drawMeters() {
    if (!element.isConnected) return;
    inputMeter.set(room?.inputLevel() ?? -Infinity);
    outputMeter.set(room?.outputLevel() ?? -Infinity);
    requestAnimationFrame(drawMeters);
  }
  requestAnimationFrame(drawMeters);

  const api = {
    get context() { return audio; },
    get scheduler() { return scheduler; },
    get room() { return room; },
    get playback() { return playback; },
    get library() { return library; },
    /** Hear a mixer value being set before it is an edit (see Playback.preview). */
    preview(id, fields) { playback?.preview(id, fields); },
    /** Meter levels (Playback.levels), or null while the project is not heard. */
    levels() { return playback?.levels() ?? null; },
    get metronome() { return metronome; },
    get countIn() { return countIn; },
    get recorder() { return recorder; },
    /** Silence everything and let go of the context (the page left the session). */
    close() {
      window.removeEventListener("pointerdown", gesture, true);
      window.removeEventListener("keydown", gesture, true);
      recorder.close();
      scheduler?.stop();
      countIn?.close();
      room?.leave()?.catch?.(() => {});
      audio?.close().catch(() => {});
      element.replaceChildren();
    },
  }; // prettier-ignore
  // a handle for debugging and for the browser tests
  /** @type {any} */ (globalThis).backlineSound = api;
  return api;
}
