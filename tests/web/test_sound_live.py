"""The sound panel live: a real AudioContext on a real session, the transport started
and the pattern edited by a Python participant.

What the scheduler hands the AudioContext is recorded through its test hook:
every click and hit at the server time Python's timeline gives for its beat,
mapped to a context time still ahead of the context's clock, and an edit made
in Python heard on the next pass of the pattern.
"""

from __future__ import annotations

import math
from typing import Any

from playwright.sync_api import Page
from sound_page import client_id, join_page

from backline.client.session import Session
from backline.testing import ServerProcess, SessionThread

SESSION = "live"

HOOK_JS = """() => {
  window.scheduled = [];
  const panel = window.backlineSound;
  panel.scheduler.onCancel = (e) => { e.cancelled = true; };
  panel.scheduler.onSchedule = (e) => window.scheduled.push({
    source: e.source, beat: e.beat, time: e.time, when: e.when,
    now: e.now, accent: e.event.accent ?? null, info: e });
}"""


async def setup(s: Session) -> str:
    """A drums track with a kick on beat 0 of a 4-beat pattern, at 240 BPM; the pattern's id."""
    drums = s.add_track("Drums", kind="drums")
    assert drums.id is not None
    pattern = s.add_pattern(drums.id, sounds=[36])
    assert pattern.id is not None
    s.set_step(pattern.id, 0, 0, 110)
    await s.set_tempo(240)  # a beat every 250 ms: a short test
    return pattern.id


def scheduled(page: Page) -> list[dict[str, Any]]:
    """What the scheduler handed the context, less what it cancelled before it started."""
    events: list[dict[str, Any]] = page.evaluate(
        "window.scheduled.filter((e) => !e.info.cancelled).map(({ info, ...e }) => e)"
    )
    return events


def test_metronome_and_playback_follow_the_shared_transport_and_edits(
    page: Page, server: ServerProcess
) -> None:
    token = server.token(SESSION)
    with SessionThread(server.url, session=SESSION, token=token, name="py") as py:
        s = py.session
        pattern = py.run(setup)
        errors = join_page(page, server, SESSION, "web")
        # the project is heard by default (Monitor); the join click let the context start
        monitor = page.get_by_role("button", name="Monitor", exact=True)
        assert monitor.get_attribute("aria-pressed") == "true"
        page.wait_for_function("() => window.backlineSound.playback !== null")
        # by keyboard: Space on the metronome, Shift+Tab back to Monitor, Enter twice (off, on)
        metronome = page.get_by_role("button", name="Metronome", exact=True)
        metronome.focus()
        page.keyboard.press("Space")
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Enter")
        assert monitor.get_attribute("aria-pressed") == "false"
        assert page.evaluate("window.backlineSound.playback") is None
        page.evaluate(HOOK_JS)
        page.keyboard.press("Enter")
        assert metronome.get_attribute("aria-pressed") == "true"
        assert monitor.get_attribute("aria-pressed") == "true"

        py.run(lambda s: s.play())
        page.wait_for_function(
            "window.scheduled.filter((e) => e.source === 'metronome').length >= 10", timeout=20_000
        )
        py.run(lambda s: s.set_step(pattern, 0, 8, 90))  # and on beat 2 of 4
        page.wait_for_function(
            "window.scheduled.some((e) => e.source === 'playback' && e.beat % 4 === 2)",
            timeout=20_000,
        )
        # my audio is the drums track: the server learns it through presence
        drums = s.project.patterns[pattern]["track"]
        page.get_by_label("My audio is track").select_option(label="Drums")
        me = client_id(page)
        py.wait_until(lambda s: s.peers.get(me, {}).get("track") == drums, what="binding")
        events = scheduled(page)
        timeline = s.timeline.current
        mapping = page.evaluate(
            """() => { const c = window.backlineSound.scheduler.clock;
                       return c.offset - (c.context.currentTime - c.latency
                                          - window.backline.session.serverNow() / 1e6); }"""
        )

    assert timeline.playing and errors == []
    for event in events:
        # at the server time the shared timeline gives for its beat ...
        assert math.isclose(event["time"], timeline.time_at(event["beat"]), abs_tol=1e-3), event
        # ... never before the context could play it when the scheduler looked (a late
        # wake-up skips, never rushes; the audio thread moves the clock on meanwhile)
        assert event["when"] >= event["now"], event
        assert event["time"] >= timeline.time  # nothing during the count-in
    clicks = [e for e in events if e["source"] == "metronome"]
    beats = [e["beat"] for e in clicks]
    assert beats == sorted(set(beats)) and all(b == int(b) for b in beats)
    assert beats[0] >= timeline.beat  # the downbeat it started on, unless a stall skipped it
    assert all(e["accent"] == (e["beat"] % 4 == 0) for e in clicks)
    hits = [e["beat"] % 4 for e in events if e["source"] == "playback"]
    assert hits[0] == 0 and set(hits) == {0, 2}
    # the context clock and the server clock agree, through the mapping, within 20 ms
    assert abs(mapping) < 0.02
