"""Importing by drag and drop (and the header's Import…): a MIDI file adds its tracks and
notes as one version, a project JSON replaces the project after a confirmation, a bad
file is the server's `bad_import`, a too-big one is refused before it is sent, and a
viewer is told that importing needs edit rights. Real Chromium against a real server,
checked in the SDK."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import mido
import pytest
from playwright.sync_api import BrowserContext, Page, expect
from studio_page import join, same_version

from backline.protocol.errors import BacklineError
from backline.protocol.limits import DEFAULT_LIMITS
from backline.testing import ServerProcess, SessionThread

SESSION = "dropin"

# Drops `bytes` (a list of ints; or, when a number, that many random bytes made here) as
# a file named `name` on the editor: dragenter and dragover, what the overlay says then,
# then the drop. As a browser does for a file dragged in from the desktop.
DROP = """async ([name, bytes, type]) => {
  const data = typeof bytes === "number" ? new Uint8Array(bytes).map(() => Math.random() * 256) : new Uint8Array(bytes);
  const dt = new DataTransfer();
  dt.items.add(new File([data], name, { type }));
  const target = document.querySelector(".editor");
  const fire = (kind) => target.dispatchEvent(new DragEvent(kind, { bubbles: true, cancelable: true, dataTransfer: dt }));
  fire("dragenter");
  const refused = !fire("dragover"); // the page took it (preventDefault): a drop is allowed
  const overlay = document.querySelector(".drop-overlay");
  const seen = { shown: !overlay.hidden, text: overlay.innerText, blocked: overlay.classList.contains("blocked"), refused };
  fire("drop");
  seen.hiddenAfter = overlay.hidden;
  return seen;
}"""

# Counts the import frames the page sends (any edit at all, in fact: `post`).
SPY = """() => {
  const s = window.backline.session;
  window.__posted = [];
  const post = s.post.bind(s);
  s.post = (message) => { window.__posted.push(message.type); return post(message); };
}"""


def groove() -> bytes:
    """A type 1 file at 100 BPM in 3/4: a lead (channel 1, program 5) and drums (channel 10)."""
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=600_000, time=0),
            mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
        ]
    )
    lead = mido.MidiTrack([mido.MetaMessage("track_name", name="Lead", time=0)])
    lead.append(mido.Message("program_change", program=5, channel=0, time=0))
    for pitch in (60, 64, 67, 72):
        lead.append(mido.Message("note_on", note=pitch, velocity=90, channel=0, time=0))
        lead.append(mido.Message("note_off", note=pitch, velocity=0, channel=0, time=240))
    drums = mido.MidiTrack([mido.MetaMessage("track_name", name="Kit", time=0)])
    for pitch in (36, 38, 36):
        drums.append(mido.Message("note_on", note=pitch, velocity=110, channel=9, time=0))
        drums.append(mido.Message("note_off", note=pitch, velocity=0, channel=9, time=480))
    mid.tracks.extend([conductor, lead, drums])
    out = io.BytesIO()
    mid.save(file=out)
    return out.getvalue()


def pitches_by_track(data: bytes) -> list[list[int]]:
    """What mido reads: the pitches of each track's notes (tracks without notes left out)."""
    mid = mido.MidiFile(file=io.BytesIO(data))
    out = []
    for track in mid.tracks:
        notes = [m.note for m in track if m.type == "note_on" and m.velocity > 0]
        if notes:
            out.append(notes)
    return out


def drop(page: Page, name: str, data: bytes | int, kind: str = "") -> dict[str, Any]:
    payload: list[int] | int = data if isinstance(data, int) else list(data)
    seen: dict[str, Any] = page.evaluate(DROP, [name, payload, kind])
    return seen


def version(page: Page) -> int:
    v: int = page.evaluate("window.backline.version()")
    return v


def content(data: dict[str, Any]) -> dict[str, Any]:
    """A project's snapshot form without its transport and version (what an import keeps)."""
    project = {k: v for k, v in data["project"].items() if k != "transport"}
    tables = {
        k: sorted(v, key=lambda row: row["id"])
        for k, v in data.items()
        if k not in ("project", "version")
    }
    return {"project": project, **tables}


def add(bot: SessionThread, make: Any) -> str:
    """Run an add_* helper in the bot, wait for its ack, return the new id."""

    async def go(s: Any) -> str:
        edit = make(s)
        await edit
        return str(edit.id)

    result: str = bot.run(go)
    return result


