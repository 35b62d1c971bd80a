"""The key control, the chord track and its palette, in real Chromium pages against a real
server.

Two editors' pages (Ann and Ben) and an SDK bot share one session for the module; each
test starts from an empty project in C major. A key set on one page, chords added from
the palette, a symbol typed on the other page (and a wrong one refused where it is
typed), undo; and a key change that transposes the notes and chords, checked op for op
against Python's `key_change_ops`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from studio_page import RECORD_EDITS, join, sent

from backline.protocol.harmony import key_change_ops
from backline.protocol.model import Document
from backline.protocol.ops import apply_all
from backline.testing import ServerProcess, SessionThread

SESSION = "chords"
BAR = 3840  # ticks in a 4/4 bar


@dataclass
class Studio:
    server: ServerProcess
    bot: SessionThread
    ann: Page
    ben: Page


@pytest.fixture(scope="module")
def studio(
    tmp_path_factory: pytest.TempPathFactory, _shared_browser: Any, chromium_path: str
) -> Iterator[Studio]:
    """One server, a bot and two editors' pages for the whole module."""
    data = tmp_path_factory.mktemp("chords") / "data"
    server = ServerProcess(data, store=os.environ.get("BACKLINE_TEST_STORE", "sqlite")).start()
    contexts: list[BrowserContext] = []
    try:
        with SessionThread(
            server.url, session=SESSION, token=server.token(SESSION, "owner"), name="bot"
        ) as bot:
            browser = _shared_browser.get(chromium_path)

            def page(name: str) -> Page:
                context = browser.new_context(viewport={"width": 1440, "height": 900})
                contexts.append(context)
                p = join(context, server, SESSION, name)
                p.wait_for_selector(".arr-chord-lane", state="attached")
                return p

            yield Studio(server, bot, page("Ann"), page("Ben"))
            for context in contexts:
                context.close()
    finally:
        server.stop()


def caught_up(studio: Studio) -> int:
    """Wait until no page has anything pending and everyone has one version; that version."""
    studio.bot.run(lambda s: s.synced())
    for p in (studio.ann, studio.ben):
        p.wait_for_function("() => window.backline.pending() === 0")
    version = max(p.evaluate("window.backline.version()") for p in (studio.ann, studio.ben))
    version = max(version, studio.bot.run(lambda s: s.version))
    studio.bot.wait_until(lambda s: s.version >= version, what=f"version {version}")
    for p in (studio.ann, studio.ben):
        p.wait_for_function("(v) => window.backline.version() >= v", arg=version)
        # drawn: one block per chord
        p.wait_for_function(
            "() => document.querySelectorAll('.arr-chord').length"
            " === window.backline.session.project.chords.size"
        )
    return version


def one_edit(studio: Studio, before: int) -> int:
    after = caught_up(studio)
    assert after == before + 1, (before, after)
    return after


@pytest.fixture
def fresh(studio: Studio) -> Studio:
    """No tracks, no chords, C major; everyone caught up, no selection."""

    def clear(s: Any) -> Any:
        doc = s.project
        ops: list[dict[str, Any]] = [{"op": "delete", "id": t} for t in doc.track_order]
        ops += [{"op": "delete", "id": c} for c in doc.chords]
        if doc.project["key"] != "C major":
            ops.append({"op": "set", "id": "project", "field": "key", "value": "C major"})
        return s.edit(ops) if ops else None

    studio.bot.run(clear)
    caught_up(studio)
    for p in (studio.ann, studio.ben):
        p.locator(".position").click()
        p.keyboard.press("Escape")
    return studio


def chords(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        "() => window.backline.session.project.orderedChords().map((c) => ({ ...c }))"
    )
    return found


def choose_key(page: Page, tonic: str | None, mode: str | None) -> Any:
    """Pick a tonic and/or mode in the transport bar; the key-change dialog it opens."""
    if tonic is not None:
        page.get_by_label("Key tonic").select_option(tonic)
    if mode is not None:
        page.get_by_label("Key mode").select_option(mode)
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    return dialog


