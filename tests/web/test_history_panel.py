"""The History panel (web/ui/history.js): versions in sessions of work, auditioning an old
version on one page while the others keep editing, restore as one version and one Undo,
named versions, diffs, forks, and viewers.

A real server, Chromium pages in browser contexts of their own (separate people, to the
server) and an SDK participant, Ann, who builds the song. What a page plays is read from
its sound engine (`window.backlineSound.playback.project`, the snapshot the scheduler
plays); what it holds live from its replica (`window.backline.project()`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from studio_page import CONNECTED

from backline.testing import ServerProcess, SessionThread

SESSION = "hist"

PLAYED_NOTES = "() => { const p = window.backlineSound?.playback; return p ? p.project.notes.map((n) => n.pitch).sort((a, b) => a - b) : null; }"
LIVE_NOTES = "() => window.backline.project().notes.map((n) => n.pitch).sort((a, b) => a - b)"
TRACK_NAMES = "window.backline.project().tracks.map((t) => t.name)"


@pytest.fixture
def ann(server: ServerProcess) -> Iterator[SessionThread]:
    """Ann (an owner, SDK) makes the song: v1 a track "Keys", v2-v3 two notes (the old
    version), v4-v5 two more notes, v6 the track renamed "Rhodes"."""
    with SessionThread(
        server.url, session=SESSION, token=server.token(SESSION, "owner"), name="Ann"
    ) as s:

        async def build(session: Any) -> None:
            track = session.add_track("Keys")
            await track
            for pitch in (60, 62, 64, 65):
                await session.add_note(track.id, pitch, 0)
            await session.set(track.id, "name", "Rhodes")

        s.run(build)
        yield s


def track_id(bot: SessionThread) -> str:
    return str(bot.run(lambda s: s.project.track_order[0]))


def open_page(
    browser: Browser, server: ServerProcess, name: str, role: str = "editor"
) -> tuple[BrowserContext, Page, list[str]]:
    """A person in a browser of their own, joined through the page's form as `name`."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.http_url}/#session={SESSION}&token={server.token(SESSION, role)}")
    page.fill("input[name=name]", name)
    page.click("button[type=submit]")
    page.wait_for_function(CONNECTED)
    page.wait_for_selector(".ruler")
    return context, page, errors


@contextlib.contextmanager
def two_pages(
    browser: Browser, server: ServerProcess
) -> Iterator[tuple[Page, Page, list[str], list[str]]]:
    """Alex and Bea, each in a browser of their own (closed afterwards), with their page
    errors."""
    a_context, a, a_errors = open_page(browser, server, "Alex")
    try:
        b_context, b, b_errors = open_page(browser, server, "Bea")
        try:
            yield a, b, a_errors, b_errors
        finally:
            b_context.close()
    finally:
        a_context.close()


def open_history(page: Page) -> None:
    """Open the panel from the header and wait for its first page of versions."""
    page.get_by_role("button", name="History", exact=True).click()
    expect(page.locator(".history-panel")).to_be_visible()
    page.wait_for_selector(".history-row")


def row(page: Page, version: int) -> Any:
    return page.locator(f".history-row[data-version='{version}']")


def shown_versions(page: Page) -> list[int]:
    """The versions the panel lists, top to bottom."""
    found: list[int] = page.locator(".history-row").evaluate_all(
        "rows => rows.map((r) => Number(r.dataset.version))"
    )
    return found


def version(page: Page) -> int:
    return int(page.evaluate("window.backline.version()"))


def wait_version(page: Page, at_least: int) -> None:
    page.wait_for_function("(v) => window.backline.version() >= v", arg=at_least)


