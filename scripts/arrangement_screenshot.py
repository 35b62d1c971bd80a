"""Take the README's screenshot of the arrangement view (docs/arrangement.png, 1440x900).

    .venv/bin/python scripts/arrangement_screenshot.py [--out docs/arrangement.png]

A real server process and Debian's Chromium (as in tests/web); a Python
participant (Bo) builds a song of four tracks, song sections and clips, and
selects a clip (the page outlines it in Bo's colour); the page joins as Ann,
selects a notes clip, and is photographed with the playhead in the chorus.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from shots import join, studio  # scripts/ is on the path of a script run from it

from backline.client.session import Session

SESSION = "jam"
BAR = 3840
BEAT = 960


def song(s: Session) -> dict[str, Any]:
    """Drums, bass, keys, a vocal track, sections and clips; what to select."""
    s.set("project", "name", "Night Drive")
    drums = s.add_track("Drums", kind="drums", color="#e0673a").id
    bass = s.add_track("Bass", color="#4f8cff", instrument=33).id
    keys = s.add_track("Keys", color="#9b7bd6", instrument=4).id
    s.add_track("Vocals", kind="audio", color="#3fbf7f")
    assert drums and bass and keys
    groove = s.add_pattern(drums, sounds=[36, 38, 42], name="Groove").id
    fill = s.add_pattern(drums, sounds=[36, 38, 42], name="Fill").id
    assert groove and fill
    for step in range(16):
        if step % 4 == 0:
            s.set_step(groove, 0, step, 110)
        if step % 8 == 4:
            s.set_step(groove, 1, step, 100)
        s.set_step(groove, 2, step, 70 if step % 2 else 90)
        s.set_step(fill, 1, step, 60 + 4 * step if step >= 8 else 0)
        if step % 8 == 0:
            s.set_step(fill, 0, step, 110)
    for name, start, length, color in [
        ("Intro", 0, 4, "#d98e48"),
        ("Verse", 4, 8, "#4fa3a5"),
        ("Chorus", 12, 8, "#c75b7a"),
        ("Outro", 20, 4, "#6f8fe0"),
    ]:
        s.add_section(name, start * BAR, length * BAR, color=color)
    s.add_clip(drums, groove, 0, 4 * BAR)
    s.add_clip(drums, groove, 4 * BAR, 7 * BAR)
    s.add_clip(drums, fill, 11 * BAR, BAR)
    picked = s.add_clip(drums, groove, 12 * BAR, 8 * BAR).id
    bass_line = s.add_clip(bass, None, 4 * BAR, 16 * BAR).id
    assert bass_line
    roots = [36, 43, 41, 39]
    for bar in range(16):
        for eighth in range(8):
            pitch = roots[bar % 4] + (12 if eighth in (3, 7) else 0)
            s.add_note(bass, pitch, bar * BAR + eighth * BEAT // 2, 400, clip=bass_line)
    chords = [[60, 64, 67], [62, 65, 69], [59, 62, 67], [60, 64, 69]]
    for start, bars in ((4, 8), (12, 8)):
        clip = s.add_clip(keys, None, start * BAR, bars * BAR).id
        assert clip
        for bar in range(bars):
            for pitch in chords[bar % 4]:
                s.add_note(keys, pitch, bar * BAR, BAR - BEAT // 4, clip=clip)
    return {"peer": picked, "mine": bass_line}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/arrangement.png"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with studio(SESSION, song) as st:
        ids, bot, page = st.built, st.bot, st.page
        bot.run(lambda s: s.seek(14 * 4 + 2.0))
        bot.run(lambda s: s.synced())
        bot.run(lambda s: s.set_presence(selection=[ids["peer"]]))
        join(page, st.server, SESSION, "Ann")
        for _ in range(3):  # the whole song in view
            page.get_by_role("button", name="Arrangement zoom out").click()
        clip = page.locator(f'.arr-clip[data-clip="{ids["mine"]}"]')
        clip.click(position={"x": 30, "y": 24})
        page.wait_for_selector(".arr-clip.peer-selected")
        page.mouse.move(5, 890)  # no hover outline
        page.wait_for_function("() => new Promise((r) => requestAnimationFrame(() => r(true)))")
        page.screenshot(path=str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
