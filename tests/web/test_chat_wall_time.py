"""Chat shows when a message was sent (the server's wall clock), not when it was drawn.

The page's own clock is pinned to another day (Playwright's clock: `Date` only,
timers keep running) and its time zone is Kathmandu's (UTC+5:45), so a time
taken from the page's "now" could not pass: each message must show its `wall`
stamp in local time, live and from the history a later page receives.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from studio_page import join

from backline.client.events import ChatMessage
from backline.testing import ServerProcess, SessionThread

SESSION = "chat"
ZONE = "Asia/Kathmandu"


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id=ZONE)
    yield context
    context.close()


def pinned_page(context: BrowserContext) -> Page:
    """A page whose `Date` says 1999-12-31 23:59 UTC whatever the time."""
    page = context.new_page()
    page.clock.set_fixed_time(dt.datetime(1999, 12, 31, 23, 59, tzinfo=dt.UTC))
    return page


def local_hhmm(wall_ms: int) -> str:
    return dt.datetime.fromtimestamp(wall_ms / 1000, ZoneInfo(ZONE)).strftime("%H:%M")


def message(bot: SessionThread, text: str) -> ChatMessage:
    bot.wait_until(lambda s: any(m.text == text for m in s.chat_history), what=text)
    found = next(m for m in bot.session.chat_history if m.text == text)
    assert found.wall is not None
    return found


def test_chat_shows_the_servers_wall_time(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    bot.run(lambda s: s.chat("before you came"))
    early = message(bot, "before you came")
    page = pinned_page(context)
    page.goto(f"{server.http_url}/#session={SESSION}&token={server.token(SESSION)}")
    page.fill("input[name=name]", "Uma")
    page.click("button[type=submit]")
    expect(page.locator(".conn")).to_have_text("Connected")
    assert page.evaluate("new Date().getUTCFullYear()") == 1999  # the page's clock is off

    bot.run(lambda s: s.chat("live one"))
    live = message(bot, "live one")
    page.fill(".chat-input", "from the page")
    page.press(".chat-input", "Enter")
    mine = message(bot, "from the page")
    rows = page.locator(".chat-log li")
    expect(rows).to_have_count(3)
    for row, msg in zip(rows.all(), (early, live, mine), strict=True):
        assert msg.wall is not None
        expect(row).to_contain_text(msg.text)
        expect(row.locator(".chat-time")).to_have_text(local_hhmm(msg.wall))
        stamp = dt.datetime.fromtimestamp(msg.wall / 1000, dt.UTC)
        iso = row.locator(".chat-time").get_attribute("datetime")
        assert iso is not None and dt.datetime.fromisoformat(iso) == stamp

    # a page joining later draws the history with the same times
    other = join(context, server, SESSION, "Val")
    expect(other.locator(".chat-log .chat-time")).to_have_text(
        [local_hhmm(m.wall or 0) for m in (early, live, mine)]
    )


def test_a_message_without_wall_shows_no_time(context: BrowserContext, web_server: str) -> None:
    """An older server's message carries no `wall`: no time rather than a wrong one."""
    page = context.new_page()
    page.goto(f"{web_server}/")
    wall = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC
    shown = page.evaluate(
        """(wall) => import("./ui/people.js").then((m) =>
             [m.chatTime({}), m.chatTime({ wall: null }), m.chatTime({ wall })])""",
        wall,
    )
    assert shown == ["", "", local_hhmm(wall)]
