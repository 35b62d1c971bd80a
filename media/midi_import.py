"""Standard MIDI Files in: what a .mid file plays, as Backline tracks and notes.

The inverse of `backline.protocol.smf.project_midi`: a project exported there
and read back here has the same tracks (names, kinds, GM programs), notes,
tempo and meter. The mapping:

- Every (file track, channel) pair holding a note or a program change becomes
  one Backline track, in file order, then channel order: a type 0 file's one
  track splits by channel, and so does a type 1 track using several channels.
  Channel 10 makes a ``drums`` track whose hits are free notes (on a drums
  track a note's pitch is a GM drum sound, `protocol/arrangement.py`); any
  other an ``instrument`` track. Either takes its GM `instrument` from the
  channel's first program change (0 without one).
- Notes are free notes (``clip`` None) at the project's 960 PPQ: a file tick
  `t` becomes ``round(t * 960 / ppq)``, half up, in integers; a note's `dur` is
  its scaled end minus its scaled start (at least 1 tick), so notes that touch
  in the file still touch. A note-on pairs with the first open note-off (or
  note-on at velocity 0) of its channel and pitch, first in first out; a note
  never closed ends where its track ends.
- The project has one tempo and one meter (``PROJECT_SCHEMA`` keeps no map).
  `MidiImport` keeps the file's whole tempo and meter maps; `import_ops` sets
  the project's tempo and meter to those at tick 0, and the import's
  `warnings` say which later changes the project cannot keep. Notes keep their
  beats, so bars stay bars. A tempo outside the project's range is clamped to
  it (and said); a time signature the meter field cannot hold is dropped (and
  said); a tempo of 0 µs per quarter note refuses the file.
- Type 2 files (independent sequences) and SMPTE (frames-per-second) division
  are refused: neither places its events on one grid of beats.

Hostile input is refused before mido builds a single message: a size cap,
then one pass over chunks and events with mido's own framing (stricter where
the SMF specification is) that counts events and notes against `max_events`
and the limits. mido then parses only what that pass let through, with the
payloads nothing here reads (sysex, most meta events) emptied.

Pure: bytes in, data and ops out; safe to run in a worker thread.
"""

from __future__ import annotations

import contextlib
import io
import math
import struct
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import mido

from backline.protocol.described import describe
from backline.protocol.errors import BadField, BadImport, LimitExceeded, OutOfRange
from backline.protocol.limits import DEFAULT_LIMITS, Limits
from backline.protocol.model import PPQ, PROJECT_ID, SCHEMAS, Document, check_id
from backline.protocol.ops import Op

__all__ = [
    "DRUM_CHANNEL",
    "MAX_BYTES",
    "ImportedNote",
    "ImportedTrack",
    "MeterChange",
    "MidiImport",
    "TempoChange",
    "import_ops",
    "midi_ops",
    "read_midi",
]

MAX_BYTES = 4 * 1024 * 1024  # mido holds the whole file: larger ones are refused unread
DRUM_CHANNEL = 9  # channel 10, counted from 1
DEFAULT_US_PER_QUARTER = 500_000  # SMF's tempo before any set_tempo: 120 BPM
DEFAULT_METER = (4, 4)  # SMF's meter before any time_signature
US_PER_MINUTE = 60_000_000
_TEMPO = describe(SCHEMAS["project"]["tempo"].check)
MIN_BPM: float = _TEMPO["min"]
MAX_BPM: float = _TEMPO["max"]
_DATA_BYTES = {0x8: 2, 0x9: 2, 0xA: 2, 0xB: 2, 0xC: 1, 0xD: 1, 0xE: 2}  # by status nibble
_KEPT_META = (0x03, 0x2F, 0x51, 0x58)  # track_name, end_of_track, set_tempo, time_signature
_MIDO_ERRORS = (OSError, EOFError, ValueError, TypeError, IndexError, KeyError)


