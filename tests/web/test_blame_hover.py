"""Blame on hover (web/ui/blame.js): who made a thing and who last changed it, over the
track list, the piano roll's notes, the arrangement's clips and sections, the chord track
and the step sequencer's pattern; from the server's blame at join and the batches since.
Real Chromium and an SDK participant against a real server."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect
from studio_page import join, same_version

from backline.testing import ServerProcess, SessionThread

SESSION = "blame"
BAR = 3840


def add(bot: SessionThread, make: Any) -> str:
    """Run an add_* helper in the bot, wait for its ack, return the new id."""

    async def go(s: Any) -> str:
        edit = make(s)
        await edit
        return str(edit.id)

    result: str = bot.run(go)
    return result


def hover(page: Page, selector: str) -> None:
    """Move the pointer off everything, then onto `selector` (a fresh hover)."""
    page.mouse.move(2, 2)
    page.locator(selector).hover()


def test_blame_tooltips(context: BrowserContext, server: ServerProcess) -> None:
    """Ann (the SDK) makes a track, a note, a clip, a section, a chord and a pattern; Kim
    (the page) renames the track. The track row says Ann made it and Kim changed it last;
    the note, made by Ann after Kim joined, names Ann; so do the clip, section, chord and
    pattern."""
    token = server.token(SESSION)
    with SessionThread(server.url, session=SESSION, token=token, name="Ann") as ann:
        bass = add(ann, lambda s: s.add_track("Bass", kind="instrument"))
        ann.run(lambda s: s.add_note(bass, 40, 0, 960))
        drums = add(ann, lambda s: s.add_track("Beat", kind="drums"))
        pattern = add(ann, lambda s: s.add_pattern(drums, sounds=[36], length=8, name="Groove"))
        clip = add(ann, lambda s: s.add_clip(drums, pattern, 0, BAR))
        section = add(ann, lambda s: s.add_section("Verse", 0, 4 * BAR))
        chord = add(ann, lambda s: s.add_chord("Am7", 0, BAR))
        page = join(context, server, SESSION, "Kim")
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        same_version(page, ann)

        strip = f'.strip[data-track="{bass}"]'
        page.fill(f"{strip} input.name", "Low end")
        page.press(f"{strip} input.name", "Enter")
        ann.wait_until(lambda s: s.project.tracks[bass]["name"] == "Low end", what="the rename")
        tip = page.locator(".blame-tip")
        hover(page, f"{strip} .kind")
        expect(tip).to_be_visible()
        expect(tip).to_contain_text("Track · Low end")
        expect(tip).to_contain_text("Made by Ann")
        expect(tip).to_contain_text("last changed by Kim")
        assert tip.get_attribute("data-entity") == bass

        # a note made now (the page learns it from the batch, not from the blame it asked for)
        note = add(ann, lambda s: s.add_note(bass, 64, 960, 960))
        same_version(page, ann)
        page.locator(f"{strip} button.select").click()
        page.wait_for_function(
            "(id) => window.backline.roll().debug().notes.includes(id)", arg=note
        )
        page.locator(".pr-body").evaluate("(el) => el.scrollIntoView({block: 'center'})")
        page.evaluate("window.backline.roll().reveal(0, 64)")
        page.wait_for_function("() => !window.backline.roll().dirty")
        point = page.evaluate("window.backline.roll().screenPoint(1440, 64)")
        page.mouse.move(2, 2)
        page.mouse.move(point["x"], point["y"])
        expect(tip).to_be_visible()
        expect(tip).to_have_attribute("data-entity", note)
        expect(tip).to_contain_text("Note · E4")
        expect(tip.locator(".blame-line")).to_have_text(
            re.compile(r"^Made by Ann (just now|\d+ s ago)$")
        )

        for selector, what in [
            (f'.arr-clip[data-clip="{clip}"]', "Clip · Groove"),
            (f'.arr-section[data-section="{section}"]', "Section · Verse"),
            (f'.arr-chord[data-chord="{chord}"]', "Chord · Am7"),
            (".steps .grid .cell", "Pattern · Groove"),
        ]:
            if selector.startswith(".steps"):
                page.locator(f'.strip[data-track="{drums}"] button.select').click()
                page.wait_for_selector(selector)
            page.locator(selector).first.scroll_into_view_if_needed()
            page.mouse.move(2, 2)
            page.locator(selector).first.hover()
            expect(tip).to_be_visible()
            expect(tip).to_contain_text(what)
            expect(tip).to_contain_text("Made by Ann")
        page.mouse.move(2, 2)  # off everything: the tooltip goes
        expect(tip).to_be_hidden()
        assert errors == []
