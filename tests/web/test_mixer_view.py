"""The mixer in the page: every strip control is a shared, undoable edit; the selected
track's EQ and compressor; meters that move with the music; a viewer may look, not
touch; Bounce renders on the server with a progress bar and hands over the files;
and without a SoundFont the page says it plays its built-in synth.

Real Chromium, a real server (FluidSynth and TimGM6mb, installed by the project's
scripts), and the SDK as the other participant.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile
from playwright.sync_api import BrowserContext, Page, expect
from studio_page import join, same_version, settled

from backline.testing import ServerProcess, SessionThread
from backline.testing.songs import song_ops

SESSION = "mixing"
SILENT = "\u2212\u221e"  # the meter readout of silence: minus infinity


@pytest.fixture
def owner(server: ServerProcess) -> Iterator[SessionThread]:
    token = server.token(SESSION, "owner")
    with SessionThread(server.url, session=SESSION, token=token, name="owner") as b:
        ops = song_ops(bars=2)
        for i in range(0, len(ops), 50):
            b.run(lambda s, part=ops[i : i + 50]: s.edit(part))
        b.run(lambda s: s.synced())
        yield b


def strip(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(".mixer-strip", has=page.locator(".strip-name", has_text=name))


def set_slider(page: Page, field: str, position: int, within: str = "#mixer") -> None:
    """Move a mixer slider as a user does: input events while dragging, change on release."""
    page.locator(f"{within} input[data-field={field}]").first.evaluate(
        """(el, pos) => { el.focus(); el.value = String(pos);
                         el.dispatchEvent(new Event('input', { bubbles: true }));
                         el.dispatchEvent(new Event('change', { bubbles: true })); }""",
        position,
    )


def test_strip_and_channel_controls_are_shared_undoable_edits(
    context: BrowserContext, server: ServerProcess, owner: SessionThread
) -> None:
    page = join(context, server, SESSION, "Mixer")
    same_version(page, owner)
    bass = strip(page, "Bass")
    expect(bass).to_be_visible()
    # the fader at full travel is the schema's maximum volume (2.0, +6 dB)
    set_slider(page, "volume", 1000, '.mixer-strip[data-track="sbass"]')
    settled(page, owner)
    assert owner.run(lambda s: s.project.tracks["sbass"]["volume"]) == 2.0
    expect(bass.locator("[data-field=volume] + output")).to_have_text("+6.0 dB")
    # the selected track's channel: switch the low shelf on, set its gain, from the page
    bass.locator(".strip-name").click()
    expect(page.locator(".mixer-selected")).to_have_text("Bass")
    page.get_by_role("button", name="Low shelf", exact=True).click()
    set_slider(page, "eq_low_gain", 750, ".channel")  # -24..24 dB: 3/4 of the way is +12
    settled(page, owner)
    track = owner.run(lambda s: dict(s.project.tracks["sbass"]))
    assert track["eq_low_on"] is True and track["eq_low_gain"] == 12.0
    expect(bass.locator(".strip-flag", has_text="EQ")).to_have_class("strip-flag on")
    # the compressor's ratio on a logarithmic slider: 1:1 at 0, 20:1 at the top
    set_slider(page, "comp_ratio", 1000, ".channel")
    settled(page, owner)
    assert owner.run(lambda s: s.project.tracks["sbass"]["comp_ratio"]) == 20.0
    # one undo takes back one edit (the ratio), the next the gain
    page.get_by_role("button", name="Undo", exact=True).click()
    settled(page, owner)
    assert owner.run(lambda s: s.project.tracks["sbass"]["comp_ratio"]) == 4.0
    assert owner.run(lambda s: s.project.tracks["sbass"]["eq_low_gain"]) == 12.0
    # double-click puts a control back to its default
    page.locator(".channel input[data-field=eq_low_gain]").dblclick()
    settled(page, owner)
    assert owner.run(lambda s: s.project.tracks["sbass"]["eq_low_gain"]) == 0.0
    # the returns and the master are the project's fields
    page.locator("select.delay-time").select_option(label="1/4 .")
    page.get_by_role("button", name="Limiter", exact=True).click()
    settled(page, owner)
    project = owner.run(lambda s: dict(s.project.project))
    assert project["delay_beats"] == 1.5 and project["limiter_on"] is False
    # an edit made elsewhere moves the page's controls
    owner.run(lambda s: s.set("sbass", "pan", -1.0))
    same_version(page, owner)
    expect(bass.locator("[data-field=pan] + output")).to_have_text("100L")


def test_a_dragged_eq_handle_is_heard_at_once_and_shared_on_release(
    context: BrowserContext, server: ServerProcess, owner: SessionThread
) -> None:
    page = join(context, server, SESSION, "Mixer")
    same_version(page, owner)
    strip(page, "Pad").locator(".strip-name").click()
    page.wait_for_function("() => window.backlineSound && window.backlineSound.playback")
    track = owner.run(lambda s: dict(s.project.tracks["spad"]))
    assert track["eq_mid1_on"] is False
    page.get_by_role("button", name="Low mid", exact=True).click()
    settled(page, owner)
    canvas = page.locator("canvas.eq-curve")
    box = canvas.bounding_box()
    assert box is not None
    width, height = box["width"], box["height"]
    # the low-mid handle sits at 500 Hz, 0 dB: drag it to 2 kHz, +12 dB
    x0 = box["x"] + width * math.log(500 / 20) / math.log(1000)
    y0 = box["y"] + height / 2
    x1 = box["x"] + width * math.log(2000 / 20) / math.log(1000)
    y1 = box["y"] + height / 2 - (12 / 24) * (height / 2 - 8 * height / 180)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    page.mouse.move(x1, y1, steps=4)
    # heard while dragging: the page's own strip has the new frequency, the document not yet
    live = page.evaluate(
        """() => { const s = window.backlineSound.playback.strips.get('spad');
                   const band = s.eq.find(([p]) => p === 'eq_mid1')[1];
                   return { freq: band.frequency.value, gain: band.gain.value }; }"""
    )
    assert abs(live["freq"] - 2000) < 60 and abs(live["gain"] - 12) < 0.6
    assert owner.run(lambda s: s.project.tracks["spad"]["eq_mid1_freq"]) == 500.0
    page.mouse.up()
    settled(page, owner)
    track = owner.run(lambda s: dict(s.project.tracks["spad"]))
    assert abs(track["eq_mid1_freq"] - 2000) < 60 and abs(track["eq_mid1_gain"] - 12) < 0.6


def test_meters_move_with_the_music_and_the_instruments_are_the_servers(
    context: BrowserContext, server: ServerProcess, owner: SessionThread
) -> None:
    page = join(context, server, SESSION, "Listener")
    page.wait_for_function("() => window.backlineSound && window.backlineSound.playback")
    expect(page.locator("[data-sound=instruments]")).to_have_text(
        "Instruments: TimGM6mb.sf2 (General MIDI)", timeout=60_000
    )
    assert page.evaluate("window.backlineSound.library.available") is True
    owner.run(lambda s: s.play())
    # the drums strip and the master meter show the music (post-fader, post-limiter)
    page.wait_for_function(
        """() => { const l = window.backlineSound.levels();
                   return l && l.tracks.sdr.level > -40 && l.master.level > -40; }""",
        timeout=30_000,
    )
    expect(strip(page, "Drums").locator(".meter-db")).not_to_have_text(SILENT)
    expect(page.locator(".mixer-strip.master .meter-db")).not_to_have_text(SILENT)
    # a muted track's meter falls silent while the others play on
    owner.run(lambda s: s.set("sdr", "mute", True))
    page.wait_for_function(
        """() => { const l = window.backlineSound.levels();
                   return l.tracks.sdr.level < -90 && l.tracks.sbass.level > -60; }""",
        timeout=30_000,
    )
    owner.run(lambda s: s.stop())


def test_a_viewer_sees_the_mix_but_cannot_change_it_or_bounce(
    context: BrowserContext, server: ServerProcess, owner: SessionThread
) -> None:
    page = join(context, server, SESSION, "Viewer", role="viewer")
    same_version(page, owner)
    controls = page.locator("#mixer input, #mixer select, #mixer button:not(.strip-name)")
    assert controls.count() > 40
    enabled = controls.evaluate_all(
        "(els) => els.filter((e) => !e.disabled).map((e) => e.outerHTML)"
    )
    assert enabled == []
    bounce = page.get_by_role("button", name="Bounce…")
    assert bounce.is_disabled()
    assert "not bounce" in (bounce.get_attribute("title") or "")


def test_bounce_renders_on_the_server_with_progress_and_hands_over_the_files(
    context: BrowserContext, server: ServerProcess, owner: SessionThread, tmp_path: Path
) -> None:
    page = join(context, server, SESSION, "Producer")
    same_version(page, owner)
    page.keyboard.press("Control+b")  # the shortcut opens the dialog
    dialog = page.get_by_role("dialog", name="Bounce the song")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Mix + a stem per track (dry: no effects)").check()
    page.evaluate(
        """() => { window.__progress = [];
                   const bar = document.querySelector('.bounce-dialog progress');
                   new MutationObserver(() => window.__progress.push(bar.value))
                     .observe(bar, { attributes: true }); }"""
    )
    dialog.get_by_role("button", name="Bounce", exact=True).click()
    expect(dialog.locator(".bounce-stage")).to_have_text("Done", timeout=120_000)
    summary = dialog.locator(".bounce-summary").inner_text()
    assert "LUFS" in summary and "dBTP" in summary
    files = dialog.locator(".bounce-files button")
    assert files.count() == 6  # the mix and five stems
    with page.expect_download() as download:
        files.first.click()
    path = tmp_path / "mix.wav"
    download.value.save_as(path)
    data, rate = soundfile.read(io.BytesIO(path.read_bytes()), dtype="float32")
    info = soundfile.info(str(path))
    assert rate == 48_000 and info.subtype == "PCM_24" and data.shape[1] == 2
    assert data.shape[0] >= 4 * 48_000  # two bars at 120 BPM, and the tails
    assert abs(data).max() < 1.0
    progress = page.evaluate("window.__progress")
    assert progress == sorted(progress) and progress[-1] == 1
    expect(dialog.locator(".bounce-earlier li")).to_have_count(1)


def test_without_a_soundfont_the_page_says_it_plays_the_built_in_synth(
    context: BrowserContext, tmp_path: Path
) -> None:
    server = ServerProcess(
        tmp_path / "data", extra_args=["--soundfont", str(tmp_path / "none.sf2")]
    )
    with server:
        page = join(context, server, SESSION, "Alone")
        notice = page.locator("[data-sound=instruments]")
        expect(notice).to_contain_text("Built-in synth", timeout=30_000)
        expect(notice).to_contain_text("no SoundFont")
        assert page.evaluate("window.backlineSound.library.available") is False
        page.wait_for_function("() => window.backlineSound.playback !== null")
