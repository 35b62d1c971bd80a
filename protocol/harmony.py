"""Keys, scales and chords, defined once: what the piano roll shades and snaps to, what a
chord symbol means, which chords belong to a key.

Everything here is pitch-class arithmetic over MIDI note numbers (60 = C4).
The browser has the same functions (`web/harmony.js`), checked against the
vectors `harmony_vectors()` writes (`protocol/harmony_vectors.json`).

Chords are ``(root, quality, inversion, bass)``: a root note name, a quality
(`QUALITIES`, by its stable name), an inversion (0 = root position, 1 = its
lowest chord tone raised an octave…) and an optional bass note that is not a
chord tone (a slash chord, ``C/Bb``). A symbol names the same thing:
``Cmaj7``, ``F#m7b5``, ``C/E`` (the first inversion: E is a chord tone),
``C/Bb`` (a bass below). `parse_chord` accepts common aliases (``CM7``,
``C-7``, ``Cø``, ``C°``, ``C+``); `chord_symbol` writes the canonical one.

**Snapping to a scale**: a pitch in the scale stays; any other moves to the
nearest scale pitch, and when two are equally near (a pitch between two scale
degrees a whole tone apart) to the **lower** one.

Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import BadField, OutOfRange

__all__ = [
    "MODES",
    "NOTE_NAMES",
    "QUALITIES",
    "SCALE_INTERVALS",
    "Chord",
    "check_chord",
    "chord_pitches",
    "chord_symbol",
    "chord_tones",
    "detect_chord",
    "diatonic_chords",
    "harmony_vectors",
    "in_scale",
    "key_change_ops",
    "key_shift",
    "parse_chord",
    "parse_key",
    "pitch_class",
    "scale_pitch_classes",
    "snap_to_scale",
]

NOTE_NAMES = (
    "C", "C#", "Db", "D", "D#", "Eb", "E", "F", "F#", "Gb", "G", "G#", "Ab", "A", "A#", "Bb", "B",
)  # fmt: skip
"""The root and bass names a chord may have (every pitch class, both spellings)."""

_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SHARPS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLATS = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
_COMMON = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")  # detected roots

MODES = ("major", "minor", "dorian", "phrygian", "lydian", "mixolydian", "locrian")

SCALE_INTERVALS: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),  # natural minor (aeolian)
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
}
assert tuple(SCALE_INTERVALS) == MODES

# stable name -> (symbol suffix, intervals above the root), in order of preference
# when detecting (simpler first)
QUALITIES: dict[str, tuple[str, tuple[int, ...]]] = {
    "maj": ("", (0, 4, 7)),
    "min": ("m", (0, 3, 7)),
    "dim": ("dim", (0, 3, 6)),
    "aug": ("aug", (0, 4, 8)),
    "sus2": ("sus2", (0, 2, 7)),
    "sus4": ("sus4", (0, 5, 7)),
    "7": ("7", (0, 4, 7, 10)),
    "maj7": ("maj7", (0, 4, 7, 11)),
    "m7": ("m7", (0, 3, 7, 10)),
    "m7b5": ("m7b5", (0, 3, 6, 10)),
    "dim7": ("dim7", (0, 3, 6, 9)),
    "mmaj7": ("mmaj7", (0, 3, 7, 11)),
    "6": ("6", (0, 4, 7, 9)),
    "m6": ("m6", (0, 3, 7, 9)),
    "7sus4": ("7sus4", (0, 5, 7, 10)),
    "add9": ("add9", (0, 4, 7, 14)),
    "9": ("9", (0, 4, 7, 10, 14)),
    "maj9": ("maj9", (0, 4, 7, 11, 14)),
    "m9": ("m9", (0, 3, 7, 10, 14)),
}

_ALIASES = {
    "M": "maj", "maj": "maj", "major": "maj",
    "-": "min", "min": "min", "minor": "min",
    "°": "dim", "o": "dim",
    "+": "aug",
    "M7": "maj7", "Δ": "maj7", "Δ7": "maj7", "ma7": "maj7",
    "-7": "m7", "min7": "m7",
    "ø": "m7b5", "ø7": "m7b5", "m7-5": "m7b5", "-7b5": "m7b5",
    "°7": "dim7", "o7": "dim7",
    "mM7": "mmaj7", "m(maj7)": "mmaj7", "-maj7": "mmaj7",
    "sus": "sus4",
    "M9": "maj9", "-9": "m9", "min9": "m9",
    "2": "sus2",
}  # fmt: skip
_SUFFIX_TO_QUALITY = {suffix: name for name, (suffix, _) in QUALITIES.items()}
_SUFFIX_TO_QUALITY.update(_ALIASES)
_NOTE = r"[A-G](?:#|b)?"
_SUFFIXES = "|".join(sorted(map(re.escape, _SUFFIX_TO_QUALITY), key=len, reverse=True))
_CHORD_RE = re.compile(rf"^({_NOTE})({_SUFFIXES})?(?:/({_NOTE}))?$")
_KEY_RE = re.compile(rf"^({_NOTE}) ({'|'.join(MODES)})$")
MAX_CHORD_SYMBOL = 24


@dataclass(frozen=True, slots=True)
class Chord:
    root: str  # one of NOTE_NAMES
    quality: str  # a key of QUALITIES
    inversion: int = 0
    bass: str | None = None  # a note below that is not a chord tone

    def to_fields(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "quality": self.quality,
            "inversion": self.inversion,
            "bass": self.bass,
        }


def pitch_class(name: str) -> int:
    """``"F#"`` -> 6, ``"Db"`` -> 1."""
    pc = _LETTER_PC[name[0]]
    for accidental in name[1:]:
        pc += 1 if accidental == "#" else -1
    return pc % 12


def parse_key(key: str) -> tuple[int, str]:
    """``"F# minor"`` -> (6, "minor")."""
    match = _KEY_RE.fullmatch(key) if isinstance(key, str) else None
    if match is None:
        raise OutOfRange(f"key must look like 'C major', 'F# minor' or 'Bb dorian', not {key!r}")
    return pitch_class(match.group(1)), match.group(2)


def scale_pitch_classes(key: str) -> tuple[int, ...]:
    """The key's scale, as pitch classes from the tonic up."""
    tonic, mode = parse_key(key)
    return tuple((tonic + step) % 12 for step in SCALE_INTERVALS[mode])


