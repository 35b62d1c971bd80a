"""Take the README's screenshot of importing by drag and drop (docs/import.png).

    .venv/bin/python scripts/import_screenshot.py [--out docs/import.png]

A real server process and Debian's Chromium (as in tests/web); a Python
participant (Bo) builds the arrangement's song (scripts/arrangement_screenshot.py);
the page joins as Ann and a MIDI file is dragged over it (the events a drag from
the desktop fires, without the drop): the overlay saying what a drop does.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from arrangement_screenshot import song  # scripts/ is on the path of a script run from it
from shots import join, studio

SESSION = "jam"

DRAG_OVER = """() => {
  const dt = new DataTransfer();
  dt.items.add(new File([new Uint8Array([77, 84, 104, 100])], "groove.mid", { type: "audio/midi" }));
  const target = document.querySelector(".editor");
  for (const kind of ["dragenter", "dragover"]) {
    target.dispatchEvent(new DragEvent(kind, { bubbles: true, cancelable: true, dataTransfer: dt }));
  }
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/import.png"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with studio(SESSION, song) as st:
        page = st.page
        join(page, st.server, SESSION, "Ann")
        page.wait_for_selector(".arr-clip")
        page.wait_for_function(  # the sound panel done loading its instruments
            "() => !/Loading/.test(document.querySelector('.sound')?.textContent ?? '')",
            timeout=60_000,
        )
        page.mouse.move(720, 450)
        page.evaluate(DRAG_OVER)
        page.wait_for_selector(".drop-overlay:not([hidden])")
        page.wait_for_function("() => new Promise((r) => requestAnimationFrame(() => r(true)))")
        page.screenshot(path=str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
