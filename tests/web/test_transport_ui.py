"""The transport bar and its ruler, in real Chromium pages against a real server.

Two browsers and a Python participant (the SDK) share one session: what one
page does on the ruler (locate, loop region, loop toggle) and with its
preferences (count-in, stop returning to start) must reach the project as the
protocol's intents and fields, and every participant must then count the same
bar:beat at the same server instant. Sound is counted where the page makes it:
every AudioScheduledSourceNode started (an init script counts them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, expect
from studio_page import (
    CONNECTED,
    COUNT_STARTS,
    RECORD_EDITS,
    click_ruler,
    drag_ruler,
    join,
    project,
    same_version,
    sent,
    settled,
)

from backline.testing import ServerProcess, SessionThread

SESSION = "studio"
# the page's musical position, from the shared timeline and its server clock, is past a beat
ROLLED_PAST = """(beat) => {
  const s = window.backline.session;
  return s.timeline().beatAt(s.serverNow()) > beat;
}"""
NO_GESTURE_YET = """Object.defineProperty(navigator, "userActivation", {
  get: () => ({ hasBeenActive: false, isActive: false }),
});"""
BAR = 3840  # ticks in a 4/4 bar


@pytest.fixture
def contexts(browser: Browser) -> Iterator[Callable[[], BrowserContext]]:
    """A factory of browser contexts (1440x900, counting sounds), all closed at the end."""
    opened: list[BrowserContext] = []

    def make() -> BrowserContext:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        context.add_init_script(COUNT_STARTS)
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()


def test_play_is_heard_without_any_toggle(
    contexts: Callable[[], BrowserContext], server: ServerProcess, bot: SessionThread
) -> None:
    """One Play click makes sound (Monitor is on by default); after a reload, whose page
    had no gesture yet, the Play press itself starts the audio."""
    drums = bot.run(lambda s: s.add_track("Drums", kind="drums").id)
    pattern = bot.run(lambda s: s.add_pattern(drums, sounds=[36, 42]).id)
    for step in range(0, 16, 2):
        bot.run(lambda s, step=step: s.set_step(pattern, 0, step, 110))
    bot.run(lambda s: s.synced())
    context = contexts()
    page = join(context, server, SESSION, "Ann")
    expect(page.get_by_role("button", name="Monitor", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    same_version(page, bot)
    assert page.evaluate("window.__starts") == 0  # nothing before Play
    page.click("button.play")
    page.wait_for_function("() => window.__starts >= 4", timeout=20_000)
    page.click("button.play")  # stop
    bot.wait_until(lambda s: not s.project.project["transport"]["playing"], what="stopped")

    # A reload rejoins by itself, with no gesture on the new page: the browser holds audio
    # back. Playwright's own queries count as user gestures, so the reloaded page is told
    # it has had none; the Play click below is a real one.
    context.add_init_script(NO_GESTURE_YET)
    page.reload()
    expect(page.locator(".conn")).to_have_text("Connected")
    expect(page.locator(".sound-hint")).to_contain_text("Click anywhere")
    assert page.evaluate("window.__starts") == 0
    assert page.evaluate("window.backlineSound.context") is None
    page.click("button.play")  # the gesture and the Play press at once
    page.wait_for_function("() => window.__starts >= 4", timeout=20_000)
    assert page.evaluate("window.backlineSound.context.state") == "running"
    expect(page.locator(".sound-hint")).to_be_hidden()


def test_ruler_and_home_locate_and_everyone_counts_the_same(
    contexts: Callable[[], BrowserContext], server: ServerProcess, bot: SessionThread
) -> None:
    """A click on the ruler while stopped moves where Play starts; Home goes to bar 1; a
    click while playing continues from there. Two pages and the SDK give the same
    bar:beat for the same server instant every time."""
    alice = join(contexts(), server, SESSION, "Alice")
    bob = join(contexts(), server, SESSION, "Bob")

    def agree(sample: int, expected: str) -> None:
        same_version(alice, bot)
        same_version(bob, bot)
        for page in (alice, bob):
            assert page.evaluate("(t) => window.backline.barBeatAt(t)", sample) == expected
        assert str(bot.session.timeline.bar_beat_at(sample)) == expected

    click_ruler(alice, 2 * 4 + 0.3)  # inside bar 3: snapped to its bar line
    bot.wait_until(lambda s: s.project.project["transport"]["beat"] == 8.0, what="located")
    for page in (alice, bob):
        page.wait_for_function("() => window.backline.position() === '3:1'")
    agree(bot.run(lambda s: s.clock.now()), "3:1")

    alice.locator(".position").click()  # focus on the page, not in a field
    alice.keyboard.press("Home")
    bot.wait_until(lambda s: s.project.project["transport"]["beat"] == 0.0, what="bar 1")
    bob.wait_for_function("() => window.backline.position() === '1:1'")
    agree(bot.run(lambda s: s.clock.now()), "1:1")

    alice.keyboard.press("Space")  # play from the cursor: bar 1
    bot.wait_until(lambda s: s.project.project["transport"]["playing"], what="playing")
    transport = bot.session.project.project["transport"]
    assert transport["beat"] == 0.0
    agree(transport["time"] + 1_234_567, "1:3")  # 2.47 beats in at 120 BPM

    click_ruler(alice, 4 * 4 + 1.2)  # bar 5 while playing: everyone continues from there
    bot.wait_until(lambda s: s.project.project["transport"]["beat"] == 16.0, what="sought")
    transport = bot.session.project.project["transport"]
    assert transport["playing"] is True
    agree(transport["time"] + 2_345_678, "6:1")  # 4.69 beats on from bar 5
    # and Bob's counter runs on from there
    bob.wait_for_function("() => parseInt(window.backline.position(), 10) >= 5")


def test_ruler_drag_sets_the_loop_and_l_toggles_it(
    contexts: Callable[[], BrowserContext], server: ServerProcess, bot: SessionThread
) -> None:
    """Dragging sets the project's loop (bars, or beats with the Beat snap), shaded in
    every page; L and the Loop button turn it off and on."""
    alice = join(contexts(), server, SESSION, "Alice")
    bob = join(contexts(), server, SESSION, "Bob")
    drag_ruler(alice, 4 + 1.5, 3 * 4 + 0.5)  # from inside bar 2 into bar 4: bars 2-4
    bot.wait_until(lambda s: s.project.project["loop"]["start"] == BAR, what="the loop")
    assert bot.session.project.project["loop"] == {"start": BAR, "end": 4 * BAR, "on": True}
    same_version(bob, bot)
    assert project(bob)["loop"] == {"start": BAR, "end": 4 * BAR, "on": True}
    expect(bob.locator(".ruler-loop")).to_have_class("ruler-loop on")
    expect(bob.locator(".transport .loop")).to_have_attribute("aria-pressed", "true")
    expect(bob.locator(".loop-range")).to_have_text("2:1\u20135:1")  # an en dash

    alice.locator(".position").click()
    alice.keyboard.press("l")
    bot.wait_until(lambda s: not s.project.project["loop"]["on"], what="loop off")
    expect(bob.locator(".ruler-loop")).to_have_class("ruler-loop")
    expect(bob.locator(".transport .loop")).to_have_attribute("aria-pressed", "false")
    bob.click(".transport .loop")
    bot.wait_until(lambda s: s.project.project["loop"]["on"], what="loop on")
    expect(alice.locator(".transport .loop")).to_have_attribute("aria-pressed", "true")

    alice.select_option(".snap-select", "beat")
    drag_ruler(alice, 2.5, 5.2)  # beats 2..6 with the beat grid
    bot.wait_until(lambda s: s.project.project["loop"]["start"] == 2 * 960, what="beat loop")
    assert bot.session.project.project["loop"] == {"start": 2 * 960, "end": 6 * 960, "on": True}
    # an edge drags alone: the end from beat 6 to beat 9
    drag_ruler(alice, 6, 8.4)
    bot.wait_until(lambda s: s.project.project["loop"]["end"] == 9 * 960, what="end moved")
    assert bot.session.project.project["loop"]["start"] == 2 * 960

    # the page plays the loop: the position folds back into it
    bot.run(lambda s: s.seek(2.0))
    alice.keyboard.press("Space")
    bot.wait_until(lambda s: s.project.project["transport"]["playing"], what="playing")
    transport = bot.session.project.project["transport"]
    sample = transport["time"] + 4_000_000  # 8 beats on: past the loop's end at beat 9
    expected = str(bot.session.timeline.bar_beat_at(sample))
    assert expected == "1:4"  # beat 2 + 8 = 10, folded into [2, 9): beat 3, bar 1 beat 4
    same_version(bob, bot)
    assert bob.evaluate("(t) => window.backline.barBeatAt(t)", sample) == expected


def test_count_in_and_stop_back_are_my_preferences(
    contexts: Callable[[], BrowserContext], tmp_path: Path
) -> None:
    """The count-in and what Stop does are per-user choices kept in this browser: Play
    sends `count_in`, Stop sends `back`, and the server does what they say. (A long start
    lead, so that the page hears of the start well before the count-in's first click.)"""
    with (
        ServerProcess(tmp_path / "data", extra_args=["--lead-ms", "1500"]) as server,
        SessionThread(server.url, session=SESSION, token=server.token(SESSION)) as bot,
    ):
        count_in_and_stop_back(contexts(), server, bot)


def count_in_and_stop_back(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    page = join(context, server, SESSION, "Cleo")
    page.evaluate(RECORD_EDITS)
    page.select_option(".count-in-select", "1")
    page.select_option(".stop-back-select", "back")
    click_ruler(page, 8.2)  # play will start at bar 3
    bot.wait_until(lambda s: s.project.project["transport"]["beat"] == 8.0, what="located")
    before = bot.run(lambda s: s.clock.now())
    page.click("button.play")
    bot.wait_until(lambda s: s.project.project["transport"]["playing"], what="playing")
    assert sent(page)[-1] == [{"op": "play", "count_in": 1}]
    transport = bot.session.project.project["transport"]
    # the lead, then a bar of count-in at 120 BPM (2 s), then the downbeat
    assert transport["time"] - before >= 1_500_000 + 2_000_000
    expect(page.locator(".play-state")).to_have_text("count-in")
    # the count-in is heard: a bar of clicks, one a beat, up to the downbeat
    clicks = [transport["time"] - k * 500_000 for k in (4, 3, 2, 1)]
    page.wait_for_function(
        "(clicks) => JSON.stringify(window.backlineSound?.countIn?.planned) === JSON.stringify(clicks)",
        arg=clicks,
    )
    page.wait_for_function("() => (window.backlineSound?.countIn?.scheduled.length ?? 0) > 0")
    assert set(page.evaluate("window.backlineSound.countIn.scheduled")) <= set(clicks)
    # let it roll past the start, then Stop returns there
    page.wait_for_function(ROLLED_PAST, arg=8.5, timeout=30_000)
    page.click("button.play")
    bot.wait_until(lambda s: not s.project.project["transport"]["playing"], what="stopped")
    assert sent(page)[-1] == [{"op": "stop", "back": True}]
    assert bot.session.project.project["transport"]["beat"] == 8.0

    # kept in this browser: a reload comes back with the same choices
    page.reload()
    page.wait_for_function(CONNECTED)
    expect(page.locator(".count-in-select")).to_have_value("1")
    expect(page.locator(".stop-back-select")).to_have_value("back")
    page.evaluate(RECORD_EDITS)
    page.select_option(".count-in-select", "0")
    page.select_option(".stop-back-select", "stay")
    page.click("button.play")
    bot.wait_until(lambda s: s.project.project["transport"]["playing"], what="playing again")
    assert sent(page)[-1] == [{"op": "play"}]
    page.wait_for_function(ROLLED_PAST, arg=8.5, timeout=30_000)
    page.click("button.play")
    bot.wait_until(lambda s: not s.project.project["transport"]["playing"], what="stopped")
    assert sent(page)[-1] == [{"op": "stop"}]
    assert bot.session.project.project["transport"]["beat"] > 8.5
    settled(page, bot)


def test_the_ruler_follows_the_meter(
    contexts: Callable[[], BrowserContext], server: ServerProcess, bot: SessionThread
) -> None:
    """In 6/8 a bar is three quarter notes and a beat an eighth: the ruler fits sixteen of
    those bars and snaps to them, or to eighths with the Beat snap."""
    page = join(contexts(), server, SESSION, "Meg")
    four = float(page.locator(".ruler").get_attribute("data-px-per-beat") or 0)
    bot.run(lambda s: s.set_meter(6, 8))
    page.wait_for_function(
        "(px) => Number(document.querySelector('.ruler').dataset.pxPerBeat) > px", arg=four
    )
    six = float(page.locator(".ruler").get_attribute("data-px-per-beat") or 0)
    assert six == pytest.approx(four * 4 / 3)  # the same width holds 16 bars of 3 beats
    click_ruler(page, 2 * 3 + 1.7)  # inside bar 3
    bot.wait_until(lambda s: s.project.project["transport"]["beat"] == 6.0, what="bar 3")
    expect(page.locator(".ruler")).to_have_attribute("aria-valuetext", "bar 3 beat 1")
    page.select_option(".snap-select", "beat")
    click_ruler(page, 6.7)  # inside the second eighth of bar 3
    bot.wait_until(lambda s: s.project.project["transport"]["beat"] == 6.5, what="an eighth")
    expect(page.locator(".ruler")).to_have_attribute("aria-valuetext", "bar 3 beat 2")
    expect(page.locator(".position")).to_have_text("3:2")
