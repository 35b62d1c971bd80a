"""The arrangement view and the track controls, in real Chromium pages against a real server.

Two editors' pages (Ann and Ben), a viewer's page and an SDK bot share one
session for the whole module (one server, three page loads); each test starts
from an empty project the bot makes. What one page does with the mouse and
keys (clips drawn, moved, resized, duplicated, deleted; sections; track
colour, instrument, order; the project name) must reach the other page and
the bot's mirror as one version per gesture, undo as one step, and land in
the exported MIDI file (read back with mido).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import mido
import pytest
from playwright.sync_api import BrowserContext, Page, expect
from studio_page import join

from backline.testing import ServerProcess, SessionThread

SESSION = "arrange"
BAR = 3840  # ticks in a 4/4 bar
VIEWER = "Viewers can listen and chat, not edit"

# every toast the page shows, in order (a refused edit must show exactly one)
WATCH_TOASTS = """() => {
  window.__toasts = [];
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) window.__toasts.push(n.textContent);
  }).observe(document.querySelector('.toasts'), { childList: true });
}"""

# viewport coordinates of a point in the arrangement's rows: row index, beat, height fraction
LANE_POINT = """([row, beat, dy]) => {
  const body = document.querySelector('.arr-body');
  const box = body.getBoundingClientRect();
  const px = Number(document.querySelector('.arr-ruler').dataset.pxPerBeat);
  const head = Number(body.dataset.head);
  const rowPx = Number(body.dataset.row);
  return {
    x: box.left + body.clientLeft + head + beat * px - body.scrollLeft,
    y: box.top + body.clientTop + row * rowPx + rowPx * dy - body.scrollTop,
  };
}"""

SECTION_POINT = """(beat) => {
  const lane = document.querySelector('.arr-section-lane');
  const box = lane.getBoundingClientRect();
  const px = Number(document.querySelector('.arr-ruler').dataset.pxPerBeat);
  const body = document.querySelector('.arr-body');
  return { x: box.left + lane.clientLeft + beat * px - body.scrollLeft, y: box.top + box.height / 2 };
}"""

# the page drew that version: its rows are the project's tracks, its clips the project's clips
DRAWN = """(v) => {
  const s = window.backline.session;
  if (s.version < v) return false;
  const doc = s.project;
  const rows = [...document.querySelectorAll('.arr-row')].map((r) => r.dataset.track).join();
  return rows === doc.trackOrder.join() && document.querySelectorAll('.arr-clip').length === doc.clips.size;
}"""

# the buttons, inputs and selects of the arrangement and the track list a user can use
ENABLED = """() => [...document.querySelectorAll(
    '.arrangement button, .arrangement input, .arrangement select, .tracks button, .tracks input, .tracks select')]
  .filter((el) => !el.disabled)
  .map((el) => el.getAttribute('aria-label') || el.textContent.trim())"""

DISABLED_TITLES = """() => [...document.querySelectorAll(
    '.arrangement button, .arrangement input, .arrangement select, .tracks button, .tracks input, .tracks select')]
  .filter((el) => el.disabled).map((el) => el.title)"""


@dataclass
class Studio:
    server: ServerProcess
    bot: SessionThread
    ann: Page
    ben: Page
    viewer: Page


@pytest.fixture(scope="module")
def studio(
    tmp_path_factory: pytest.TempPathFactory, _shared_browser: Any, chromium_path: str
) -> Iterator[Studio]:
    """One server, a bot and three pages for the whole module (page loads are the cost)."""
    data = tmp_path_factory.mktemp("arrangement") / "data"
    server = ServerProcess(data, store=os.environ.get("BACKLINE_TEST_STORE", "sqlite")).start()
    contexts: list[BrowserContext] = []
    try:
        with SessionThread(
            server.url, session=SESSION, token=server.token(SESSION, "owner"), name="bot"
        ) as bot:
            browser = _shared_browser.get(chromium_path)

            def page(name: str, role: str = "editor") -> Page:
                context = browser.new_context(viewport={"width": 1440, "height": 900})
                contexts.append(context)
                p = join(context, server, SESSION, name, role=role)
                p.wait_for_selector(".arr-body", state="attached")
                p.evaluate(WATCH_TOASTS)
                return p

            yield Studio(server, bot, page("Ann"), page("Ben"), page("Vic", role="viewer"))
            for context in contexts:
                context.close()
    finally:
        server.stop()


def caught_up(studio: Studio, *pages: Page) -> int:
    """Wait until each page has nothing pending and everyone has the same version; that version."""
    studio.bot.run(lambda s: s.synced())  # the bot's own edits acknowledged, too
    for p in pages or (studio.ann,):
        p.wait_for_function("() => window.backline.pending() === 0")
    version = max(p.evaluate("window.backline.version()") for p in pages or (studio.ann,))
    version = max(version, studio.bot.run(lambda s: s.version))
    studio.bot.wait_until(lambda s: s.version >= version, what=f"version {version}")
    for p in (studio.ann, studio.ben, studio.viewer):
        p.wait_for_function("(v) => window.backline.version() >= v", arg=version)
        p.wait_for_function(DRAWN, arg=version)
    return version


@pytest.fixture
def fresh(studio: Studio) -> Studio:
    """An empty project (no tracks, no sections, default name), everyone caught up, no toasts."""

    def clear(s: Any) -> Any:
        doc = s.project
        ops = [{"op": "delete", "id": t} for t in doc.track_order]
        ops += [{"op": "delete", "id": i} for i in doc.sections]
        if list(doc.project["meter"]) != [4, 4]:
            ops.append({"op": "set", "id": "project", "field": "meter", "value": [4, 4]})
        if doc.project["name"] != "Untitled":
            ops.append({"op": "set", "id": "project", "field": "name", "value": "Untitled"})
        return s.edit(ops) if ops else None

    studio.bot.run(clear)
    studio.bot.run(lambda s: s.synced())
    caught_up(studio)
    for p in (studio.ann, studio.ben):
        p.keyboard.press("Escape")  # leave no selection behind
        p.evaluate("window.__toasts.length = 0")
    return studio


def point(page: Page, row: int, beat: float, dy: float = 0.5) -> tuple[float, float]:
    p: dict[str, float] = page.evaluate(LANE_POINT, [row, beat, dy])
    return p["x"], p["y"]


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=3)
    page.mouse.move(*end, steps=3)
    page.mouse.up()


def clip_el(page: Page, clip: str) -> Any:
    return page.locator(f'.arr-clip[data-clip="{clip}"]')


def clips(s: Any) -> list[dict[str, Any]]:
    return sorted((dict(c) for c in s.project.clips.values()), key=lambda c: c["start"])


def one_edit(studio: Studio, before: int) -> int:
    """The gesture made exactly one version; it."""
    after = caught_up(studio)
    assert after == before + 1, (before, after)
    return after


def undo(studio: Studio, before: int) -> None:
    studio.ann.keyboard.press("Control+z")
    one_edit(studio, before)


def test_a_clip_drawn_in_a_drums_row_reaches_everyone_and_the_midi_file(fresh: Studio) -> None:
    """Dragging over bars 3-4 of a drums row makes one clip of the track's pattern there:
    the other page draws it and plays it there, the bot has it, and Export MIDI plays the
    kick from bar 3."""
    bot, ann, ben = fresh.bot, fresh.ann, fresh.ben
    drums = bot.run(lambda s: s.add_track("Beat", kind="drums").id)
    pattern = bot.run(lambda s: s.add_pattern(drums, sounds=[36], name="Groove").id)
    for step in (0, 4, 8, 12):
        bot.run(lambda s, step=step: s.set_step(pattern, 0, step, 110))
    before = caught_up(fresh)
    drag(ann, point(ann, 0, 8.4), point(ann, 0, 15.5))
    one_edit(fresh, before)
    [clip] = clips(bot.session)
    assert (clip["track"], clip["pattern"], clip["start"], clip["length"]) == (
        drums,
        pattern,
        2 * BAR,
        2 * BAR,
    )
    expect(clip_el(ben, clip["id"])).to_have_text("Groove")
    expect(clip_el(ann, clip["id"])).to_have_class("arr-clip selected")
    # the other page plays it there: what its playback schedules for bars 1 to 6
    heard = ben.evaluate(
        """async () => {
          const { hitsBetween } = await import("/sound/playback.js");
          return hitsBetween(window.backline.project(), 0, 24).map((h) => [h.beat, h.sound]);
        }"""
    )
    assert heard == [[8.0 + k, 36] for k in range(8)]  # kicks from bar 3, none before
    midi = mido.MidiFile(file=io.BytesIO(bytes(ann.evaluate("window.backline.exportMidi()"))))
    assert midi.ticks_per_beat == 960
    kicks = []
    for track in midi.tracks:
        tick = 0
        for message in track:
            tick += message.time
            if message.type == "note_on" and message.velocity > 0:
                kicks.append((tick, message.note, message.channel))
    # two passes of the one-bar pattern, from bar 3 on, on the drum channel
    assert kicks == [(2 * BAR + k * 960, 36, 9) for k in range(8)]


def test_a_drums_row_without_a_pattern_gets_one_in_the_same_edit(fresh: Studio) -> None:
    bot, ann = fresh.bot, fresh.ann
    drums = bot.run(lambda s: s.add_track("Empty kit", kind="drums").id)
    bot.run(lambda s: s.add_track("Voice", kind="audio"))
    before = caught_up(fresh)
    drag(ann, point(ann, 0, 0.5), point(ann, 0, 3.0))
    one_edit(fresh, before)
    [clip] = clips(bot.session)
    [made] = bot.session.project.patterns.values()
    assert (made["track"], clip["pattern"], clip["start"], clip["length"]) == (
        drums,
        made["id"],
        0,
        BAR,
    )
    # an audio row takes no clips
    drag(ann, point(ann, 1, 4.5), point(ann, 1, 10))
    assert ann.evaluate("window.backline.pending()") == 0
    assert ann.evaluate("window.backline.version()") == before + 1


def test_bars_follow_the_meter(fresh: Studio) -> None:
    """In 6/8 a bar is three quarter notes: a drag snaps to those bars, and Beat snap to
    eighth notes."""
    bot, ann = fresh.bot, fresh.ann
    keys = bot.run(lambda s: s.add_track("Keys").id)
    bot.run(lambda s: s.set_meter(6, 8))
    before = caught_up(fresh)
    ann.wait_for_function(
        "() => document.querySelector('.arr-content').style.getPropertyValue('--bar')"
        " === `${3 * Number(document.querySelector('.arr-ruler').dataset.pxPerBeat)}px`"
    )
    drag(ann, point(ann, 0, 3.5), point(ann, 0, 5.0))
    before = one_edit(fresh, before)
    [clip] = clips(bot.session)
    assert (clip["track"], clip["start"], clip["length"]) == (keys, 3 * 960, 3 * 960)
    ann.get_by_label("Arrangement snap").select_option("beat")
    drag(ann, point(ann, 0, 7.2), point(ann, 0, 8.2))
    one_edit(fresh, before)
    later = clips(bot.session)[1]
    assert (later["start"], later["length"]) == (7 * 960, 1440)
    ann.get_by_label("Arrangement snap").select_option("bar")


def test_move_resize_duplicate_delete_are_one_edit_each_and_undo_in_one_step(
    fresh: Studio,
) -> None:
    """A notes clip with two notes: each gesture one version, each undone by one undo;
    the selection shows in the other page in Ann's colour; the clip moves to another
    instrument track with its notes."""
    bot, ann, ben = fresh.bot, fresh.ann, fresh.ben
    keys = bot.run(lambda s: s.add_track("Keys").id)
    pad = bot.run(lambda s: s.add_track("Pad").id)
    clip = bot.run(lambda s: s.add_clip(keys, None, 0, BAR).id)
    bot.run(lambda s: s.add_note(keys, 60, 0, 480, clip=clip))
    bot.run(lambda s: s.add_note(keys, 64, 960, 480, clip=clip))
    v = caught_up(fresh)
    el = clip_el(ann, clip)
    expect(el).to_have_text("2 notes")

    # select: Ben sees Ann's selection; the page knows the notes clip
    el.click(position={"x": 20, "y": 20})
    ann.wait_for_function("(c) => window.backline.selectedClip() === c", arg=clip)
    expect(clip_el(ben, clip)).to_have_attribute("title", "Selected by Ann")
    expect(clip_el(ben, clip)).to_have_class("arr-clip notes peer-selected")

    # move two bars right
    drag(ann, point(ann, 0, 1), point(ann, 0, 9.2))
    v = one_edit(fresh, v)
    assert bot.session.project.clips[clip]["start"] == 2 * BAR
    notes = sorted(n["start"] for n in bot.session.project.notes.values())
    assert notes == [0, 960]  # relative to the clip: they moved with it
    undo(fresh, v)
    v += 1
    assert bot.session.project.clips[clip]["start"] == 0

    # resize by the right edge to two bars
    x, y = point(ann, 0, 4)
    drag(ann, (x - 3, y), point(ann, 0, 8.1))
    v = one_edit(fresh, v)
    assert bot.session.project.clips[clip]["length"] == 2 * BAR
    undo(fresh, v)
    v += 1
    assert bot.session.project.clips[clip]["length"] == BAR

    # duplicate (Ctrl-D) right after itself, with its notes
    el.click(position={"x": 20, "y": 20})
    ann.keyboard.press("Control+d")
    v = one_edit(fresh, v)
    made = clips(bot.session)
    assert [(c["track"], c["start"], c["length"]) for c in made] == [
        (keys, 0, BAR),
        (keys, BAR, BAR),
    ]
    copy = made[1]["id"]
    copied = sorted(
        (n["start"], n["pitch"]) for n in bot.session.project.notes.values() if n["clip"] == copy
    )
    assert copied == [(0, 60), (960, 64)]
    expect(clip_el(ben, copy)).to_have_text("2 notes")
    undo(fresh, v)
    v += 1
    assert len(bot.session.project.clips) == 1 and len(bot.session.project.notes) == 2

    # the Duplicate button does the same
    el.click(position={"x": 20, "y": 20})
    ann.get_by_role("button", name="Duplicate").click()
    v = one_edit(fresh, v)
    assert len(bot.session.project.clips) == 2
    undo(fresh, v)
    v += 1

    # delete (Delete key): the clip and its notes, back in one undo
    el.click(position={"x": 20, "y": 20})
    ann.keyboard.press("Delete")
    v = one_edit(fresh, v)
    assert not bot.session.project.clips and not bot.session.project.notes
    expect(clip_el(ben, clip)).to_have_count(0)
    undo(fresh, v)
    v += 1
    assert clip in bot.session.project.clips and len(bot.session.project.notes) == 2

    # move down to the other instrument track, a bar later: one edit, notes along
    drag(ann, point(ann, 0, 1), point(ann, 1, 5.1))
    v = one_edit(fresh, v)
    moved = bot.session.project.clips[clip]
    assert (moved["track"], moved["start"]) == (pad, BAR)
    assert {n["track"] for n in bot.session.project.notes.values()} == {pad}
    expect(ben.locator(f'.arr-row[data-track="{pad}"] .arr-clip')).to_have_count(1)
    undo(fresh, v)
    assert bot.session.project.clips[clip]["track"] == keys
    assert ann.evaluate("window.__toasts") == []


def test_an_overlapping_move_is_refused_once_and_changes_nothing(fresh: Studio) -> None:
    bot, ann = fresh.bot, fresh.ann
    keys = bot.run(lambda s: s.add_track("Keys").id)
    first = bot.run(lambda s: s.add_clip(keys, None, 0, BAR).id)
    second = bot.run(lambda s: s.add_clip(keys, None, 2 * BAR, BAR).id)
    v = caught_up(fresh)
    before = ann.evaluate("window.backline.project()")
    left = clip_el(ann, first).evaluate("(el) => el.getBoundingClientRect().left")
    drag(ann, point(ann, 0, 1), point(ann, 0, 9.1))  # onto the second clip
    ann.wait_for_function("() => window.__toasts.length > 0")
    [toast] = ann.evaluate("window.__toasts")
    assert "overlap" in toast
    expect(ann.locator(".toast-error", has_text="overlap")).to_have_count(1)
    assert ann.evaluate("window.backline.pending()") == 0
    assert ann.evaluate("window.backline.version()") == v
    assert ann.evaluate("window.backline.project()") == before
    assert bot.session.project.clips[first]["start"] == 0
    assert bot.session.project.clips[second]["start"] == 2 * BAR
    ann.wait_for_function(
        "([c, x]) => { const el = document.querySelector(`.arr-clip[data-clip='${c}']`);"
        " return !el.style.transform && Math.abs(el.getBoundingClientRect().left - x) < 1; }",
        arg=[first, left],
    )


def test_sections_create_rename_recolour_delete(fresh: Studio) -> None:
    bot, ann, ben = fresh.bot, fresh.ann, fresh.ben
    bot.run(lambda s: s.add_track("Keys"))
    v = caught_up(fresh)
    sections = lambda: sorted(  # noqa: E731
        (dict(x) for x in bot.session.project.sections.values()), key=lambda x: x["start"]
    )
    # drag over bars 1-2 of the sections lane
    a: dict[str, float] = ann.evaluate(SECTION_POINT, 0.5)
    b: dict[str, float] = ann.evaluate(SECTION_POINT, 7.0)
    drag(ann, (a["x"], a["y"]), (b["x"], b["y"]))
    v = one_edit(fresh, v)
    [made] = sections()
    assert (made["name"], made["start"], made["length"]) == ("Intro", 0, 2 * BAR)
    section = ben.locator(f'.arr-section[data-section="{made["id"]}"]')
    expect(section).to_have_text("Intro")
    # double-click renames
    ann.locator(f'.arr-section[data-section="{made["id"]}"]').dblclick()
    name = ann.get_by_role("textbox", name="Section name")
    name.fill("Verse A")
    name.press("Enter")
    v = one_edit(fresh, v)
    assert sections()[0]["name"] == "Verse A"
    expect(section).to_have_text("Verse A")
    # the colour input recolours the selected section
    ann.locator(f'.arr-section[data-section="{made["id"]}"]').click()
    colour = ann.get_by_label("Section colour")
    expect(colour).to_be_enabled()
    colour.evaluate(
        "(el) => { el.value = '#3366cc'; el.dispatchEvent(new Event('change', {bubbles: true})); }"
    )
    v = one_edit(fresh, v)
    assert sections()[0]["color"] == "#3366cc"
    ben.wait_for_function(
        "(id) => document.querySelector(`.arr-section[data-section='${id}']`)"
        ".style.getPropertyValue('--section') === '#3366cc'",
        arg=made["id"],
    )
    # drag it a bar later by its body, then undo; make it three bars long by its edge
    x0: dict[str, float] = ann.evaluate(SECTION_POINT, 2.0)
    x1: dict[str, float] = ann.evaluate(SECTION_POINT, 6.1)
    drag(ann, (x0["x"], x0["y"]), (x1["x"], x1["y"]))
    v = one_edit(fresh, v)
    assert (sections()[0]["start"], sections()[0]["length"]) == (BAR, 2 * BAR)
    undo(fresh, v)
    v += 1
    edge: dict[str, float] = ann.evaluate(SECTION_POINT, 8.0)
    x2: dict[str, float] = ann.evaluate(SECTION_POINT, 12.1)
    drag(ann, (edge["x"] - 2, edge["y"]), (x2["x"], x2["y"]))
    v = one_edit(fresh, v)
    assert (sections()[0]["start"], sections()[0]["length"]) == (0, 3 * BAR)
    undo(fresh, v)
    v += 1
    assert sections()[0]["length"] == 2 * BAR
    # "+ Section": the playhead's bar is taken, so four bars after the last section
    ann.get_by_role("button", name="+ Section").click()
    v = one_edit(fresh, v)
    later = sections()[1]
    assert (later["name"], later["start"], later["length"]) == ("Intro", 2 * BAR, 4 * BAR)
    # Delete removes the selected section
    ann.locator(f'.arr-section[data-section="{made["id"]}"]').click()
    ann.keyboard.press("Delete")
    v = one_edit(fresh, v)
    assert [x["id"] for x in sections()] == [later["id"]]
    expect(section).to_have_count(0)
    undo(fresh, v)
    assert len(sections()) == 2


def test_track_colour_instrument_order_and_project_name(fresh: Studio) -> None:
    bot, ann, ben = fresh.bot, fresh.ann, fresh.ben
    drums = bot.run(lambda s: s.add_track("Drums", kind="drums").id)
    bass = bot.run(lambda s: s.add_track("Bass").id)
    lead = bot.run(lambda s: s.add_track("Lead").id)
    v = caught_up(fresh)
    strip = lambda page, t: page.locator(f'.strip[data-track="{t}"]')  # noqa: E731
    # colour
    strip(ann, bass).get_by_label("Track colour").evaluate(
        "(el) => { el.value = '#ff8800'; el.dispatchEvent(new Event('change', {bubbles: true})); }"
    )
    v = one_edit(fresh, v)
    assert bot.session.project.tracks[bass]["color"] == "#ff8800"
    ben.wait_for_function(
        "(t) => document.querySelector(`.arr-row[data-track='${t}']`)"
        ".style.getPropertyValue('--track') === '#ff8800'",
        arg=bass,
    )
    # instrument: GM programs on an instrument track, kits on a drums track
    picker = strip(ann, bass).get_by_label("Instrument")
    assert picker.locator("option").count() == 128
    picker.select_option(label="34 Electric Bass (finger)")
    v = one_edit(fresh, v)
    assert bot.session.project.tracks[bass]["instrument"] == 33
    expect(strip(ben, bass).get_by_label("Instrument")).to_have_value("33")
    kits = strip(ann, drums).get_by_label("Drum kit")
    assert kits.locator("option").all_inner_texts() == [
        "Standard",
        "Room",
        "Power",
        "Electronic",
        "TR-808",
        "Jazz",
        "Brush",
        "Orchestra",
    ]
    kits.select_option(label="TR-808")
    v = one_edit(fresh, v)
    assert bot.session.project.tracks[drums]["instrument"] == 25
    # reorder: drag the first strip's grip below the last one
    grip = strip(ann, drums).get_by_label("Reorder track (drag, or Alt+Arrow keys)")
    target = strip(ann, lead).bounding_box()
    start = grip.bounding_box()
    assert target is not None and start is not None
    drag(
        ann,
        (start["x"] + start["width"] / 2, start["y"] + start["height"] / 2),
        (start["x"] + start["width"] / 2, target["y"] + target["height"] * 0.8),
    )
    v = one_edit(fresh, v)
    assert bot.session.project.track_order == [bass, lead, drums]
    ben.wait_for_function(
        "(ids) => [...document.querySelectorAll('.arr-row')].map((r) => r.dataset.track).join() === ids.join()",
        arg=[bass, lead, drums],
    )
    # and from the keyboard: Alt+ArrowUp on the focused strip
    strip(ann, drums).get_by_label("Reorder track (drag, or Alt+Arrow keys)").focus()
    ann.keyboard.press("Alt+ArrowUp")
    v = one_edit(fresh, v)
    assert bot.session.project.track_order == [bass, drums, lead]
    ann.keyboard.press("Alt+ArrowUp")  # the focus moved with the strip
    v = one_edit(fresh, v)
    assert bot.session.project.track_order == [drums, bass, lead]
    undo(fresh, v)
    v += 1
    assert bot.session.project.track_order == [bass, drums, lead]
    # the project name, in the header
    title = ann.get_by_label("Project name")
    title.fill("Night Drive")
    title.press("Enter")
    one_edit(fresh, v)
    assert bot.session.project.project["name"] == "Night Drive"
    expect(ben.get_by_label("Project name")).to_have_value("Night Drive")
    assert ann.evaluate("window.__toasts") == []


def test_a_viewer_sees_no_enabled_edit_control(fresh: Studio) -> None:
    bot, vic = fresh.bot, fresh.viewer
    keys = bot.run(lambda s: s.add_track("Keys").id)
    bot.run(lambda s: s.add_track("Drums", kind="drums"))
    clip = bot.run(lambda s: s.add_clip(keys, None, 0, BAR).id)
    bot.run(lambda s: s.add_section("Intro", 0, 4 * BAR))
    v = caught_up(fresh)
    expect(clip_el(vic, clip)).to_have_count(1)
    vic.locator(".strip").nth(1).wait_for()
    # only what changes the view stays usable: zoom, snap, and which track to look at
    enabled = vic.evaluate(ENABLED)
    assert sorted(set(enabled)) == sorted(
        {
            "Arrangement zoom in",
            "Arrangement zoom out",
            "Arrangement snap",
            "Edit Keys",
            "Edit Drums",
        }
    ), enabled
    assert set(vic.evaluate(DISABLED_TITLES)) == {VIEWER}
    assert vic.get_by_label("Project name").is_disabled()
    expect(vic.locator(".arr-body")).to_have_attribute("aria-disabled", "true")
    expect(vic.locator(".arr-body")).to_have_attribute("title", VIEWER)
    # gestures do nothing: no drawn clip, no moved clip, no deleted clip
    drag(vic, point(vic, 1, 4.5), point(vic, 1, 10))
    drag(vic, point(vic, 0, 1), point(vic, 0, 9))
    clip_el(vic, clip).click(position={"x": 10, "y": 20})
    vic.keyboard.press("Delete")
    assert vic.evaluate("window.backline.pending()") == 0
    assert vic.evaluate("window.backline.version()") == v
    assert bot.session.project.clips[clip]["start"] == 0
    # zooming is for everyone: the buttons and Ctrl+wheel scale the rows with the ruler
    width = lambda: clip_el(vic, clip).evaluate("(el) => el.getBoundingClientRect().width")  # noqa: E731
    assert width() == pytest.approx(4 * 12, abs=0.5)
    vic.get_by_role("button", name="Arrangement zoom in").click()
    vic.wait_for_function("() => document.querySelector('.arr-ruler').dataset.pxPerBeat === '15'")
    vic.wait_for_function(
        "(c) => Math.abs(document.querySelector(`.arr-clip[data-clip='${c}']`)"
        ".getBoundingClientRect().width - 60) < 0.5",
        arg=clip,
    )
    vic.mouse.move(*point(vic, 0, 2))
    vic.keyboard.down("Control")
    vic.mouse.wheel(0, 100)
    vic.keyboard.up("Control")
    vic.wait_for_function("() => document.querySelector('.arr-ruler').dataset.pxPerBeat === '12'")
    assert width() == pytest.approx(48, abs=0.5)
