/**
 * Recording the audio room from the page: owners start and stop the server's
 * multitrack recording (`record` start/stop); everyone in the session sees
 * that it runs, who started it and for how long (consent: nobody is recorded
 * unawares); owners list the session's takes and download their files.
 *
 * The recording itself is the server's (`server/audio/recording.py`): one WAV
 * per participant and the mix, aligned on the server clock. The state comes
 * from the `recording` message every member gets (and right after `welcome`
 * while one runs); the list from `GET /recordings/<session>` with the token.
 *
 * @module sound/recording
 */

import { CLIENT_TYPES, ROLES, SERVER_TYPES } from "../protocol.js";

/** @param {string} tag @param {Record<string, string>} [attrs] @param {Array<Node | string>} [children] */
function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

const clockText = (seconds) => `${Math.floor(seconds / 60)}:${String(Math.floor(seconds % 60)).padStart(2, "0")}`;

/**
 * @param {import("./panel.js").SoundContext & {session: () => string}} ctx
 * @returns {{el: HTMLElement, state: () => any}}
 */
export function mountRecording(ctx) {
  /** @type {{active: boolean, id: string, by: string | null, time: number} | null} */
  let current = null;
  const banner = el("p", { class: "sound-recording", role: "status", "aria-live": "polite", "data-sound": "recording", hidden: "" });
  const button = el("button", { type: "button", class: "sound-record", "aria-pressed": "false", "data-sound": "record" }, ["● Record"]);
  const listButton = el("button", { type: "button", class: "sound-recordings-show", "data-sound": "recordings" }, ["Recordings"]);
  const list = el("ul", { class: "sound-recordings", "aria-label": "Recordings of this session", hidden: "" });
  const isOwner = () => ctx.me().role === ROLES.OWNER;

  const nameOf = (client) => {
    if (client === ctx.me().client) return "you";
    return ctx.peers().find((p) => p.client === client)?.name ?? "an owner";
  };

  function show() {
    const owner = isOwner();
    button.hidden = !owner;
    listButton.hidden = !owner;
    if (!owner) list.hidden = true;
    const active = current?.active === true;
    button.setAttribute("aria-pressed", String(active));
    button.textContent = active ? "■ Stop recording" : "● Record";
    button.title = active ? "Stop the recording (its files are then listed below)" : "Record the audio room on the server: one WAV per participant and the mix (everyone sees it)";
    banner.hidden = !active;
    if (active && current) {
      const seconds = Math.max(0, (ctx.serverNow() - current.time) / 1e6);
      const text = `● Recording the audio room — started by ${nameOf(current.by)}, ${clockText(seconds)}`;
      if (banner.textContent !== text) banner.textContent = text;
    }
  }

  ctx.on(SERVER_TYPES.RECORDING, (message) => {
    current = message.active ? { active: true, id: message.id, by: message.by, time: message.time } : null;
    show();
    if (!message.active && !list.hidden) refresh().catch(() => {});
  });
  ctx.on(SERVER_TYPES.WELCOME, () => {
    current = null; // a running recording is sent again right after the welcome
    show();
  });
  ctx.on(SERVER_TYPES.PRESENCE, show); // a role may have changed
  ctx.onChange(show);
  button.addEventListener("click", () => {
    ctx.send({ type: CLIENT_TYPES.RECORD, action: current?.active ? "stop" : "start" });
  });
  listButton.addEventListener("click", () => {
    list.hidden = !list.hidden;
    if (!list.hidden) refresh().catch((error) => list.replaceChildren(el("li", { class: "sound-hint" }, [`Could not list the recordings: ${error.message}`])));
  });

  async function request(path) {
    const answer = await fetch(`${ctx.http()}/recordings/${encodeURIComponent(ctx.session())}${path}`, {
      headers: { Authorization: `Bearer ${ctx.token()}` },
    });
    if (!answer.ok) {
      let message = `HTTP ${answer.status}`;
      try {
        message = (await answer.json()).message ?? message;
      } catch {
        // not JSON
      }
      throw new Error(message);
    }
    return answer;
  }

  async function download(take, name) {
    const blob = await (await request(`/${take.id}/${name}`)).blob();
    const link = el("a", { href: URL.createObjectURL(blob), download: `${ctx.session()}-${take.id}-${name}` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  }

  /** The session's recordings, newest first, each with its files. */
  async function refresh() {
    const { recordings } = await (await request("")).json();
    const takes = [...recordings].reverse();
    list.replaceChildren(...(takes.length ? takes.map((take) => {
      const seconds = take.samples ? take.samples / take.sample_rate : null;
      const when = take.started_at ? new Date(take.started_at).toLocaleString() : take.id;
      const files = el("div", { class: "sound-recording-files" }, take.files.map((file) => {
        const b = el("button", { type: "button", class: "download" }, [file.name]);
        b.addEventListener("click", () => download(take, file.name).catch((error) => { b.title = error.message; }));
        return b;
      }));
      return el("li", { "data-recording": take.id }, [
        el("span", {}, [`${when}${seconds !== null ? ` · ${clockText(seconds)}` : " · recording…"} · ${take.participants.length} ${take.participants.length === 1 ? "participant" : "participants"}`]),
        files,
      ]);
    }) : [el("li", { class: "sound-hint" }, ["No recordings yet."])]));
  }

  const root = el("div", { class: "sound-recorder" }, [banner, el("div", { class: "sound-row" }, [button, listButton]), list]);
  // the elapsed time moves on while it runs
  const timer = setInterval(() => {
    if (current?.active) show();
  }, 500);
  show();
  return {
    el: root,
    state: () => current,
    refresh,
    close: () => clearInterval(timer),
  };
}
