"""Take the README's screenshot of the History panel auditioning a named version
(docs/history.png).

    .venv/bin/python scripts/history_screenshot.py [--out docs/history.png]

A real server process and Debian's Chromium (as in tests/web). Three people
make a song over three sessions of work: Ann last night, Bob, Cleo (who then
leaves) and Ann this morning, Bob and Ann now, with a MIDI import, named
versions and a restore. The page joins as Ada, opens the History panel and
auditions the version Bob named "verse + chorus": the banner, the panel's
sessions of work, the badges and the label chips show.

The server stamps each version with its own wall clock, so to spread the
versions over a day its process is started with a `sitecustomize` module that
shifts `time.time()` by the number of seconds in a file this script writes
before each session of work (monotonic clocks are untouched); the page's
`Date` is fixed at the same "now" (Playwright's clock), a late afternoon, so
that the picture does not depend on when it is taken. Only this script does
that.
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import mido
from playwright.sync_api import sync_playwright
from shots import CHROMIUM_ARGS, join  # scripts/ is on the path of a script run from it

from backline.client.session import Session
from backline.testing import ServerProcess, SessionThread

SESSION = "jam"
BAR = 3840
BEAT = 960
HOUR = 3600

SITECUSTOMIZE = """
import os, time
_real = time.time
_file = os.environ["HISTORY_SHOT_OFFSET"]
def _shifted():
    try:
        with open(_file) as f:
            return _real() + float(f.read() or 0)
    except OSError:
        return _real()