@dataclass(frozen=True, slots=True)
class ImportedNote:
    """One note, in ticks at the project's `PPQ`."""

    pitch: int
    start: int
    dur: int
    vel: int


@dataclass(frozen=True, slots=True)
class ImportedTrack:
    """One channel of one file track, as a Backline track will hold it."""

    name: str
    program: int  # GM program (the drum kit on a drums track)
    is_drums: bool
    source: int  # index of the file track it came from
    channel: int  # 0-15
    notes: tuple[ImportedNote, ...]


@dataclass(frozen=True, slots=True)
class TempoChange:
    """From `tick` (project PPQ) on, `us_per_quarter` as in the file; `bpm` is that
    tempo as the project field holds it (clamped to its range)."""

    tick: int
    us_per_quarter: int
    bpm: float


@dataclass(frozen=True, slots=True)
class MeterChange:
    tick: int  # project PPQ
    numerator: int
    denominator: int


@dataclass(frozen=True)
class MidiImport:
    """What a file holds, read and checked, before any op: see the module's mapping."""

    format: int  # 0 or 1
    ppq: int  # the file's ticks per quarter note
    tracks: tuple[ImportedTrack, ...]
    tempos: tuple[TempoChange, ...]  # the tempo map: sorted, the first at tick 0
    meters: tuple[MeterChange, ...]  # the meter map: sorted, the first at tick 0
    warnings: tuple[str, ...] = field(default=())  # what was clamped, dropped or ignored

    @property
    def tempo(self) -> float:
        """The BPM at tick 0: what the project's single tempo becomes."""
        return self.tempos[0].bpm

    @property
    def meter(self) -> tuple[int, int]:
        first = self.meters[0]
        return first.numerator, first.denominator

    @property
    def note_count(self) -> int:
        return sum(len(t.notes) for t in self.tracks)


# -- the framing pass: counts before mido builds anything ----------------------------


def _vlq(data: bytes, pos: int, end: int, where: str) -> tuple[int, int]:
    """A variable-length number at `pos`: (value, position after it); at most 4 bytes."""
    value = 0
    for _ in range(4):
        if pos >= end:
            raise BadImport(f"{where} ends in the middle of an event (truncated?)")
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos
    raise BadImport(f"{where}: a variable-length number runs over 4 bytes at byte {pos}")


@dataclass(slots=True)
class _Counts:
    events: int = 0
    notes: int = 0


def _scan_track(
    data: bytes, pos: int, end: int, number: int, counts: _Counts, max_events: int, max_notes: int
) -> bytes:
    """Walk one MTrk body event by event, as mido will, refusing what mido would misread;
    return the body for mido with the payloads nothing here reads emptied.

    Running status survives meta events (as mido reads them, and as files in the
    wild use it) but not sysex, where the specification cancels it. A sysex
    becomes an empty one, a meta event other than `_KEPT_META` an empty text: the
    same events at the same times, but mido neither copies megabytes of them
    byte by byte nor refuses the file for a malformed key signature.
    """
    where = f"track {number}"
    running = 0  # no status yet
    pieces: list[bytes] = []
    copied = pos  # data[copied:pos] is still to be copied as it is
    while pos < end:
        _, pos = _vlq(data, pos, end, where)  # the delta time
        if pos >= end:
            raise BadImport(f"{where} ends in the middle of an event (truncated?)")
        status = data[pos]
        if status < 0x80:
            if not running:
                raise BadImport(
                    f"{where}: data byte 0x{status:02x} at byte {pos} has no status byte"
                    " before it (bad running status)"
                )
            status = running  # `pos` stays on the first data byte
        else:
            pos += 1
        if status in (0xFF, 0xF0, 0xF7):
            at = pos - 1  # the status byte
            if status == 0xFF:
                if pos >= end:
                    raise BadImport(f"{where} ends in the middle of a meta event (truncated?)")
                pos += 1  # the meta event's type
            else:
                running = 0
            length, pos = _vlq(data, pos, end, where)
            pos += length
            if pos > end:
                raise BadImport(f"{where}: an event of {length} bytes runs past the track's end")
            if status != 0xFF:
                pieces += [data[copied : at + 1], b"\x00"]
                copied = pos
            elif data[at + 1] not in _KEPT_META:
                pieces += [data[copied:at], b"\xff\x01\x00"]
                copied = pos
        elif status >= 0xF0:
            raise BadImport(f"{where}: status byte 0x{status:02x} does not belong in a MIDI file")
        else:
            running = status
            size = _DATA_BYTES[status >> 4]
            if pos + size > end:
                raise BadImport(f"{where} ends in the middle of an event (truncated?)")
            for byte in data[pos : pos + size]:
                if byte >= 0x80:
                    raise BadImport(
                        f"{where}: byte 0x{byte:02x} near byte {pos} where a value 0-127 belongs"
                    )
            if status >> 4 == 0x9 and data[pos + 1] > 0:
                counts.notes += 1
                if counts.notes > max_notes:
                    raise LimitExceeded(f"the file has more than {max_notes} notes (max_notes)")
            pos += size
        counts.events += 1
        if counts.events > max_events:
            raise BadImport(
                f"the file has more than {max_events} events; it is too large to import"
            )
    pieces.append(data[copied:end])
    return b"".join(pieces)


