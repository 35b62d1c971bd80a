"""The project as a REAPER project file (.rpp): its tracks, their MIDI, and the stems.

An .rpp is text: ``<BLOCK`` … ``>`` nests, one line per setting. What goes in:

- **Time.** The project's tempo and meter (``TEMPO``) and the tempo envelope
  (``TEMPOENVEX``) with one point per tempo and meter change: Backline has one
  of each per project, so that is one point at bar 1 (square, meter as
  ``denominator << 16 | numerator``). Positions are seconds at that tempo.
- **Markers.** Each section is a region (a pair of ``MARKER`` lines, flag 1)
  in its colour; each chord of the chord track a marker named by its symbol.
- **One REAPER track per Backline track**, in order: name, colour, volume (a
  linear gain in both), pan, mute, solo. Its one MIDI item runs from bar 1 to
  the song's end (`arrangement.song_end`, or the last note-off if later) and
  holds, inline (``HASDATA 1 960 QN``: 960 ticks per quarter note, Backline's
  own), the program change and the notes of `smf.track_events`: the very
  ticks, pitches and velocities the .mid export writes, drums on channel 10. Volume and pan are the fader and
  the pan knob, so the CC7 and CC10 of the .mid are left out (a synth would
  apply them twice).
- **Stems**, when a render is given (`stems`: track id → WAV path, relative
  to the .rpp): REAPER has no General MIDI synth of its own, so the MIDI
  tracks stay silent until someone puts an instrument on them (their program
  changes say which GM sound was meant); the sound is in the stems. Each stem
  is an audio item on a track of its own, ``<name> (stem)``, at unity gain and
  centre, with its track's mute and solo. Its own track rather than a second
  item on the MIDI track, because a stem is post-fader (Backline's EQ,
  compressor, volume and pan are in it): under the MIDI track's fader and pan
  they would count twice. `mix` adds the render's mix on a track of its own,
  muted when there are stems: they add up to it before the master's gain and
  limiter, so both together would play the song twice.

Strings are quoted the way REAPER quotes them: between double quotes, or
single quotes when the text holds a double quote, or backticks when it holds
both; text holding all three loses its backticks (apostrophes instead), and
line breaks become spaces. No GUIDs or timestamps (REAPER makes them when it
opens the file): the same document gives the same text. Pure: text in memory,
no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .arrangement import song_end
from .harmony import Chord, chord_symbol
from .model import PPQ, Document
from .smf import track_events

__all__ = ["reaper_project", "rpp_string"]

VERSION = '0.1 "6.0/backline" 0'  # the file format, the writer, the time saved (none)
_NOTE_OFF, _NOTE_ON, _PROGRAM = 0x80, 0x90, 0xC0
_SOURCE_END = "b0 7b 00"  # all notes off: where REAPER ends an inline MIDI source
_CUSTOM_COLOR = 0x1000000  # REAPER's flag on a colour that is set (not the theme's)
_SOLO_IN_PLACE = 2


def _one_line(text: str) -> str:
    """`text` with its line breaks and other control characters as spaces."""
    return "".join(c if c >= " " else " " for c in " ".join(text.splitlines()))


def rpp_string(text: str) -> str:
    """`text` as one quoted RPP token (see the module docstring for the rules)."""
    text = _one_line(text)
    if '"' not in text:
        return f'"{text}"'
    if "'" not in text:
        return f"'{text}'"
    return "`" + text.replace("`", "'") + "`"


def _num(x: float) -> str:
    """A number without float noise: at most 10 decimals, no trailing zeros."""
    out = f"{x:.10f}".rstrip("0").rstrip(".")
    return "0" if out in ("", "-0") else out


def _color(hex_color: str) -> int:
    """``#rrggbb`` as REAPER stores a colour: 0x00bbggrr with the custom-colour flag."""
    rgb = int(hex_color[1:], 16)
    red, green, blue = rgb >> 16, (rgb >> 8) & 0xFF, rgb & 0xFF
    return red | green << 8 | blue << 16 | _CUSTOM_COLOR


