"""Take the README's screenshots of the mixer and of Bounce (docs/mixer.png, docs/bounce.png).

    .venv/bin/python scripts/mixer_screenshot.py [--out docs]

A real server process (FluidSynth and TimGM6mb, as the scripts install them) and
Debian's Chromium (as in tests/web); a Python participant writes an eight-bar
song with EQ, compression and sends (`testing.songs.song_ops`) and plays it,
the page selects the bass so that its EQ and compressor show, and the meters
move; then the page bounces the song with wet stems.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from shots import join, studio  # scripts/ is on the path of a script run from it

from backline.client.session import Session
from backline.testing.songs import song_ops

SESSION = "jam"


async def build(s: Session) -> None:
    ops = song_ops(bars=8)
    for i in range(0, len(ops), 50):
        s.edit(ops[i : i + 50])
    await s.synced()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with studio(SESSION, build) as st:
        page = st.page
        join(page, st.server, SESSION, "Ada")
        page.wait_for_function("() => window.backlineSound && window.backlineSound.playback")
        page.locator(".mixer-strip .strip-name", has_text="Bass").click()
        page.wait_for_function(
            "() => document.querySelector('[data-sound=instruments]').textContent.startsWith('Instruments')",
            timeout=120_000,
        )
        st.bot.run(lambda s: s.play())
        page.wait_for_function(
            "() => { const l = window.backlineSound.levels(); return l && l.master.level > -30; }",
            timeout=60_000,
        )
        page.wait_for_timeout(1500)  # a second and a half of music: the meters' peak holds
        page.locator("#mixer").screenshot(path=str(args.out / "mixer.png"))
        st.bot.run(lambda s: s.stop())
        page.keyboard.press("Control+b")
        page.get_by_label("Mix + a stem per track (with its reverb and delay)").check()
        page.get_by_role("dialog").get_by_role("button", name="Bounce", exact=True).click()
        page.wait_for_function(
            "() => document.querySelector('.bounce-stage').textContent === 'Done'", timeout=300_000
        )
        page.locator(".bounce-dialog").screenshot(path=str(args.out / "bounce.png"))
    print(f"wrote {args.out / 'mixer.png'} and {args.out / 'bounce.png'}")


if __name__ == "__main__":
    main()
