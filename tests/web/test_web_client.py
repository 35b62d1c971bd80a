"""The web client end to end: two Chromium contexts and a Python bot in one session.

Each test runs a real server process; the browsers join through the page
(join form, prefilled from the link the server prints) and are driven by
clicks and keys; the bot is the Python SDK. Waits are on page state
(`wait_for_function`) or SDK events, never on sleeps.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from backline.testing import ServerProcess, SessionThread

SESSION = "webjam"
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "artifacts"


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def join(
    browser: Browser,
    contexts: list[BrowserContext],
    server: ServerProcess,
    name: str,
    color: str,
    role: str = "editor",
) -> Page:
    """A new browser context that opens a join link and joins with `name` and `color`."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    contexts.append(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.http_url}/#session={SESSION}&token={server.token(SESSION, role)}")
    page.fill("input[name=name]", name)
    page.fill("input[name=color]", color)
    page.click("button[type=submit]")
    page.wait_for_function("() => window.backline && window.backline.state() === 'connected'")
    page.wait_for_selector(".transport")
    page.errors = errors  # type: ignore[attr-defined]
    return page


def settle(page: Page) -> None:
    """Wait until the page has no unacknowledged edit."""
    page.wait_for_function("() => window.backline.pending() === 0")


def same_version(page: Page, bot: SessionThread) -> None:
    """Wait until page and bot have seen the same latest version."""
    settle(page)
    version = page.evaluate("window.backline.version()")
    bot.wait_until(lambda s: s.version >= version, what=f"version {version}")
    latest = bot.run(lambda s: s.version)
    page.wait_for_function("(v) => window.backline.version() >= v", arg=latest)


def add_drums(page: Page) -> None:
    page.select_option(".tracks select", "drums")
    page.click(".add-track")  # a drums track comes with its first pattern
    page.wait_for_selector(".cell")


def cell(page: Page, lane: int, step: int) -> Any:
    return page.locator(f".cell[data-lane='{lane}'][data-step='{step}']")


def test_edits_propagate_between_browsers_and_bot(
    browser: Browser, contexts: list[BrowserContext], server: ServerProcess, bot: SessionThread
) -> None:
    """A step toggled in one browser appears in the other and in the bot; a bot's note in
    both browsers; a tempo change everywhere."""
    alice = join(browser, contexts, server, "Alice", "#e4572e")
    bob = join(browser, contexts, server, "Bob", "#17bebb")
    add_drums(alice)
    cell(alice, 1, 4).click()
    expect(cell(alice, 1, 4)).to_have_attribute("aria-pressed", "true")
    expect(cell(bob, 1, 4)).to_have_attribute("aria-pressed", "true")
    expect(cell(bob, 1, 5)).to_have_attribute("aria-pressed", "false")
    bot.wait_until(
        lambda s: any(p["lanes"][1]["steps"][4] == 100 for p in s.project.patterns.values()),
        what="the step in the bot's mirror",
    )

    synth = bot.run(lambda s: s.add_track("Keys", kind="instrument").id)
    note = bot.run(lambda s: s.add_note(synth, 64, 960, 480).id)
    bot.run(lambda s: s.synced())
    for page in (alice, bob):
        page.wait_for_function(
            "(id) => window.backline.roll().debug().notes.includes(id)", arg=note
        )

    alice.fill(".tempo", "133.5")
    alice.press(".tempo", "Enter")
    expect(bob.locator(".tempo")).to_have_value("133.5")
    bot.wait_until(lambda s: s.project.project["tempo"] == 133.5, what="the tempo")
    same_version(alice, bot)
    same_version(bob, bot)
    expected = bot.session.project.to_data()
    assert alice.evaluate("window.backline.project()") == expected
    assert bob.evaluate("window.backline.project()") == expected
    assert alice.errors == bob.errors == []  # type: ignore[attr-defined]


def test_undo_reverts_only_my_edit(
    browser: Browser, contexts: list[BrowserContext], server: ServerProcess, bot: SessionThread
) -> None:
    """Ctrl-Z in one browser undoes that user's last edit, not the other's later one;
    Ctrl-Shift-Z redoes it."""
    alice = join(browser, contexts, server, "Alice", "#e4572e")
    bob = join(browser, contexts, server, "Bob", "#17bebb")
    add_drums(alice)
    alice.fill(".tempo", "101")
    alice.press(".tempo", "Enter")
    settle(alice)
    cell(bob, 0, 2).click()  # Bob's edit comes after Alice's
    settle(bob)
    expect(cell(alice, 0, 2)).to_have_attribute("aria-pressed", "true")
    alice.locator(".position").click()  # focus away from the tempo field
    alice.keyboard.press("Control+z")
    expect(alice.locator(".tempo")).to_have_value("120")
    expect(bob.locator(".tempo")).to_have_value("120")
    expect(cell(alice, 0, 2)).to_have_attribute("aria-pressed", "true")
    expect(cell(bob, 0, 2)).to_have_attribute("aria-pressed", "true")
    bot.wait_until(lambda s: s.project.project["tempo"] == 120.0, what="the undone tempo")
    assert any(p["lanes"][0]["steps"][2] == 100 for p in bot.session.project.patterns.values())
    alice.keyboard.press("Control+Shift+z")
    expect(bob.locator(".tempo")).to_have_value("101")


