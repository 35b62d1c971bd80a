"""Take the README's screenshot of a recording in the sound panel (docs/recording.png).

    .venv/bin/python scripts/recording_screenshot.py [--out docs/recording.png]

A real server process and Debian's Chromium (as in tests/web); a Python
participant sings a tone into the audio room, the page joins as an owner,
records a take, stops it, starts another, and shows its recordings list while
the second take runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from shots import join, studio  # scripts/ is on the path of a script run from it

from backline.client.audio import ToneTrack
from backline.client.session import Session

SESSION = "jam"


async def build(s: Session) -> None:
    drums = s.add_track("Drums", kind="drums").id
    assert drums is not None
    s.add_pattern(drums, sounds=[36, 38, 42])
    await s.synced()
    await s.audio.publish(ToneTrack(440.0, 0.2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/recording.png"))
    args = parser.parse_args()
    with studio(SESSION, build) as st:
        page = st.page
        join(page, st.server, SESSION, "Ada", role="owner")
        page.get_by_role("button", name="● Record").click()
        page.locator("[data-sound=recording]").wait_for(state="visible")
        page.wait_for_timeout(2500)
        page.get_by_role("button", name="■ Stop recording").click()
        page.locator("[data-sound=recording]").wait_for(state="hidden", timeout=20_000)
        page.get_by_role("button", name="● Record").click()
        page.locator("[data-sound=recording]").wait_for(state="visible")
        page.get_by_role("button", name="Recordings").click()
        page.locator(".sound-recordings li[data-recording]").first.wait_for()
        page.wait_for_timeout(1500)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.locator(".sound-panel").screenshot(path=str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
