/**
 * The track list with a mixer strip per track: select, rename, volume, pan,
 * mute, solo, remove; and adding a track.
 * @module ui/tracks
 */

import { SCHEMAS, TRACK_KINDS } from "../protocol.js";
import { h, setValue } from "./dom.js";

export class TrackList {
  constructor(root, session, app) {
    this.session = session;
    this.app = app;
    /** @type {Map<string, any>} strips by track id */
    this.strips = new Map();
    this.list = h("ul", { class: "strips", "aria-label": "Tracks" });
    this.newKind = h("select", { "aria-label": "Kind of the new track" }, TRACK_KINDS.map((k) => h("option", { value: k }, k)));
    this.addButton = h("button", { type: "button", class: "add-track", onclick: () => this.add() }, "+ Track");
    root.append(
      h("section", { class: "panel tracks", "aria-labelledby": "tracks-title" },
        h("h2", { id: "tracks-title" }, "Tracks"),
        this.list,
        h("div", { class: "row" }, this.newKind, this.addButton),
      ),
    );
  }

  add() {
    const kind = this.newKind.value;
    const count = this.session.project.trackOrder.length + 1;
    const name = kind === "drums" ? `Drums ${count}` : kind === "audio" ? `Audio ${count}` : `Synth ${count}`;
    const edit = this.app.run(() => this.session.addTrack(name, kind));
    if (edit) this.app.select(edit.id);
  }

  strip(track) {
    const id = track.id;
    const set = (field, value) => this.app.run(() => this.session.set(id, field, value));
    const s = {};
    s.select = h("button", { type: "button", class: "select", onclick: () => this.app.select(id) }, "");
    s.name = h("input", {
      class: "name", "aria-label": "Track name", maxlength: SCHEMAS.track.name.max_len,
      onchange: () => set("name", s.name.value),
      onkeydown: (e) => { if (e.key === "Enter") s.name.blur(); },
    });
    s.volume = h("input", {
      type: "range", min: SCHEMAS.track.volume.min, max: SCHEMAS.track.volume.max, step: "0.01",
      class: "volume", "aria-label": "Volume", onchange: () => set("volume", Number(s.volume.value)),
    });
    s.pan = h("input", {
      type: "range", min: SCHEMAS.track.pan.min, max: SCHEMAS.track.pan.max, step: "0.01",
      class: "pan", "aria-label": "Pan", onchange: () => set("pan", Number(s.pan.value)),
    });
    s.mute = h("button", { type: "button", class: "toggle mute", title: "Mute", onclick: () => set("mute", !this.session.project.tracks.get(id).mute) }, "M");
    s.solo = h("button", { type: "button", class: "toggle solo", title: "Solo", onclick: () => set("solo", !this.session.project.tracks.get(id).solo) }, "S");
    s.remove = h("button", { type: "button", class: "remove", title: "Remove track", onclick: () => this.app.run(() => this.session.remove(id)) }, "×");
    s.kind = h("span", { class: "kind" });
    s.peers = h("span", { class: "peer-dots", "aria-hidden": "true" });
    s.el = h("li", { class: "strip", "data-track": id },
      h("div", { class: "strip-head" }, s.select, s.name, s.peers, s.remove),
      h("div", { class: "strip-body" },
        h("label", {}, h("span", {}, "Vol"), s.volume),
        h("label", {}, h("span", {}, "Pan"), s.pan),
        h("div", { class: "toggles" }, s.mute, s.solo, s.kind)),
    );
    return s;
  }

  render() {
    const doc = this.session.project;
    const selected = this.app.selectedTrack;
    const live = new Set(doc.trackOrder);
    for (const [id, s] of this.strips) {
      if (!live.has(id)) {
        s.el.remove();
        this.strips.delete(id);
      }
    }
    const watchers = this.app.peersByTrack();
    doc.trackOrder.forEach((id, index) => {
      const track = doc.tracks.get(id);
      let s = this.strips.get(id);
      if (s === undefined) {
        s = this.strip(track);
        this.strips.set(id, s);
      }
      if (this.list.children[index] !== s.el) this.list.insertBefore(s.el, this.list.children[index] ?? null);
      s.el.classList.toggle("selected", id === selected);
      s.select.textContent = id === selected ? "●" : "○";
      s.select.setAttribute("aria-label", `Edit ${track.name}`);
      s.select.setAttribute("aria-pressed", String(id === selected));
      setValue(s.name, track.name);
      setValue(s.volume, track.volume);
      setValue(s.pan, track.pan);
      s.volume.setAttribute("aria-valuetext", `${Math.round(track.volume * 100)}%`);
      s.pan.setAttribute("aria-valuetext", track.pan === 0 ? "centre" : `${Math.round(Math.abs(track.pan) * 100)}% ${track.pan < 0 ? "left" : "right"}`);
      s.mute.setAttribute("aria-pressed", String(track.mute));
      s.solo.setAttribute("aria-pressed", String(track.solo));
      s.kind.textContent = track.kind;
      s.peers.replaceChildren(...(watchers.get(id) ?? []).map((p) => h("span", { class: "dot", style: { background: p.color }, title: p.name })));
      for (const el of [s.name, s.volume, s.pan, s.mute, s.solo, s.remove]) el.disabled = !this.session.canEdit;
    });
  }
}
