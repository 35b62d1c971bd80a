/**
 * The track list with a mixer strip per track: select, rename, colour,
 * instrument (a General MIDI program; on a drums track its kit), volume, pan,
 * mute, solo, remove; reorder by dragging the grip (or Alt+ArrowUp/Down in a
 * strip), each a `move` op; and adding a track.
 *
 * Every edit control is disabled, with the reason as its tooltip, for someone
 * who may not edit (`app.editBlockReason()`).
 * @module ui/tracks
 */

import { SCHEMAS, TRACK_KINDS } from "../protocol.js";
import { GM_DRUM_KITS, GM_FAMILIES, GM_PROGRAMS } from "../gm.js";
import { h, setValue } from "./dom.js";
import { firstPatternOp } from "./steps.js";

const DRAG_PX = 4; // a grip press moving less than this is no drag

/** The instrument picker's options for a track kind (none for audio tracks). */
function instrumentOptions(kind) {
  if (kind === "drums") return GM_DRUM_KITS.map(([program, name]) => h("option", { value: program }, name));
  if (kind === "audio") return [];
  return GM_FAMILIES.map((family, f) =>
    h("optgroup", { label: family }, GM_PROGRAMS.slice(f * 8, f * 8 + 8).map((name, i) => h("option", { value: f * 8 + i }, `${f * 8 + i + 1} ${name}`))));
}

export class TrackList {
  constructor(root, session, app) {
    this.session = session;
    this.app = app;
    /** @type {Map<string, any>} strips by track id */
    this.strips = new Map();
    this.list = h("ul", { class: "strips", "aria-label": "Tracks" });
    this.newKind = h("select", { "aria-label": "Kind of the new track" }, TRACK_KINDS.map((k) => h("option", { value: k }, k)));
    this.addButton = h("button", { type: "button", class: "add-track", onclick: () => this.add() }, "+ Track");
    this.drag = null;
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
    // a drums track comes with its first pattern (one bar at the meter), in the same batch
    const id = this.session.newId();
    const ops = [{ op: "insert", kind: "track", id, value: { name, kind } }];
    if (kind === "drums") ops.push(firstPatternOp(this.session, id));
    const edit = this.app.run(() => this.session.edit(ops, id));
    if (edit) this.app.select(edit.id);
  }

  strip(track) {
    const id = track.id;
    const set = (field, value) => this.app.run(() => this.session.set(id, field, value));
    const s = { kindShown: null };
    s.grip = h("button", {
      type: "button", class: "grip", "aria-label": "Reorder track (drag, or Alt+Arrow keys)", "aria-keyshortcuts": "Alt+ArrowUp Alt+ArrowDown",
      onpointerdown: (e) => this.gripDown(e, id), onpointermove: (e) => this.gripMove(e), onpointerup: (e) => this.gripUp(e),
      onpointercancel: () => this.endDrag(),
    }, "⠿");
    s.color = h("input", {
      type: "color", class: "track-color", "aria-label": "Track colour",
      onchange: () => set("color", s.color.value.toLowerCase()),
    });
    s.instrument = h("select", {
      class: "instrument-select", "aria-label": "Instrument",
      onchange: () => set("instrument", Number(s.instrument.value)),
    });
    s.instrumentField = h("label", { class: "instrument" }, h("span", {}, "Instrument"), s.instrument);
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
    s.el = h("li", { class: "strip", "data-track": id, onkeydown: (e) => this.stripKey(e, id) },
      h("div", { class: "strip-head" }, s.grip, s.select, s.color, s.name, s.peers, s.remove),
      h("div", { class: "strip-body" },
        s.instrumentField,
        h("label", {}, h("span", {}, "Vol"), s.volume),
        h("label", {}, h("span", {}, "Pan"), s.pan),
        h("div", { class: "toggles" }, s.mute, s.solo, s.kind)),
    );
    return s;
  }

  // -- reordering -------------------------------------------------------------

  /** Move track `id` to `index` of the track order (one `move` op). */
  moveTo(id, index) {
    const order = this.session.project.trackOrder;
    if (index < 0 || index >= order.length || order.indexOf(id) === index) return;
    this.app.run(() => this.session.edit([{ op: "move", id, index }]))?.done.catch(() => {});
  }