def test_play_starts_everyone_on_the_same_downbeat(
    browser: Browser, contexts: list[BrowserContext], server: ServerProcess, bot: SessionThread
) -> None:
    """Play in one browser: both report the same start (beat and server time), the same
    bar:beat at a sampled instant, and clocks that agree with each other."""
    alice = join(browser, contexts, server, "Alice", "#e4572e")
    bob = join(browser, contexts, server, "Bob", "#17bebb")
    for page in (alice, bob):
        page.wait_for_function("() => window.backline.clock().synced")
    alice.click("button.play")
    for page in (alice, bob):
        expect(page.locator("button.play")).to_have_text("Stop")
    settle(alice)
    same_version(bob, bot)
    a = alice.evaluate("window.backline.transport()")
    b = bob.evaluate("window.backline.transport()")
    assert a == b == bot.session.project.project["transport"]
    assert a["playing"] is True and a["beat"] == 0.0
    sample = a["time"] + 2_345_678  # µs after the downbeat: bar 2, beat 1 at 120 BPM
    assert alice.evaluate("(t) => window.backline.barBeatAt(t)", sample) == "2:1"
    assert bob.evaluate("(t) => window.backline.barBeatAt(t)", sample) == "2:1"
    assert str(bot.session.timeline.bar_beat_at(sample)) == "2:1"
    # the two pages' server clocks agree: Bob's reading lies between two of Alice's
    first = alice.evaluate("window.backline.serverNow()")
    middle = bob.evaluate("window.backline.serverNow()")
    last = alice.evaluate("window.backline.serverNow()")
    margin = 50_000  # µs: each estimate is within half a loopback round trip
    assert first - margin <= middle <= last + margin
    # the display runs from the shared timeline
    bob.wait_for_function("() => window.backline.position() !== '1:1'")
    alice.click("button.play")
    expect(bob.locator("button.play")).to_have_text("Play")


def test_rejected_edit_rolls_back_with_its_message(
    browser: Browser, contexts: list[BrowserContext], server: ServerProcess, bot: SessionThread
) -> None:
    """An edit made on a stale copy is refused by the server: the step goes off again and
    a toast shows the error."""
    alice = join(browser, contexts, server, "Alice", "#e4572e")
    add_drums(alice)
    settle(alice)
    pattern = alice.evaluate(
        "Object.keys(Object.fromEntries(window.backline.session.project.patterns))[0]"
    )
    # hold Alice's incoming frames, as on a slow link, while the bot deletes the pattern
    alice.evaluate(
        "() => { window.held = []; window.backline.session.handle = (m) => held.push(m); }"
    )
    bot.wait_until(lambda s: pattern in s.project.patterns, what="the pattern")
    bot.run(lambda s: s.remove(pattern))
    cell(alice, 2, 3).click()
    expect(cell(alice, 2, 3)).to_have_attribute("aria-pressed", "true")  # optimistic
    alice.wait_for_function("() => held.some((m) => m.type === 'reject')")
    alice.evaluate(
        """() => {
            const s = window.backline.session;
            s.handle = Object.getPrototypeOf(s).handle;
            held.forEach((m) => s.handle(m));
        }"""
    )
    toast = alice.locator(".toast-error")
    expect(toast).to_contain_text("not_found")
    expect(toast).to_contain_text(pattern)
    expect(alice.locator(".cell")).to_have_count(0)
    assert alice.evaluate("window.backline.pending()") == 0


def test_reconnects_after_server_restart(
    browser: Browser, contexts: list[BrowserContext], server: ServerProcess
) -> None:
    """The server restarts on the same data dir and port: the page shows reconnecting,
    comes back by itself with the same project, and edits again."""
    alice = join(browser, contexts, server, "Alice", "#e4572e")
    add_drums(alice)
    cell(alice, 0, 0).click()
    alice.fill(".tempo", "97")
    alice.press(".tempo", "Enter")
    settle(alice)
    before = alice.evaluate("window.backline.project()")
    server.stop()
    expect(alice.locator(".conn")).not_to_have_text("Connected")
    server.start()
    expect(alice.locator(".conn")).to_have_text("Connected", timeout=20_000)
    assert alice.evaluate("window.backline.project()") == before
    cell(alice, 0, 1).click()
    settle(alice)
    with SessionThread(server.url, session=SESSION, token=server.token(SESSION)) as fresh:
        assert fresh.session.project.project["tempo"] == 97.0
        steps = next(iter(fresh.session.project.patterns.values()))["lanes"][0]["steps"]
        assert steps[:2] == [100, 100]