def test_key_palette_symbols_and_undo_across_pages(fresh: Studio) -> None:
    bot, ann, ben = fresh.bot, fresh.ann, fresh.ben
    v = caught_up(fresh)
    # the key: A (a dialog: keep is the default), then minor; Esc would change nothing
    dialog = choose_key(ann, "A", None)
    expect(dialog).to_contain_text("Change the key to A major")
    keep = dialog.get_by_role("button", name="Keep notes where they are")
    expect(keep).to_be_focused()
    ann.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    v = one_edit(fresh, v)
    dialog = choose_key(ann, None, "minor")
    dialog.get_by_role("button", name="Keep notes where they are").click()
    v = one_edit(fresh, v)
    assert bot.session.project.project["key"] == "A minor"
    expect(ben.get_by_label("Key tonic")).to_have_value("A")
    expect(ben.get_by_label("Key mode")).to_have_value("minor")
    # the palette: the chords of A minor
    ann.get_by_role("button", name="Chords of the key").click()
    palette = ann.locator(".chord-palette")
    expect(palette).to_be_visible()
    expect(palette.locator(".chord-choice")).to_have_text(
        ["i Am", "ii° Bdim", "III C", "iv Dm", "v Em", "VI F", "VII G"]
    )
    palette.get_by_role("button", name="i Am").click()
    v = one_edit(fresh, v)
    palette.get_by_role("button", name="VI F").click()
    v = one_edit(fresh, v)
    assert [(c["symbol"], c["start"], c["length"]) for c in bot.run(lambda s: s.chords)] == [
        ("Am", 0, BAR),
        ("F", BAR, BAR),
    ]
    # Ben's chord lane shows them; his document has the same chords as Ann's
    expect(ben.locator(".arr-chord")).to_have_text(["Am", "F"])
    assert chords(ben) == chords(ann)
    f_id = chords(ben)[1]["id"]
    # Ben types G7/B over the F: Ann has G, dominant seventh, first inversion
    ben.locator(f'.arr-chord[data-chord="{f_id}"]').dblclick()
    field = ben.get_by_role("textbox", name="Chord symbol")
    expect(field).to_have_value("F")
    field.fill("G7/B")
    field.press("Enter")
    v = one_edit(fresh, v)
    ann.wait_for_function(
        "(id) => { const c = window.backline.session.project.chords.get(id);"
        " return c.root === 'G' && c.quality === '7' && c.inversion === 1 && c.bass === null; }",
        arg=f_id,
    )
    expect(ann.locator(f'.arr-chord[data-chord="{f_id}"]')).to_have_text("G7/B")
    # an unknown symbol: the error shows by the field, nothing is sent
    ben.locator(f'.arr-chord[data-chord="{f_id}"]').dblclick()
    field.fill("Hmaj")
    field.press("Enter")
    error = ben.get_by_role("alert")
    expect(error).to_be_visible()
    expect(error).to_contain_text("unknown chord symbol 'Hmaj'")
    expect(field).to_have_attribute("aria-invalid", "true")
    assert ben.evaluate("window.backline.pending()") == 0
    field.press("Escape")
    expect(field).to_have_count(0)
    assert caught_up(fresh) == v
    assert bot.run(lambda s: s.chords)[1]["symbol"] == "G7/B"
    # Ctrl+Z in Ben's page takes his edit back, in one step
    ben.keyboard.press("Control+z")
    v = one_edit(fresh, v)
    ann.wait_for_function(
        "(id) => { const c = window.backline.session.project.chords.get(id);"
        " return c.root === 'F' && c.quality === 'maj' && c.inversion === 0; }",
        arg=f_id,
    )
    expect(ann.locator(".arr-chord")).to_have_text(["Am", "F"])
    ann.get_by_role("button", name="Chords of the key").click()  # closed again
    expect(palette).to_be_hidden()


def test_key_change_transposes_notes_and_chords_as_python_does(fresh: Studio) -> None:
    bot, ann = fresh.bot, fresh.ann
    ann.evaluate(RECORD_EDITS)
    ops: list[dict[str, Any]] = [
        {"op": "insert", "kind": "track", "id": "kc-keys", "value": {"name": "Keys"}},
        {"op": "insert", "kind": "track", "id": "kc-drums", "value": {"name": "Beat", "kind": "drums"}},
        {"op": "insert", "kind": "note", "id": "kc-n60",
         "value": {"track": "kc-keys", "pitch": 60, "start": 0, "dur": 960, "vel": 100}},
        {"op": "insert", "kind": "note", "id": "kc-n36",
         "value": {"track": "kc-drums", "pitch": 36, "start": 0, "dur": 240, "vel": 100}},
        {"op": "insert", "kind": "chord", "id": "kc-c",
         "value": {"start": 0, "length": BAR, "root": "C", "quality": "maj", "inversion": 0, "bass": None}},
    ]  # fmt: skip
    bot.run(lambda s: s.edit(ops))
    v = caught_up(fresh)
    expected = Document()
    apply_all(expected, ops)
    # Esc in the dialog changes nothing, and the select shows the key again
    dialog = choose_key(ann, None, "dorian")
    ann.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(ann.get_by_label("Key mode")).to_have_value("major")
    assert ann.evaluate("window.__sent") == []
    # D major, transposed
    dialog = choose_key(ann, "D", None)
    dialog.get_by_role("button", name="Transpose notes and chords to the new key").click()
    v = one_edit(fresh, v)
    doc = bot.session.project
    assert doc.project["key"] == "D major"
    assert doc.notes["kc-n60"]["pitch"] == 62
    assert doc.notes["kc-n36"]["pitch"] == 36
    assert doc.chords["kc-c"]["root"] == "D"
    expect(ann.locator('.arr-chord[data-chord="kc-c"]')).to_have_text("D")
    # one batch, the very ops Python's key_change_ops makes
    assert sent(ann) == [key_change_ops(expected, "D major", True)]
    # and the page's keyChangeOps agrees on a flat key too (read from the same document)
    js = ann.evaluate(
        """async () => (await import('/ui/chords.js'))
          .keyChangeOps(window.backline.session.project, 'Bb minor', true)"""
    )
    apply_all(expected, sent(ann)[0])
    assert js == key_change_ops(expected, "Bb minor", True)
    # one Ctrl+Z restores the key, the note and the chord
    ann.locator(".position").click()
    ann.keyboard.press("Control+z")
    v = one_edit(fresh, v)
    doc = bot.session.project
    assert doc.project["key"] == "C major"
    assert (doc.notes["kc-n60"]["pitch"], doc.notes["kc-n36"]["pitch"]) == (60, 36)
    assert doc.chords["kc-c"]["root"] == "C"
    expect(ann.get_by_label("Key tonic")).to_have_value("C")
    expect(ann.locator('.arr-chord[data-chord="kc-c"]')).to_have_text("C")


