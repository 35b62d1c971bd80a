"""Export MIDI: a Standard MIDI File holding the project's tempo, meter, notes and steps."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser

from backline.testing import ServerProcess, SessionThread

SESSION = "midi"


def read_vlq(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos


def parse_smf(data: bytes) -> tuple[tuple[int, int, int], list[list[tuple[int, bytes]]]]:
    """(format, tracks, division) and each track's events as (absolute tick, bytes)."""
    assert data[:4] == b"MThd"
    length, fmt, ntracks, division = struct.unpack(">IHHH", data[4:14])
    assert length == 6
    pos = 14
    tracks = []
    for _ in range(ntracks):
        assert data[pos : pos + 4] == b"MTrk"
        (size,) = struct.unpack(">I", data[pos + 4 : pos + 8])
        body, pos = data[pos + 8 : pos + 8 + size], pos + 8 + size
        events, at, tick = [], 0, 0
        while at < len(body):
            delta, at = read_vlq(body, at)
            tick += delta
            status = body[at]
            if status == 0xFF:
                meta_len, end = read_vlq(body, at + 2)
                events.append((tick, body[at : end + meta_len]))
                at = end + meta_len
            else:
                n = 2 if status & 0xF0 in (0xC0, 0xD0) else 3
                events.append((tick, body[at : at + n]))
                at += n
        assert events[-1][1] == b"\xff\x2f\x00"
        tracks.append(events)
    assert pos == len(data)
    return (fmt, ntracks, division), tracks


def notes_of(events: list[tuple[int, bytes]]) -> list[tuple[int, int, int, int]]:
    """(start, duration, pitch, velocity) of every note, from note-on/off pairs."""
    open_notes: dict[int, tuple[int, int]] = {}
    out = []
    for tick, event in events:
        kind = event[0] & 0xF0
        if kind == 0x90 and event[2] > 0:
            open_notes[event[1]] = (tick, event[2])
        elif kind == 0x80 or (kind == 0x90 and event[2] == 0):
            start, velocity = open_notes.pop(event[1])
            out.append((start, tick - start, event[1], velocity))
    assert not open_notes
    return sorted(out)


def test_midi_export(browser: Browser, server: ServerProcess) -> None:
    """Tempo and meter in track 0; notes as written; a clip's pattern looped inside it; a
    notes clip's notes where the arrangement plays them."""
    with SessionThread(server.url, session=SESSION, token=server.token(SESSION)) as bot:
        bot.run(lambda s: s.set_tempo(90))
        bot.run(lambda s: s.set_meter(3, 4))
        drums = bot.run(lambda s: s.add_track("Beat", kind="drums").id)
        pattern = bot.run(lambda s: s.add_pattern(drums, sounds=[36], length=8).id)
        bot.run(lambda s: s.set_step(pattern, 0, 0, 120))
        bot.run(lambda s: s.set_step(pattern, 0, 4, 90))
        bot.run(lambda s: s.add_clip(drums, pattern, 2880, 3840))  # bar 2, two loops
        keys = bot.run(lambda s: s.add_track("Keys", kind="instrument", instrument=5).id)
        bot.run(lambda s: s.add_note(keys, 60, 0, 480, 100))
        bot.run(lambda s: s.add_note(keys, 67, 960, 1440, 80))
        riff = bot.run(lambda s: s.add_clip(keys, None, 5760, 960).id)  # a notes clip
        bot.run(lambda s: s.add_note(keys, 72, 480, 960, 70, clip=riff))  # runs past its end
        bot.run(lambda s: s.add_note(keys, 74, 960, 240, 70, clip=riff))  # after its end
        version = bot.run(lambda s: s.version)
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(f"{server.http_url}/#session={SESSION}&token={server.token(SESSION)}")
            page.fill("input[name=name]", "Dee")
            page.click("button[type=submit]")
            page.wait_for_function(
                "(v) => window.backline && window.backline.version() >= v", arg=version
            )
            with page.expect_download() as download:
                page.click("text=Export MIDI")
            data = Path(download.value.path()).read_bytes()
            assert download.value.suggested_filename == "midi.mid"
        finally:
            context.close()
    (fmt, ntracks, division), tracks = parse_smf(data)
    assert (fmt, ntracks, division) == (1, 3, 960)
    conductor: Any = {event[1]: event for _, event in tracks[0] if event[0] == 0xFF}
    assert conductor[0x51][3:] == (666_667).to_bytes(3, "big")  # µs per quarter at 90 BPM
    assert conductor[0x58][3:5] == bytes([3, 2])  # 3/4: denominator as a power of two
    beat = tracks[1]
    assert (0, b"\xff\x03\x04Beat") in beat
    assert all(e[0] & 0x0F == 9 for _, e in beat if e[0] < 0xF0)  # drums on channel 10
    assert notes_of(beat) == [
        (2880, 240, 36, 120), (2880 + 960, 240, 36, 90),
        (2880 + 1920, 240, 36, 120), (2880 + 2880, 240, 36, 90),
    ]  # fmt: skip  # a step is one step long, as it plays
    assert (0, bytes([0xC0, 5])) in tracks[2]
    # the clip's note from the clip's start, cut at its end; the one after its end is silent
    assert notes_of(tracks[2]) == [(0, 480, 60, 100), (960, 1440, 67, 80), (6240, 480, 72, 70)]
