"""The keyboard: the page's shortcuts, the help overlay that lists them all, and no
shortcut while typing. Real Chromium against a real server, checked in the SDK."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, expect
from studio_page import join

from backline.testing import ServerProcess, SessionThread

SESSION = "keys"
# what the overlay must list: the transport's keys and the editors' (ui/shortcuts.js)
ACTIONS = [
    "Play / stop",
    "Go to bar 1",
    "Loop on / off",
    "Undo my last edit",
    "Redo",
    "Copy the selection",
    "Paste",
    "Duplicate the selection",
    "Select all",
    "Delete the selection",
    "Quantize the selection",
    "Transpose a semitone",
    "Transpose an octave",
    "Draw tool",
    "Select tool",
    "Show these shortcuts",
]


def test_help_overlay_lists_every_shortcut(context: BrowserContext, server: ServerProcess) -> None:
    """`?` and the header's button open it; it shows every entry of the registry; Esc and
    the close button close it."""
    page = join(context, server, SESSION, "Kim")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_hidden()
    page.locator(".position").click()
    page.keyboard.press("?")
    expect(dialog).to_be_visible()
    registry = page.evaluate(
        "import('./ui/shortcuts.js').then((m) => m.SHORTCUTS.map((s) => s.action))"
    )
    shown = dialog.locator("dd").all_inner_texts()
    assert shown == registry
    assert set(ACTIONS) <= set(shown)
    expect(dialog.locator("kbd").get_by_text("Space", exact=True)).to_have_count(1)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Keyboard shortcuts").click()
    expect(dialog).to_be_visible()
    page.keyboard.press("l")  # the overlay is modal: no shortcut acts behind it
    page.keyboard.press("Home")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    assert page.evaluate("window.backline.pending()") == 0
    assert page.evaluate("window.backline.project().project.loop.on") is False


def test_transport_keys_and_none_while_typing(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    """Space plays and stops, L loops, Home goes to bar 1; typed into a field, the same
    keys are only text."""
    page = join(context, server, SESSION, "Kim")
    chat = page.locator(".chat-input")
    chat.click()
    page.keyboard.type("L? ok")
    page.keyboard.press("Home")
    expect(chat).to_have_value("L? ok")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    page.fill(".tempo", "")
    page.locator(".tempo").press("l")
    page.locator(".tempo").press("Space")
    assert page.evaluate("window.backline.pending()") == 0
    project = bot.session.project.project
    assert not project["loop"]["on"] and not project["transport"]["playing"]

    page.locator(".position").click()
    page.keyboard.press("l")
    bot.wait_until(lambda s: s.project.project["loop"]["on"], what="loop on")
    page.keyboard.press("Space")
    bot.wait_until(lambda s: s.project.project["transport"]["playing"], what="playing")
    page.keyboard.press("Space")
    bot.wait_until(lambda s: not s.project.project["transport"]["playing"], what="stopped")
    bot.run(lambda s: s.seek(12.0))
    page.wait_for_function("() => window.backline.position() === '4:1'")
    slider = page.get_by_label("Level of bot in my mix")  # a focused slider keeps its Home
    slider.focus()
    page.keyboard.press("Home")
    expect(slider).to_have_value("0")
    assert page.evaluate("window.backline.pending()") == 0
    page.locator(".position").click()
    page.keyboard.press("Home")
    bot.wait_until(lambda s: s.project.project["transport"]["beat"] == 0.0, what="bar 1")
    page.wait_for_function("() => window.backline.position() === '1:1'")
