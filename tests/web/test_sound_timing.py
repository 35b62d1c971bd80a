"""The browser's look-ahead scheduling (web/sound/), in a real headless Chromium.

Which events fall in which window is pure: it is compared with a brute-force
reference computed in Python on ``backline.protocol.timeline``. Whether sound
then starts at those times is checked by rendering through the real scheduler
into an OfflineAudioContext, woken every 25 ms of rendered time exactly as its
timer wakes it live, and finding the onsets in the rendered samples.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import pytest
from playwright.sync_api import Page

from backline.client.drums import audible_tracks, hits_between
from backline.protocol.model import Document
from backline.protocol.timeline import Timeline

RATE = 48_000
EPS = 1e-9


def grid_reference(
    segments: list[tuple[Timeline, float, float]], step: float
) -> list[tuple[float, float]]:
    """(beat, time) of every grid point heard: brute force over each timeline's span."""
    out = []
    for timeline, start, end in segments:
        k = 0
        while True:
            beat = k * step
            time = timeline.time_at(beat)
            if time >= end:
                break
            if time >= max(start, timeline.time):
                out.append((beat, time))
            k += 1
    return out


def as_js(timeline: Timeline) -> dict[str, Any]:
    return {
        "tempo": timeline.tempo,
        "meter": list(timeline.meter),
        "playing": timeline.playing,
        "beat": timeline.beat,
        "time": timeline.time,
    }


WINDOWS_JS = """
async ({ base, segments, step, window }) => {
  const s = await import(`${base}/sound/scheduler.js`);
  const t = await import(`${base}/timeline.js`);
  const out = [];
  for (const seg of segments) {
    const tl = new t.Timeline(seg.timeline.tempo, seg.timeline.meter, seg.timeline.playing,
                              seg.timeline.beat, seg.timeline.time);
    for (let from = seg.start; from < seg.end; from += window) {
      const to = Math.min(seg.end, from + window);
      const events = s.eventsInWindow(tl, from, to, (a, b) =>
        s.gridBeats(a, b, step).map((beat) => ({ beat })));
      for (const e of events) out.push([e.beat, e.time]);
    }
  }
  return out;
}
"""


def tempo_changes() -> list[tuple[Timeline, float, float]]:
    """120 BPM from beat 0 at 1 s, 97.3 BPM from 2.71 s, 6/8 at 180 from 4.05 s, stop at 6 s."""
    a = Timeline(120.0, (4, 4), True, 0.0, 1_000_000)
    b = Timeline.of({"tempo": 97.3, "meter": [4, 4], "transport": a.anchored_at(2_710_000)})
    c = Timeline.of({"tempo": 180.0, "meter": [6, 8], "transport": b.anchored_at(4_050_000)})
    return [(a, 0, 2_710_000), (b, 2_710_000, 4_050_000), (c, 4_050_000, 6_000_000)]


def test_windows_hold_every_grid_point_once_across_tempo_changes(
    page: Page, web_server: str
) -> None:
    segments = tempo_changes()
    page.goto(f"{web_server}/")
    for step, window in ((1.0, 25_000), (0.25, 25_000), (0.5, 7_919), (1 / 3, 100_000)):
        got = page.evaluate(
            WINDOWS_JS,
            {
                "base": web_server,
                "segments": [
                    {"timeline": as_js(tl), "start": start, "end": end}
                    for tl, start, end in segments
                ],
                "step": step,
                "window": window,
            },
        )
        expected = grid_reference(segments, step)
        assert len(got) == len(expected), (step, window, got, expected)
        for (beat, time), (want_beat, want_time) in zip(got, expected, strict=True):
            assert math.isclose(beat, want_beat, abs_tol=1e-9)
            assert math.isclose(time, want_time, abs_tol=1e-3)


def test_count_in_and_stopped_windows_are_silent(page: Page, web_server: str) -> None:
    page.goto(f"{web_server}/")
    result = page.evaluate(
        """async (base) => {
          const s = await import(`${base}/sound/scheduler.js`);
          const t = await import(`${base}/timeline.js`);
          const playing = new t.Timeline(120, [4, 4], true, 4, 1_000_000);
          const stopped = new t.Timeline(120, [4, 4], false, 4, 1_000_000);
          return {
            countIn: s.beatWindow(playing, 0, 1_000_000),
            straddle: s.beatWindow(playing, 900_000, 1_100_000),
            stopped: s.beatWindow(stopped, 0, 9_000_000),
            none: s.beatWindow(null, 0, 9_000_000),
          };
        }""",
        web_server,
    )
    assert result["countIn"] is None and result["stopped"] is None and result["none"] is None
    # the start beat itself sounds, nothing before it
    assert result["straddle"] == {"from": 4, "to": 4 + 0.1 / 0.5}


