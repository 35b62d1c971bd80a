"""Take the README's screenshots of the transport bar and the shortcuts overlay.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

A real server process and Debian's Chromium (as in tests/web), a Python
participant that builds a small project (drums, a bass line, a loop over bars
5-8) and plays it, and a page that joins and is photographed while the music
runs through the loop.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import expect
from shots import join, studio  # scripts/ is on the path of a script run from it

from backline.client.session import Session

SESSION = "jam"
BAR = 3840


async def build(s: Session) -> None:
    """Drums and a bass line, 96 BPM, a loop over bars 5-8, playing from bar 5."""
    drums = s.add_track("Drums", kind="drums")
    assert drums.id is not None
    beat = s.add_pattern(drums.id, sounds=[36, 38, 42])
    assert beat.id is not None
    for step in range(16):
        if step % 4 == 0:
            s.set_step(beat.id, 0, step, 110)
        if step % 8 == 4:
            s.set_step(beat.id, 1, step, 100)
        s.set_step(beat.id, 2, step, 70 if step % 2 else 90)
    bass = s.add_track("Bass", kind="instrument", instrument=33)
    assert bass.id is not None
    for i, pitch in enumerate([36, 36, 43, 41, 36, 39, 41, 43]):
        s.add_note(bass.id, pitch, 4 * BAR + i * 960, 720)
    s.set("project", "loop", {"start": 4 * BAR, "end": 8 * BAR, "on": True})
    await s.set_tempo(96)
    await s.play(beat=17.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with studio(SESSION, build) as st:
        page = st.page
        join(page, st.server, SESSION, "Alice", role="owner")
        expect(page.locator(".conn")).to_have_text("Connected")
        page.wait_for_function("() => window.backline.clock().synced")
        page.select_option(".count-in-select", "1")
        page.select_option(".stop-back-select", "back")
        # a moment inside the loop's second bar, the playhead well on its way
        page.wait_for_function(
            """() => { const s = window.backline.session;
                       const b = s.timeline().beatAt(s.serverNow());
                       return b > 21.6 && b < 22.4; }"""
        )
        page.locator(".top").evaluate("(el) => el.scrollIntoView()")
        box = page.locator(".transport").bounding_box()
        assert box is not None
        page.screenshot(
            path=args.out / "transport.png",
            clip={"x": 0, "y": 0, "width": 1440, "height": box["y"] + box["height"]},
        )
        page.locator(".position").click()
        page.keyboard.press("?")
        expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
        page.screenshot(path=args.out / "shortcuts.png")


if __name__ == "__main__":
    main()