def _framed(data: bytes, max_events: int, max_notes: int) -> bytes:
    """The file as mido should read it, once checked: its header and MTrk chunks (chunks
    of other types, which the specification lets writers add, left out)."""
    if len(data) > MAX_BYTES:
        raise BadImport(f"the file is {len(data)} bytes; at most {MAX_BYTES} can be imported")
    if data[:4] != b"MThd":
        raise BadImport("not a MIDI file: it does not start with an MThd header")
    size = int.from_bytes(data[4:8], "big")
    if len(data) < 14 or size < 6 or 8 + size > len(data):
        raise BadImport("the MIDI file's header is truncated")
    fmt, ntracks, division = struct.unpack(">HHH", data[8:14])
    if fmt == 2:
        raise BadImport("MIDI files of type 2 (independent sequences) cannot be imported")
    if fmt > 2:
        raise BadImport(f"unknown MIDI file type {fmt}")
    if division & 0x8000:
        raise BadImport(
            "the file counts time in SMPTE frames, not beats; save it with a ticks-per-beat"
            " division"
        )
    if ntracks > 0x7FFF:  # mido reads the count as a signed number
        raise BadImport(f"the file claims {ntracks} tracks; at most 32767 can be read")
    if division == 0:
        raise BadImport("the file's division is 0 ticks per quarter note")
    chunks = [b"MThd", (6).to_bytes(4, "big"), data[8:14]]
    counts = _Counts()
    pos, found = 8 + size, 0
    while found < ntracks:
        if pos + 8 > len(data):
            raise BadImport(f"the file ends after {found} of its {ntracks} tracks (truncated?)")
        length = int.from_bytes(data[pos + 4 : pos + 8], "big")
        start, end = pos + 8, pos + 8 + length
        if end > len(data):
            raise BadImport(
                f"a chunk claims {length} bytes but only {len(data) - start} remain (truncated?)"
            )
        if data[pos : pos + 4] == b"MTrk":
            found += 1
            body = _scan_track(data, start, end, found, counts, max_events, max_notes)
            chunks += [b"MTrk", len(body).to_bytes(4, "big"), body]
        pos = end
    return b"".join(chunks)


# -- reading -------------------------------------------------------------------------


def _scale(tick: int, ppq: int) -> int:
    """A file tick at the project's PPQ: rounded half up, exactly."""
    return (2 * tick * PPQ + ppq) // (2 * ppq)