def test_metronome_clicks_on_every_beat_of_the_meter_accenting_bar_lines(
    page: Page, web_server: str
) -> None:
    page.goto(f"{web_server}/")
    clicks = page.evaluate(
        """async (base) => {
          const m = await import(`${base}/sound/metronome.js`);
          return {
            four: m.clicksBetween(0, 8, [4, 4]),
            six: m.clicksBetween(2.9, 6.1, [6, 8]),
            seven: m.clicksBetween(0, 7, [7, 8]),
          };
        }""",
        web_server,
    )
    four = [(c["beat"], c["accent"]) for c in clicks["four"]]
    assert four == [(b, b in (0, 4)) for b in range(8)]
    six = [(c["beat"], c["accent"]) for c in clicks["six"]]
    assert six == [(3.0, True), (3.5, False), (4.0, False), (4.5, False), (5.0, False),
                   (5.5, False), (6.0, True)]  # fmt: skip
    seven = [c["beat"] for c in clicks["seven"] if c["accent"]]
    assert seven == [0.0, 3.5]  # 7/8 bars are 3.5 quarter notes


# -- rendered through the real scheduler -----------------------------------------

RENDER_JS = """
async ({ base, seconds, changes, source, project, channels, edits }) => {
  const s = await import(`${base}/sound/scheduler.js`);
  const t = await import(`${base}/timeline.js`);
  const context = new OfflineAudioContext(channels, Math.round(seconds * 48000), 48000);
  const clock = new s.FixedClock(0, 0);  // server time 0 is context time 0
  let timeline = null;
  const scheduler = new s.Scheduler({ context, clock, timeline: () => timeline });
  const scheduled = [];
  const cancelled = new Set();
  scheduler.onSchedule = (e) => scheduled.push(e);
  scheduler.onCancel = (e) => cancelled.add(e);
  if (source === "metronome") {
    const m = await import(`${base}/sound/metronome.js`);
    scheduler.add("metronome", new m.Metronome(context, context.destination));
  }
  let playback = null;
  if (source === "playback") {
    const p = await import(`${base}/sound/playback.js`);
    playback = new p.Playback(context, context.destination);
    playback.update(project);
    scheduler.add("playback", playback);
  }
  // wake every 25 ms of rendered time, as the live timer does; apply each
  // transport change only once it "arrives" (at its own time)
  const wake = (at) => {
    for (const c of changes) {
      if (c.at <= at * 1e6) timeline = c.timeline && new t.Timeline(c.timeline.tempo,
          c.timeline.meter, c.timeline.playing, c.timeline.beat, c.timeline.time);
    }
    for (const e of edits) {
      if (e.at <= at * 1e6 && !e.done) {
        e.done = true;
        playback.update(e.project);  // what the panel does on every project change
        scheduler.reschedule();
      }
    }
    clock.now = at * 1e6;
    scheduler.pump(clock.now + 100_000);
  };
  const quantum = 128 / 48000;
  for (let k = 1; k * 0.025 < seconds - 0.03; k += 1) {
    const at = Math.ceil((k * 0.025) / quantum) * quantum;
    context.suspend(at).then(() => { wake(context.currentTime); context.resume(); });
  }
  wake(0);
  const buffer = await context.startRendering();
  const data = [];
  for (let ch = 0; ch < channels; ch += 1) {
    // onsets: first sample above the threshold after >= 20 ms below it
    const x = buffer.getChannelData(ch);
    const onsets = [];
    let quiet = 960;
    for (let i = 0; i < x.length; i += 1) {
      const a = Math.abs(x[i]);
      if (a > 0.02 && quiet >= 960) {
        let peak = 0;
        for (let j = i; j < Math.min(x.length, i + 960); j += 1) peak = Math.max(peak, Math.abs(x[j]));
        onsets.push({ sample: i, peak });
      }
      quiet = a > 0.02 ? 0 : quiet + 1;
    }
    data.push(onsets);
  }
  const heard = scheduled.filter((e) => !cancelled.has(e)).map((e) => ({
    beat: e.beat, time: e.time, when: e.when, accent: e.event.accent ?? null }));
  return { scheduled: heard, cancelled: [...cancelled].map((e) => e.beat), onsets: data };
}
"""


