"""The piano roll's harmony tools (web/ui/pianoroll.js with web/harmony.js).

Real Chromium against a real server; a Python participant sets the key, writes
the notes and watches. Fit to scale and stamping a chord are ONE edit and ONE
undo each; the detected chord follows the selection; the scale's rows follow
the key whoever sets it, and snap to scale puts drawn and dragged notes in it.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, expect

from backline.protocol.model import PPQ
from backline.testing import ServerProcess, SessionThread

SESSION = "harmony"
A_MINOR = {9, 11, 0, 2, 4, 5, 7}  # A B C D E F G


def join(context: BrowserContext, server: ServerProcess, name: str = "Dana") -> Page:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    page.goto(f"{server.http_url}/#session={SESSION}&token={server.token(SESSION, 'editor')}")
    page.fill("input[name=name]", name)
    page.click("button[type=submit]")
    page.wait_for_function("() => window.backline && window.backline.state() === 'connected'")
    page.wait_for_function("() => window.backline.roll() && window.backline.roll().debug().shown")
    page.locator(".pr-body").evaluate("(el) => el.scrollIntoView({block: 'center'})")
    return page


def settle(page: Page, bot: SessionThread) -> int:
    """Wait until the page's edits are acknowledged and the bot has them; the version."""
    page.wait_for_function("() => window.backline.pending() === 0")
    version: int = page.evaluate("window.backline.version()")
    bot.wait_until(lambda s: s.version >= version, what=f"version {version}")
    return version


def notes_of(bot: SessionThread) -> dict[str, Any]:
    return bot.run(lambda s: {k: dict(v) for k, v in s.project.notes.items()})


def pitches_in(page: Page) -> list[int]:
    pitches: list[int] = page.evaluate(
        "() => window.backline.project().notes.map((n) => n.pitch).sort((a, b) => a - b)"
    )
    return pitches


def at(page: Page, tick: float, pitch: int) -> tuple[float, float]:
    p = page.evaluate("([t, p]) => window.backline.roll().screenPoint(t, p)", [tick, pitch])
    return p["x"], p["y"]


def click(page: Page, tick: float, pitch: int, shift: bool = False) -> None:
    x, y = at(page, tick, pitch)
    if shift:
        page.keyboard.down("Shift")
    page.mouse.click(x, y)
    if shift:
        page.keyboard.up("Shift")


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=3)
    page.mouse.move(*end, steps=3)
    page.mouse.up()


def wait_selected(page: Page, count: int) -> None:
    page.wait_for_function("(n) => window.backline.roll().debug().selected.length === n", arg=count)


def undo(page: Page, bot: SessionThread, version: int) -> int:
    page.locator(".pr-scroll").focus()
    page.keyboard.press("Control+z")
    page.wait_for_function("(v) => window.backline.version() > v", arg=version)
    after = settle(page, bot)
    assert after == version + 1
    return after


