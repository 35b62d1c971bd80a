/**
 * Bounce: the song rendered by the server to 48 kHz 24-bit WAV files (the
 * mix, and a stem per track with or without its effects), with a progress
 * bar, the result's loudness and true peak, and the files to download; the
 * session's earlier bounces below.
 *
 * The render is the server's (`POST /renders/<session>`, `media/render.py`),
 * from the same samples and the same chain the page plays, so the file is
 * what everyone heard. The token goes in an `Authorization` header (the
 * server takes a render request no other way); downloads are fetched with it
 * too and handed to the browser as files.
 *
 * @module ui/bounce
 */

import { h } from "./dom.js";

const POLL_MS = 250;

const fmtSeconds = (s) => `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, "0")}`;
const fmtBytes = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${Math.ceil(n / 1024)} kB`);

/** A failed HTTP answer as an Error with the server's code and message. */
async function failure(answer) {
  let body = {};
  try {
    body = await answer.json();
  } catch {
    // no JSON: the status says it
  }
  const error = new Error(body.message ?? `HTTP ${answer.status}`);
  /** @type {any} */ (error).code = body.code ?? String(answer.status);
  return error;
}

export class Bounce {
  /**
   * @param {HTMLElement} root
   * @param {{session: string, base: () => string, token: () => string, reason: () => (string | null), toast: (text: string, kind?: string) => void}} where
   */
  constructor(root, where) {
    this.where = where;
    this.job = null;
    this.running = false;
    const close = h("button", { type: "button", class: "dialog-close", "aria-label": "Close", onclick: () => this.close() }, "×");
    this.stems = ["none", "dry", "wet"].map((value) => h("input", { type: "radio", name: "bounce-stems", value, checked: value === "none" }));
    const labels = { none: "Mix only", dry: "Mix + a stem per track (dry: no effects)", wet: "Mix + a stem per track (with its reverb and delay)" };
    this.start = h("button", { type: "button", class: "primary", onclick: () => this.run() }, "Bounce");
    this.progress = h("progress", { max: 1, value: 0, "aria-label": "Bounce progress" });
    this.stage = h("span", { class: "bounce-stage", role: "status", "aria-live": "polite" });
    this.result = h("div", { class: "bounce-result" });
    this.earlier = h("ul", { class: "bounce-earlier", "aria-label": "Earlier bounces" });
    this.dialog = h("dialog", { class: "shortcuts-dialog bounce-dialog", "aria-labelledby": "bounce-title" }, h("div", { class: "dialog-body" },
      h("div", { class: "dialog-head" }, h("h2", { id: "bounce-title" }, "Bounce the song"), close),
      h("p", { class: "hint" }, "The server renders the arrangement from bar 1 to its end, with every instrument, EQ, compressor, send, return and the master limiter: 48 kHz, 24-bit WAV."),
      h("fieldset", { class: "bounce-stems" }, h("legend", {}, "Files"),
        this.stems.map((input) => h("label", {}, input, " ", labels[input.value]))),
      h("div", { class: "row bounce-run" }, this.start, this.progress, this.stage),
      this.result,
      h("h3", {}, "Earlier bounces"),
      this.earlier,
    ));
    this.dialog.addEventListener("click", (e) => {
      if (e.target === this.dialog) this.close();
    });
    root.append(this.dialog);
  }

  get open() {
    return this.dialog.open;
  }

  show() {
    const reason = this.where.reason();
    this.start.disabled = reason !== null || this.running;
    this.start.title = reason ?? "Render now";
    if (!this.dialog.open) this.dialog.showModal();
    this.list().catch(() => {});
  }

  close() {
    this.dialog.close();
  }

  remove() {
    this.dialog.remove();
  }

  url(path) {
    return `${this.where.base()}/renders/${encodeURIComponent(this.where.session)}${path}`;
  }

  async request(method, path) {
    const answer = await fetch(this.url(path), { method, headers: { Authorization: `Bearer ${this.where.token()}` } });
    if (!answer.ok) throw await failure(answer);
    return answer;
  }

  /** Start a render and follow it to the end. */
  async run() {
    if (this.running) return;
    const stems = this.stems.find((i) => i.checked)?.value ?? "none";
    this.running = true;
    this.start.disabled = true;
    this.result.replaceChildren();
    this.progress.value = 0;
    this.stage.textContent = "Queued…";
    try {
      let job = await (await this.request("POST", `?stems=${stems}`)).json();
      while (job.status !== "done" && job.status !== "failed") {
        this.show_(job);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS)); // an HTTP resource: polled
        job = await (await this.request("GET", `/${job.id}`)).json();
      }
      this.show_(job);
      if (job.status === "failed") throw Object.assign(new Error(job.error?.message ?? "the render failed"), { code: job.error?.code ?? "internal" });
      this.job = job;
      this.showResult(job);
      this.where.toast(`Bounced: ${fmtSeconds(job.seconds)}, ${job.lufs.toFixed(1)} LUFS, ${job.true_peak_db.toFixed(1)} dBTP`);
      this.list().catch(() => {});
    } catch (error) {
      this.stage.textContent = `Failed (${error.code ?? "error"}): ${error.message}`;
      this.stage.classList.add("error");
    } finally {
      this.running = false;
      this.start.disabled = this.where.reason() !== null;
    }
  }

  show_(job) {
    this.stage.classList.remove("error");
    this.progress.value = job.progress ?? 0;
    const words = { queued: "Queued…", running: `Rendering (${job.stage})… ${Math.round((job.progress ?? 0) * 100)}%`, done: "Done", failed: "Failed" };
    this.stage.textContent = words[job.status] ?? job.status;
  }

  showResult(job) {
    this.result.replaceChildren(
      h("p", { class: "bounce-summary" },
        `${fmtSeconds(job.seconds)} · ${job.lufs.toFixed(1)} LUFS integrated · true peak ${job.true_peak_db.toFixed(1)} dBTP · version ${job.version}`),
      h("ul", { class: "bounce-files" }, job.files.map((file) =>
        h("li", {}, h("button", { type: "button", class: "download", onclick: () => this.download(job, file.name) }, `Download ${file.name}`),
          h("span", { class: "hint" }, file.bytes ? ` ${fmtBytes(file.bytes)}` : "")))),
    );
  }

  /** Fetch a file with the token and hand it to the browser as a download. */
  async download(job, name) {
    try {
      const blob = await (await this.request("GET", `/${job.id}/${name}`)).blob();
      const link = h("a", { href: URL.createObjectURL(blob), download: `${this.where.session}-v${job.version}-${name}` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    } catch (error) {
      this.where.toast(`Download failed (${error.code ?? "error"}): ${error.message}`, "error");
    }
  }

  /** The session's earlier bounces, newest first. */
  async list() {
    const { renders } = await (await this.request("GET", "")).json();
    const done = renders.filter((r) => r.status === "done").sort((a, b) => b.created - a.created);
    this.earlier.replaceChildren(...(done.length ? done.map((job) =>
      h("li", {}, h("button", { type: "button", class: "link", onclick: () => this.showResult(job) },
        `${new Date(job.created * 1000).toLocaleString()} · v${job.version} · ${job.stems === "none" ? "mix" : `mix + ${job.stems} stems`} · ${job.lufs.toFixed(1)} LUFS`)))
      : [h("li", { class: "hint" }, "None yet.")]));
  }
}
