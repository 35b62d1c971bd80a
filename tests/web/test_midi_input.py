"""Playing from a MIDI keyboard in the page (web/ui/midiin.js, web/sound/live.js).

Chromium has no MIDI devices here, so a tiny fake stands in at the boundary,
before the page loads: `navigator.requestMIDIAccess` resolves to a MIDIAccess
with one input whose messages the test fires (`window.__fakeMidi.send`).
Everything behind it is the real code: the device picker, the live player on
the page's sound chain, `session.liveNote`, a real server relaying `live`
frames to a second page and to an SDK participant, recording a take into the
document, and learned controller mappings driving the mixer.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sound_page import client_id, join_page

from backline.client import LiveNoteEvent, Session
from backline.testing import ServerProcess, SessionThread

SESSION = "keys"

# The only fake: a MIDIAccess with one input, fired by the test.
FAKE_MIDI = """(() => {
  const input = { id: "fake-1", name: "Fake Keys", manufacturer: "Test", type: "input",
                  state: "connected", onmidimessage: null };
  const access = { inputs: new Map([[input.id, input]]), outputs: new Map(), onstatechange: null };
  navigator.requestMIDIAccess = () => Promise.resolve(access);
  window.__fakeMidi = { input, access,
    send: (data, timeStamp = performance.now()) =>
      input.onmidimessage?.({ data: new Uint8Array(data), timeStamp }) };
})();"""

NO_MIDI = "delete Navigator.prototype.requestMIDIAccess; delete navigator.requestMIDIAccess;"

# The RMS of what the page's sound chain puts out (its master, after the limiter),
# through an AnalyserNode on it (connected again each time: the chain sleeps when quiet).
LEVEL = """() => {
  const sound = window.backlineSound;
  const playback = sound.playback;
  if (!playback) return 0;
  if (!window.__analyser || window.__analyser.context !== sound.context) {
    window.__analyser = new AnalyserNode(sound.context, { fftSize: 2048 });
  }
  playback.output.connect(window.__analyser);
  const data = new Float32Array(2048);
  window.__analyser.getFloatTimeDomainData(data);
  let sum = 0;
  for (const x of data) sum += x * x;
  return Math.sqrt(sum / data.length);
}"""
HEARD = 1e-3
SILENT = 1e-5

# Load the sample of (instrument track, pitch 60, velocity 100) so the first note is not
# held up by its download (a sample not in yet is heard once it is).
WARM = """async () => {
  const library = window.backlineSound.library;
  if (!library?.available) return;
  const { keyOf } = await import("./sound/samples.js");
  await library.load(keyOf({ kind: "instrument", instrument: 0 }, 60, 100));
}"""

# Where the transport is, in beats.
BEAT = "() => { const s = window.backline.session; return s.timeline().beatAt(s.serverNow()); }"

# Four notes a little off the 1/16 grid in the beat after `beat`, once it has passed,
# sent with the timestamps of when they were played (as a MIDI device's events carry them).
PLAY_TAKE = """(beat) => {
  const s = window.backline.session;
  const timeline = s.timeline();
  const ppq = 960;
  const offsets = [30, -40, 50, -20];
  const played = offsets.map((off, i) => beat * ppq + 240 * (i + 1) + off);
  const ms = (tick) => (timeline.timeAt(tick / ppq) - s.clock.offset) / 1000;
  played.forEach((tick, i) => {
    window.__fakeMidi.send([0x90, 60 + i, 90], ms(tick));
    window.__fakeMidi.send([0x80, 60 + i, 0], ms(tick + 120));
  });
  return played;
}"""


def level(page: Page) -> float:
    value: float = page.evaluate(LEVEL)
    return value


def wait_level(page: Page, above: float | None = None, below: float | None = None) -> None:
    test = f"> {above}" if above is not None else f"< {below}"
    page.wait_for_function(f"() => ({LEVEL})() {test}", timeout=15_000)


class LiveLog:
    """The live notes an SDK participant receives, collected on its loop."""

    def __init__(self) -> None:
        self.notes: list[LiveNoteEvent] = []
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self, s: Session) -> None:
        ready = asyncio.get_running_loop().create_future()

        async def listen() -> None:
            async with s.events() as events:
                ready.set_result(None)
                async for event in events:
                    if isinstance(event, LiveNoteEvent):
                        self.notes.append(event)
                        self.changed.set()

        self.task = asyncio.ensure_future(listen())
        await ready

    async def wait(self, count: int) -> list[LiveNoteEvent]:
        async with asyncio.timeout(10):
            while len(self.notes) < count:
                self.changed.clear()
                await self.changed.wait()
        return list(self.notes)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()


async def setup(s: Session) -> str:
    keys = s.add_track("Keys", kind="instrument", instrument=0)
    assert keys.id is not None
    await s.synced()
    return keys.id


@pytest.fixture
def second(browser: Browser) -> Iterator[Page]:
    """Another browser (its own storage), with the fake MIDI too (it is never used there)."""
    context = browser.new_context()
    context.add_init_script(FAKE_MIDI)
    try:
        yield context.new_page()
    finally:
        context.close()


def notes_of(s: Session, track: str) -> list[dict[str, Any]]:
    return sorted(
        (n for n in s.project.notes.values() if n["track"] == track), key=lambda n: n["start"]
    )


def test_quantize_and_parse_are_pure(page: Page, web_server: str) -> None:
    page.goto(f"{web_server}/")
    got = page.evaluate(
        """async (base) => {
      const m = await import(`${base}/ui/midiin.js`);
      const notes = [{ start: 250, pitch: 60 }, { start: 100, pitch: 61 }, { start: 130, pitch: 62 }];
      return {
        full: m.quantizeTake(notes, 240, 1).map((n) => n.start),
        half: m.quantizeTake(notes, 240, 0.5).map((n) => n.start),
        none: m.quantizeTake(notes, 240, 0).map((n) => n.start),
        off: m.quantizeTake(notes, 0, 1).map((n) => n.start),
        eighth: m.quantizeTake([{ start: 700 }], 480, 1).map((n) => n.start),
        untouched: notes.map((n) => n.start),
        parsed: [[0x90, 60, 100], [0x91, 60, 0], [0x80, 61, 30], [0xb0, 64, 127], [0xe0, 0, 0x40],
                 [0xe0, 0x7f, 0x7f], [0xe0, 0, 0], [0xf8]].map((d) => m.parseMidi(d)),
      };
    }""",
        web_server,
    )
    assert got["full"] == [240, 0, 240]
    assert got["half"] == [245, 50, 185]  # halfway to the nearest line
    assert got["none"] == got["untouched"] == [250, 100, 130]
    assert got["off"] == [250, 100, 130]
    assert got["eighth"] == [480]
    assert got["parsed"] == [
        {"type": "on", "pitch": 60, "vel": 100},
        {"type": "off", "pitch": 60},  # note-on at velocity 0
        {"type": "off", "pitch": 61},
        {"type": "cc", "cc": 64, "value": 127},
        {"type": "bend", "value": 0},
        {"type": "bend", "value": 1},
        {"type": "bend", "value": -1},
        None,  # a clock tick: not a channel message
    ]


def test_play_record_and_learn_from_a_midi_keyboard(
    page: Page, second: Page, server: ServerProcess
) -> None:
    page.add_init_script(FAKE_MIDI)
    log = LiveLog()
    with SessionThread(server.url, session=SESSION, token=server.token(SESSION), name="py") as py:
        keys = py.run(setup)
        py.run(log.start)
        errors = join_page(page, server, SESSION, "Ada")
        errors += join_page(second, server, SESSION, "Ben")
        for p in (page, second):
            p.wait_for_function("() => window.backlineSound.playback !== null")
            p.evaluate(WARM)
        a = page

        # -- the device picker: Web MIDI is asked for when the list is reached for
        picker = a.locator("#midi-input")
        picker.focus()
        picker.select_option("fake-1")
        expect(a.locator("[data-midi=status]")).to_have_text("Listening to Fake Keys.")
        assert a.evaluate("localStorage.getItem('backline.pref.midiInput')") == '"fake-1"'
        a.evaluate(
            """() => { const f = window.__fakeMidi;
                f.access.inputs.set("fake-2", { ...f.input, id: "fake-2", name: "Pads", onmidimessage: null });
                f.access.onstatechange?.({}); }"""
        )
        expect(picker.locator("option")).to_have_text(
            ["No MIDI input", "Fake Keys (Test)", "Pads (Test)"]
        )
        expect(picker).to_have_value("fake-1")
        expect(a.locator("[data-midi=target]")).to_contain_text("Plays on Keys")

        # -- a live note: heard here, there, and by the SDK; not an edit
        version = py.run(lambda s: s.version)
        assert level(a) < SILENT and level(second) < SILENT
        second.evaluate(
            """() => { const s = window.backline.session;
                s.on("live", (m) => { window.__arrived = s.serverNow(); }); }"""
        )
        sent_at = a.evaluate("window.backline.session.serverNow()")
        a.evaluate("window.__fakeMidi.send([0x90, 60, 100])")
        wait_level(a, above=HEARD)
        wait_level(second, above=HEARD)
        arrived = second.evaluate("window.__arrived")
        assert 0 <= arrived - sent_at < 250_000, arrived - sent_at  # one loopback round trip
        on = py.run(lambda s: log.wait(1))[0]
        assert (on.event, on.pitch, on.vel, on.track) == ("on", 60, 100, keys)
        assert on.by == client_id(a) and on.delay_us >= 0
        a.evaluate("window.__fakeMidi.send([0x80, 60, 0])")
        off = py.run(lambda s: log.wait(2))[1]
        assert (off.event, off.pitch, off.by) == ("off", 60, client_id(a))
        wait_level(a, below=SILENT)
        wait_level(second, below=SILENT)
        assert py.run(lambda s: s.version) == version  # live notes are not edits
        assert a.evaluate("window.backline.version()") == version
        assert second.evaluate("window.backline.version()") == version

        # -- recording a take while the transport plays, quantized to 1/16 at 100 %
        py.run(lambda s: s.play())
        a.wait_for_function(
            "() => { const s = window.backline.session; return s.timeline().rolling(s.serverNow()); }",
            timeout=15_000,
        )
        a.locator("#midi-quantize").select_option(label="1/16")
        a.locator("#midi-strength").fill("100")
        record = a.get_by_role("button", name="● Record notes")
        record.click()
        expect(record).to_have_attribute("aria-pressed", "true")
        beat = math.ceil(a.evaluate(BEAT))  # the first whole beat of the take
        a.wait_for_function(f"() => ({BEAT})() >= {beat + 1.25}", timeout=15_000)
        played = a.evaluate(PLAY_TAKE, beat)
        expect(a.locator("[data-midi=take]")).to_contain_text("Recording: 4 notes")
        a.keyboard.press("r")  # R stops it (focus is on the button, which leaves R alone)
        expect(record).to_have_attribute("aria-pressed", "false")
        expect(a.locator("[data-midi=take]")).to_contain_text("4 notes written to Keys")
        expected = [240 * round(t / 240) for t in played]
        assert all(abs(t - e) < 120 for t, e in zip(played, expected, strict=True))
        py.wait_until(lambda s: len(notes_of(s, keys)) == 4, what="the take")
        taken = notes_of(py.session, keys)
        assert [n["start"] for n in taken] == expected
        assert [n["pitch"] for n in taken] == [60, 61, 62, 63]
        assert all(n["clip"] is None and abs(n["dur"] - 120) <= 1 for n in taken)
        assert all(n["vel"] == 90 for n in taken)
        second.wait_for_function(
            "(k) => window.backline.project().notes.filter((n) => n.track === k).length === 4",
            arg=keys,
        )
        starts = second.evaluate(
            "(k) => window.backline.project().notes.filter((n) => n.track === k)"
            ".map((n) => n.start).sort((x, y) => x - y)",
            keys,
        )
        assert starts == expected
        # and in `backline state`, as any tool sees the project
        shown = subprocess.run(
            [sys.executable, "-m", "backline.cli", "state", server.url, "--session", SESSION,
             "--secret", server.secret or "", "--compact"],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        state = json.loads(shown.stdout)
        assert sorted(n["start"] for n in state["notes"] if n["track"] == keys) == expected
        a.keyboard.press("Control+z")  # the take is one edit: one undo takes it all back
        py.wait_until(lambda s: len(notes_of(s, keys)) == 0, what="the take undone")
        second.wait_for_function(
            "(k) => window.backline.project().notes.every((n) => n.track !== k)", arg=keys
        )
        py.run(lambda s: s.stop())

        # -- learn: CC 7 to the Keys strip's volume fader, then the knob moves it
        a.get_by_role("button", name="Learn", exact=True).click()
        fader = a.locator(f'.mixer-strip[data-track="{keys}"] input[data-field=volume]')
        fader.click()
        expect(a.locator("[data-midi=learn-status]")).to_contain_text("Keys · Volume")
        a.evaluate("window.__fakeMidi.send([0xb0, 7, 64])")
        expect(a.locator(".midi-map")).to_have_count(1)
        expect(a.locator(".midi-map")).to_contain_text("CC 7 → Keys · Volume")
        a.get_by_role("button", name="Learn", exact=True).click()  # done learning
        a.evaluate("window.__fakeMidi.send([0xb0, 7, 0])")
        second.wait_for_function(
            "(k) => window.backline.project().tracks.find((t) => t.id === k).volume === 0",
            arg=keys,
        )
        a.evaluate("window.__fakeMidi.send([0xb0, 7, 127])")
        second.wait_for_function(
            "(k) => window.backline.project().tracks.find((t) => t.id === k).volume === 2",
            arg=keys,
        )
        py.wait_until(lambda s: s.project.tracks[keys]["volume"] == 2.0, what="volume 2")
        stored = a.evaluate("JSON.parse(localStorage.getItem('backline.pref.midiMap'))")
        assert stored[SESSION] == [{"cc": 7, "target": {"track": keys, "field": "volume"}}]
        a.get_by_role("button", name="Remove the mapping of CC 7").click()
        expect(a.locator(".midi-map")).to_have_count(0)
        py.run(lambda s: log.stop())
    assert errors == []


def test_without_web_midi_the_picker_says_why(page: Page, server: ServerProcess) -> None:
    page.add_init_script(NO_MIDI)
    errors = join_page(page, server, SESSION, "Cy")
    picker = page.locator("#midi-input")
    expect(picker).to_be_disabled()
    expect(picker.locator("option")).to_have_text(["Web MIDI unavailable"])
    expect(page.locator("[data-midi=status]")).to_contain_text("no Web MIDI")
    assert errors == []