def test_drop_midi_adds_tracks_as_one_version(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    """The overlay says what a drop does; the drop adds the file's tracks and notes (as
    mido reads them) and its tempo and meter in one version; one Undo takes it all back."""
    keys = add(bot, lambda s: s.add_track("Keys", kind="instrument"))
    bot.run(lambda s: s.add_note(keys, 48, 0, 960))
    page = join(context, server, SESSION, "Kim")
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    same_version(page, bot)
    before = bot.run(lambda s: s.project.to_data())
    v0 = version(page)
    data = groove()

    seen = drop(page, "groove.mid", data, "audio/midi")
    assert seen["shown"] and seen["refused"] and seen["hiddenAfter"]
    assert "Drop to import" in seen["text"]
    assert "MIDI adds tracks · Project JSON replaces the project" in seen["text"]
    assert not seen["blocked"]
    expect(page.locator(".toast", has_text="Imported groove.mid")).to_have_text(
        "Imported groove.mid: 2 tracks, 7 notes (Undo to take it back)"
    )
    assert version(page) == v0 + 1  # one version
    bot.wait_until(lambda s: s.version >= v0 + 1, what="the import")
    doc = bot.run(lambda s: s.project)
    assert bot.run(lambda s: s.version) == v0 + 1
    new_tracks = [t for t in doc.track_order if t != keys]
    assert len(new_tracks) == 2
    assert [doc.tracks[t]["kind"] for t in new_tracks] == ["instrument", "drums"]
    assert doc.tracks[new_tracks[0]]["instrument"] == 5
    got = [
        [
            n["pitch"]
            for n in sorted(doc.notes.values(), key=lambda n: n["start"])
            if n["track"] == t
        ]
        for t in new_tracks
    ]
    assert got == pitches_by_track(data)
    assert doc.project["tempo"] == 100 and doc.project["meter"] == [3, 4]
    assert sorted(n["pitch"] for n in doc.notes.values() if n["track"] == keys) == [48]

    page.get_by_role("button", name="Undo").click()
    bot.wait_until(lambda s: s.version >= v0 + 2, what="the undo")
    assert bot.run(lambda s: s.version) == v0 + 2  # one step
    assert content(bot.run(lambda s: s.project.to_data())) == content(before)
    assert errors == []


def test_project_json_round_trip_through_the_picker(
    context: BrowserContext, server: ServerProcess, bot: SessionThread, tmp_path: Path
) -> None:
    """Export JSON, change the project, Import… that file: after the confirmation the
    project is the exported one again (every table and field but the transport), in one
    version; Cancel sends nothing."""
    bot.run(lambda s: s.set("project", "name", "Round Trip"))
    bot.run(lambda s: s.set_tempo(87.5))
    drums = add(bot, lambda s: s.add_track("Beat", kind="drums"))
    pattern = add(bot, lambda s: s.add_pattern(drums, sounds=[36, 42], length=8))
    bot.run(lambda s: s.set_step(pattern, 0, 0, 120))
    bot.run(lambda s: s.add_clip(drums, pattern, 0, 3840))
    bass = add(bot, lambda s: s.add_track("Bass", kind="instrument", instrument=33))
    for i, pitch in enumerate((40, 43, 45)):
        bot.run(lambda s, i=i, pitch=pitch: s.add_note(bass, pitch, i * 960, 480, 90))
    bot.run(lambda s: s.add_section("Verse", 0, 3840 * 4))
    bot.run(lambda s: s.add_chord("Am", 0, 3840))
    page = join(context, server, SESSION, "Kim")
    same_version(page, bot)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export JSON").click()
    exported_path = tmp_path / "song.json"
    Path(download.value.path()).rename(exported_path)
    exported = json.loads(exported_path.read_text())

    bot.run(lambda s: s.remove(bass))
    bot.run(lambda s: s.add_track("Extra", kind="instrument"))
    bot.run(lambda s: s.set("project", "name", "Changed"))
    bot.run(lambda s: s.set_meter(6, 8))
    same_version(page, bot)
    page.evaluate(SPY)
    v0 = version(page)

    dialog = page.get_by_role("dialog", name="Replace the project with song.json?")
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Import…").click()
    chooser.value.set_files(str(exported_path))
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("2 tracks, 3 notes, 1 pattern, 1 clip, 1 section, 1 chord")
    expect(dialog).to_contain_text("Undo takes it back")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert page.evaluate("window.__posted") == []

    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Control+o")  # the same, by its shortcut
    chooser.value.set_files(str(exported_path))
    dialog.get_by_role("button", name="Replace the project").click()
    expect(page.locator(".toast", has_text="song.json")).to_contain_text(
        "Replaced the project with song.json: 2 tracks, 3 notes, 1 pattern, 1 clip, 1 section, "
        "1 chord (Undo to take it back)"
    )
    assert page.evaluate("window.__posted") == ["import"]
    bot.wait_until(lambda s: s.version >= v0 + 1, what="the import")
    assert bot.run(lambda s: s.version) == v0 + 1
    assert content(bot.run(lambda s: s.project.to_data())) == content(exported)
    assert content(page.evaluate("window.backline.project()")) == content(exported)


def test_corrupt_and_too_big_files(
    context: BrowserContext, server: ServerProcess, bot: SessionThread
) -> None:
    """Random bytes named .mid: the server's `bad_import`, with its message, nothing
    changed. A file above the frame cap: refused here, before anything is sent. A file
    of another kind: refused here too."""
    page = join(context, server, SESSION, "Kim")
    same_version(page, bot)
    page.evaluate(SPY)
    v0 = version(page)
    junk = bytes(range(256)) * 8
    with pytest.raises(BacklineError) as refused:  # what the server says to anyone
        bot.run(lambda s: s.import_midi(junk, name="junk.mid"))
    assert refused.value.code.value == "bad_import"

    drop(page, "junk.mid", junk)
    toast = page.locator(".toast-error", has_text="junk.mid")
    expect(toast).to_contain_text(
        f"Could not import junk.mid (bad_import): {refused.value.message}"
    )
    expect(page.locator(".toast", has_text="Edit refused")).to_have_count(0)  # said once
    expect(page.locator(".toast-wait")).to_have_count(0)
    assert page.evaluate("window.__posted") == ["import"]
    assert version(page) == v0
    assert bot.run(lambda s: s.version) == v0

    cap = DEFAULT_LIMITS.max_frame_bytes
    drop(page, "huge.mid", cap + 1)
    expect(page.locator(".toast-error", has_text="huge.mid")).to_have_text(
        f"huge.mid: file too large to send (max {cap // 1024} KiB)"
    )
    drop(page, "almost.mid", cap - 20)  # fits as a file, not as a frame with its header
    expect(page.locator(".toast-error", has_text="almost.mid")).to_contain_text(
        "file too large to send"
    )
    drop(page, "notes.txt", b"hello")
    expect(page.locator(".toast-error", has_text="notes.txt")).to_contain_text(
        "only MIDI files (.mid, .midi) and project JSON (.json)"
    )
    assert page.evaluate("window.__posted") == ["import"]  # none of those was sent
    assert version(page) == v0


def test_viewer_is_told_it_needs_edit_rights(
    context: BrowserContext, server: ServerProcess
) -> None:
    """A viewer's drop shows the overlay saying why not, and sends nothing; Import… is
    disabled with the reason as its tooltip, and Mod+O says it."""
    with SessionThread(server.url, session=SESSION, token=server.token(SESSION)):
        page = join(context, server, SESSION, "Vic", role="viewer")
        page.evaluate(SPY)
        seen = drop(page, "groove.mid", groove())
        assert seen["shown"] and seen["blocked"]
        assert "Importing needs edit rights" in seen["text"]
        assert "Viewers can listen and chat, not edit" in seen["text"]
        expect(page.locator(".toast-error")).to_have_text(
            "Importing needs edit rights: Viewers can listen and chat, not edit"
        )
        button = page.get_by_role("button", name="Import…")
        expect(button).to_be_disabled()
        expect(button).to_have_attribute("title", "Viewers can listen and chat, not edit")
        page.evaluate("document.querySelectorAll('.toast').forEach((t) => t.remove())")
        page.locator(".position").click()
        page.keyboard.press("Control+o")
        expect(page.locator(".toast-error")).to_have_text(
            "Importing needs edit rights: Viewers can listen and chat, not edit"
        )
        assert page.evaluate("window.__posted") == []