def test_audition_plays_the_old_version_here_while_others_keep_editing(
    browser: Browser, server: ServerProcess, ann: SessionThread
) -> None:
    track = track_id(ann)
    with two_pages(browser, server) as (a, b, a_errors, b_errors):
        wait_version(a, 6)
        open_history(a)
        # the versions, newest first, in one session of work with its authors
        assert shown_versions(a) == [6, 5, 4, 3, 2, 1]
        expect(a.locator(".history-group")).to_have_count(1)
        expect(a.locator(".history-group-who")).to_have_text("Ann")
        expect(row(a, 6).locator(".history-name")).to_have_text("Ann")
        expect(row(a, 6).locator(".badge-live")).to_have_text("live")

        # A auditions v3: hears and sees it, B is not affected
        a.wait_for_function(f"() => ({PLAYED_NOTES})()?.length === 4")
        row(a, 3).click()
        banner = a.locator(".audition-banner")
        expect(banner).to_contain_text("Auditioning v3")
        expect(banner).to_contain_text("your edits are off")
        a.wait_for_function(f"() => JSON.stringify(({PLAYED_NOTES})()) === '[60,62]'")
        expect(a.locator(".strip .name")).to_have_value("Keys")  # the track list shows v3 too
        expect(a.locator(".add-track")).to_be_disabled()
        assert a.evaluate("window.backline.history().auditioning") is True
        expect(b.locator(".audition-banner")).to_be_hidden()
        assert b.evaluate("window.backline.editBlockReason()") is None
        b.wait_for_function(f"() => ({PLAYED_NOTES})()?.length === 4")

        # B edits: A's replica follows, A keeps hearing v3
        b.evaluate(f"window.backline.session.addNote({track!r}, 72, 0)")
        wait_version(a, 7)
        assert a.evaluate(LIVE_NOTES) == [60, 62, 64, 65, 72]
        a.wait_for_function(f"() => ({LIVE_NOTES})().length === 5")
        assert a.evaluate(PLAYED_NOTES) == [60, 62]
        expect(a.locator(".strip .name")).to_have_value("Keys")
        expect(b.locator(".strip .name")).to_have_value("Rhodes")
        b.wait_for_function(f"() => ({PLAYED_NOTES})()?.length === 5")
        expect(row(a, 7)).to_be_visible()  # the list follows live

        # A's edits are refused here, nothing is sent
        seq = a.evaluate("window.backline.session.seq")
        a.locator(".position").click()
        a.keyboard.press("Control+z")
        expect(a.locator(".toast").last).to_contain_text("Auditioning v3")
        refused = a.evaluate(
            """() => { try { window.backline.session.addTrack('Nope'); return null; }
                       catch (e) { return e.code; } }"""
        )
        assert refused == "forbidden"
        assert a.evaluate("window.backline.session.seq") == seq
        assert a.evaluate("window.backline.pending()") == 0
        latest = ann.run(lambda s: s.set(track, "volume", 0.5))  # after A's attempts: v8
        assert latest == 8
        wait_version(b, 8)
        assert version(b) == 8 and b.evaluate("window.backline.project().tracks.length") == 1

        # Esc: back to live, heard and shown
        a.keyboard.press("Escape")
        expect(banner).to_be_hidden()
        a.wait_for_function(f"() => ({PLAYED_NOTES})()?.length === 5")
        expect(a.locator(".strip .name")).to_have_value("Rhodes")
        expect(a.locator(".add-track")).to_be_enabled()

        # the keyboard in the list: arrows move, Enter auditions
        row(a, 8).focus()
        a.keyboard.press("ArrowDown")
        expect(row(a, 7)).to_be_focused()
        a.keyboard.press("ArrowDown")
        expect(row(a, 6)).to_be_focused()
        a.keyboard.press("Enter")
        expect(banner).to_contain_text("Auditioning v6")
        a.wait_for_function(f"() => ({PLAYED_NOTES})()?.length === 4")
        a.keyboard.press("Escape")
        expect(banner).to_be_hidden()
        assert a_errors == [] and b_errors == []


