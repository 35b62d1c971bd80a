"""Editing commands on a selection of notes, as the ops of one batch.

Quantize, transpose, move, resize, velocity, duplicate, paste and delete each
turn a selection (note records as the document holds them: ``id``, ``track``,
``clip``, ``pitch``, ``start``, ``dur``, ``vel``) into a list of ops that the
caller sends as ONE edit: one version, one undo step. Nothing here reads or
changes a document; the browser has the same functions in ``web/editing.js``
and a test runs both on the same random selections and compares the ops.

Rules both follow exactly:

- the notes are handled in *selection order*: by absolute start (``start``
  plus the start of the note's clip, from `origins`), then pitch, then id;
- an empty selection (or clipboard) is refused with `NothingSelected`;
- a command that would move a note outside its range (pitch 0‥127, start
  0‥max_tick, velocity 1‥127) is refused with `OutOfRange` and yields no op at
  all, except quantize and resize, which clamp (a note quantized before bar 1
  stays at 0, a note is never shorter than a tick);
- a set op is made only for a field whose value changes, so the list may be
  empty (nothing to send);
- more ops than one batch may carry (``max_ops_per_batch``) is `TooLarge`.

Rounding is half-up everywhere (``floor(x + 0.5)``): the same in Python and JS.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import BadField, NothingSelected, OutOfRange, TooLarge
from .harmony import snap_to_scale
from .limits import DEFAULT_LIMITS
from .model import PPQ

__all__ = [
    "NOTE_FIELDS",
    "delete",
    "duplicate",
    "fit_to_scale",
    "move",
    "move_in_scale",
    "nearest_grid",
    "paste",
    "quantize",
    "resize",
    "selection_order",
    "set_velocity",
    "span",
    "stamp",
    "transpose",
]

Note = Mapping[str, Any]
Op = dict[str, Any]

NOTE_FIELDS = ("track", "clip", "pitch", "start", "dur", "vel")
"""The fields of a note a copy carries (everything but its id)."""

_PITCH = (0, 127)
_VEL = (1, 127)
_MAX_TICK = DEFAULT_LIMITS.max_tick


def _round(x: float) -> int:
    return math.floor(x + 0.5)


def _origin(note: Note, origins: Mapping[str, int] | None) -> int:
    clip = note.get("clip")
    if clip is None or origins is None:
        return 0
    return int(origins.get(clip, 0))


def _check_selection(notes: Sequence[Any], what: str = "no notes selected") -> None:
    if not notes:
        raise NothingSelected(what)


def _check_grid(grid: object) -> int:
    if not isinstance(grid, int) or isinstance(grid, bool) or grid < 1 or grid > _MAX_TICK:
        raise OutOfRange(f"grid must be an integer number of ticks from 1, not {grid!r}")
    return grid


def _bounded(ops: list[Op]) -> list[Op]:
    if len(ops) > DEFAULT_LIMITS.max_ops_per_batch:
        raise TooLarge(
            f"{len(ops)} ops: one edit carries at most {DEFAULT_LIMITS.max_ops_per_batch}"
        )
    return ops


def _set(note_id: str, field: str, value: Any) -> Op:
    return {"op": "set", "id": note_id, "field": field, "value": value}


def selection_order(notes: Sequence[Note], origins: Mapping[str, int] | None = None) -> list[Note]:
    """The notes by absolute start, then pitch, then id (the order of every command's ops)."""
    return sorted(notes, key=lambda n: (n["start"] + _origin(n, origins), n["pitch"], n["id"]))


def span(notes: Sequence[Note], origins: Mapping[str, int] | None = None) -> tuple[int, int]:
    """``(first start, last end)`` of the notes, in absolute ticks."""
    _check_selection(notes)
    first = min(n["start"] + _origin(n, origins) for n in notes)
    last = max(n["start"] + n["dur"] + _origin(n, origins) for n in notes)
    return first, last


def nearest_grid(tick: int, grid: int) -> int:
    """The grid line nearest to `tick` (a tie goes to the later line)."""
    below = tick - tick % grid
    return below + grid if 2 * (tick - below) >= grid else below


def quantize(
    notes: Sequence[Note],
    grid: int,
    strength: float = 1.0,
    origins: Mapping[str, int] | None = None,
) -> list[Op]:
    """Move each note's start toward its nearest grid line by `strength` (0‥1).

    The grid counts from bar 1 (a note in a clip is quantized where it sounds);
    triplet grids are grid values like 320 (1/8T) or 160 (1/16T). Never below 0.
    """
    _check_selection(notes)
    grid = _check_grid(grid)
    if (
        not isinstance(strength, int | float)
        or isinstance(strength, bool)
        or not 0.0 <= strength <= 1.0
    ):
        raise OutOfRange(f"strength must be from 0 to 1, not {strength!r}")
    ops: list[Op] = []
    for n in selection_order(notes, origins):
        origin = _origin(n, origins)
        at = n["start"] + origin
        target = at + _round((nearest_grid(at, grid) - at) * float(strength))
        start = min(_MAX_TICK, max(0, target - origin))
        if start != n["start"]:
            ops.append(_set(n["id"], "start", start))
    return _bounded(ops)


def move(
    notes: Sequence[Note],
    ticks: int = 0,
    semitones: int = 0,
    origins: Mapping[str, int] | None = None,
) -> list[Op]:
    """Shift the notes by `ticks` and `semitones`; refused if any would leave its range."""
    _check_selection(notes)
    order = selection_order(notes, origins)
    for n in order:
        if not _PITCH[0] <= n["pitch"] + semitones <= _PITCH[1]:
            raise OutOfRange(f"pitch {n['pitch'] + semitones} is outside 0..127")
        if not 0 <= n["start"] + ticks <= _MAX_TICK:
            raise OutOfRange(f"start {n['start'] + ticks} is outside 0..{_MAX_TICK}")
    ops: list[Op] = []
    for n in order:
        if ticks:
            ops.append(_set(n["id"], "start", n["start"] + ticks))
        if semitones:
            ops.append(_set(n["id"], "pitch", n["pitch"] + semitones))
    return _bounded(ops)


def transpose(
    notes: Sequence[Note], semitones: int, origins: Mapping[str, int] | None = None
) -> list[Op]:
    """Set every note's pitch `semitones` higher (lower when negative)."""
    return move(notes, 0, semitones, origins)


def fit_to_scale(
    notes: Sequence[Note], key: str, origins: Mapping[str, int] | None = None
) -> list[Op]:
    """Every note's pitch to the nearest pitch of `key`'s scale (a tie goes to the lower,
    `harmony.snap_to_scale`): a set op for each note that moves."""
    _check_selection(notes)
    ops: list[Op] = []
    for n in selection_order(notes, origins):
        pitch = snap_to_scale(n["pitch"], key)
        if pitch != n["pitch"]:
            ops.append(_set(n["id"], "pitch", pitch))
    return _bounded(ops)


def move_in_scale(
    notes: Sequence[Note],
    ticks: int,
    semitones: int,
    key: str,
    origins: Mapping[str, int] | None = None,
) -> list[Op]:
    """As `move`, each new pitch snapped to `key`'s scale (a drag with snap to scale on)."""
    move(notes, ticks, semitones, origins)  # the same range checks
    ops: list[Op] = []
    for n in selection_order(notes, origins):
        if ticks:
            ops.append(_set(n["id"], "start", n["start"] + ticks))
        pitch = snap_to_scale(n["pitch"] + semitones, key)
        if pitch != n["pitch"]:
            ops.append(_set(n["id"], "pitch", pitch))
    return _bounded(ops)


def stamp(
    pitches: Sequence[int],
    at: int,
    dur: int,
    track: str,
    clip: str | None,
    new_ids: Sequence[str],
    vel: int = 100,
) -> list[Op]:
    """Inserts of a chord's notes (`pitches`) all at tick `at` (from the clip's start when
    in notes `clip`) lasting `dur`, on `track`; `new_ids` name them lowest first."""
    _check_selection(pitches, "no chord tones")
    if not isinstance(at, int) or isinstance(at, bool):
        raise OutOfRange(f"chord position must be an integer tick, not {at!r}")
    if not isinstance(dur, int) or isinstance(dur, bool) or not 1 <= dur <= _MAX_TICK:
        raise OutOfRange(f"chord length must be from 1 tick, not {dur!r}")
    for p in pitches:
        if not isinstance(p, int) or isinstance(p, bool) or not _PITCH[0] <= p <= _PITCH[1]:
            raise OutOfRange(f"pitch {p} is outside 0..127")
    tones: list[Note] = [
        {"track": track, "clip": clip, "pitch": p, "start": at, "dur": dur, "vel": vel}
        for p in sorted(pitches)
    ]
    return _inserts(tones, new_ids, lambda value, n: None)


def resize(notes: Sequence[Note], ticks: int, origins: Mapping[str, int] | None = None) -> list[Op]:
    """Lengthen (shorten when negative) every note by `ticks`; never shorter than 1."""
    _check_selection(notes)
    ops: list[Op] = []
    for n in selection_order(notes, origins):
        dur = min(_MAX_TICK, max(1, n["dur"] + ticks))
        if dur != n["dur"]:
            ops.append(_set(n["id"], "dur", dur))
    return _bounded(ops)


def set_velocity(
    notes: Sequence[Note], vel: int, origins: Mapping[str, int] | None = None
) -> list[Op]:
    """Give every note velocity `vel` (1‥127)."""
    _check_selection(notes)
    if not isinstance(vel, int) or isinstance(vel, bool) or not _VEL[0] <= vel <= _VEL[1]:
        raise OutOfRange(f"velocity must be from 1 to 127, not {vel!r}")
    ops = [_set(n["id"], "vel", vel) for n in selection_order(notes, origins) if n["vel"] != vel]
    return _bounded(ops)


def delete(notes: Sequence[Note], origins: Mapping[str, int] | None = None) -> list[Op]:
    """Delete every note of the selection."""
    _check_selection(notes)
    return _bounded([{"op": "delete", "id": n["id"]} for n in selection_order(notes, origins)])


def _inserts(
    order: Sequence[Note], new_ids: Sequence[str], place: Callable[[dict[str, Any], Note], None]
) -> list[Op]:
    if len(new_ids) != len(order):
        raise BadField(f"{len(order)} notes need {len(order)} new ids, not {len(new_ids)}")
    ops: list[Op] = []
    for n, new_id in zip(order, new_ids, strict=True):
        value: dict[str, Any] = {field: n.get(field) for field in NOTE_FIELDS}
        place(value, n)
        if not 0 <= value["start"] <= _MAX_TICK:
            raise OutOfRange(f"start {value['start']} is outside 0..{_MAX_TICK}")
        ops.append({"op": "insert", "kind": "note", "id": new_id, "value": value})
    return _bounded(ops)


def duplicate(
    notes: Sequence[Note],
    new_ids: Sequence[str],
    grid: int = PPQ,
    origins: Mapping[str, int] | None = None,
) -> list[Op]:
    """Copies of the notes right after the selection's span.

    The offset is the span (first start to last end) rounded up to `grid`
    (a beat by default), so a one-bar phrase repeats on the next bar. The
    copies keep their track and clip; `new_ids` name them in selection order.
    """
    grid = _check_grid(grid)
    first, last = span(notes, origins)
    offset = -(-(last - first) // grid) * grid

    def place(value: dict[str, Any], n: Note) -> None:
        value["start"] = n["start"] + offset

    return _inserts(selection_order(notes, origins), new_ids, place)


def paste(
    clipboard: Sequence[Note],
    at: int,
    track: str,
    clip: str | None,
    new_ids: Sequence[str],
) -> list[Op]:
    """Inserts of the clipboard's notes on `track` (in notes `clip`, or free), keeping
    their relative positions, the first at tick `at` (counted from the clip's start
    when in a clip). The clipboard's ``start`` values may be absolute or relative:
    only their differences matter."""
    _check_selection(clipboard, "nothing to paste")
    if not isinstance(at, int) or isinstance(at, bool):
        raise OutOfRange(f"paste position must be an integer tick, not {at!r}")
    first = min(n["start"] for n in clipboard)

    def place(value: dict[str, Any], n: Note) -> None:
        value["track"] = track
        value["clip"] = clip
        value["start"] = at + n["start"] - first

    return _inserts(selection_order(clipboard), new_ids, place)
