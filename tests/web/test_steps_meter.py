"""The step sequencer follows the meter: new patterns are one bar long at the project's
meter, bar and beat lines fall where the meter puts them, and a new drums track comes
with its first pattern in the same version. Real Chromium against a real server."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, expect

from backline.testing import ServerProcess, SessionThread

SESSION = "meter"


def test_patterns_are_one_bar_of_the_meter(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    bot.run(lambda s: s.set_meter(6, 8))
    bot.run(lambda s: s.synced())
    version: int = bot.run(lambda s: s.version)
    page = context.new_page()
    page.goto(f"{server.http_url}/#session={SESSION}&token={server.token(SESSION)}")
    page.fill("input[name=name]", "Eve")
    page.click("button[type=submit]")
    page.wait_for_function("(v) => window.backline && window.backline.version() >= v", arg=version)
    page.select_option(".tracks select", "drums")
    page.click(".add-track")
    page.wait_for_function("() => window.backline.pending() === 0")
    # 6/8 is three quarter notes: 12 sixteenths, a beat (an eighth) every 2 steps
    after = page.evaluate("window.backline.version()")
    assert after == version + 1  # the track and its pattern: one version
    bot.wait_until(lambda s: s.version >= after, what="the drums track")
    (pattern,) = bot.session.project.patterns.values()
    assert (pattern["length"], pattern["steps_per_beat"]) == (12, 4)
    lane = page.locator(".lane").first
    expect(lane.locator(".cell")).to_have_count(12)
    expect(lane.locator(".cell.bar")).to_have_count(1)
    expect(lane.locator(".cell.beat")).to_have_count(5)
    # in 3/4 a new pattern is 12 sixteenths too, with a beat every 4
    bot.run(lambda s: s.set_meter(3, 4))
    page.wait_for_function("() => window.backline.project().project.meter[0] === 3")
    page.click("text=+ Pattern")
    page.wait_for_function("() => window.backline.project().patterns.length === 2")
    expect(page.locator(".lane").first.locator(".cell.beat")).to_have_count(2)
    lengths = sorted(p["length"] for p in page.evaluate("window.backline.project().patterns"))
    assert lengths == [12, 12]
    # 4/4: 16 steps, bars every 16
    bot.run(lambda s: s.set_meter(4, 4))
    page.wait_for_function("() => window.backline.project().project.meter[0] === 4")
    page.click("text=+ Pattern")
    page.wait_for_function("() => window.backline.project().patterns.length === 3")
    lengths = sorted(p["length"] for p in page.evaluate("window.backline.project().patterns"))
    assert lengths == [12, 12, 16]