def in_scale(pitch: int, key: str) -> bool:
    return pitch % 12 in scale_pitch_classes(key)


def snap_to_scale(pitch: int, key: str) -> int:
    """The nearest pitch of the key's scale (ties: the lower), kept within 0..127."""
    scale = set(scale_pitch_classes(key))
    for distance in range(7):
        for candidate in (pitch - distance, pitch + distance):  # lower first: the tie rule
            if 0 <= candidate <= 127 and candidate % 12 in scale:
                return candidate
    raise AssertionError("every scale has a pitch within a fifth")  # pragma: no cover


def key_shift(old: str, new: str) -> int:
    """Semitones that move music in key `old` to key `new` by the shortest way (-6..+5)."""
    shift = (parse_key(new)[0] - parse_key(old)[0]) % 12
    return shift - 12 if shift >= 6 else shift


def _spell(pc: int, flats: bool) -> str:
    return (_FLATS if flats else _SHARPS)[pc % 12]


def _uses_flats(root: str) -> bool:
    return "b" in root[1:] or root == "F"


def chord_tones(chord: Chord) -> list[str]:
    """The chord's tones from the root up (names in the root's spelling)."""
    root = pitch_class(chord.root)
    flats = _uses_flats(chord.root)
    names = [_spell(root + step, flats) for step in QUALITIES[chord.quality][1]]
    names[0] = chord.root
    return names


def check_chord(chord: Chord) -> Chord:
    if chord.root not in NOTE_NAMES:
        raise BadField(f"root must be a note name like C, F# or Bb, not {chord.root!r}")
    if chord.quality not in QUALITIES:
        raise BadField(f"unknown chord quality {str(chord.quality)[:16]!r}")
    tones = len(QUALITIES[chord.quality][1])
    if type(chord.inversion) is not int or not 0 <= chord.inversion < tones:
        raise OutOfRange(f"a {chord.quality} chord has inversions 0 to {tones - 1}")
    if chord.bass is not None and chord.bass not in NOTE_NAMES:
        raise BadField(f"bass must be a note name or null, not {chord.bass!r}")
    return chord


def chord_pitches(chord: Chord, octave: int = 4) -> list[int]:
    """MIDI pitches, lowest first: the root at `octave` (C4 = 60), the inversion's lowest
    tones raised an octave, a slash bass below the lowest tone."""
    check_chord(chord)
    base = 12 * (octave + 1) + pitch_class(chord.root)
    pitches = [base + step for step in QUALITIES[chord.quality][1]]
    for i in range(chord.inversion):
        pitches[i] += 12
    pitches.sort()
    if chord.bass is not None:
        bass = pitches[0] - ((pitches[0] - pitch_class(chord.bass)) % 12 or 12)
        pitches.insert(0, bass)
    return pitches


