"""The web client's controls, by mouse and keyboard, checked in the SDK's mirror.

One browser and a Python participant per test against a real server: every
control must produce the edit it promises (the bot sees it), and the page
must stay usable from the keyboard alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from backline.testing import ServerProcess, SessionThread

SESSION = "controls"


def join(context: BrowserContext, server: ServerProcess, role: str = "editor") -> Page:
    page = context.new_page()
    page.goto(f"{server.http_url}/#session={SESSION}&token={server.token(SESSION, role)}")
    page.fill("input[name=name]", "Carol")
    page.click("button[type=submit]")
    page.wait_for_function("() => window.backline && window.backline.state() === 'connected'")
    page.wait_for_selector(".transport")
    return page


def settle(page: Page, bot: SessionThread) -> None:
    page.wait_for_function("() => window.backline.pending() === 0")
    version = page.evaluate("window.backline.version()")
    bot.wait_until(lambda s: s.version >= version, what=f"version {version}")


def only(table: dict[str, Any]) -> dict[str, Any]:
    assert len(table) == 1, table
    return next(iter(table.values()))  # type: ignore[no-any-return]


def cell(page: Page, lane: int, step: int) -> Any:
    return page.locator(f".cell[data-lane='{lane}'][data-step='{step}']")


def test_step_sequencer_controls(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    """Toggle, alt-click and drag velocity, keyboard toggling and velocity, length,
    resolution, lanes added and removed."""
    page = join(context, server)
    page.select_option(".tracks select", "drums")
    page.click(".add-track")  # with its first pattern, one bar of 4/4, in the same version
    settle(page, bot)
    assert bot.session.version == 1 and only(bot.session.project.patterns)["length"] == 16
    cell(page, 0, 0).click()
    cell(page, 0, 1).click(modifiers=["Alt"])  # off -> first alt velocity
    box = cell(page, 0, 2).bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y - 10, steps=3)
    page.mouse.move(x, y - 20, steps=3)
    page.mouse.up()
    cell(page, 1, 0).focus()
    page.keyboard.press("Enter")  # toggles on
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")  # the next step, on
    page.keyboard.press("+")  # and louder
    settle(page, bot)
    steps = only(bot.session.project.patterns)["lanes"]
    assert steps[0]["steps"][:3] == [100, 127, 120]  # drag: +20 from the default velocity
    assert steps[1]["steps"][:2] == [100, 110]
    page.fill(".steps .length", "8")
    page.press(".steps .length", "Enter")
    page.select_option(".steps select[aria-label='Steps per beat']", "2")
    page.select_option(".lane-add select", "39")
    page.click("text=+ Lane")
    expect(page.locator(".lane")).to_have_count(5)
    page.locator(".lane-label .remove").first.click()
    expect(page.locator(".lane")).to_have_count(4)
    settle(page, bot)
    pattern = only(bot.session.project.patterns)
    assert pattern["length"] == 8 and pattern["steps_per_beat"] == 2
    assert [lane["sound"] for lane in pattern["lanes"]] == [38, 42, 46, 39]
    assert pattern["lanes"][0]["steps"] == [100, 110, 0, 0, 0, 0, 0, 0]
    expect(page.locator(".cell")).to_have_count(32)


def test_piano_roll_controls(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    """Add by click (Draw tool, snapped), then nudge, transpose and resize from the keyboard,
    delete; tests/web/test_pianoroll.py has the rest."""
    page = join(context, server)
    page.select_option(".tracks select", "instrument")
    page.click(".add-track")
    page.wait_for_function("() => window.backline.roll().debug().shown")
    page.locator(".pr-body").evaluate("(el) => el.scrollIntoView({block: 'center'})")
    page.evaluate("window.backline.roll().reveal(0, 60)")
    point = page.evaluate("window.backline.roll().screenPoint(2 * 960 + 300, 60)")
    page.mouse.click(point["x"], point["y"])  # the Draw tool: a note in beat 3's second 1/16
    settle(page, bot)
    added = only(bot.session.project.notes)
    assert (added["pitch"], added["start"], added["dur"]) == (60, 2 * 960 + 240, 240)
    page.keyboard.press("ArrowRight")  # one 1/16 later
    page.keyboard.press("ArrowUp")  # a semitone up
    page.keyboard.press("Shift+ArrowRight")  # a 1/16 longer
    settle(page, bot)
    first = only(bot.session.project.notes)
    assert (first["pitch"], first["start"], first["dur"]) == (61, 2 * 960 + 480, 480)
    page.keyboard.press("Delete")
    settle(page, bot)
    assert bot.session.project.notes == {}
    page.wait_for_function("() => window.backline.roll().debug().notes.length === 0")


def test_mixer_and_transport_controls(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    """Rename, volume and pan from the keyboard, mute, solo, remove; meter; tap tempo."""
    page = join(context, server)
    page.click(".add-track")
    strip = page.locator(".strip").first
    strip.locator(".name").fill("Lead")
    strip.locator(".name").press("Enter")
    strip.locator(".volume").focus()
    page.keyboard.press("ArrowLeft")
    strip.locator(".pan").focus()
    page.keyboard.press("ArrowRight")
    strip.locator(".mute").click()
    strip.locator(".solo").click()
    page.fill(".meter-num", "7")
    page.press(".meter-num", "Enter")
    page.select_option(".meter-den", "8")
    for _ in range(4):
        page.click(".tap")
    settle(page, bot)
    track = bot.session.tracks()[0]
    assert track["name"] == "Lead"
    assert track["volume"] == pytest.approx(0.99)
    assert track["pan"] == pytest.approx(0.01)
    assert track["mute"] is True and track["solo"] is True
    project = bot.session.project.project
    assert project["meter"] == [7, 8]
    tempo = float(page.input_value(".tempo"))
    assert 20 <= project["tempo"] <= 999 and project["tempo"] == tempo
    strip.locator(".remove").click()
    settle(page, bot)
    assert bot.session.tracks() == []
    expect(page.locator(".strip")).to_have_count(0)


def test_viewer_cannot_edit(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    """A viewer sees the project with its controls disabled; the undo shortcut says why,
    and an edit forced through the session API is refused by the server."""
    track = bot.run(lambda s: s.add_track("Drums", kind="drums").id)
    bot.run(lambda s: s.add_pattern(track, sounds=[36]))
    bot.run(lambda s: s.synced())
    page = join(context, server, role="viewer")
    expect(page.locator(".cell")).to_have_count(16)
    expect(page.locator("button.play")).to_be_disabled()
    expect(page.locator(".cell").first).to_be_disabled()
    expect(page.locator(".strip .volume")).to_be_disabled()
    page.locator(".position").click()
    page.keyboard.press("Control+z")
    expect(page.locator(".toast-error")).to_contain_text("Viewers can listen and chat, not edit")
    page.evaluate("window.backline.session.undo()")
    expect(page.locator(".toast-error").last).to_contain_text("forbidden")


def test_drop_reconnects_and_sends_what_waited(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    """A dropped connection comes back by itself; edits made while it was down arrive."""
    page = join(context, server)
    # offline for 3 s: the edit below is certainly made while the connection is down
    page.evaluate("window.backline.drop(3000)")
    expect(page.locator(".conn")).to_have_attribute("data-state", "reconnecting")
    page.click(".add-track")  # while reconnecting: applied here, queued
    expect(page.locator(".strip")).to_have_count(1)
    expect(page.locator(".conn")).to_have_text("Connected", timeout=15_000)
    settle(page, bot)
    assert len(bot.session.tracks()) == 1
    assert page.evaluate("window.backline.project()") == bot.session.project.to_data()


def test_refused_token_is_explained_at_the_join_form(
    context: BrowserContext, server: ServerProcess
) -> None:
    """A token for another session is refused with its reason, and the form stays usable."""
    page = context.new_page()
    page.goto(f"{server.http_url}/#session={SESSION}&token={server.token('elsewhere')}")
    page.fill("input[name=name]", "Eve")
    page.click("button[type=submit]")
    expect(page.locator(".join-error")).to_contain_text("another session")
    expect(page.locator("button[type=submit]")).to_be_enabled()
    page.fill("input[name=token]", server.token(SESSION))
    page.click("button[type=submit]")
    expect(page.locator(".conn")).to_have_text("Connected")


def test_joins_from_the_printed_owner_link(context: BrowserContext, server: ServerProcess) -> None:
    """The link `backline serve` prints opens the page ready to join as owner; the token
    then leaves the address bar."""
    page = context.new_page()
    page.goto(server.owner_link)
    expect(page.locator("input[name=session]")).to_have_value("jam")
    expect(page.locator("input[name=name]")).to_be_focused()
    page.keyboard.type("Fay")
    page.keyboard.press("Enter")
    expect(page.locator(".conn")).to_have_text("Connected")
    assert page.evaluate("window.backline.session.role") == "owner"
    assert "token" not in page.url