def test_export_is_what_the_cli_prints(
    browser: Browser, contexts: list[BrowserContext], server: ServerProcess, bot: SessionThread
) -> None:
    """Export JSON gives exactly the text `backline state` prints."""
    alice = join(browser, contexts, server, "Alice", "#e4572e")
    add_drums(alice)
    cell(alice, 0, 0).click()
    synth = bot.run(lambda s: s.add_track("Clé ♪", kind="instrument", volume=0.8, pan=-0.25).id)
    bot.run(lambda s: s.add_note(synth, 60, 0, 240))
    bot.run(lambda s: s.set_swing(0.125))
    same_version(alice, bot)
    printed = subprocess.run(
        [sys.executable, "-m", "backline.cli", "state", server.url,
         "--session", SESSION, "--secret", server.secret or ""],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    with alice.expect_download() as download:
        alice.click("text=Export JSON")
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert exported == printed


def test_presence_and_screenshot(
    browser: Browser, contexts: list[BrowserContext], server: ServerProcess, bot: SessionThread
) -> None:
    """Three participants: each browser lists everyone, shows the other's cursor in the grid
    and selection in the piano roll, and chat reaches everyone. Saves the editor screenshot."""
    alice = join(browser, contexts, server, "Alice", "#e4572e")
    bob = join(browser, contexts, server, "Bob", "#17bebb")
    add_drums(alice)
    for lane, steps in ((0, (0, 6, 8, 11)), (1, (4, 12)), (2, range(0, 16, 2)), (3, (14,))):
        for step in steps:
            cell(alice, lane, step).click()
    synth = bot.run(lambda s: s.add_track("Bass", kind="instrument").id)
    line = [(36, 0, 720), (36, 960, 240), (43, 1440, 480), (41, 1920, 960), (39, 2880, 480)]
    for pitch, start, dur in line:
        bot.run(lambda s, p=pitch, t=start, d=dur: s.add_note(synth, p, t, d))
    bot.run(lambda s: s.set_presence(cursor={"view": "track", "track": synth}))
    bot.run(lambda s: s.synced())
    for page in (alice, bob):
        expect(page.locator(".person")).to_have_count(3)
        page.wait_for_function(
            "(n) => window.backline.roll().debug().notes.length === n", arg=len(line)
        )
    # Bob points at a step and selects a note: Alice sees both in his colour
    cell(bob, 1, 8).focus()
    expect(cell(alice, 1, 8)).to_have_class(re.compile(r"\bpeer-cursor\b"))
    bob.locator(".pr-body").evaluate("(el) => el.scrollIntoView({block: 'center'})")
    bob.evaluate("window.backline.roll().reveal(0, 36)")
    first = bob.evaluate("window.backline.roll().screenPoint(100, 36)")
    bob.mouse.click(first["x"], first["y"])  # on the first note: selects it
    alice.wait_for_function("() => window.backline.roll().debug().peerSelected.length === 1")
    bob.fill(".chat-input", "that bass line!")
    bob.press(".chat-input", "Enter")
    expect(alice.locator(".chat-log")).to_contain_text("that bass line!")
    bot.wait_until(
        lambda s: any(c.text == "that bass line!" for c in s.chat_history), what="the chat"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    alice.screenshot(path=str(ARTIFACTS / "editor.png"))
    assert (ARTIFACTS / "editor.png").stat().st_size > 10_000


def test_owner_controls(
    browser: Browser, contexts: list[BrowserContext], server: ServerProcess, bot: SessionThread
) -> None:
    """An owner locks the session, changes a role and removes someone, from the people list."""
    alice = join(browser, contexts, server, "Alice", "#e4572e", role="owner")
    bob = join(browser, contexts, server, "Bob", "#17bebb")
    expect(bob.locator(".people .lock")).to_be_hidden()  # not an owner
    expect(bob.locator("button.play")).to_be_enabled()
    alice.click(".people-panel .lock")
    expect(bob.locator(".conn-locked")).to_be_visible()
    expect(bob.locator("button.play")).to_be_disabled()
    expect(alice.locator("button.play")).to_be_enabled()  # owners still edit
    bot.wait_until(lambda s: s.locked, what="the lock")
    alice.click(".people-panel .lock")
    expect(bob.locator("button.play")).to_be_enabled()
    bob_id = bob.evaluate("window.backline.clientId()")
    alice.select_option(f".person[data-client='{bob_id}'] .role-select", "viewer")
    expect(bob.locator("button.play")).to_be_disabled()
    expect(alice.locator(f".person[data-client='{bob_id}'] .role-select")).to_have_value("viewer")
    alice.click(f".person[data-client='{bob_id}'] .kick")
    expect(bob.locator(".conn")).to_have_text("Disconnected")
    expect(bob.locator(".toast-error")).to_contain_text("removed you")
    expect(alice.locator(".person")).to_have_count(2)  # Alice and the bot