def render(
    page: Page,
    web_server: str,
    seconds: float,
    changes: list[tuple[float, Timeline | None]],
    source: str = "metronome",
    project: dict[str, Any] | None = None,
    channels: int = 1,
    edits: Sequence[tuple[float, dict[str, Any]]] = (),
) -> dict[str, Any]:
    page.goto(f"{web_server}/")
    result: dict[str, Any] = page.evaluate(
        RENDER_JS,
        {
            "base": web_server,
            "seconds": seconds,
            "changes": [
                {"at": at, "timeline": None if tl is None else as_js(tl)} for at, tl in changes
            ],
            "source": source,
            "project": project,
            "channels": channels,
            "edits": [{"at": at, "project": p} for at, p in edits],
        },
    )
    return result


def test_metronome_sounds_exactly_on_the_timeline_beats_across_a_tempo_change(
    page: Page, web_server: str
) -> None:
    a = Timeline(120.0, (4, 4), True, 0.0, 200_000)
    b = Timeline.of({"tempo": 150.0, "meter": [4, 4], "transport": a.anchored_at(1_610_000)})
    # the change, anchored at 1.61 s, reaches this browser at 1.66 s: by then a's
    # beat 3 (1.7 s) is already scheduled and must be cancelled; b's beat 3 is at 1.682 s
    result = render(page, web_server, 3.0, [(0, a), (1_660_000, b)])
    expected = grid_reference([(a, 0, 1_610_000), (b, 1_610_000, 2_950_000)], 1.0)
    assert result["cancelled"] == [3.0]  # a's beat 3, scheduled before the change arrived
    scheduled = result["scheduled"]
    assert [round(e["beat"], 9) for e in scheduled] == [round(beat, 9) for beat, _ in expected]
    for event, (beat, time) in zip(scheduled, expected, strict=True):
        assert math.isclose(event["time"], time, abs_tol=1e-3)
        assert math.isclose(event["when"], time / 1e6, abs_tol=1e-9)  # the fixed mapping
        assert event["accent"] == (abs(beat % 4) < EPS)
    # and the sound starts there: within 1 ms of each expected time, loud on bar lines
    onsets = result["onsets"][0]
    assert len(onsets) == len(expected), onsets
    for onset, (beat, time) in zip(onsets, expected, strict=True):
        assert abs(onset["sample"] - time / 1e6 * RATE) <= RATE / 1000, (onset, beat, time)
        assert (onset["peak"] > 0.4) == (abs(beat % 4) < EPS)


def test_metronome_is_silent_while_stopped_and_during_the_count_in(
    page: Page, web_server: str
) -> None:
    a = Timeline(120.0, (4, 4), True, 8.0, 1_000_000)  # starts at 1 s
    stopped = Timeline.of({"tempo": 120.0, "meter": [4, 4], "transport": a.stopped(1_950_000)})
    result = render(page, web_server, 2.5, [(0, a), (1_950_000, stopped)])
    onsets = [round(o["sample"] / RATE, 3) for o in result["onsets"][0]]
    # beats 8 and 9; beat 10 (2.0 s) was scheduled by then and is cancelled by the stop
    assert onsets == [1.0, 1.5]
    assert [e["beat"] for e in result["scheduled"]] == [8, 9]
    assert result["cancelled"] == [10]


# -- the project played in the browser --------------------------------------------


def project(**changes: Any) -> dict[str, Any]:
    """Drums (a looping kick pattern), fills (a clip of snares) and keys panned hard left."""
    drums = {"id": "d", "name": "Drums", "kind": "drums", "instrument": 0,
             "volume": 1.0, "pan": 0.0, "mute": False, "solo": False}  # fmt: skip
    keys = {"id": "k", "name": "Keys", "kind": "instrument", "instrument": 0,
            "volume": 1.0, "pan": -1.0, "mute": False, "solo": False}  # fmt: skip
    fills = {**drums, "id": "f", "name": "Fills"}
    doc: dict[str, Any] = {
        "project": Document().to_data()["project"],
        "tracks": [
            {**drums, **changes.get("drums", {})},
            {**keys, **changes.get("keys", {})},
            {**fills, **changes.get("fills", changes.get("drums", {}))},
        ],
        "patterns": [
            # eighths, 8 steps = 4 beats, kick on beats 0 and 2; no clip places it,
            # so it loops from bar 1
            {
                "id": "p1",
                "track": "d",
                "name": "Beat",
                "length": 8,
                "steps_per_beat": 2,
                "lanes": [{"sound": 36, "steps": [100, 0, 0, 0, 100, 0, 0, 0]}],
            },
            # one snare per beat, heard only where its clip places it: beats 4 and 5
            {
                "id": "p2",
                "track": "f",
                "name": "Fill",
                "length": 1,
                "steps_per_beat": 1,
                "lanes": [{"sound": 38, "steps": [110]}],
            },
        ],
        "notes": [
            {"id": "n1", "track": "k", "pitch": 69, "start": 960, "dur": 240, "vel": 100},
            {"id": "n2", "track": "k", "pitch": 72, "start": 3 * 960 + 480, "dur": 240, "vel": 100},
            *changes.get("notes", []),
        ],
        "clips": [{"id": "c1", "track": "f", "pattern": "p2", "start": 4 * 960, "length": 2 * 960}],
    }
    return doc


