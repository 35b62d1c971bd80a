"""Take the README's screenshot of the piano roll with a selection (docs/pianoroll.png).

    .venv/bin/python scripts/pianoroll_screenshot.py [--out docs/pianoroll.png]

A real server process and Debian's Chromium (as in tests/web); a Python
participant writes chords and a melody on a keys track and selects two chord
notes (outlined in its colour on the page), and the page selects the melody's
first bar with a rubber band, in a 1440x900 window.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from shots import join, studio  # scripts/ is on the path of a script run from it

from backline.client.session import Session
from backline.protocol.model import PPQ

SESSION = "jam"
BAR = 4 * PPQ
CHORDS = [(48, 52, 55), (45, 48, 52), (41, 45, 48), (43, 47, 50)]  # C, Am, F, G
MELODY = [60, 62, 64, 67, 64, 62, 60, 57, 60, 60, 62, 64, 65, 64, 62, 59]


async def build(s: Session) -> list[str]:
    keys = s.add_track("Keys", kind="instrument", color="#8f7bff").id
    assert keys is not None
    drums = s.add_track("Drums", kind="drums").id
    assert drums is not None
    s.add_pattern(drums, sounds=[36, 38, 42])
    chord_ids: list[str] = []
    for bar, chord in enumerate(CHORDS * 2):
        for pitch in chord:
            note = s.add_note(keys, pitch, bar * BAR, BAR - PPQ // 4, 70 + 10 * (bar % 3))
            assert note.id is not None
            chord_ids.append(note.id)
    for i, pitch in enumerate(MELODY * 2):
        s.add_note(
            keys, pitch, i * PPQ + (PPQ // 2 if i % 4 == 3 else 0), PPQ // 2, 60 + (i * 23) % 67
        )
    await s.synced()
    return chord_ids[3:5]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/pianoroll.png"))
    args = parser.parse_args()
    with studio(SESSION, build) as st:
        page = st.page
        st.bot.run(lambda s: s.set_presence(selection=st.built))
        join(page, st.server, SESSION, "Ada")
        page.wait_for_function(
            "() => window.backline && window.backline.roll()"
            " && window.backline.roll().debug().peerSelected.length === 2"
        )
        page.locator(".roll").evaluate("(el) => el.scrollIntoView({block: 'end'})")
        page.evaluate("window.backline.roll().zoom(0, -1)")  # 12 px rows: all of it
        page.evaluate("window.backline.roll().reveal(0, 54)")
        page.locator(".pr-scroll").focus()
        page.keyboard.press("v")
        a = page.evaluate("window.backline.roll().screenPoint(0, 68)")
        b = page.evaluate(f"window.backline.roll().screenPoint({BAR - 30}, 57)")
        page.mouse.move(a["x"] + 2, a["y"])
        page.mouse.down()
        page.mouse.move(b["x"], b["y"], steps=6)
        page.mouse.up()
        page.wait_for_function("() => window.backline.roll().debug().selected.length > 0")
        page.mouse.move(b["x"] + 200, b["y"] + 40)
        page.wait_for_timeout(300)  # the frame after the last presence update
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
