"""Take the README's screenshot of blame on hover (docs/blame.png).

    .venv/bin/python scripts/blame_screenshot.py [--out docs/blame.png]

A real server process and Debian's Chromium (as in tests/web); a Python
participant (Bo) builds the arrangement's song (scripts/arrangement_screenshot.py);
the page joins as Ann three minutes later (its clock is set ahead: the song was
made "3 min ago"), moves the bass clip, and 20 seconds later hovers it: the
tooltip names who made it and who changed it last. Photographed around the
arrangement.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from arrangement_screenshot import BAR, song  # scripts/ is on the path of a script run from it
from shots import join, studio

SESSION = "jam"

# Date.now() runs `window.__aheadMs` ahead of the real clock (the blame's "ago" reads it)
AHEAD = """
const realNow = Date.now.bind(Date);
window.__aheadMs = 0;
Date.now = () => realNow() + window.__aheadMs;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/blame.png"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with studio(SESSION, song) as st:
        page, clip = st.page, st.built["mine"]
        page.add_init_script(AHEAD)
        page.add_init_script("window.__aheadMs = 183_000")
        join(page, st.server, SESSION, "Ann")
        page.wait_for_selector(f'.arr-clip[data-clip="{clip}"]')
        for _ in range(3):  # the whole song in view
            page.get_by_role("button", name="Arrangement zoom out").click()
        version = page.evaluate(
            "([id, start]) => window.backline.session.set(id, 'start', start).done",
            [clip, 4 * BAR + BAR // 2],
        )
        assert version
        page.evaluate("window.__aheadMs += 21_000")
        page.wait_for_function(  # the sound panel done loading its instruments
            "() => !/Loading/.test(document.querySelector('.sound')?.textContent ?? '')",
            timeout=60_000,
        )
        target = page.locator(f'.arr-clip[data-clip="{clip}"]')
        box = target.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] / 2)
        page.wait_for_selector(".blame-tip:not([hidden])")
        page.wait_for_function("() => new Promise((r) => requestAnimationFrame(() => r(true)))")
        arrangement = page.locator(".arrangement").bounding_box()
        assert arrangement is not None
        page.screenshot(
            path=str(args.out),
            clip={
                "x": arrangement["x"],
                "y": arrangement["y"],
                "width": arrangement["width"],
                "height": arrangement["height"],
            },
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