  /** Alt+ArrowUp/Down anywhere in a strip moves its track one place (the focus goes with it). */
  stripKey(e, id) {
    if (!e.altKey || (e.key !== "ArrowUp" && e.key !== "ArrowDown")) return;
    e.preventDefault();
    this.app.editByKey(() => {
      const index = this.session.project.trackOrder.indexOf(id);
      this.moveTo(id, index + (e.key === "ArrowUp" ? -1 : 1));
      this.render(); // now, so the focused strip moves with the key
    });
  }

  gripDown(e, id) {
    if (e.button !== 0 || this.app.editBlockReason() !== null) return;
    e.preventDefault();
    e.currentTarget.setPointerCapture?.(e.pointerId);
    this.drag = { id, y: e.clientY, moved: false, index: null };
  }

  /** The index a drag with the pointer at `clientY` drops the track at (in the order without it). */
  dropIndex(clientY) {
    const order = this.session.project.trackOrder;
    let index = 0;
    for (const other of order) {
      if (other === this.drag.id) continue;
      const box = this.strips.get(other)?.el.getBoundingClientRect();
      if (box && clientY > box.top + box.height / 2) index += 1;
    }
    return index;
  }

  gripMove(e) {
    const d = this.drag;
    if (d === null) return;
    if (!d.moved && Math.abs(e.clientY - d.y) < DRAG_PX) return;
    d.moved = true;
    d.index = this.dropIndex(e.clientY);
    const others = this.session.project.trackOrder.filter((t) => t !== d.id);
    for (const [id, s] of this.strips) {
      s.el.classList.toggle("dragging", id === d.id);
      s.el.classList.toggle("drop-before", others[d.index] === id);
      s.el.classList.toggle("drop-after", d.index === others.length && others.at(-1) === id);
    }
  }

  gripUp(e) {
    const d = this.drag;
    if (d === null) return;
    if (d.moved) this.moveTo(d.id, this.dropIndex(e.clientY));
    this.endDrag();
  }

  endDrag() {
    this.drag = null;
    for (const s of this.strips.values()) s.el.classList.remove("dragging", "drop-before", "drop-after");
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
    const reason = this.app.editBlockReason();
    const focused = this.list.contains(document.activeElement) ? document.activeElement : null;
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
      s.el.style.setProperty("--track", track.color);
      setValue(s.color, track.color);
      if (s.kindShown !== track.kind) {
        s.kindShown = track.kind;
        s.instrument.replaceChildren(...instrumentOptions(track.kind));
        s.instrumentField.style.display = track.kind === "audio" ? "none" : ""; // audio tracks play no instrument
        s.instrumentField.firstChild.textContent = track.kind === "drums" ? "Kit" : "Instrument";
        s.instrument.setAttribute("aria-label", track.kind === "drums" ? "Drum kit" : "Instrument");
      }
      if (track.kind !== "audio") {
        if (track.kind === "drums" && !GM_DRUM_KITS.some(([p]) => p === track.instrument)) {
          // a program that is no GM kit (set by a bot, say): shown as it is
          s.instrument.append(h("option", { value: track.instrument }, `Kit ${track.instrument}`));
        }
        setValue(s.instrument, track.instrument);
      }
      s.peers.replaceChildren(...(watchers.get(id) ?? []).map((p) => h("span", { class: "dot", style: { background: p.color }, title: p.name })));
      const titles = new Map([
        [s.grip, "Drag to reorder (Alt+ArrowUp/Down)"], [s.color, "Track colour"], [s.instrument, s.instrument.getAttribute("aria-label")],
        [s.name, "Track name"], [s.volume, "Volume"], [s.pan, "Pan"], [s.mute, "Mute"], [s.solo, "Solo"], [s.remove, "Remove track"],
      ]);
      for (const [el, title] of titles) {
        el.disabled = reason !== null;
        el.title = reason ?? title;
      }
    });
    if (focused && focused.isConnected && document.activeElement !== focused) focused.focus(); // a reorder moved it
    this.newKind.disabled = reason !== null;
    this.addButton.disabled = reason !== null;
    this.newKind.title = reason ?? "Kind of the new track";
    this.addButton.title = reason ?? "Add a track";
  }
}
