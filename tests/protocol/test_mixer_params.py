"""protocol/mixer.py: the mixer's fields in the document, and its EQ and compressor math."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from backline.protocol.errors import BacklineError, ErrorCode
from backline.protocol.mixer import (
    PROJECT_PARAMS,
    TRACK_PARAMS,
    biquad,
    compressor_gain_db,
    response_db,
    track_eq,
)
from backline.protocol.model import SCHEMAS, Document
from backline.protocol.ops import apply

RATE = 48_000.0


def test_every_parameter_is_a_field_with_its_range_and_default() -> None:
    doc = Document()
    apply(doc, {"op": "insert", "kind": "track", "id": "t", "value": {}})
    for kind, params, entity in (("track", TRACK_PARAMS, doc.tracks["t"]),
                                 ("project", PROJECT_PARAMS, doc.project)):  # fmt: skip
        for p in params:
            assert entity[p.name] == p.default and p.name in SCHEMAS[kind]
    assert doc.project["limiter_on"] is True  # the master limiter is on by default
    for value, code in ((19.9, ErrorCode.OUT_OF_RANGE), (math.nan, ErrorCode.OUT_OF_RANGE),
                        ("80", ErrorCode.BAD_FIELD), (True, ErrorCode.BAD_FIELD)):  # fmt: skip
        with pytest.raises(BacklineError) as refused:
            apply(doc, {"op": "set", "id": "t", "field": "eq_hp_freq", "value": value})
        assert refused.value.code is code
    assert doc.tracks["t"]["eq_hp_freq"] == 80.0  # nothing changed
    inverse = apply(doc, {"op": "set", "id": "t", "field": "comp_ratio", "value": 8})
    assert inverse == {"op": "set", "id": "t", "field": "comp_ratio", "value": 4.0}


@pytest.mark.parametrize("gain", [-12.0, 6.0, 24.0])
@pytest.mark.parametrize("q", [0.5, 1.0, 4.0])
def test_a_peaking_band_gives_its_gain_at_its_frequency_and_none_far_away(
    gain: float, q: float
) -> None:
    bell = biquad("peaking", 1000.0, gain, q, RATE)
    assert response_db(bell, 1000.0, RATE) == pytest.approx(gain, abs=1e-9)
    assert abs(response_db(bell, 20.0, RATE)) < 0.2 and abs(response_db(bell, 20_000, RATE)) < 1.0


def test_shelves_lift_their_side_and_leave_the_other() -> None:
    low = biquad("lowshelf", 200.0, 9.0, 1.0, RATE)
    high = biquad("highshelf", 4000.0, -6.0, 1.0, RATE)
    assert response_db(low, 10.0, RATE) == pytest.approx(9.0, abs=0.05)
    assert response_db(low, 200.0, RATE) == pytest.approx(4.5, abs=1e-9)  # half at the corner
    assert abs(response_db(low, 15_000.0, RATE)) < 0.05
    assert response_db(high, 23_000.0, RATE) == pytest.approx(-6.0, abs=0.05)
    assert abs(response_db(high, 50.0, RATE)) < 0.01


def test_the_high_pass_is_butterworth_at_its_default_q() -> None:
    hp = biquad("highpass", 100.0, 0.0, math.sqrt(0.5), RATE)
    assert response_db(hp, 100.0, RATE) == pytest.approx(-3.0103, abs=1e-3)
    assert response_db(hp, 50.0, RATE) == pytest.approx(-12.3, abs=0.1)  # 12 dB an octave
    assert abs(response_db(hp, 5000.0, RATE)) < 1e-3


def test_a_strip_filters_only_with_the_bands_switched_on() -> None:
    track = {p.name: p.default for p in TRACK_PARAMS}
    assert track_eq(track, RATE) == []
    track |= {"eq_mid2_on": True, "eq_mid2_gain": -5.0, "eq_hp_on": True}
    assert [prefix for prefix, _ in track_eq(track, RATE)] == ["eq_hp", "eq_mid2"]  # in order


def test_the_compressor_law_is_flat_below_then_a_ratio_with_a_smooth_knee() -> None:
    assert compressor_gain_db(-40.0, -20.0, 4.0, 6.0) == 0.0
    assert compressor_gain_db(-8.0, -20.0, 4.0, 6.0) == pytest.approx(-9.0)  # 12 over -> 3 over
    assert compressor_gain_db(-20.0, -20.0, 4.0, 0.0) == 0.0  # a hard knee
    knee = [compressor_gain_db(-23.0 + i * 0.01, -20.0, 4.0, 6.0) for i in range(601)]
    assert knee[0] == 0.0 and knee[-1] == pytest.approx(-0.75 * 3)  # meets both lines
    steps = [b - a for a, b in itertools.pairwise(knee)]
    assert all(s <= 0 for s in steps) and max(abs(s) for s in steps) < 0.01  # smooth, falling


def test_the_protocol_document_lists_every_mixer_parameter() -> None:
    text = (Path(__file__).parents[2] / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
    for p in (*TRACK_PARAMS, *PROJECT_PARAMS):
        assert f"| `{p.name}` |" in text, p.name