def _bpm(us_per_quarter: int) -> float:
    """The BPM with the fewest decimals that stands for this very tempo: 60e6 / bpm µs,
    rounded (as `smf.py` writes it) or truncated (as many sequencers do). So 500000 is
    120.0, 666667 is 90.0 and 550458 is 109.0, not 109.0001."""
    exact = US_PER_MINUTE / us_per_quarter
    for digits in range(7):
        bpm = round(exact, digits)
        us = US_PER_MINUTE / bpm if bpm > 0 else 0.0
        if math.floor(us + 0.5) == us_per_quarter or math.floor(us) == us_per_quarter:
            return bpm
    return exact


def _text(raw: str, max_len: int) -> str:
    """A meta text mido read as Latin-1: UTF-8 when it is (as `smf.py` writes), trimmed."""
    with contextlib.suppress(UnicodeError):  # not UTF-8: Latin-1 is the best guess
        raw = raw.encode("latin-1").decode("utf-8")
    return raw.replace("\x00", "").strip()[:max_len].strip()


@dataclass(slots=True)
class _Channel:
    notes: list[ImportedNote] = field(default_factory=list)
    program: int | None = None
    changes_program: bool = False


def _changes(raw: list[tuple[int, Any]], default: Any, ppq: int) -> list[tuple[int, Any]]:
    """A map from raw (file tick, value) events: scaled, the last at a tick winning,
    repeats dropped, starting at tick 0 with `default` unless the file says otherwise."""
    at: dict[int, Any] = {}
    for tick, value in sorted(raw, key=lambda change: change[0]):  # stable: file order
        at[_scale(tick, ppq)] = value
    at.setdefault(0, default)
    out: list[tuple[int, Any]] = []
    for tick in sorted(at):
        if not out or out[-1][1] != at[tick]:
            out.append((tick, at[tick]))
    return out