class _Writer:
    """Lines at their nesting depth."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def line(self, *fields: object) -> None:
        self.lines.append("  " * self.depth + " ".join(map(str, fields)))

    def open(self, *fields: object) -> None:
        self.line("<" + str(fields[0]), *fields[1:])
        self.depth += 1

    def close(self) -> None:
        self.depth -= 1
        self.line(">")


def reaper_project(
    doc: Document,
    *,
    name: str,
    stems: Mapping[str, str] | None = None,
    mix: str | None = None,
    audio_seconds: float | None = None,
) -> str:
    """The .rpp text of `doc`, exported as `name` (the session's name, in the notes).

    Args:
        stems: track id → path of that track's stem (a WAV, relative to the .rpp);
            ids the document has no track for are left out.
        mix: path of the render's mix, likewise.
        audio_seconds: how long the rendered files are (a render runs on past
            the song's end while notes and effects ring); default the song.
    """
    stems = stems or {}
    project = doc.project
    tempo = float(project["tempo"])
    numerator, denominator = project["meter"]

    def seconds(tick: int) -> float:
        return tick / PPQ * 60.0 / tempo

    tracks = track_events(doc)
    # the song's end, or a last note-off after it (a looping pattern's step rings past it)
    end = max([song_end(doc), *(tick for _, events in tracks for tick, _, _ in events)])
    audio = seconds(end) if audio_seconds is None else audio_seconds
    out = _Writer()
    out.open("REAPER_PROJECT", VERSION)
    out.open("NOTES", 0, 2)
    out.line("|" + _one_line(f"Backline session {name}: {project['name']}"))
    out.close()
    out.line("TITLE", rpp_string(project["name"]))
    out.line("TEMPO", _num(tempo), numerator, denominator)
    out.line("SAMPLERATE", 48000, 0, 0)  # the renders' rate
    out.open("TEMPOENVEX")
    out.line("ACT", 1, -1)
    out.line("VIS", 1, 0, 1)
    out.line("DEFSHAPE", 1, -1, -1)
    out.line("PT", 0, _num(tempo), 1, denominator << 16 | numerator, 0, 1)
    out.close()
    _markers(out, doc, seconds)
    for track, events in tracks:
        _track(out, track, track["name"], volume=track["volume"], pan=track["pan"])
        if end > 0:
            _midi_item(out, track["name"], seconds(end), events, end)
        out.close()
    for track_id in [t for t in doc.track_order if t in stems]:
        track = doc.tracks[track_id]
        _track(out, track, f"{track['name']} (stem)", volume=1.0, pan=0.0)
        _audio_item(out, f"{track['name']} (stem)", stems[track_id], audio)
        out.close()
    if mix is not None:
        mixed = {"color": None, "mute": bool(stems), "solo": False}
        _track(out, mixed, "Mix (render)", volume=1.0, pan=0.0)
        _audio_item(out, "Mix", mix, audio)
        out.close()
    out.close()
    return "\n".join(out.lines) + "\n"


def _markers(out: _Writer, doc: Document, seconds: Callable[[int], float]) -> None:
    """Sections as regions, chords as markers, in timeline order, numbered from 1."""
    marks = [(s["start"], False, s) for s in doc.ordered_sections()]
    marks += [(c["start"], True, c) for c in doc.ordered_chords()]
    marks.sort(key=lambda m: (m[0], m[1]))  # a section before a chord on the same tick
    for number, (start, is_chord, entity) in enumerate(marks, 1):
        at = _num(seconds(start))
        if is_chord:
            chord = Chord(entity["root"], entity["quality"], entity["inversion"], entity["bass"])
            out.line("MARKER", number, at, rpp_string(chord_symbol(chord)), 0, 0)
        else:  # a region: its start, then its end
            out.line("MARKER", number, at, rpp_string(entity["name"]), 1, _color(entity["color"]))
            out.line("MARKER", number, _num(seconds(start + entity["length"])), '""', 1)


def _track(out: _Writer, track: Mapping[str, Any], name: str, *, volume: float, pan: float) -> None:
    """Open a TRACK block with the mixer settings (the caller adds items and closes it)."""
    out.open("TRACK")
    out.line("NAME", rpp_string(name))
    if track["color"] is not None:
        out.line("PEAKCOL", _color(track["color"]))
    out.line("VOLPAN", _num(volume), _num(pan), -1, -1, 1)
    out.line("MUTESOLO", int(track["mute"]), _SOLO_IN_PLACE if track["solo"] else 0, 0)
    out.line("NCHAN", 2)
    out.line("MAINSEND", 1, 0)


def _midi_item(
    out: _Writer, name: str, length: float, events: list[tuple[int, int, list[int]]], end: int
) -> None:
    """An item from bar 1 holding the program change and notes of `events`, to tick `end`."""
    out.open("ITEM")
    out.line("POSITION", 0)
    out.line("LENGTH", _num(length))
    out.line("LOOP", 0)
    out.line("NAME", rpp_string(name))
    out.open("SOURCE", "MIDI")
    out.line("HASDATA", 1, PPQ, "QN")
    last = 0
    kept = (e for e in events if e[2][0] & 0xF0 in (_NOTE_OFF, _NOTE_ON, _PROGRAM))
    for tick, _, data in sorted(kept, key=lambda e: (e[0], e[1])):
        padded = [*data, 0, 0][:3]  # a program change has one data byte
        out.line("E", tick - last, *(f"{b:02x}" for b in padded))
        last = tick
    out.line("E", max(0, end - last), _SOURCE_END)
    out.close()
    out.close()


def _audio_item(out: _Writer, name: str, path: str, length: float) -> None:
    """An item from bar 1 playing the WAV at `path` (relative to the project file)."""
    out.open("ITEM")
    out.line("POSITION", 0)
    out.line("LENGTH", _num(length))
    out.line("LOOP", 0)
    out.line("NAME", rpp_string(name))
    out.open("SOURCE", "WAVE")
    out.line("FILE", rpp_string(path))
    out.close()
    out.close()
