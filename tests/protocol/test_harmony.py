"""Keys, scales and chord spelling: checked against an independent speller (pychord) and by
properties (a snapped note is in the scale, moves the least, and ties go down)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pychord import Chord as PyChord

from backline.protocol.errors import BadField, OutOfRange
from backline.protocol.harmony import (
    MODES,
    NOTE_NAMES,
    QUALITIES,
    Chord,
    chord_pitches,
    chord_symbol,
    detect_chord,
    diatonic_chords,
    harmony_vectors,
    in_scale,
    key_shift,
    parse_chord,
    parse_key,
    scale_pitch_classes,
    snap_to_scale,
)

# our stable quality names -> pychord's spelling of the same chord
PYCHORD = {
    "maj": "", "min": "m", "dim": "dim", "aug": "aug", "sus2": "sus2", "sus4": "sus4",
    "7": "7", "maj7": "M7", "m7": "m7", "m7b5": "m7-5", "dim7": "dim7", "mmaj7": "mM7",
    "6": "6", "m6": "m6", "7sus4": "7sus4", "add9": "add9", "9": "9", "maj9": "M9", "m9": "m9",
}  # fmt: skip
_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def pc(name: str) -> int:
    """pychord's 'Bb' -> 10, 'B#' -> 0, 'Bbb' -> 9."""
    return (_PC[name[0]] + name.count("#") - name[1:].count("b")) % 12


def test_every_quality_is_checked_against_pychord() -> None:
    assert set(PYCHORD) == set(QUALITIES)


@pytest.mark.parametrize("root", ["C", "F#", "Bb", "E", "Ab"])
@pytest.mark.parametrize("quality", list(QUALITIES))
def test_root_position_pitches_equal_pychords(root: str, quality: str) -> None:
    theirs = [pc(n) for n in PyChord(root + PYCHORD[quality]).components()]
    ours = chord_pitches(Chord(root, quality))
    assert [p % 12 for p in ours] == theirs  # the same tones, in the same order
    assert ours == sorted(ours) and ours[0] == 60 + pc(root) and ours[-1] - ours[0] < 24


@pytest.mark.parametrize("symbol", ["C/E", "C/G", "Am/C", "G7/F", "D/F#", "C/Bb", "Dm7/G"])
def test_slash_chords_have_pychords_pitch_classes_and_bass(symbol: str) -> None:
    ours = chord_pitches(parse_chord(symbol))
    theirs = [pc(n) for n in PyChord(symbol).components()]
    assert {p % 12 for p in ours} == set(theirs)
    assert ours[0] % 12 == theirs[0]  # the named bass is the lowest note
    assert ours == sorted(ours)


def test_symbols_parse_to_chords_and_back() -> None:
    assert parse_chord("F#m7b5") == Chord("F#", "m7b5")
    assert parse_chord("C/E") == Chord("C", "maj", 1)  # E is a chord tone: an inversion
    assert parse_chord("C/G") == Chord("C", "maj", 2)
    assert parse_chord("C/Bb") == Chord("C", "maj", 0, "Bb")  # not a chord tone: a bass
    for alias, canonical in (("CM7", "Cmaj7"), ("C-7", "Cm7"), ("Cø", "Cm7b5"),
                             ("C°", "Cdim"), ("C+", "Caug"), ("Csus", "Csus4")):  # fmt: skip
        assert chord_symbol(parse_chord(alias)) == canonical
    for vector in harmony_vectors()["chords"]:
        chord = Chord(**vector["chord"])
        assert parse_chord(vector["canonical"]) == chord
        assert chord_pitches(chord) == vector["pitches"]


@pytest.mark.parametrize("symbol", harmony_vectors()["bad"])
def test_unknown_symbols_are_bad_field(symbol: str) -> None:
    with pytest.raises(BadField):
        parse_chord(symbol)


def test_chord_fields_are_checked() -> None:
    with pytest.raises(OutOfRange):
        chord_pitches(Chord("C", "maj", 3))  # a triad has inversions 0-2
    with pytest.raises(BadField):
        chord_pitches(Chord("H", "maj"))
    with pytest.raises(BadField):
        chord_pitches(Chord("C", "major13"))