LANE_POINT = """(beat) => {
  const lane = document.querySelector('.arr-chord-lane');
  const box = lane.getBoundingClientRect();
  const px = Number(document.querySelector('.arr-ruler').dataset.pxPerBeat);
  const body = document.querySelector('.arr-body');
  return { x: box.left + lane.clientLeft + beat * px - body.scrollLeft, y: box.top + box.height / 2 };
}"""


def lane_point(page: Page, beat: float) -> tuple[float, float]:
    p: dict[str, float] = page.evaluate(LANE_POINT, beat)
    return p["x"], p["y"]


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, start[1], steps=3)
    page.mouse.move(*end, steps=3)
    page.mouse.up()


def test_lane_clicks_drags_keys_and_refusals(fresh: Studio) -> None:
    bot, ann = fresh.bot, fresh.ann
    spans = lambda: [(c["symbol"], c["start"], c["length"]) for c in bot.run(lambda s: s.chords)]  # noqa: E731
    v = caught_up(fresh)
    # a click in an empty bar: the key's I; in the bar after it: the bar before's chord
    ann.mouse.click(*lane_point(ann, 1.5))
    v = one_edit(fresh, v)
    ann.mouse.click(*lane_point(ann, 5.0))
    v = one_edit(fresh, v)
    assert spans() == [("C", 0, BAR), ("C", BAR, BAR)]
    # the new chord is selected: Enter types its symbol
    ann.keyboard.press("Enter")
    field = ann.get_by_role("textbox", name="Chord symbol")
    field.fill("Am7")
    field.press("Enter")
    v = one_edit(fresh, v)
    # bar 4, after an empty bar 3: the key's I again
    ann.mouse.click(*lane_point(ann, 13.0))
    v = one_edit(fresh, v)
    assert spans() == [("C", 0, BAR), ("Am7", BAR, BAR), ("C", 3 * BAR, BAR)]
    # drag it a bar earlier by its body, then two bars long by its right edge
    drag(ann, lane_point(ann, 13.5), lane_point(ann, 9.4))
    v = one_edit(fresh, v)
    x, y = lane_point(ann, 12.0)
    drag(ann, (x - 2, y), lane_point(ann, 16.2))
    v = one_edit(fresh, v)
    assert spans()[2] == ("C", 2 * BAR, 2 * BAR)
    ann.wait_for_function(
        "() => [...document.querySelectorAll('.arr-chord')].every((el) => !el.style.transform)"
    )
    # the first chord may not grow over the second: refused with its reason, nothing sent
    x, y = lane_point(ann, 4.0)
    drag(ann, (x - 2, y), lane_point(ann, 8.2))
    expect(ann.locator(".toast-error").last).to_contain_text("overlap")
    assert caught_up(fresh) == v
    # Delete removes the selected chord; undo brings it back
    ann.locator(".arr-chord", has_text="Am7").click()
    ann.keyboard.press("Delete")
    v = one_edit(fresh, v)
    assert [s for s, _, _ in spans()] == ["C", "C"]
    ann.keyboard.press("Control+z")
    v = one_edit(fresh, v)
    assert [s for s, _, _ in spans()] == ["C", "Am7", "C"]
