"""Take the README's screenshot of the chord track (docs/chords.png).

    .venv/bin/python scripts/chords_screenshot.py [--out docs/chords.png]

A real server process and Debian's Chromium (as in tests/web); a Python
participant (Bo) builds the arrangement's song (scripts/arrangement_screenshot.py),
puts it in A minor and writes a chord progression on the chord track (one chord
outside the key, E7); the page joins as Ann, selects a chord, opens "Chords of
the key" and is photographed from the header to the bottom of the arrangement.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from arrangement_screenshot import song  # scripts/ is on the path of a script run from it
from shots import join, studio

from backline.client.session import Session

SESSION = "jam"
BAR = 3840
# (symbol, first bar (from 0), bars)
PROGRESSION = [
    ("Am", 0, 2), ("F", 2, 2),
    ("C", 4, 2), ("G/B", 6, 2), ("Am", 8, 2), ("F", 10, 2),
    ("F", 12, 2), ("G", 14, 2), ("Em7", 16, 2), ("Am", 18, 2),
    ("Dm7", 20, 2), ("E7", 22, 2),
]  # fmt: skip


def build(s: Session) -> dict[str, Any]:
    ids = song(s)
    s.set("project", "key", "A minor")
    chords = [s.add_chord(symbol, bar * BAR, bars * BAR).id for symbol, bar, bars in PROGRESSION]
    return {**ids, "picked": chords[8]}  # the chorus's Em7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/chords.png"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with studio(SESSION, build) as st:
        bot, page = st.bot, st.page
        bot.run(lambda s: s.seek(12 * 4 + 2.0))
        bot.run(lambda s: s.synced())
        join(page, st.server, SESSION, "Ann")
        page.wait_for_selector(".arr-chord")
        for _ in range(3):  # the whole song in view
            page.get_by_role("button", name="Arrangement zoom out").click()
        page.locator(f'.arr-chord[data-chord="{st.built["picked"]}"]').click()
        page.get_by_role("button", name="Chords of the key").click()
        page.wait_for_selector(".chord-palette:not([hidden]) .chord-choice")
        page.wait_for_function(  # the sound panel done loading its instruments
            "() => !/Loading/.test(document.querySelector('.sound')?.textContent ?? '')",
            timeout=60_000,
        )
        page.mouse.move(5, 890)  # no hover outline
        page.wait_for_function("() => new Promise((r) => requestAnimationFrame(() => r(true)))")
        box = page.locator(".arrangement").bounding_box()
        assert box is not None
        bottom = box["y"] + box["height"] + 8
        page.screenshot(path=str(args.out), clip={"x": 0, "y": 0, "width": 1440, "height": bottom})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