def onset_beats(onsets: list[dict[str, Any]], timeline: Timeline) -> list[float]:
    """Onsets as beats, rounded to 1/100 (the grid here is 1/2 beat; 1 ms is 0.002 beats)."""
    return [round(timeline.beat_at(o["sample"] / RATE * 1e6), 2) for o in onsets]


def test_patterns_clips_and_notes_play_on_the_timeline_through_pan(
    page: Page, web_server: str
) -> None:
    timeline = Timeline(120.0, (4, 4), True, 0.0, 200_000)
    result = render(page, web_server, 4.0, [(0, timeline)], "playback", project(), channels=2)
    left, right = (onset_beats(ch, timeline) for ch in result["onsets"])
    # right: drums only (keys are panned hard left): kick on 0, 2, 4, 6; snare clip on 4, 5
    assert right == [0.0, 2.0, 4.0, 5.0, 6.0]
    assert left == [0.0, 1.0, 2.0, 3.5, 4.0, 5.0, 6.0]
    beats = sorted(e["beat"] for e in result["scheduled"])
    assert beats == [0.0, 1.0, 2.0, 3.5, 4.0, 4.0, 5.0, 6.0]  # kick and snare both on 4


@pytest.mark.parametrize(
    "changes",
    [{"drums": {"mute": True}}, {"keys": {"solo": True}}, {"drums": {"volume": 0.0}}],
    ids=["drums muted", "keys soloed", "drums at volume 0"],
)
def test_muted_tracks_are_silent(page: Page, web_server: str, changes: dict[str, Any]) -> None:
    timeline = Timeline(120.0, (4, 4), True, 0.0, 200_000)
    doc = project(**changes)
    result = render(page, web_server, 4.0, [(0, timeline)], "playback", doc, channels=2)
    left, right = (onset_beats(ch, timeline) for ch in result["onsets"])
    assert right == []
    assert left == [1.0, 3.5]


def test_edits_are_heard_from_the_next_window(page: Page, web_server: str) -> None:
    timeline = Timeline(120.0, (4, 4), True, 0.0, 200_000)
    added = {"id": "n3", "track": "k", "pitch": 76, "start": 2 * 960 + 480, "dur": 240, "vel": 100}
    edited = project(drums={"mute": True}, notes=[added])
    # at 1.0 s (beat 1.6): the drums are muted and a note at beat 2.5 (1.45 s) is added
    result = render(
        page, web_server, 4.0, [(0, timeline)], "playback", project(), 2, [(1_000_000, edited)]
    )
    left, right = (onset_beats(ch, timeline) for ch in result["onsets"])
    assert right == [0.0]
    assert left == [0.0, 1.0, 2.5, 3.5]


def random_project(rng: random.Random) -> dict[str, Any]:
    """A valid project with drums tracks, patterns (some placed by clips) and drum notes."""
    tracks = [
        {"id": f"t{i}", "name": f"T{i}", "kind": "drums", "instrument": 0,
         "volume": rng.choice([0.5, 1.0]), "pan": 0.0,
         "mute": rng.random() < 0.15, "solo": rng.random() < 0.1}
        for i in range(3)
    ]  # fmt: skip
    patterns = []
    for i in range(5):
        length, per_beat = rng.choice([(16, 4), (12, 3), (8, 2), (7, 4), (1, 1)])
        lanes = [
            {"sound": rng.choice([36, 38, 42, 46, 39]),
             "steps": [rng.choice([0, 0, 64, 100, 127]) for _ in range(length)]}
            for _ in range(rng.randint(1, 3))
        ]  # fmt: skip
        patterns.append({"id": f"p{i}", "track": rng.choice(tracks)["id"], "name": "P",
                         "length": length, "steps_per_beat": per_beat, "lanes": lanes})  # fmt: skip
    clips = [
        {"id": f"c{i}", "track": rng.choice(tracks)["id"], "pattern": f"p{rng.randint(0, 4)}",
         "start": rng.randrange(0, 16 * 960, 240), "length": rng.randrange(240, 8 * 960, 120)}
        for i in range(rng.randint(0, 4))
    ]  # fmt: skip
    notes = [
        {"id": f"n{i}", "track": rng.choice(tracks)["id"], "pitch": rng.choice([36, 38, 49]),
         "start": rng.randrange(0, 16 * 960, 120), "dur": 240, "vel": rng.randint(1, 127)}
        for i in range(rng.randint(0, 6))
    ]  # fmt: skip
    project = Document().to_data()["project"]
    return {"project": project, "tracks": tracks, "patterns": patterns, "notes": notes,
            "clips": clips}  # fmt: skip