def test_fit_to_scale_stamp_and_detect_chords(
    browser: Browser, context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    keys = bot.run(lambda s: s.add_track("Keys", kind="instrument").id)
    bot.run(lambda s: s.set_key("C major"))
    off = [
        bot.run(lambda s, p=p, t=t: s.add_note(keys, p, t, 400).id) for p, t in ((61, 0), (66, 480))
    ]
    for pitch in (64, 67, 72):  # C/E, in bar 2
        bot.run(lambda s, p=pitch: s.add_note(keys, p, 4 * PPQ, 960))
    bot.run(lambda s: s.add_chord("Dm7", 8 * PPQ))  # the chord track's chord in bar 3
    bot.run(lambda s: s.synced())
    page = join(context, server)
    other = join(browser.new_context(), server, "Eli")  # a second person sees every edit
    page.wait_for_function("() => window.backline.roll().debug().notes.length === 5")
    page.evaluate("window.backline.roll().reveal(0, 66)")
    expect(page.locator(".pr-scale")).to_contain_text("C major")
    expect(page.locator(".pr-scale")).to_have_attribute("aria-pressed", "true")
    version = settle(page, bot)

    # an empty selection: said like the other editing commands, no edit
    page.locator(".pr-scroll").focus()
    page.keyboard.press("v")
    page.keyboard.press("Shift+S")
    expect(page.locator(".toast-error")).to_contain_text("nothing_selected")
    assert page.evaluate("window.backline.version()") == version

    # 61 and 66 selected, fit to scale: 60 and 65 (ties go down), one version, everywhere
    click(page, 100, 61)
    click(page, 580, 66, shift=True)
    wait_selected(page, 2)
    before = notes_of(bot)
    page.locator(".pr-fit").click()
    after = settle(page, bot)
    assert after == version + 1
    assert sorted(notes_of(bot)[i]["pitch"] for i in off) == [60, 65]
    other.wait_for_function(
        "() => window.backline.project().notes.filter((n) => n.pitch === 60 || n.pitch === 65).length === 2"
    )
    assert pitches_in(other) == [60, 64, 65, 67, 72]
    # one Ctrl+Z puts both back
    version = undo(page, bot, after)
    assert notes_of(bot) == before
    other.wait_for_function("() => window.backline.project().notes.some((n) => n.pitch === 61)")
    assert pitches_in(other) == [61, 64, 66, 67, 72]

    # the C/E voicing selected with a rubber band: the toolbar names it
    page.evaluate(f"window.backline.roll().reveal({4 * PPQ}, 68)")
    drag(page, at(page, 4 * PPQ - 50, 74), at(page, 4 * PPQ + 500, 63))
    wait_selected(page, 3)
    expect(page.locator(".pr-detected-name")).to_have_text("C/E")
    click(page, 4 * PPQ + 100, 72, shift=True)  # E and G only: no chord of theirs
    wait_selected(page, 2)
    expect(page.locator(".pr-detected-name")).to_have_text("—")
    page.keyboard.press("Escape")
    expect(page.locator(".pr-detected")).to_be_hidden()

    # stamp a chord at the cursor (a click in bar 3): the input starts with the chord track's
    page.evaluate(f"window.backline.roll().reveal({8 * PPQ}, 72)")
    click(page, 8 * PPQ + 30, 70)  # Select tool: no note, the edit cursor at bar 3 (snapped)
    page.keyboard.press("Shift+C")
    chord = page.locator(".pr-stamp-input")
    expect(chord).to_be_focused()
    expect(chord).to_have_value("Dm7")
    expect(page.locator(".pr-stamp-where")).to_have_text("at bar 3, beat 1 · 1/16")
    # while it is open a click only moves where the chord goes (and keeps the input's focus)
    click(page, 12 * PPQ + 30, 70)
    expect(page.locator(".pr-stamp-where")).to_have_text("at bar 4, beat 1 · 1/16")
    expect(chord).to_be_focused()
    click(page, 8 * PPQ + 30, 70)
    expect(page.locator(".pr-stamp-where")).to_contain_text("at bar 3, beat 1")
    # an unknown symbol: said inline, nothing written
    chord.fill("Hmaj")
    chord.press("Enter")
    expect(page.locator(".pr-stamp-error")).to_contain_text("unknown chord symbol")
    expect(chord).to_have_attribute("aria-invalid", "true")
    assert page.evaluate("window.backline.pending()") == 0
    assert page.evaluate("window.backline.version()") == version
    assert len(notes_of(bot)) == 5
    # Am7: four notes at the cursor for the grid's length, root position, one version
    chord.fill("Am7")
    chord.press("Enter")
    expect(page.locator(".pr-stamp")).to_be_hidden()
    after = settle(page, bot)
    assert after == version + 1
    stamped = sorted(
        (n for k, n in notes_of(bot).items() if k not in before), key=lambda n: n["pitch"]
    )
    assert [(n["start"], n["dur"], n["track"]) for n in stamped] == [(8 * PPQ, 240, keys)] * 4
    pitches = [n["pitch"] for n in stamped]
    assert pitches[0] % 12 == 9  # A at the bottom
    assert [p - pitches[0] for p in pitches] == [0, 3, 7, 10]
    assert 48 <= pitches[0] <= 84  # near the middle of the view
    assert page.evaluate("window.backline.roll().debug().selected") == sorted(
        n["id"] for n in stamped
    )
    expect(page.locator(".pr-detected-name")).to_have_text("Am7")
    other.wait_for_function("() => window.backline.project().notes.length === 9")
    # one undo takes all four away
    undo(page, bot, after)
    assert notes_of(bot) == before
    other.wait_for_function("() => window.backline.project().notes.length === 5")
    assert page.errors == [] and other.errors == []  # type: ignore[attr-defined]


def test_scale_rows_follow_the_key_and_snap_to_scale(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    keys = bot.run(lambda s: s.add_track("Keys", kind="instrument").id)
    moving = bot.run(lambda s: s.add_note(keys, 65, 4 * PPQ, 480).id)
    bot.run(lambda s: s.synced())
    page = join(context, server)
    page.wait_for_function("() => window.backline.roll().debug().notes.length === 1")
    page.evaluate("window.backline.roll().reveal(0, 67)")
    rows = page.locator(".pr-row")
    expect(rows).to_have_count(128)
    expect(page.locator('.pr-row[data-pitch="60"]')).to_have_class("pr-row in-scale tonic")

    # someone else sets the key: the rows and the toggle follow
    bot.run(lambda s: s.set_key("A minor"))
    expect(page.locator(".pr-scale")).to_contain_text("A minor")
    for pitch in (57, 69):
        expect(page.locator(f'.pr-row[data-pitch="{pitch}"]')).to_have_class(
            "pr-row in-scale tonic"
        )
    for pitch in (59, 60, 71, 72, 79):
        expect(page.locator(f'.pr-row[data-pitch="{pitch}"]')).to_have_class("pr-row in-scale")
    for pitch in (61, 66, 68, 70):
        expect(page.locator(f'.pr-row[data-pitch="{pitch}"]')).to_have_class("pr-row out-scale")
    shaded = page.evaluate(
        "() => [...document.querySelectorAll('.pr-row.in-scale')].map((el) => +el.dataset.pitch)"
    )
    assert {p % 12 for p in shaded} == A_MINOR
    assert len(shaded) == len([p for p in range(128) if p % 12 in A_MINOR])
    # the lighter shading is what shows under the notes
    colours = page.evaluate(
        """() => [69, 67, 68].map((p) => getComputedStyle(
             document.querySelector(`.pr-row[data-pitch="${p}"]`)).backgroundColor)"""
    )
    assert len(set(colours)) == 3, colours  # tonic, in scale, out of it

    # the toggle: off shades no scale row, on again shades them
    page.locator(".pr-scale").click()
    expect(page.locator(".pr-scale")).to_have_attribute("aria-pressed", "false")
    expect(page.locator(".pr-row.in-scale")).to_have_count(0)
    page.locator(".pr-scale").click()
    expect(page.locator(".pr-row.in-scale")).to_have_count(len(shaded))

    # snap to scale (off by default, kept in this browser): drawn at G# lands on G (a tie: down)
    snap = page.locator(".pr-snap")
    expect(snap).to_have_attribute("aria-pressed", "false")
    snap.click()
    expect(snap).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("localStorage.getItem('backline.pref.rollSnapScale')") == "true"
    version = settle(page, bot)
    page.locator(".pr-scroll").focus()
    page.keyboard.press("b")
    click(page, 10, 68)
    page.wait_for_function("() => window.backline.roll().debug().notes.length === 2")
    version = settle(page, bot)
    drawn = [n for k, n in notes_of(bot).items() if k != moving]
    assert [(n["pitch"], n["start"]) for n in drawn] == [(67, 0)]
    # a note at F dragged up to G#: lands on G, one version
    drag(page, at(page, 4 * PPQ + 100, 65), at(page, 4 * PPQ + 100, 68))
    after = settle(page, bot)
    assert after == version + 1
    assert (notes_of(bot)[moving]["pitch"], notes_of(bot)[moving]["start"]) == (67, 4 * PPQ)
    # and it is this browser's choice: still on after a reload
    page.reload()
    page.wait_for_function("() => window.backline && window.backline.roll()")
    expect(page.locator(".pr-snap")).to_have_attribute("aria-pressed", "true")
    assert page.errors == []  # type: ignore[attr-defined]