@given(
    st.sampled_from(NOTE_NAMES),
    st.sampled_from(list(QUALITIES)),
    st.integers(0, 4),
    st.integers(1, 6),
)
def test_detect_finds_every_chord_it_can_spell(
    root: str, quality: str, inv: int, oct_: int
) -> None:
    tones = len(QUALITIES[quality][1])
    chord = Chord(root, quality, inv % tones)
    pitches = chord_pitches(chord, octave=oct_)
    found = detect_chord(pitches)
    assert found is not None
    # the same notes (some chords are others enharmonically, e.g. C6 = Am7/C)
    assert {p % 12 for p in chord_pitches(found)} == {p % 12 for p in pitches}
    assert chord_pitches(found)[0] % 12 == pitches[0] % 12  # and the same bass


def test_detect_prefers_root_position_and_simple_readings() -> None:
    assert detect_chord([60, 64, 67]) == Chord("C", "maj")
    assert detect_chord([64, 67, 72]) == Chord("C", "maj", 1)
    assert detect_chord([57, 60, 64, 67]) == Chord("A", "m7")  # not C6/A
    assert detect_chord([60, 63, 67, 70, 48]) == Chord("C", "m7")  # doubled root
    assert detect_chord([60, 61, 62]) is None
    assert detect_chord([]) is None


# -- keys and scales --------------------------------------------------------------


def test_scales_of_every_mode() -> None:
    assert scale_pitch_classes("C major") == (0, 2, 4, 5, 7, 9, 11)
    assert scale_pitch_classes("A minor") == (9, 11, 0, 2, 4, 5, 7)
    assert scale_pitch_classes("D dorian") == (2, 4, 5, 7, 9, 11, 0)  # the white keys
    assert parse_key("F# minor") == (6, "minor")
    with pytest.raises(OutOfRange):
        parse_key("H major")


keys = st.builds(lambda n, m: f"{n} {m}", st.sampled_from(NOTE_NAMES), st.sampled_from(MODES))


@given(st.integers(0, 127), keys)
def test_a_snapped_note_is_in_the_scale_and_as_near_as_can_be(pitch: int, key: str) -> None:
    snapped = snap_to_scale(pitch, key)
    assert 0 <= snapped <= 127 and in_scale(snapped, key)
    nearest = min(abs(p - pitch) for p in range(128) if in_scale(p, key))
    assert abs(snapped - pitch) == nearest
    if in_scale(pitch, key):
        assert snapped == pitch
    # the tie rule: of two equally near scale notes, the lower
    if in_scale(pitch + nearest, key) and in_scale(pitch - nearest, key) and pitch - nearest >= 0:
        assert snapped == pitch - nearest
    assert snap_to_scale(snapped, key) == snapped  # idempotent


def test_the_tie_rule_by_example() -> None:
    assert snap_to_scale(61, "C major") == 60  # C# between C and D: down to C
    assert snap_to_scale(66, "C major") == 65  # F# between F and G: down to F
    assert snap_to_scale(70, "C major") == 69  # Bb between A and B: down to A
    assert snap_to_scale(0 + 1, "C major") == 0


def test_key_shift_is_the_shortest_way() -> None:
    assert key_shift("C major", "D major") == 2
    assert key_shift("C major", "A minor") == -3
    assert key_shift("C major", "F# major") == -6
    assert key_shift("B major", "C major") == 1


def test_diatonic_chords_with_numerals() -> None:
    major = [(c["numeral"], c["symbol"]) for c in diatonic_chords("C major")]
    assert major == [("I", "C"), ("ii", "Dm"), ("iii", "Em"), ("IV", "F"), ("V", "G"),
                     ("vi", "Am"), ("vii°", "Bdim")]  # fmt: skip
    minor = [c["symbol"] for c in diatonic_chords("A minor")]
    assert minor == ["Am", "Bdim", "C", "Dm", "Em", "F", "G"]
    sevenths = [c["symbol"] for c in diatonic_chords("C major", sevenths=True)]
    assert sevenths == ["Cmaj7", "Dm7", "Em7", "Fmaj7", "G7", "Am7", "Bm7b5"]
    flat = [c["symbol"] for c in diatonic_chords("Eb major")]
    assert flat == ["Eb", "Fm", "Gm", "Ab", "Bb", "Cm", "Ddim"]
    for key in ("F# minor", "Bb dorian", "E phrygian"):
        for chord in diatonic_chords(key):
            pcs = {p % 12 for p in chord_pitches(Chord(chord["root"], chord["quality"]))}
            assert pcs <= set(scale_pitch_classes(key))  # every chord tone is in the key
