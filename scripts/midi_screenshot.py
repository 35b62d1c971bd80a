"""Take the README's screenshot of the MIDI input controls (docs/midi-input.png).

    .venv/bin/python scripts/midi_screenshot.py [--out docs/midi-input.png]

A real server process and Debian's Chromium (as in tests/web). Chromium has no
MIDI devices here, so a fake keyboard stands in for `navigator.requestMIDIAccess`
(as in tests/web/test_midi_input.py); everything behind it is the page's own
code. The page picks the keyboard, learns CC 7 onto the Keys track's volume,
and records a few notes while a Python participant plays the transport.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from shots import join, studio  # scripts/ is on the path of a script run from it

from backline.client.session import Session

SESSION = "jam"

FAKE_MIDI = """(() => {
  const input = { id: "keys-1", name: "Keystation 49", manufacturer: "M-Audio", type: "input",
                  state: "connected", onmidimessage: null };
  const access = { inputs: new Map([[input.id, input]]), outputs: new Map(), onstatechange: null };
  navigator.requestMIDIAccess = () => Promise.resolve(access);
  window.__fakeMidi = { send: (data) => input.onmidimessage?.({ data: new Uint8Array(data),
                                                                 timeStamp: performance.now() }) };
})();"""


async def build(s: Session) -> str:
    s.add_track("Drums", kind="drums")
    keys = s.add_track("Keys", kind="instrument", instrument=4).id
    assert keys is not None
    await s.set_tempo(100)
    await s.synced()
    return keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/midi-input.png"))
    args = parser.parse_args()
    with studio(SESSION, build) as st:
        page = st.page
        keys = st.built
        page.add_init_script(FAKE_MIDI)
        join(page, st.server, SESSION, "Ada")
        page.wait_for_function("() => window.backlineSound && window.backlineSound.playback")
        page.locator(f'.mixer-strip[data-track="{keys}"] .strip-name').click()
        picker = page.locator("#midi-input")
        picker.focus()
        picker.select_option("keys-1")
        page.get_by_text("Listening to Keystation 49.").wait_for()
        # learn: CC 7 (the keyboard's volume slider) onto the Keys fader
        page.get_by_role("button", name="Learn", exact=True).click()
        page.locator(f'.mixer-strip[data-track="{keys}"] input[data-field=volume]').click()
        page.evaluate("window.__fakeMidi.send([0xb0, 7, 100])")
        page.locator(".midi-map").wait_for()
        page.get_by_role("button", name="Learn", exact=True).click()
        # record a few notes while the transport plays
        st.bot.run(lambda s: s.play())
        page.wait_for_function(
            "() => { const s = window.backline.session; return s.timeline().rolling(s.serverNow()); }"
        )
        page.get_by_role("button", name="● Record notes").click()
        for pitch in (60, 64, 67):
            page.evaluate(f"window.__fakeMidi.send([0x90, {pitch}, 96])")
            page.wait_for_timeout(150)
            page.evaluate(f"window.__fakeMidi.send([0x80, {pitch}, 0])")
        page.evaluate("window.__fakeMidi.send([0x90, 72, 110])")  # still held in the picture
        page.get_by_text("Recording: 4 notes").wait_for()
        page.mouse.move(0, 0)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.locator("[data-midi=panel]").screenshot(path=str(args.out))
        page.evaluate("window.__fakeMidi.send([0x80, 72, 0])")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
