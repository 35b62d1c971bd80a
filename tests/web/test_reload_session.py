"""A reload keeps you in the session; Leave and a refused token forget the invite.

Real Chromium pages against a real server, a Python participant watching:
the token leaves the address bar once joined, so the page keeps it per session
in localStorage (web/rejoin.js) and the identity per tab in sessionStorage.
"""

from __future__ import annotations

import json

from playwright.sync_api import BrowserContext, expect
from studio_page import CONNECTED, join, settled

from backline.testing import ServerProcess, SessionThread

SESSION = "reload"
JOIN_KEY = f"backline.join.{SESSION}"


def names(bot: SessionThread) -> list[str]:
    return sorted(p.get("name", "") for p in bot.session.peers.values())


def test_reload_rejoins_as_the_same_identity(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    """After F5 the page is back in the session by itself: same name, same identity, and
    so the same undo history; no token in the address bar."""
    page = join(context, server, SESSION, "Dora")
    client = page.evaluate("window.backline.clientId()")
    page.click(".add-track")
    settled(page, bot)
    assert len(bot.session.tracks()) == 1
    assert "token" not in page.url
    stored = page.evaluate(f"JSON.parse(localStorage.getItem('{JOIN_KEY}'))")
    assert stored["name"] == "Dora" and stored["token"]

    page.reload()
    page.wait_for_function(CONNECTED)
    expect(page.locator("form.join")).to_have_count(0)
    expect(page.locator(".conn")).to_have_text("Connected")
    assert page.evaluate("window.backline.clientId()") == client
    assert "token" not in page.url
    bot.wait_until(lambda s: names(bot) == ["Dora"], what="Dora back")
    # the identity came back with its history: undo removes the track made before F5
    page.locator(".position").click()
    page.keyboard.press("Control+z")
    bot.wait_until(lambda s: s.tracks() == [], what="undone")
    page.click(".add-track")  # and new edits go on after the server's last seq
    settled(page, bot)
    assert len(bot.session.tracks()) == 1


def test_another_tab_joins_by_itself_as_another_identity(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    """A second tab of the same session needs no invite either; it is a new identity, so
    neither tab replaces the other."""
    first = join(context, server, SESSION, "Dora")
    second = context.new_page()
    second.goto(f"{server.http_url}/#session={SESSION}")
    second.wait_for_function(CONNECTED)
    assert second.evaluate("window.backline.clientId()") != first.evaluate(
        "window.backline.clientId()"
    )
    bot.wait_until(lambda s: names(bot) == ["Dora", "Dora"], what="two tabs")
    second.reload()  # each tab resumes its own identity
    second.wait_for_function(CONNECTED)
    bot.wait_until(lambda s: names(bot) == ["Dora", "Dora"], what="still two")
    expect(first.locator(".conn")).to_have_text("Connected")


def test_leave_forgets_the_invite(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    """Leave says goodbye, forgets the token and shows the join form; a reload then asks
    for an invite again."""
    page = join(context, server, SESSION, "Dora")
    bot.wait_until(lambda s: names(bot) == ["Dora"], what="Dora")
    page.get_by_role("button", name="Leave").click()
    expect(page.locator("form.join")).to_be_visible()
    expect(page.locator("input[name=session]")).to_have_value(SESSION)
    expect(page.locator("input[name=token]")).to_have_value("")
    expect(page.locator("input[name=name]")).to_have_value("Dora")
    bot.wait_until(lambda s: names(bot) == [], what="Dora gone")
    assert page.evaluate(f"localStorage.getItem('{JOIN_KEY}')") is None
    page.reload()
    expect(page.locator("form.join")).to_be_visible()
    expect(page.locator("input[name=token]")).to_have_value("")
    assert page.evaluate("window.backline === undefined")  # not joined
    # and joining again from the form works
    page.fill("input[name=token]", server.token(SESSION))
    page.click("button[type=submit]")
    page.wait_for_function(CONNECTED)
    bot.wait_until(lambda s: names(bot) == ["Dora"], what="Dora again")


def test_a_refused_stored_token_is_forgotten_with_its_reason(
    context: BrowserContext, server: ServerProcess
) -> None:
    """A stored token the server refuses (here: one for another session) is dropped, and
    the join form says why."""
    page = context.new_page()
    page.goto(f"{server.http_url}/")
    stored = {"token": server.token("elsewhere"), "name": "Eve", "color": "#17bebb"}
    page.evaluate(f"localStorage.setItem('{JOIN_KEY}', {json.dumps(json.dumps(stored))})")
    page.goto(f"{server.http_url}/#session={SESSION}")
    page.reload()
    expect(page.locator(".join-error")).to_contain_text("another session")
    expect(page.locator("input[name=name]")).to_have_value("Eve")
    expect(page.locator("input[name=token]")).to_have_value("")
    assert page.evaluate(f"localStorage.getItem('{JOIN_KEY}')") is None


def test_an_identity_that_cannot_be_resumed_joins_as_a_new_one(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    """A stored identity whose resume key the server refuses (4404) is dropped, and the
    page joins with its token as a new identity instead of stopping."""
    page = join(context, server, SESSION, "Dora")
    page.evaluate(
        f"sessionStorage.setItem('backline.identity.{SESSION}',"
        " JSON.stringify({client: 'ghost', resume: 'not-the-key'}))"
    )
    page.reload()
    page.wait_for_function(CONNECTED)
    client = page.evaluate("window.backline.clientId()")
    assert client != "ghost"
    stored = page.evaluate(f"JSON.parse(sessionStorage.getItem('backline.identity.{SESSION}'))")
    assert stored["client"] == client
    bot.wait_until(lambda s: names(bot) == ["Dora"], what="Dora as a new identity")


def test_use_another_invite_while_rejoining(context: BrowserContext, web_server: str) -> None:
    """While a reload cannot reach its server, "Use another invite" gives up the rejoin
    (its reconnecting stops) and shows the form. The page comes from a plain HTTP server
    here, which answers no websocket: the rejoin keeps retrying until given up."""
    page = context.new_page()
    page.goto(f"{web_server}/")
    stored = {"token": "v1.some.token", "name": "Dora", "color": "#17bebb"}
    page.evaluate(f"localStorage.setItem('{JOIN_KEY}', {json.dumps(json.dumps(stored))})")
    page.goto(f"{web_server}/#session={SESSION}")
    page.reload()
    expect(page.locator(".rejoin [role=status]")).to_contain_text("Reconnecting")
    page.get_by_role("button", name="Use another invite").click()
    expect(page.locator("form.join")).to_be_visible()
    expect(page.locator("input[name=name]")).to_have_value("Dora")
    expect(page.locator("input[name=token]")).to_have_value("")
    assert page.evaluate("window.backline.session.closed") is True
    assert page.evaluate("window.backline.state()") == "closed"