def chord_symbol(chord: Chord) -> str:
    """``Cmaj7``, ``Am/C`` (an inversion names its lowest tone), ``C/Bb``."""
    check_chord(chord)
    symbol = chord.root + QUALITIES[chord.quality][0]
    if chord.bass is not None:
        return f"{symbol}/{chord.bass}"
    if chord.inversion:
        return f"{symbol}/{_lowest_name(chord)}"
    return symbol


def _lowest_name(chord: Chord) -> str:
    """The tone an inversion puts lowest: it raises the `inversion` lowest ones."""
    steps = QUALITIES[chord.quality][1]
    by_height = sorted(range(len(steps)), key=lambda i: steps[i])
    return chord_tones(chord)[by_height[chord.inversion]]


def parse_chord(symbol: str) -> Chord:
    """A chord symbol -> `Chord`; raises `BadField` naming what is wrong."""
    if type(symbol) is not str or not symbol or len(symbol) > MAX_CHORD_SYMBOL:
        raise BadField(f"a chord symbol is 1 to {MAX_CHORD_SYMBOL} characters, like Am7")
    match = _CHORD_RE.fullmatch(symbol.strip())
    if match is None:
        raise BadField(f"unknown chord symbol {symbol!r} (try C, Am7, F#m7b5, Bb/D)")
    root, suffix, slash = match.group(1), match.group(2) or "", match.group(3)
    quality = _SUFFIX_TO_QUALITY[suffix]
    chord = Chord(root, quality)
    if slash is None:
        return chord
    steps = QUALITIES[quality][1]
    by_height = sorted(range(len(steps)), key=lambda i: steps[i])
    slash_pc = pitch_class(slash)
    for inversion, i in enumerate(by_height):
        if (pitch_class(root) + steps[i]) % 12 == slash_pc:
            return Chord(root, quality, inversion)
    return Chord(root, quality, 0, slash)


def detect_chord(pitches: list[int] | tuple[int, ...]) -> Chord | None:
    """The chord these pitches sound (any octaves, any doubling), or None.

    The lowest pitch decides between readings: a root-position reading of it
    first, then an inversion whose lowest tone it is, then a chord over it as a
    slash bass; simpler qualities (earlier in `QUALITIES`) first.
    """
    if not pitches:
        return None
    lowest = min(pitches)
    classes = {p % 12 for p in pitches}
    bass_pc = lowest % 12
    readings: list[tuple[int, int, Chord]] = []
    for rank, (name, (_, steps)) in enumerate(QUALITIES.items()):
        shape = {s % 12 for s in steps}
        for root_pc in range(12):
            tones = {(root_pc + s) % 12 for s in shape}
            if tones == classes:
                root = _COMMON[root_pc]
                by_height = sorted(range(len(steps)), key=lambda i: steps[i])
                inversion = next(
                    k for k, i in enumerate(by_height) if (root_pc + steps[i]) % 12 == bass_pc
                )
                readings.append((0 if inversion == 0 else 1, rank, Chord(root, name, inversion)))
            elif tones == classes - {bass_pc} and len(classes) > len(shape) - 1:
                root = _COMMON[root_pc]
                readings.append((2, rank, Chord(root, name, 0, _COMMON[bass_pc])))
    if not readings:
        return None
    return min(readings, key=lambda r: (r[0], r[1]))[2]


_NUMERALS = ("I", "II", "III", "IV", "V", "VI", "VII")


def diatonic_chords(key: str, sevenths: bool = False) -> list[dict[str, Any]]:
    """The chords built on each degree of the key's scale: numeral (I, ii, vii°…), chord
    fields and symbol, in degree order."""
    tonic, mode = parse_key(key)
    steps = SCALE_INTERVALS[mode]
    tonic_name = key.split(" ")[0]
    flats = _key_uses_flats(key)
    chords = []
    for degree in range(7):
        stack = [steps[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4, 6)]
        shape = tuple(s - stack[0] for s in (stack if sevenths else stack[:3]))
        quality = next(name for name, (_, iv) in QUALITIES.items() if iv == shape)
        root_pc = (tonic + stack[0]) % 12
        root = tonic_name if degree == 0 else _spell(root_pc, flats)
        numeral = _NUMERALS[degree]
        if shape[1] == 3:  # a minor third: lower case
            numeral = numeral.lower()
        if quality in ("dim", "m7b5"):
            numeral += "°" if quality == "dim" else "ø7"
        elif quality == "aug":
            numeral += "+"
        elif sevenths:
            numeral += {"maj7": "maj7", "7": "7", "m7": "7", "dim7": "°7", "mmaj7": "maj7"}.get(
                quality, ""
            )
        chord = Chord(root, quality)
        chords.append({"numeral": numeral, **chord.to_fields(), "symbol": chord_symbol(chord)})
    return chords