def test_restore_is_one_version_for_everyone_and_one_undo(
    browser: Browser, server: ServerProcess, ann: SessionThread
) -> None:
    with two_pages(browser, server) as (a, b, a_errors, b_errors):
        wait_version(a, 6)
        wait_version(b, 6)
        open_history(a)
        row(a, 3).click()
        banner = a.locator(".audition-banner")
        expect(banner).to_contain_text("Auditioning v3")
        before = version(b)
        assert before == 6
        banner.get_by_role("button", name="Restore").click()
        banner.get_by_role("button", name="Confirm restore").click()
        expect(a.locator(".toast").last).to_have_text("Restored v3 as v7 (Undo to take it back)")
        expect(banner).to_be_hidden()
        wait_version(b, 7)
        assert version(b) == 7  # exactly one new version
        assert b.evaluate(LIVE_NOTES) == [60, 62]
        assert b.evaluate(TRACK_NAMES) == ["Keys"]
        expect(row(a, 7).locator(".badge-restore")).to_have_text("↺ v3")

        # A's Undo takes it back in one step, for both
        a.locator(".position").click()
        a.keyboard.press("Control+z")
        wait_version(b, 8)
        b.wait_for_function(f"() => ({LIVE_NOTES})().length === 4")
        a.wait_for_function(f"() => ({LIVE_NOTES})().length === 4")
        assert version(b) == 8
        for page in (a, b):
            assert page.evaluate(TRACK_NAMES) == ["Rhodes"]
        assert a_errors == [] and b_errors == []


def test_named_versions_show_on_every_page_and_filter(
    browser: Browser, server: ServerProcess, ann: SessionThread
) -> None:
    with two_pages(browser, server) as (a, b, a_errors, b_errors):
        wait_version(a, 6)
        open_history(a)
        open_history(b)
        field = a.get_by_label("Name for the current version")
        field.fill("chorus idea")
        field.press("Enter")
        expect(a.locator(".toast").last).to_contain_text("Named v6 “chorus idea”")
        expect(row(a, 6).locator(".history-chip")).to_have_text("chorus idea")
        # live on B's page, which asked for nothing
        expect(row(b, 6).locator(".history-chip")).to_have_text("chorus idea")
        b.get_by_label("Named only").check()
        assert shown_versions(b) == [6]
        b.get_by_label("Named only").uncheck()
        expect(b.locator(".history-row")).to_have_count(6)
        assert a_errors == [] and b_errors == []


def test_diff_lists_what_changed_and_who(
    browser: Browser, server: ServerProcess, ann: SessionThread
) -> None:
    track = track_id(ann)
    with two_pages(browser, server) as (a, b, a_errors, b_errors):
        wait_version(b, 6)
        b.evaluate(f"window.backline.session.addNote({track!r}, 67, 480)")
        wait_version(a, 7)
        open_history(a)
        row(a, 3).click()
        expect(a.locator(".audition-banner")).to_contain_text("Auditioning v3")
        row(a, 7).click(modifiers=["Shift"])
        diff = a.locator(".history-diff")
        expect(diff.locator("h3")).to_have_text("v3 → v7")
        expect(diff.locator(".history-diff-head .hint")).to_have_text("by Ann, Bea")
        added = diff.locator(".diff-added .history-diff-entry")
        expect(added).to_have_count(3)
        texts = added.all_inner_texts()
        assert any("E4 in Rhodes" in t and "by Ann" in t for t in texts), texts
        assert any("G4 in Rhodes" in t and "by Bea" in t for t in texts), texts
        changed = diff.locator(".diff-changed .history-diff-entry")
        expect(changed).to_have_count(1)
        expect(changed).to_contain_text("Rhodes")
        expect(changed.locator(".diff-fields")).to_have_text("name")
        expect(changed.locator(".diff-by")).to_have_text("by Ann")
        expect(diff.locator(".diff-removed")).to_have_count(0)
        assert a_errors == [] and b_errors == []


