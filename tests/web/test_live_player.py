"""web/sound/live.js in real Chromium: the sustain pedal holds released notes, the wheel bends
what sounds (±2 semitones), a muted or missing track plays nothing, struck again replaces.

The page's sound chain is stood in for by its two parts the player reads (a track and
its strip's input node, on a real AudioContext); the built-in synth makes the voices.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

JS = """async ({ base }) => {
  const { LivePlayer, BEND_CENTS } = await import(`${base}/sound/live.js`);
  const context = new AudioContext();
  const input = new GainNode(context);
  input.connect(context.destination);
  const playback = {
    tracks: new Map([["keys", { id: "keys", kind: "instrument", instrument: 0 }],
                     ["tape", { id: "tape", kind: "audio", instrument: 0 }]]),
    strips: new Map([["keys", { input }], ["tape", { input }]]),
    awake() {},
  };
  const live = new LivePlayer({ sound: () => ({ context, playback, library: null }),
                                track: (asked) => asked ?? "keys" });
  const voice = (pitch) => live.players.get("ann")?.voices.get(pitch);
  const out = {};
  out.started = live.noteOn("ann", 60, 100);
  out.audio = live.noteOn("ann", 61, 100, "tape");  // an audio track plays no notes
  out.missing = live.noteOn("ann", 62, 100, "nope");
  live.sustain("ann", true);
  live.noteOff("ann", 60);
  out.heldByPedal = voice(60) !== undefined && voice(60).sustained && !voice(60).released;
  live.noteOn("ann", 64, 90);
  live.bend("ann", 0.5);
  await new Promise((r) => setTimeout(r, 150));  // the wheel glides (5 ms time constant)
  out.detune = voice(64).sources.map((s) => s.detune ? Math.round(s.detune.value) : null);
  out.bendCents = BEND_CENTS;
  const first = voice(64);
  live.noteOn("ann", 64, 90);  // struck again: the old voice makes way
  out.replaced = first.released && voice(64) !== first;
  live.sustain("ann", false);
  out.afterPedal = voice(60) === undefined;
  live.handle({ by: "ben", event: "on", pitch: 67, vel: 80, track: null });
  out.ben = live.players.get("ben").voices.has(67);
  live.handle({ by: "ben", event: "off", pitch: 67 });
  out.benOff = !live.players.get("ben").voices.has(67);
  live.allOff();
  out.empty = live.players.size;
  await context.close();
  return out;
}"""


def test_pedal_wheel_and_tracks(page: Page, web_server: str) -> None:
    page.goto(f"{web_server}/")
    got: dict[str, Any] = page.evaluate(JS, {"base": web_server})
    assert got["started"] is True and got["audio"] is False and got["missing"] is False
    assert got["heldByPedal"], got  # released while the pedal is down: rings on
    assert got["bendCents"] == 200
    tuned = [d for d in got["detune"] if d is not None]
    assert tuned and all(d == 100 for d in tuned), got  # half way up: +100 cents
    assert got["replaced"] and got["afterPedal"], got  # the pedal up lets it go
    assert got["ben"] and got["benOff"] and got["empty"] == 0
