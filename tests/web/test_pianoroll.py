"""The piano roll (web/ui/pianoroll.js) by mouse and keyboard, checked in the SDK's mirror.

Real Chromium against a real server; a Python participant makes the project
and watches. Each editing command must arrive as ONE version and undo as one
step. One page load per group of scenarios, to keep the file fast.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from backline.protocol.model import PPQ
from backline.testing import ServerProcess, SessionThread

SESSION = "roll"
VIEWER = "Viewers can listen and chat, not edit"


def join(context: BrowserContext, server: ServerProcess, role: str = "editor") -> Page:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    page.goto(f"{server.http_url}/#session={SESSION}&token={server.token(SESSION, role)}")
    page.fill("input[name=name]", "Dana")
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


def roll(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate("window.backline.roll().debug()")
    return state


def at(page: Page, tick: float, pitch: int) -> tuple[float, float]:
    p = page.evaluate("([t, p]) => window.backline.roll().screenPoint(t, p)", [tick, pitch])
    return p["x"], p["y"]


def click(page: Page, tick: float, pitch: int, modifiers: list[str] | None = None) -> None:
    x, y = at(page, tick, pitch)
    if modifiers:
        for key in modifiers:
            page.keyboard.down(key)
    page.mouse.click(x, y)
    if modifiers:
        for key in modifiers:
            page.keyboard.up(key)


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=3)
    page.mouse.move(*end, steps=3)
    page.mouse.up()


def one_version(page: Page, bot: SessionThread, before: int, press: str | None = None) -> int:
    """After a command: exactly one new version; returns it."""
    if press is not None:
        page.keyboard.press(press)
    after = settle(page, bot)
    assert after == before + 1, (before, after)
    return after


def undo_one(page: Page, bot: SessionThread, version: int, notes: dict[str, Any]) -> int:
    """Ctrl-Z takes the last command back in one step: the notes as they were."""
    page.keyboard.press("Control+z")
    page.wait_for_function("(v) => window.backline.version() > v", arg=version)
    after = settle(page, bot)
    assert after == version + 1
    assert bot.session.project.notes == notes
    return after


def notes_of(bot: SessionThread) -> dict[str, Any]:
    return bot.run(lambda s: {k: dict(v) for k, v in s.project.notes.items()})


def wait_notes(page: Page, count: int) -> None:
    page.wait_for_function("(n) => window.backline.roll().debug().notes.length === n", arg=count)


def test_tools_and_commands_each_one_version_and_one_undo(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    synth = bot.run(lambda s: s.add_track("Keys", kind="instrument").id)
    for pitch, start in ((60, 10), (64, 250), (67, 470)):
        bot.run(lambda s, p=pitch, t=start: s.add_note(synth, p, t, 200))
    bot.run(lambda s: s.synced())
    page = join(context, server)
    wait_notes(page, 3)
    page.evaluate("window.backline.roll().reveal(0, 64)")
    version = settle(page, bot)

    # Select tool: a click on empty space adds nothing, and clears the selection
    page.locator(".pr-scroll").focus()
    page.keyboard.press("v")
    assert roll(page)["tool"] == "select"
    click(page, 4 * PPQ + 100, 62)
    page.wait_for_function("() => window.backline.pending() === 0")
    assert page.evaluate("window.backline.version()") == version and len(notes_of(bot)) == 3

    # rubber band over the first two notes
    drag(page, at(page, 0, 66), at(page, 300, 59))
    page.wait_for_function("() => window.backline.roll().debug().selected.length === 2")
    first_two = sorted(n["id"] for n in notes_of(bot).values() if n["pitch"] in (60, 64))
    assert roll(page)["selected"] == first_two
    # Shift-click adds the third
    click(page, 480, 67, ["Shift"])
    page.wait_for_function("() => window.backline.roll().debug().selected.length === 3")

    # quantize to 1/16 at full strength: one version, one undo step
    before = notes_of(bot)
    page.locator(".pr-scroll").focus()
    version = one_version(page, bot, version, "q")
    assert sorted(n["start"] for n in notes_of(bot).values()) == [0, 240, 480]
    version = undo_one(page, bot, version, before)

    # transpose up a semitone, then an octave down
    version = one_version(page, bot, version, "ArrowUp")
    assert sorted(n["pitch"] for n in notes_of(bot).values()) == [61, 65, 68]
    version = one_version(page, bot, version, "Shift+ArrowDown")
    assert sorted(n["pitch"] for n in notes_of(bot).values()) == [49, 53, 56]
    version = undo_one(page, bot, version, _transposed(before, 1))
    version = undo_one(page, bot, version, before)

    # duplicate: copies one beat after the span (10..670 -> offset 960)
    version = one_version(page, bot, version, "Control+d")
    copies = [n for k, n in notes_of(bot).items() if k not in before]
    assert sorted(n["start"] for n in copies) == [970, 1210, 1430]
    assert roll(page)["selected"] == sorted(n["id"] for n in copies)  # the copies are selected
    version = undo_one(page, bot, version, before)
    wait_notes(page, 3)

    # copy, click at bar 3, paste: relative positions kept, first at the click (snapped)
    page.keyboard.press("Control+a")
    page.wait_for_function("() => window.backline.roll().debug().selected.length === 3")
    page.keyboard.press("Control+c")
    page.evaluate(f"window.backline.roll().reveal({8 * PPQ}, 64)")
    click(page, 8 * PPQ + 30, 58)  # Select tool: nothing added, the paste position set
    page.locator(".pr-scroll").focus()
    version = one_version(page, bot, version, "Control+v")
    pasted = sorted(n["start"] for k, n in notes_of(bot).items() if k not in before)
    assert pasted == [8 * PPQ, 8 * PPQ + 240, 8 * PPQ + 460]
    version = undo_one(page, bot, version, before)
    wait_notes(page, 3)

    # Draw tool: a click adds a snapped note, a drag sets its length
    page.keyboard.press("b")
    assert roll(page)["tool"] == "draw"
    page.evaluate("window.backline.roll().reveal(0, 64)")
    click(page, 2 * PPQ + 300, 72)  # in the second 1/16 of beat 3
    version = settle(page, bot)
    added = [n for k, n in notes_of(bot).items() if k not in before]
    assert [(n["pitch"], n["start"], n["dur"]) for n in added] == [(72, 2 * PPQ + 240, 240)]
    drag(page, at(page, 3 * PPQ + 10, 74), at(page, 4 * PPQ + 100, 74))  # 1 beat and a bit
    version = settle(page, bot)
    drawn = [n for k, n in notes_of(bot).items() if k not in before and n["pitch"] == 74]
    assert [(n["start"], n["dur"]) for n in drawn] == [(3 * PPQ, 1200)]

    # the velocity lane: drag the drawn note's bar down to about a quarter
    vid = drawn[0]["id"]
    start = page.evaluate("(id) => window.backline.roll().velocityPoint(id, 100)", vid)
    end = page.evaluate("(id) => window.backline.roll().velocityPoint(id, 32)", vid)
    drag(page, (start["x"], start["y"]), (end["x"], end["y"]))
    version = settle(page, bot)
    assert 28 <= notes_of(bot)[vid]["vel"] <= 36

    # move by drag (a beat later, a tone up) and resize by the right edge
    x, y = at(page, 3 * PPQ + 100, 74)
    drag(page, (x, y), at(page, 4 * PPQ + 100, 76))
    version = settle(page, bot)
    moved = notes_of(bot)[vid]
    assert (moved["start"], moved["pitch"]) == (4 * PPQ, 76)
    edge = at(page, 4 * PPQ + 1200 - 4, 76)
    drag(page, edge, (edge[0] + 480 * roll(page)["pxPerTick"], edge[1]))
    version = settle(page, bot)
    assert notes_of(bot)[vid]["dur"] == 1200 + 480

    # Delete removes the selection, in one version
    page.locator(".pr-scroll").focus()
    one_version(page, bot, version, "Delete")
    assert vid not in notes_of(bot)
    assert page.errors == []  # type: ignore[attr-defined]


def _transposed(notes: dict[str, Any], semitones: int) -> dict[str, Any]:
    return {k: {**n, "pitch": n["pitch"] + semitones} for k, n in notes.items()}


def test_notes_clip_editing_lands_at_clip_relative_starts(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    synth = bot.run(lambda s: s.add_track("Keys", kind="instrument").id)
    clip = bot.run(lambda s: s.add_clip(synth, None, start=4 * PPQ, length=8 * PPQ).id)
    inside = bot.run(lambda s: s.add_note(synth, 60, 250, 240, clip=clip).id)
    bot.run(lambda s: s.add_note(synth, 120, 2000, 240, clip=clip).id)  # near the top
    bot.run(lambda s: s.add_note(synth, 48, 0, 240).id)  # a free note: not in the clip's roll
    bot.run(lambda s: s.synced())
    page = join(context, server)
    wait_notes(page, 1)  # the free note
    page.evaluate(
        "(c) => { const app = window.backline.roll().app; app.selectedClip = c; app.render(); }",
        clip,
    )
    # the scope switches at once, the drawn notes on the next frame: wait for both
    page.wait_for_function(
        "([c, n]) => { const d = window.backline.roll().debug();"
        " return d.clip === c && d.notes.length === 2 && d.notes[0] === n; }",
        arg=[clip, inside],
    )
    page.evaluate(f"window.backline.roll().reveal({4 * PPQ}, 64)")
    # drawn at bar 2 beat 3 (absolute 6 beats): 2 beats into the clip
    click(page, 6 * PPQ + 5, 64)
    settle(page, bot)
    added = [n for n in notes_of(bot).values() if n["pitch"] == 64]
    assert [(n["clip"], n["start"]) for n in added] == [(clip, 2 * PPQ)]
    # quantize counts from bar 1 where the note sounds: 4*PPQ + 250 -> 4*PPQ + 240
    page.locator(".pr-scroll").focus()
    page.keyboard.press("v")
    click(page, 4 * PPQ + 300, 60)
    page.wait_for_function("(id) => window.backline.roll().debug().selected[0] === id", arg=inside)
    page.keyboard.press("q")
    version = settle(page, bot)
    assert notes_of(bot)[inside]["start"] == 240
    # an octave up would take the high note past 127: refused here, one toast, no edit
    page.keyboard.press("Control+a")
    page.wait_for_function("() => window.backline.roll().debug().selected.length === 3")
    page.keyboard.press("Shift+ArrowUp")
    expect(page.locator(".toast-error")).to_have_count(1)
    expect(page.locator(".toast-error")).to_contain_text("out_of_range")
    assert page.evaluate("window.backline.pending()") == 0
    assert page.evaluate("window.backline.version()") == version
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_viewer_has_no_enabled_roll_control_and_audio_tracks_have_no_roll(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    synth = bot.run(lambda s: s.add_track("Keys", kind="instrument").id)
    note = bot.run(lambda s: s.add_note(synth, 60, 0, 480).id)
    audio = bot.run(lambda s: s.add_track("Vox", kind="audio").id)
    bot.run(lambda s: s.synced())
    page = join(context, server, role="viewer")
    wait_notes(page, 1)
    version = page.evaluate("window.backline.version()")
    controls = page.evaluate(
        """() => [...document.querySelectorAll('.roll [data-edit], .roll .strength')]
             .map((el) => ({ name: el.textContent.trim() || el.getAttribute('aria-label'),
                             disabled: el.disabled, title: el.title }))"""
    )
    assert {c["name"] for c in controls} >= {"✎ Draw", "⬚ Select", "Quantize", "Quantize strength"}
    assert all(c["disabled"] and c["title"] == VIEWER for c in controls), controls
    expect(page.locator(".pr-scroll")).to_have_attribute("aria-disabled", "true")
    # a click selects (looking is for everyone) but never adds; keys say why
    page.evaluate("window.backline.roll().reveal(0, 60)")
    click(page, 2 * PPQ, 62)
    click(page, 100, 60)
    page.wait_for_function("(id) => window.backline.roll().debug().selected[0] === id", arg=note)
    page.keyboard.press("q")
    expect(page.locator(".toast-error").first).to_have_text(VIEWER)
    assert page.evaluate("window.backline.pending()") == 0
    assert page.evaluate("window.backline.version()") == version
    # an audio track gets no piano roll, and says why
    page.evaluate("(id) => window.backline.roll().app.select(id)", audio)
    expect(page.locator(".roll-hint")).to_contain_text("Audio tracks")
    expect(page.locator(".pr-body")).to_be_hidden()
    assert page.errors == []  # type: ignore[attr-defined]