@dataclass(slots=True)
class _Reading:
    """What the messages of a file say, gathered track by track."""

    ppq: int
    max_name_len: int
    tracks: list[ImportedTrack] = field(default_factory=list)
    tempos: list[tuple[int, int]] = field(default_factory=list)  # (file tick, µs per quarter)
    meters: list[tuple[int, tuple[int, int]]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unclosed: int = 0
    stray: int = 0

    def note(self, start: int, end: int, pitch: int, vel: int) -> ImportedNote:
        begin = _scale(start, self.ppq)
        return ImportedNote(pitch, begin, max(1, _scale(end, self.ppq) - begin), vel)

    def read_track(self, source: int, track: Any) -> None:
        """One file track's messages: its notes by channel, its tempo and meter events."""
        name: str | None = None
        channels: dict[int, _Channel] = {}
        opened: dict[tuple[int, int], deque[tuple[int, int]]] = {}
        tick = 0
        for msg in track:
            tick += msg.time
            kind = msg.type
            if kind == "note_on" and msg.velocity > 0:
                channels.setdefault(msg.channel, _Channel())
                opened.setdefault((msg.channel, msg.note), deque()).append((tick, msg.velocity))
            elif kind in ("note_off", "note_on"):
                queue = opened.get((msg.channel, msg.note))
                if queue:
                    start, vel = queue.popleft()
                    channels[msg.channel].notes.append(self.note(start, tick, msg.note, vel))
                else:
                    self.stray += 1
            elif kind == "program_change":
                chan = channels.setdefault(msg.channel, _Channel())
                if chan.program is None:
                    chan.program = msg.program
                elif chan.program != msg.program:
                    chan.changes_program = True
            elif kind == "set_tempo":
                if msg.tempo == 0:
                    raise BadImport(f"track {source + 1} sets a tempo of 0 µs per quarter note")
                self.tempos.append((tick, msg.tempo))
            elif kind == "time_signature":
                self.meters.append((tick, (msg.numerator, msg.denominator)))
            elif kind == "track_name" and name is None:
                name = _text(msg.name, self.max_name_len) or None
        for (ch, pitch), queue in opened.items():  # never released: until the track's end
            for start, vel in queue:
                channels[ch].notes.append(self.note(start, tick, pitch, vel))
                self.unclosed += 1
        for ch in sorted(channels):
            self.add_track(name, source, ch, channels[ch], several=len(channels) > 1)

    def add_track(
        self, name: str | None, source: int, ch: int, chan: _Channel, *, several: bool
    ) -> None:
        drums = ch == DRUM_CHANNEL
        if name is None:
            label = "Drums" if drums else f"Track {len(self.tracks) + 1}"
        elif several:
            suffix = f" (ch {ch + 1})"
            label = name[: self.max_name_len - len(suffix)].rstrip() + suffix
        else:
            label = name
        if chan.changes_program:
            self.warnings.append(
                f"{label}: the program changes; only the first ({chan.program}) is kept"
            )
        notes = tuple(sorted(chan.notes, key=lambda n: (n.start, n.pitch, n.dur, n.vel)))
        self.tracks.append(ImportedTrack(label, chan.program or 0, drums, source, ch, notes))


def read_midi(
    data: bytes, limits: Limits = DEFAULT_LIMITS, *, max_events: int = 200_000
) -> MidiImport:
    """Read a Standard MIDI File (type 0 or 1) into tracks, notes, tempo and meter maps.

    Raises:
        BadImport: not a MIDI file, damaged (truncated chunks, bad running status,
            stray bytes), type 2 or SMPTE, a tempo of 0 µs per quarter note, over
            `MAX_BYTES` bytes or `max_events` events.
        LimitExceeded: more notes or tracks than `limits` allow, or notes past
            ``limits.max_tick``.
    """
    framed = _framed(data, max_events, limits.max_notes)
    try:
        midi = mido.MidiFile(file=io.BytesIO(framed), charset="latin1")
    except _MIDO_ERRORS as exc:
        raise BadImport(f"the MIDI file cannot be read: {exc or type(exc).__name__}") from exc
    reading = _Reading(int(midi.ticks_per_beat), limits.max_name_len)
    for source, track in enumerate(midi.tracks):
        reading.read_track(source, track)
    tracks, warnings, ppq = reading.tracks, reading.warnings, reading.ppq
    if len(tracks) > limits.max_tracks:
        raise LimitExceeded(
            f"the file holds {len(tracks)} tracks (one per channel of each file track);"
            f" a project holds at most {limits.max_tracks} (max_tracks)"
        )
    end = max((n.start + n.dur for t in tracks for n in t.notes), default=0)
    if end > limits.max_tick:
        raise LimitExceeded(
            f"the file's notes run to tick {end} (at {PPQ} PPQ), past the project's"
            f" last tick {limits.max_tick} (max_tick)"
        )
    if reading.unclosed:
        warnings.append(f"{_count(reading.unclosed, 'note')} never released end with their track")
    if reading.stray:
        warnings.append(f"{_count(reading.stray, 'note-off')} without a sounding note ignored")
    tempos = [
        _tempo_change(tick, us, warnings)
        for tick, us in _changes(reading.tempos, DEFAULT_US_PER_QUARTER, ppq)
    ]
    meters = [
        MeterChange(tick, num, den)
        for tick, (num, den) in _changes(
            _valid_meters(reading.meters, warnings), DEFAULT_METER, ppq
        )
    ]
    if len(tempos) > 1:
        warnings.append(
            f"the tempo changes {_count(len(tempos) - 1, 'time')} after the start; the project"
            f" has one tempo, {tempos[0].bpm:g} BPM (notes keep their beats)"
        )
    if len(meters) > 1:
        first = meters[0]
        warnings.append(
            f"the meter changes {_count(len(meters) - 1, 'time')} after the start; the project"
            f" has one meter, {first.numerator}/{first.denominator}"
        )
    return MidiImport(
        format=int(midi.type),
        ppq=ppq,
        tracks=tuple(tracks),
        tempos=tuple(tempos),
        meters=tuple(meters),
        warnings=tuple(warnings),
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _tempo_change(tick: int, us: int, warnings: list[str]) -> TempoChange:
    bpm = _bpm(us)
    if not MIN_BPM <= bpm <= MAX_BPM:
        clamped = min(MAX_BPM, max(MIN_BPM, bpm))
        warnings.append(f"a tempo of {bpm:.6g} BPM at tick {tick} is taken as {clamped:g} BPM")
        bpm = clamped
    return TempoChange(tick, us, bpm)


def _valid_meters(
    meters: list[tuple[int, tuple[int, int]]], warnings: list[str]
) -> list[tuple[int, tuple[int, int]]]:
    """The time signatures the project's meter field can hold; the others are dropped."""
    out = []
    for tick, (num, den) in meters:
        try:
            SCHEMAS["project"]["meter"].check("meter", [num, den], DEFAULT_LIMITS)
        except (BadField, OutOfRange) as exc:
            warnings.append(f"the time signature {num}/{den} is ignored: {exc.message}")
            continue
        out.append((tick, (num, den)))
    return out


# -- ops -------------------------------------------------------------------------------


def _fresh_ids(doc: Document, prefix: str) -> Iterator[str]:
    """``prefix1``, ``prefix2``, … skipping every id `doc` already holds."""
    n = 0
    while True:
        n += 1
        candidate = f"{prefix}{n}"
        if candidate != PROJECT_ID and candidate not in doc.kind_of:
            yield check_id(candidate, doc.limits)


def import_ops(doc: Document, midi: MidiImport, *, prefix: str) -> list[Op]:
    """The ops that add `midi`'s tracks and notes to `doc` (its own kept) and set the
    project's tempo and meter to the file's at tick 0; apply them as one batch.

    Raises:
        LimitExceeded: `doc` with the import would hold more tracks or notes than
            ``doc.limits`` allow, or a note would end past ``doc.limits.max_tick``.
        BadField, OutOfRange: `prefix` makes ids that `check_id` refuses.
    """
    limits = doc.limits
    if len(doc.tracks) + len(midi.tracks) > limits.max_tracks:
        raise LimitExceeded(
            f"the project has {len(doc.tracks)} tracks and the file {len(midi.tracks)};"
            f" a project holds at most {limits.max_tracks} (max_tracks)"
        )
    if len(doc.notes) + midi.note_count > limits.max_notes:
        raise LimitExceeded(
            f"the project has {len(doc.notes)} notes and the file {midi.note_count};"
            f" a project holds at most {limits.max_notes} (max_notes)"
        )
    end = max((n.start + n.dur for t in midi.tracks for n in t.notes), default=0)
    if end > limits.max_tick:
        raise LimitExceeded(f"the file's notes run past the project's last tick {limits.max_tick}")
    ids = _fresh_ids(doc, prefix)
    ops: list[Op] = [
        {"op": "set", "id": PROJECT_ID, "field": "tempo", "value": float(midi.tempo)},
        {"op": "set", "id": PROJECT_ID, "field": "meter", "value": list(midi.meter)},
    ]
    for track in midi.tracks:
        track_id = next(ids)
        value = {
            "name": track.name[: limits.max_name_len],
            "kind": "drums" if track.is_drums else "instrument",
            "instrument": track.program,
        }
        ops.append({"op": "insert", "kind": "track", "id": track_id, "value": value})
        for note in track.notes:
            ops.append(
                {
                    "op": "insert",
                    "kind": "note",
                    "id": next(ids),
                    "value": {
                        "track": track_id,
                        "pitch": note.pitch,
                        "start": note.start,
                        "dur": note.dur,
                        "vel": note.vel,
                    },
                }
            )
    return ops


def midi_ops(
    doc: Document, data: bytes, limits: Limits = DEFAULT_LIMITS, *, prefix: str
) -> list[Op]:
    """`read_midi` then `import_ops`: the ops importing the file `data` into `doc`."""
    return import_ops(doc, read_midi(data, limits), prefix=prefix)