def test_drum_hits_are_the_python_drummers(page: Page, web_server: str) -> None:
    """playback.js plays the drum parts exactly where client/drums.py (the drummer bot) does."""
    rng = random.Random(6)
    projects = [random_project(rng) for _ in range(40)]
    windows = [(0.0, 20.0), (3.3, 7.1), (4.0, 4.25), (11.75, 16.5)]
    page.goto(f"{web_server}/")
    got = page.evaluate(
        """async ({ base, projects, windows }) => {
          const p = await import(`${base}/sound/playback.js`);
          return projects.map((project) => windows.map(([lo, hi]) =>
            p.hitsBetween(project, lo, hi).map((h) => [h.beat, h.sound, h.vel, h.track])));
        }""",
        {"base": web_server, "projects": projects, "windows": windows},
    )
    for project, per_window in zip(projects, got, strict=True):
        doc = Document.from_data(project)
        audible = {t["id"] for t in audible_tracks(doc)}
        for (lo, hi), js in zip(windows, per_window, strict=True):
            python = sorted(
                (round(beat, 9), hit.sound, hit.velocity, hit.track)
                for beat, hit in hits_between(doc, lo, hi)
            )
            # the browser schedules muted tracks too (their strip is silent): compare the heard
            heard = sorted((round(b, 9), s, v, t) for b, s, v, t in js if t in audible)
            assert heard == python, (project, lo, hi)


LOOP_JS = """
async ({ base, timeline, step, window, until }) => {
  const s = await import(`${base}/sound/scheduler.js`);
  const t = await import(`${base}/timeline.js`);
  const tl = t.Timeline.of(timeline);
  const out = [];
  for (let from = 0; from < until; from += window) {
    const events = s.eventsInWindow(tl, from, Math.min(until, from + window), (a, b) =>
      s.gridBeats(a, b, step).map((beat) => ({ beat })));
    for (const e of events) out.push([e.beat, e.time]);
  }
  return out;
}
"""


def test_a_loop_wraps_on_the_same_sample_in_the_browser_and_a_bot(
    page: Page, web_server: str
) -> None:
    """Loop on 0-4 beats: for 20 s every sixteenth the browser schedules lies inside the
    loop, and each falls at the very time (hence sample) a bot's scheduler plays it."""
    from backline.client.scheduler import Scheduler, grid_events

    project = {
        "tempo": 120.0,
        "meter": [4, 4],
        "loop": {"start": 0, "end": 4 * 960, "on": True},
        "transport": {"playing": True, "beat": 0.0, "time": 500_000, "start": 0.0},
    }
    until = 20_500_000
    page.goto(f"{web_server}/")
    browser = page.evaluate(
        LOOP_JS,
        {"base": web_server, "timeline": project, "step": 0.25, "window": 25_000, "until": until},
    )
    timeline = Timeline.of(project)
    scheduler: Scheduler[int] = Scheduler(RATE)
    bot: list[tuple[float, float]] = []
    frame = 480
    for k in range(until * RATE // 1_000_000 // frame):
        start_us = k * frame * 1e6 / RATE
        for due in scheduler.due(timeline, start_us, frame, grid_events(0.25)):
            bot.append((due.beat, start_us + due.offset * 1e6 / RATE))
    assert len(browser) == 20 * 8  # sixteenths at 120 BPM for 20 s
    assert all(0.0 <= beat < 4.0 for beat, _ in browser)
    assert [beat for beat, _ in browser] == [beat for beat, _ in bot]
    wraps = [time for beat, time in browser if beat == 0.0]
    assert wraps == [500_000 + 2_000_000 * n for n in range(10)]  # every 4 beats, exactly
    # the bot plays each at the sample the browser's time falls in
    for (_, heard), (_, played) in zip(browser, bot, strict=True):
        assert math.floor(heard * RATE / 1e6 + 1e-6) == round(played * RATE / 1e6)
