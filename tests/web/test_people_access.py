"""Owners invite people and take access back from the people panel (web/ui/access.js).

A real server and Chromium pages in contexts of their own (separate browsers,
to the server): the owner makes a personal invite for Bob in the invite
dialog, Bob joins with its link as an editor, the owner's access list follows
(the invite used, Bob online), the owner revokes Bob with two clicks, Bob's
page says so and stops, and the used-up link lets nobody else in. Editors see
none of the owners' controls.
"""

from __future__ import annotations

from playwright.sync_api import Browser, BrowserContext, Page, expect

from backline.testing import ServerProcess, SessionThread

SESSION = "access"


def join_with(page: Page, link: str, name: str) -> None:
    """Open a join link, fill in the name and submit (the page fills session and token)."""
    page.goto(link)
    page.fill("input[name=name]", name)
    page.click("button[type=submit]")


def joined(page: Page) -> str:
    """Wait until the page is in the session; its client id."""
    page.wait_for_function("() => window.backline && window.backline.state() === 'connected'")
    expect(page.locator(".people-panel")).to_be_visible()
    return str(page.evaluate("window.backline.clientId()"))


def test_owner_invites_bob_then_revokes_him(
    browser: Browser, context: BrowserContext, server: ServerProcess
) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.http_url)
    owner = context.new_page()
    errors: list[str] = []
    owner.on("pageerror", lambda error: errors.append(str(error)))
    join_with(
        owner, f"{server.http_url}/#session={SESSION}&token={server.token(SESSION, 'owner')}", "Ada"
    )
    joined(owner)

    # the invite dialog: an editor invite for Bob, one person, the link selected to copy
    owner.get_by_role("button", name="Invite…").click()
    dialog = owner.locator("dialog.invite-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("combobox", name="Role", exact=True)).to_have_value("editor")
    expect(dialog.get_by_role("spinbutton", name="People it lets in")).to_have_value("1")
    expect(dialog.get_by_role("combobox", name="Valid for")).to_have_value(str(7 * 86400))
    # from the keyboard: the role first, then Tab through the fields to Create
    expect(dialog.get_by_role("combobox", name="Role", exact=True)).to_be_focused()
    owner.keyboard.press("Tab")
    expect(dialog.get_by_role("textbox", name="For", exact=True)).to_be_focused()
    owner.keyboard.type("Bob")
    for _ in range(3):
        owner.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Create")).to_be_focused()
    owner.keyboard.press("Enter")
    field = dialog.get_by_label("Invite link")
    expect(field).to_be_focused()
    link = field.input_value()
    assert link.startswith(f"{server.http_url}/#session={SESSION}&token=v2."), link
    assert owner.evaluate(
        "() => { const f = document.activeElement; return f.selectionEnd - f.selectionStart; }"
    ) == len(link)
    dialog.get_by_role("button", name="Copy").click()
    expect(owner.locator(".toast")).to_contain_text(["Link copied"])
    assert owner.evaluate("navigator.clipboard.readText()") == link
    invite = dialog.locator(".access-invites li", has_text="Bob")
    expect(invite).to_contain_text("0/1 used")
    expect(invite.locator(".access-role")).to_have_text("editor")

    # Bob, in a browser of his own, joins with the link as an editor
    bob_context = browser.new_context()
    try:
        bob = bob_context.new_page()
        bob.on("pageerror", lambda error: errors.append(str(error)))
        join_with(bob, link, "Bob")
        bob_id = joined(bob)
        expect(bob.locator(f".person[data-client='{bob_id}'] .role")).to_have_text("editor")
        assert bob.evaluate("window.backline.session.role") == "editor"

        # the owner's list follows: the invite used, Bob online (and revocable in "Here now")
        expect(invite).to_contain_text("1/1 used")
        expect(invite.locator(".access-state")).to_have_text("used up")
        person = dialog.locator(f".access-people li[data-client='{bob_id}']")
        expect(person.locator(".access-name")).to_have_text("Bob")
        expect(person.locator(".access-state")).to_have_text("online")
        here = owner.locator(f".people .person[data-client='{bob_id}']")
        expect(here.get_by_role("button", name="Revoke")).to_be_visible()

        # two clicks: the first only asks to confirm
        revoke = person.get_by_role("button", name="Revoke")
        revoke.click()
        expect(person.get_by_role("button", name="Confirm revoke")).to_be_visible()
        assert bob.evaluate("window.backline.state()") == "connected"
        person.get_by_role("button", name="Confirm revoke").click()
        expect(owner.locator(".toast")).to_contain_text(["Bob's access was revoked"])
        expect(person.locator(".access-state")).to_have_text("revoked")
        expect(person.get_by_role("button")).to_have_count(0)
        expect(here).to_have_count(0)

        # Bob's page says so and gives up for good (a final close: no reconnect); his
        # stored token is forgotten, so a reload does not try it again
        expect(bob.locator(".join-error")).to_contain_text("an owner revoked your access")
        closed = bob.evaluate(
            "() => { const s = window.backline.session; return [s.state, s.closed, s.closeCode, s.ws]; }"
        )
        assert closed == ["closed", True, 4405, None]
        assert bob.evaluate("() => localStorage.getItem('backline.join.access')") is None
    finally:
        bob_context.close()
    owner.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # the link was for one person: nobody else gets in with it
    other_context = browser.new_context()
    try:
        other = other_context.new_page()
        join_with(other, link, "Mallory")
        expect(other.locator(".join-error")).to_contain_text("the invite was already used")
        expect(other.locator("button[type=submit]")).to_be_enabled()
        assert other.evaluate("window.backline.session.closeCode") == 4406
    finally:
        other_context.close()
    assert errors == []


def test_editors_see_no_invite_or_revoke(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    page = context.new_page()
    join_with(
        page, f"{server.http_url}/#session={SESSION}&token={server.token(SESSION, 'editor')}", "Eve"
    )
    joined(page)
    expect(page.locator(".people .person")).to_have_count(2)  # Eve and the bot
    expect(page.locator(".invite-open")).to_be_hidden()
    expect(page.get_by_role("button", name="Invite…")).to_have_count(0)
    expect(page.locator(".people-panel .revoke")).to_have_count(0)
    expect(page.locator(".people-panel .kick")).to_have_count(0)
    expect(page.locator("dialog.invite-dialog")).to_be_hidden()
