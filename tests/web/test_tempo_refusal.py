"""A refused tempo or meter: one toast per refusal, and the field shows the project again.

Refused here (out of range, by the page's own copy of the protocol's checks) or
by the server (the session was locked before the edit reached it, which the page
did not know yet): either way exactly one message, and the field goes back to
the project's value even though it still has the focus. Real Chromium, real
server, the owner is the SDK.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, expect
from studio_page import join

from backline.testing import ServerProcess, SessionThread

SESSION = "tempo"

HOLD = """() => {
  window.held = [];
  window.backline.session.handle = (m) => window.held.push(m);
}"""
RELEASE = """() => {
  const s = window.backline.session;
  delete s.handle;  // the class's own handler again
  for (const m of window.held) s.handle(m);
}"""


@pytest.fixture
def owner(server: ServerProcess) -> Iterator[SessionThread]:
    token = server.token(SESSION, "owner")
    with SessionThread(server.url, session=SESSION, token=token, name="owner") as b:
        yield b


def test_out_of_range_tempo_and_meter_are_refused_once(
    context: BrowserContext, server: ServerProcess, owner: SessionThread
) -> None:
    page = join(context, server, SESSION, "Tia")
    toasts = page.locator(".toast-error")
    tempo = page.locator(".tempo")
    tempo.fill("1000")
    tempo.press("Enter")
    expect(toasts).to_have_count(1)
    expect(toasts).to_contain_text("out_of_range")
    expect(tempo).to_be_focused()
    expect(tempo).to_have_value("120")
    page.locator(".position").click()  # leaving the field refuses nothing more
    expect(tempo).to_have_value("120")
    assert toasts.count() == 1

    numerator = page.locator(".meter-num")
    numerator.fill("33")
    numerator.press("Enter")
    expect(toasts).to_have_count(2)
    expect(toasts.nth(1)).to_contain_text("out_of_range")
    expect(numerator).to_have_value("4")
    page.locator(".position").click()
    assert toasts.count() == 2
    assert page.evaluate("window.backline.pending()") == 0
    assert owner.session.project.project["tempo"] == 120.0
    assert owner.session.project.project["meter"] == [4, 4]

    tempo.fill("96")  # and a good one still goes through
    tempo.press("Enter")
    owner.wait_until(lambda s: s.project.project["tempo"] == 96.0, what="tempo 96")
    assert toasts.count() == 2


def test_tempo_refused_by_the_server_is_shown_once_and_reverted(
    context: BrowserContext, server: ServerProcess, owner: SessionThread
) -> None:
    page = join(context, server, SESSION, "Tia")
    page.evaluate(HOLD)  # the page does not hear of the lock until it has sent its edit
    owner.run(lambda s: s.lock())
    tempo = page.locator(".tempo")
    tempo.fill("90")
    tempo.press("Enter")
    assert page.evaluate("window.backline.project().project.tempo") == 90  # optimistic
    page.wait_for_function("() => window.held.some((m) => m.type === 'reject')")
    page.evaluate(RELEASE)
    toasts = page.locator(".toast-error")
    expect(toasts).to_have_count(1)
    expect(toasts).to_contain_text("locked")
    expect(tempo).to_have_value("120")
    expect(tempo).to_be_disabled()
    expect(tempo).to_have_attribute("title", "Locked by an owner")
    assert owner.session.project.project["tempo"] == 120.0