time.time = _shifted
"""


def lead_midi() -> bytes:
    """A two-bar lead line as a Standard MIDI File."""
    song = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    song.tracks.append(track)
    track.append(mido.MetaMessage("track_name", name="Lead", time=0))
    for pitch in (72, 74, 76, 79, 76, 74, 72, 67):
        track.append(mido.Message("note_on", note=pitch, velocity=90, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=480))
    out = io.BytesIO()
    song.save(file=out)
    return out.getvalue()


def notes(track: str, pitches: list[tuple[int, int, int]], s: Session) -> list[dict[str, Any]]:
    return [
        {"op": "insert", "kind": "note", "id": s.new_id(),
         "value": {"track": track, "pitch": p, "start": start, "dur": dur, "vel": 96}}
        for p, start, dur in pitches
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/history.png"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    chromium = os.environ.get("BACKLINE_CHROMIUM") or shutil.which("chromium")
    assert chromium, "needs Debian's chromium (apt-get install -y chromium)"
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        offset = Path(tmp) / "offset"

        real = datetime.datetime.now()
        now = real.replace(hour=17, minute=20, second=0, microsecond=0)
        shift = (now - real).total_seconds()

        def at(seconds_ago: float) -> None:
            offset.write_text(str(shift - seconds_ago))

        at(0)
        path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
        env = {"PYTHONPATH": path, "HISTORY_SHOT_OFFSET": str(offset)}
        with ServerProcess(Path(tmp) / "data", env=env) as server, ExitStack() as people:
            url = server.url

            def person(
                name: str, role: str, color: str, stack: ExitStack = people
            ) -> SessionThread:
                token = server.token(SESSION, role)
                thread = stack.enter_context(
                    SessionThread(url, session=SESSION, token=token, name=name)
                )
                thread.run(lambda s: s.set_presence(color=color))
                return thread

            ann = person("Ann", "owner", "#17bebb")
            ids: dict[str, str] = {}

            # last night, 21:10 or so: Ann starts the song
            at(20 * HOUR + 10 * 60)

            async def night(s: Session) -> None:
                await s.set("project", "name", "Night Drive")
                drums = s.add_track("Drums", kind="drums", color="#e0673a")
                await drums
                ids["drums"] = str(drums.id)
                groove = s.add_pattern(ids["drums"], sounds=[36, 38, 42], name="Groove")
                await groove
                steps = [
                    {"op": "set", "id": groove.id, "field": "steps", "at": [lane, step], "value": v}
                    for step in range(16)
                    for lane, v in ((0, 110 if step % 4 == 0 else 0), (1, 100 if step % 8 == 4 else 0), (2, 80))
                ]  # fmt: skip
                at(20 * HOUR + 2 * 60)
                await s.edit(steps)
                at(19 * HOUR + 55 * 60)
                await s.add_clip(ids["drums"], str(groove.id), 0, 8 * BAR)
                at(19 * HOUR + 44 * 60)
                bass = s.add_track("Bass", color="#4f8cff", instrument=33)
                await bass
                ids["bass"] = str(bass.id)
                line = [
                    (36 + (12 if e in (3, 7) else 0), bar * BAR + e * BEAT // 2, 400)
                    for bar in range(2)
                    for e in range(8)
                ]
                await s.edit(notes(ids["bass"], line, s))
                await s.history.label("first groove")
                at(19 * HOUR + 31 * 60)
                await s.set_tempo(96)

            ann.run(night)

            # this morning: Bob and Cleo join in
            at(7 * HOUR + 20 * 60)
            bob = person("Bob", "editor", "#ff9f1c")
            gone = ExitStack()
            cleo = person("Cleo", "editor", "#e84a8a", gone)

            async def morning_bob(s: Session) -> None:
                keys = s.add_track("Keys", color="#9b7bd6", instrument=4)
                await keys
                ids["keys"] = str(keys.id)
                chords = [[60, 64, 67], [62, 65, 69], [59, 62, 67], [60, 64, 69]]
                pitches = [(p, bar * BAR, BAR - BEAT // 4) for bar in range(4) for p in chords[bar]]
                at(7 * HOUR + 12 * 60)
                await s.edit(notes(ids["keys"], pitches, s))
                at(7 * HOUR + 4 * 60)
                await s.add_section("Verse", 0, 8 * BAR, color="#4fa3a5")
                await s.add_section("Chorus", 8 * BAR, 8 * BAR, color="#c75b7a")

            bob.run(morning_bob)
            at(7 * HOUR)
            cleo.run(lambda s: s.import_midi(lead_midi(), name="lead.mid"))
            at(6 * HOUR + 40 * 60)
            ann.run(lambda s: s.set(ids["bass"], "volume", 0.7))
            bob.run(lambda s: s.set_tempo(100))

            async def named(s: Session) -> None:
                await s.history.label("verse + chorus")

            bob.run(named)
            chosen = bob.run(lambda s: s.version)
            gone.close()  # Cleo went: offline now

            # now: a new take, a restore, the mix
            at(25 * 60)
            bob.run(lambda s: s.set(ids["keys"], "instrument", 81))
            bob.run(lambda s: s.set(ids["keys"], "name", "Saw lead"))
            at(12 * 60)
            ann.run(lambda s: s.history.restore(chosen))
            at(6 * 60)
            ann.run(lambda s: s.set(ids["drums"], "volume", 0.85))
            bob.run(lambda s: s.edit(notes(ids["keys"], [(72, 0, BEAT), (74, BEAT, BEAT)], s)))
            at(60)
            ann.run(lambda s: s.set(ids["bass"], "pan", -0.2))

            async def mix(s: Session) -> None:
                await s.history.label("mix A")

            ann.run(mix)
            latest = ann.run(lambda s: s.version)

            with sync_playwright() as driver:
                browser = driver.chromium.launch(
                    executable_path=chromium, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    page = browser.new_page(viewport={"width": 1440, "height": 900})
                    page.clock.set_fixed_time(now + datetime.timedelta(seconds=20))
                    join(page, server, SESSION, "Ada")
                    page.wait_for_function("(v) => window.backline.version() >= v", arg=latest)
                    page.get_by_role("button", name="History", exact=True).click()
                    page.wait_for_selector(f".history-row[data-version='{latest}'] .history-chip")
                    page.locator(f".history-row[data-version='{chosen}']").click()
                    page.wait_for_selector(".audition-banner:not([hidden])")
                    page.locator(f".history-row[data-version='{chosen}']").focus()
                    page.wait_for_timeout(300)  # the piano roll's canvas draws on its next frame
                    page.screenshot(path=str(args.out))
                finally:
                    browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