def test_fork_gives_a_link_that_opens_the_fork_with_its_parent(
    browser: Browser, server: ServerProcess, ann: SessionThread
) -> None:
    a_context, a, a_errors = open_page(browser, server, "Alex")
    try:
        wait_version(a, 6)
        open_history(a)
        row(a, 3).click()
        expect(a.locator(".audition-banner")).to_contain_text("Auditioning v3")
        a.get_by_role("button", name="Fork…").click()
        dialog = a.get_by_role("dialog", name="Fork this session")
        expect(dialog).to_be_visible()
        expect(dialog.get_by_label("New session name")).to_have_value("hist-fork")
        expect(dialog.get_by_label("From version")).to_have_value("3")
        dialog.get_by_role("button", name="Fork", exact=True).click()
        link_field = dialog.get_by_label("Link to the fork")
        expect(link_field).to_be_visible()
        link = link_field.input_value()
        assert link.startswith(f"{server.http_url}/#session=hist-fork&token="), link
        expect(a.locator(".history-forks")).to_have_text("Forks: hist-fork (v3, by Alex)")

        # the same name again: refused, said in the dialog
        a.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        a.get_by_role("button", name="Fork…").click()
        dialog.get_by_role("button", name="Fork", exact=True).click()
        expect(dialog.locator(".fork-error")).to_contain_text("“hist-fork” exists already")
        a.keyboard.press("Escape")

        # the link opens the fork: the parent's v3, and where it came from
        c_context = browser.new_context(viewport={"width": 1440, "height": 900})
        try:
            c = c_context.new_page()
            c.on("pageerror", lambda error: a_errors.append(str(error)))
            c.goto(link)
            c.fill("input[name=name]", "Cy")
            c.click("button[type=submit]")
            c.wait_for_function(CONNECTED)
            assert c.evaluate("window.backline.session.options.session") == "hist-fork"
            assert c.evaluate(LIVE_NOTES) == [60, 62]
            c.locator(".position").click()
            c.keyboard.press("h")
            parent = c.locator(".history-parent")
            expect(parent).to_contain_text("Forked from hist v3 by Alex")
            expect(parent).to_contain_text("credits: Ann")
            expect(c.locator(".history-row .badge-fork")).to_have_count(1)
        finally:
            c_context.close()
        assert a_errors == []
    finally:
        a_context.close()


def test_viewers_get_a_note_and_no_history_actions(
    browser: Browser, server: ServerProcess, ann: SessionThread
) -> None:
    context, page, errors = open_page(browser, server, "Val", role="viewer")
    try:
        page.locator(".position").click()
        page.keyboard.press("h")
        panel = page.locator(".history-panel")
        expect(panel).to_be_visible()
        expect(panel.locator(".history-note")).to_have_text(
            "Only editors and owners can browse the history."
        )
        expect(panel.locator(".history-name")).to_be_hidden()
        expect(panel.get_by_role("button", name="Fork…")).to_be_hidden()
        expect(panel.locator(".history-row")).to_have_count(0)
        page.keyboard.press("h")
        expect(panel).to_be_hidden()
        assert errors == []
    finally:
        context.close()


def test_sessions_of_work_badges_and_summaries(page: Page, web_server: str) -> None:
    """The pure parts: a gap of more than 30 minutes starts a session of work (newest
    first, authors in order), the source badges, the summaries in words."""
    page.goto(f"{web_server}/")
    got = page.evaluate(
        """async () => {
          const m = await import('./ui/history.js');
          const min = 60_000;
          const rows = [[1, 'a', 0, 'op', ''], [2, 'b', 30 * min, 'op', ''],
                        [3, 'a', 60 * min + 1, 'midi', ''], [4, 'c', 61 * min, 'v2', '']];
          const groups = m.groupVersions(rows).map((g) => ({
            versions: g.rows.map((r) => r[0]), authors: g.authors, from: g.from, to: g.to }));
          const badges = ['op', 'undo', 'restore', 'midi', 'json', 'fork', 'v12']
            .map((s) => m.sourceBadge(s)?.text ?? null);
          const words = ['+3 note, ~1 entity, -2 entities', '~project', '~2 track', '+1 track']
            .map(m.summaryText);
          return { groups, badges, words, fork: m.forkName('jam'),
                   transport: [m.transportOnly([{ op: 'play' }, { op: 'seek', beat: 0 }]),
                               m.transportOnly([{ op: 'play' }, { op: 'set' }]), m.transportOnly([])] };
        }"""
    )
    assert got["groups"] == [
        {"versions": [4, 3], "authors": ["a", "c"], "from": 3600001, "to": 3660000},
        {"versions": [2, 1], "authors": ["a", "b"], "from": 0, "to": 1800000},
    ]
    assert got["badges"] == [None, "undo", "restore", "MIDI", "JSON", "fork", "↺ v12"]
    assert got["words"] == [
        "+3 notes, 1 change, 2 deleted",
        "project settings",
        "2 tracks moved",
        "+1 track",
    ]
    assert got["fork"] == "jam-fork"
    assert got["transport"] == [True, False, False]