def harmony_vectors() -> dict[str, Any]:
    """Cases the browser's implementation must answer alike (`protocol/harmony_vectors.json`)."""
    symbols = [
        "C", "Cm", "Cdim", "Caug", "Csus2", "Csus4", "C7", "Cmaj7", "Cm7", "Cm7b5", "Cdim7",
        "Cmmaj7", "C6", "Cm6", "C7sus4", "Cadd9", "C9", "Cmaj9", "Cm9", "F#m7b5", "Bb7", "Ebmaj7",
        "Abm", "C/E", "C/G", "Am/C", "C/Bb", "G7/F", "D/F#", "CM7", "C-7", "Cø", "C°", "C+",
        "Dbsus", "E-", "Fmin9", "G°7", "AmM7",
    ]  # fmt: skip
    chords = []
    for symbol in symbols:
        chord = parse_chord(symbol)
        chords.append({
            "symbol": symbol,
            "chord": chord.to_fields(),
            "canonical": chord_symbol(chord),
            "pitches": chord_pitches(chord),
            "detected": chord_symbol(d) if (d := detect_chord(chord_pitches(chord))) else None,
        })  # fmt: skip
    bad = ["", "H", "Cx", "C#m7b5b", "c", "C/H", "Cmaj13", "Z7", "C//E", "C " * 20]
    keys = ["C major", "A minor", "F# minor", "Bb dorian", "E phrygian", "F lydian",
            "G mixolydian", "B locrian", "Eb major", "C# major"]  # fmt: skip
    scales = {
        key: {
            "classes": list(scale_pitch_classes(key)),
            "snapped": [snap_to_scale(p, key) for p in range(0, 128)],
            "diatonic": [c["symbol"] for c in diatonic_chords(key)],
            "numerals": [c["numeral"] for c in diatonic_chords(key)],
            "sevenths": [c["symbol"] for c in diatonic_chords(key, sevenths=True)],
        }
        for key in keys
    }
    shifts = [[a, b, key_shift(a, b)] for a in keys[:4] for b in keys[:4]]
    return {"chords": chords, "bad": bad, "scales": scales, "shifts": shifts}


def _key_uses_flats(key: str) -> bool:
    tonic, mode = key.split(" ")
    return _uses_flats(tonic) or (
        mode in ("minor", "dorian", "phrygian", "locrian") and tonic in ("D", "G", "C", "F")
    )


def key_change_ops(doc: Any, new_key: str, transpose: bool) -> list[dict[str, Any]]:
    """The ops that change the project's key to `new_key`: only the key, or (`transpose`)
    also every pitched note and chord, moved the shortest way (`key_shift`); a note that
    would leave 0..127 moves an octave the other way. Drum tracks are never moved. Chord
    roots and basses are spelled as the new key spells (flats for flat keys). One batch:
    one undo takes it all back."""
    parse_key(new_key)
    old_key = str(doc.project["key"])
    ops: list[dict[str, Any]] = [{"op": "set", "id": "project", "field": "key", "value": new_key}]
    if not transpose:
        return ops
    shift = key_shift(old_key, new_key)
    if shift == 0:
        return ops
    flats = _key_uses_flats(new_key)
    drums = {tid for tid, track in doc.tracks.items() if track["kind"] == "drums"}
    for nid in sorted(doc.notes):
        note = doc.notes[nid]
        if note["track"] in drums:
            continue
        pitch = note["pitch"] + shift
        pitch += 12 if pitch < 0 else -12 if pitch > 127 else 0
        ops.append({"op": "set", "id": nid, "field": "pitch", "value": pitch})
    for cid in sorted(doc.chords):
        chord = doc.chords[cid]
        root = _spell(pitch_class(chord["root"]) + shift, flats)
        ops.append({"op": "set", "id": cid, "field": "root", "value": root})
        if chord["bass"] is not None:
            bass = _spell(pitch_class(chord["bass"]) + shift, flats)
            ops.append({"op": "set", "id": cid, "field": "bass", "value": bass})
    return ops
