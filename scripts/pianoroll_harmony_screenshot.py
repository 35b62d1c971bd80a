"""Take the screenshot of the piano roll's harmony tools (docs/pianoroll-scale.png).

    .venv/bin/python scripts/pianoroll_harmony_screenshot.py [--out docs/pianoroll-scale.png]

A real server process and Debian's Chromium (as in tests/web); a Python
participant sets the key to A minor, writes a progression on the chord track
and a bass line and melody on a keys track; the page stamps a Dm7 with the
roll's "Chord…" input at bar 3, so the rows of A minor are shaded (A the most),
the stamped chord is selected and the toolbar names it, in a 1440x900 window.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from shots import join, studio  # scripts/ is on the path of a script run from it

from backline.client.session import Session
from backline.protocol.model import PPQ

SESSION = "minor"
BAR = 4 * PPQ
PROGRESSION = ["Am", "F", "Dm7", "E7"]
BASS = [57, 53, 50, 52]  # A3 F3 D3 E3
MELODY = [  # (beat, pitch, beats) over the four bars, in A minor (E7's G# in bar 4)
    (0, 69, 1), (1, 72, 1), (2, 71, 1), (3, 69, 1),
    (4, 65, 1.5), (5.5, 67, 0.5), (6, 69, 2),
    (12, 68, 1), (13, 71, 1), (14, 74, 2),
]  # fmt: skip


async def build(s: Session) -> None:
    s.set_key("A minor")
    keys = s.add_track("Keys", kind="instrument", color="#8f7bff").id
    assert keys is not None
    for bar, symbol in enumerate(PROGRESSION):
        s.add_chord(symbol, bar * BAR, BAR)
        s.add_note(keys, BASS[bar], bar * BAR, BAR - PPQ // 4, 90)
    for beat, pitch, beats in MELODY:
        s.add_note(keys, pitch, round(beat * PPQ), round(beats * PPQ) - 40, 70 + pitch % 5 * 8)
    await s.synced()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/pianoroll-scale.png"))
    args = parser.parse_args()
    with studio(SESSION, build) as st:
        page = st.page
        join(page, st.server, SESSION, "Ada")
        page.wait_for_function(
            "() => window.backline && window.backline.roll()"
            " && window.backline.roll().debug().notes.length === 14"
            " && window.backline.roll().debug().key === 'A minor'"
        )
        page.locator(".roll").evaluate("(el) => el.scrollIntoView({block: 'end'})")
        roll = "window.backline.roll()"
        page.evaluate(f"{roll}.zoom(-1, -1)")  # 48 px a beat, 12 px rows: four bars, two octaves
        page.evaluate(f"{roll}.reveal(0, 62)")
        page.evaluate(f"{roll}.grid.value = String({PPQ}); {roll}.changed()")  # quarter notes
        page.locator(".pr-scroll").focus()
        page.keyboard.press("v")
        # the edit cursor at bar 3 (a click on empty space), then Chord… with Dm7 (the chord track's)
        p = page.evaluate(f"{roll}.screenPoint({2 * BAR + 10}, 75)")
        page.mouse.click(p["x"], p["y"])
        page.keyboard.press("Shift+C")
        page.wait_for_function(f"() => {roll}.debug().stamping")
        page.locator(".pr-stamp-input").fill("Dm7")
        page.locator(".pr-stamp-input").press("Enter")
        page.wait_for_function(
            f"() => {roll}.debug().detected === 'Dm7' && window.backline.pending() === 0"
        )
        page.mouse.move(p["x"] + 300, p["y"] + 200)
        page.wait_for_timeout(300)  # the frame after the last presence update
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
