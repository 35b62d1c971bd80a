/**
 * Standard MIDI File export (format 1, 960 ticks per quarter note, the
 * project's own resolution, so no position is rounded).
 *
 * Track 0 holds the project name, tempo and meter, and each chord of the chord
 * track as a marker (its symbol) at its start; then one MIDI track per
 * project track in order, with its name, program, volume (CC7) and pan
 * (CC10). The notes are what the arrangement plays (`../arrangement.js`, the
 * rules playback, bots and renders share) from bar 1 to the song's end: notes
 * clips placed and cut, pattern clips looped, unplaced patterns looping from
 * bar 1, swing applied (rounded to the tick); a pattern step is a note one step
 * long. Drum tracks use channel 10, the others channels 1-9 and 11-16 in turn.
 * `protocol/smf.py` (the SDK's `export_midi()`, `backline state --midi`) writes
 * the same bytes: tests/web/test_smf_js.py compares them.
 *
 * @module ui/midi
 */

import { Arrangement } from "../arrangement.js";
import { chordPitches, chordSymbol } from "../harmony.js";
import { PPQ, US_PER_MINUTE } from "../protocol.js";

const encoder = new TextEncoder();

function vlq(n) {
  const bytes = [n & 0x7f];
  while ((n >>= 7) > 0) bytes.unshift((n & 0x7f) | 0x80);
  return bytes;
}

function meta(type, data) {
  return [0xff, type, ...vlq(data.length), ...data];
}

const text = (s) => [...encoder.encode(s)];
const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));

function chunk(id, body) {
  const n = body.length;
  return [...text(id), (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255, ...body];
}

/** Events `[tick, order, bytes]` as a track chunk (sorted; note-offs before note-ons). */
function track(events) {
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const body = [];
  let last = 0;
  for (const [tick, , bytes] of events) {
    body.push(...vlq(tick - last), ...bytes);
    last = tick;
  }
  body.push(...vlq(0), ...meta(0x2f, []));
  return chunk("MTrk", body);
}

/**
 * The project (snapshot form) as the bytes of a .mid file.
 * @param {{project: any, tracks: any[], patterns: any[], notes: any[], clips: any[]}} data
 * @returns {Uint8Array}
 */
export function projectMidi(data, chordNotes = false) {
  const { project } = data;
  const [num, den] = project.meter;
  const usPerQuarter = Math.round(US_PER_MINUTE / project.tempo);
  // the chord track in timeline order (as Document.ordered_chords: by start, then id)
  const chords = [...(data.chords ?? [])].sort((a, b) => a.start - b.start || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const count = data.tracks.length + 1 + (chordNotes && chords.length ? 1 : 0);
  const chunks = [
    chunk("MThd", [0, 1, count >> 8, count & 255, PPQ >> 8, PPQ & 255]),
    track([
      [0, 0, meta(0x03, text(project.name))],
      [0, 1, meta(0x51, [(usPerQuarter >> 16) & 255, (usPerQuarter >> 8) & 255, usPerQuarter & 255])],
      [0, 2, meta(0x58, [num, Math.log2(den), 24, 8])],
      ...chords.map((c) => [c.start, 3, meta(0x06, text(chordSymbol(c)))]),
    ]),
  ];
  const arrangement = new Arrangement(data);
  /** @type {Map<string, import("../arrangement.js").Sound[]>} */
  const byTrack = new Map(data.tracks.map((t) => [t.id, []]));
  for (const sound of arrangement.soundsBetween(0, arrangement.songEnd() / PPQ)) byTrack.get(sound.track)?.push(sound);
  let next = 0;
  for (const t of data.tracks) {
    let channel;
    if (t.kind === "drums") channel = 9;
    else {
      channel = next % 15;
      if (channel >= 9) channel += 1;
      next += 1;
    }
    const events = [
      [0, 0, meta(0x03, text(t.name))],
      [0, 1, [0xc0 | channel, t.instrument & 0x7f]],
      [0, 2, [0xb0 | channel, 7, clamp(Math.round(t.volume * 100), 0, 127)]],
      [0, 3, [0xb0 | channel, 10, clamp(Math.round((t.pan + 1) * 64), 0, 127)]],
    ];
    const note = (start, dur, pitch, vel) => {
      events.push([start, 5, [0x90 | channel, pitch, vel]]);
      events.push([start + dur, 4, [0x80 | channel, pitch, 0]]);
    };
    for (const s of byTrack.get(t.id)) {
      const start = Math.round(s.beat * PPQ);
      note(start, Math.max(1, Math.round((s.beat + s.beats) * PPQ) - start), s.pitch, s.velocity);
    }
    chunks.push(track(events));
  }
  if (chordNotes && chords.length) {
    let channel = next % 15;
    if (channel >= 9) channel += 1;
    const events = [[0, 0, meta(0x03, text("Chords"))], [0, 1, [0xc0 | channel, 0]]];
    for (const c of chords) {
      for (const pitch of chordPitches(c, 3)) {
        events.push([c.start, 5, [0x90 | channel, pitch, 80]]);
        events.push([c.start + c.length, 4, [0x80 | channel, pitch, 0]]);
      }
    }
    chunks.push(track(events));
  }
  return new Uint8Array(chunks.flat());
}
