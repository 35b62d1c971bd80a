"""Viewers and locked editors see no live edit controls in the header and transport.

Every control of the header and the transport bar that edits the project (or
only matters for someone who may: count-in, stop, snap) carries `data-edit`;
for a viewer or a locked editor each of them is disabled with the reason as
its tooltip, the ruler is aria-disabled, and the transport's keys say why
instead of sending an edit the server would refuse. Listening and chatting
stay available. Real Chromium against a real server; the owner is the SDK.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from studio_page import click_ruler, join, same_version

from backline.testing import ServerProcess, SessionThread

SESSION = "viewers"
VIEWER = "Viewers can listen and chat, not edit"
LOCKED = "Locked by an owner"
# the edit controls the header and the transport bar must have
EXPECTED = {
    "Undo",
    "Redo",
    "Go to bar 1",
    "Play",
    "Loop",
    "Tap",
    "Tempo (BPM)",
    "Beats per bar",
    "Beat unit",
    "Count-in before play (my preference)",
    "What Stop does (my preference)",
    "Ruler snap (my preference)",
}

EDIT_CONTROLS = """() => [...document.querySelectorAll('header [data-edit], .transport [data-edit]')]
  .map((el) => ({
    name: el.getAttribute('aria-label') || el.textContent.trim(),
    disabled: el.disabled,
    title: el.title,
  }))"""

# every enabled button, input or select in the header and the transport
ENABLED = """() => [...document.querySelectorAll(
    'header button, header input, header select, .transport button, .transport input, .transport select')]
  .filter((el) => !el.disabled)
  .map((el) => el.getAttribute('aria-label') || el.textContent.trim())"""


@pytest.fixture
def owner(server: ServerProcess) -> Iterator[SessionThread]:
    token = server.token(SESSION, "owner")
    with SessionThread(server.url, session=SESSION, token=token, name="owner") as b:
        yield b


def controls(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(EDIT_CONTROLS)
    return found


def assert_blocked(page: Page, reason: str) -> None:
    """Every edit control disabled with `reason`; only the view's own controls enabled."""
    page.wait_for_function("(r) => window.backline.editBlockReason() === r", arg=reason)
    page.wait_for_function("() => document.querySelector('button.play').disabled")
    found = controls(page)
    assert {c["name"] for c in found} >= EXPECTED
    assert all(c["disabled"] and c["title"] == reason for c in found), found
    assert sorted(page.evaluate(ENABLED)) == sorted(
        [
            "Export JSON",
            "Export MIDI",
            "History",
            "Keyboard shortcuts",
            "Leave",
            "Zoom in",
            "Zoom out",
        ]
    )
    ruler = page.locator(".ruler")
    expect(ruler).to_have_attribute("aria-disabled", "true")
    expect(ruler).to_have_attribute("title", reason)
    expect(page.locator(".conn-locked")).to_have_text(reason)


def assert_free(page: Page) -> None:
    page.wait_for_function("() => window.backline.editBlockReason() === null")
    page.wait_for_function("() => !document.querySelector('button.play').disabled")
    assert not any(c["disabled"] for c in controls(page))
    expect(page.locator(".ruler")).to_have_attribute("aria-disabled", "false")
    expect(page.locator(".conn-locked")).to_be_hidden()


def test_a_viewer_sees_every_edit_control_disabled(
    context: BrowserContext, server: ServerProcess, owner: SessionThread
) -> None:
    page = join(context, server, SESSION, "Vic", role="viewer")
    assert_blocked(page, VIEWER)
    version = page.evaluate("window.backline.version()")
    # the ruler, Space, Home and L do nothing but say why
    click_ruler(page, 8.5)
    page.locator(".position").click()
    for key in ("Space", "Home", "l"):
        page.keyboard.press(key)
    expect(page.locator(".toast-error").first).to_have_text(VIEWER)
    assert page.evaluate("window.backline.pending()") == 0
    same_version(page, owner)
    assert page.evaluate("window.backline.version()") == version
    assert owner.session.project.project["transport"]["beat"] == 0.0
    # listening and chatting are for viewers too
    expect(page.get_by_role("button", name="Monitor", exact=True)).to_be_enabled()
    expect(page.locator(".chat-input")).to_be_enabled()
    page.fill(".chat-input", "hello from the seats")
    page.press(".chat-input", "Enter")
    owner.wait_until(
        lambda s: any(m.text == "hello from the seats" for m in s.chat_history), what="chat"
    )


def test_a_locked_editor_sees_the_controls_disabled_until_unlocked(
    context: BrowserContext, server: ServerProcess, owner: SessionThread
) -> None:
    page = join(context, server, SESSION, "Ed")
    assert_free(page)
    owner.run(lambda s: s.lock())
    assert_blocked(page, LOCKED)
    page.locator(".position").click()
    page.keyboard.press("Space")
    expect(page.locator(".toast-error").first).to_have_text(LOCKED)
    assert page.evaluate("window.backline.pending()") == 0
    owner.run(lambda s: s.lock(False))
    assert_free(page)
    page.keyboard.press("Space")  # and it plays again
    owner.wait_until(lambda s: s.project.project["transport"]["playing"], what="playing")
