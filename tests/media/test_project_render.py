"""The offline render with real FluidSynth instruments: what plays, when, how loud."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backline.media.render import render
from backline.media.soundfont import SampleBank, decode_flac, find_soundfont
from backline.protocol import dsp
from backline.protocol.errors import NotFound, TooLarge
from backline.protocol.model import PPQ, Document
from backline.protocol.ops import apply
from backline.testing.songs import hot_drums_ops, song_ops


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> SampleBank:
    font = find_soundfont()
    assert font is not None, "scripts/bootstrap.sh installs timgm6mb-soundfont"
    return SampleBank(font, cache_dir=tmp_path_factory.mktemp("samples"))


def build(ops: list[dict]) -> Document:  # type: ignore[type-arg]
    doc = Document()
    for op in ops:
        apply(doc, op)
    return doc


def test_a_sample_is_the_same_from_memory_from_flac_and_from_the_disk_cache(
    bank: SampleBank, tmp_path: Path
) -> None:
    key = dsp.sample_key("instrument", 0, 60, 100)
    assert key.layer == 127
    sample = bank.get(key)
    assert sample.shape[0] == 2 and sample.shape[1] > dsp.RATE  # a held piano note
    assert np.array_equal(decode_flac(bank.flac(key)), sample)
    again = SampleBank(bank.font, cache_dir=bank._dir.parent if bank._dir else None)
    assert np.array_equal(again.get(key), sample)
    drum = bank.get(dsp.sample_key("drums", 0, 36, 100))
    assert drum.shape[1] < sample.shape[1] and float(np.abs(drum).max()) > 0.05


def test_a_piano_note_has_its_pitch_and_starts_on_its_beat(bank: SampleBank) -> None:
    doc = build([
        {"op": "set", "id": "project", "field": "tempo", "value": 120.0},
        {"op": "insert", "kind": "track", "id": "p", "value": {"kind": "instrument"}},
        {"op": "insert", "kind": "note", "id": "n", "value": {"track": "p", "pitch": 69,
         "start": 2 * PPQ, "dur": PPQ, "vel": 127}},
    ])  # fmt: skip
    out = render(doc, bank).mix
    first = int(np.flatnonzero(np.abs(out[0]) > 1e-3)[0])
    assert abs(first - dsp.RATE) < 0.01 * dsp.RATE  # beat 2 at 120 BPM: 1 s
    segment = out[0, first + 2_400 : first + 2_400 + 16_384].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(segment.size), 16 * segment.size))
    peak_hz = np.argmax(spectrum[: 16 * segment.size // 48]) * dsp.RATE / (16 * segment.size)
    assert abs(1200 * np.log2(peak_hz / 440.0)) < 5  # A4


def test_a_hot_project_renders_under_the_ceiling_and_stems_add_up(bank: SampleBank) -> None:
    doc = build(hot_drums_ops())
    result = render(doc, bank, stems="dry")
    assert result.true_peak_db <= -1.0
    assert result.sample_peak < 1.0
    assert len(result.stems) == 2
    unlimited = build([*hot_drums_ops(), {"op": "set", "id": "project", "field": "limiter_on",
                                          "value": False}])  # fmt: skip
    raw = render(unlimited, bank)
    assert raw.sample_peak > 1.0  # without the limiter this mix clips
    summed = sum(result.stems.values()) * 2.0  # master gain 2
    assert np.allclose(summed, raw.mix, atol=1e-4)


def test_a_song_measures_its_loudness_and_lasts_its_bars(bank: SampleBank) -> None:
    result = render(build(song_ops(bars=4)), bank, stems="wet")
    assert result.song_seconds == pytest.approx(8.0)
    assert result.seconds >= 8.0
    assert -40 < result.lufs < -5
    assert set(result.names.values()) == {"Drums", "Bass", "Keys", "Pad", "Lead"}


def test_nothing_to_play_and_too_long_are_refused(bank: SampleBank) -> None:
    with pytest.raises(NotFound):
        render(Document(), bank)
    with pytest.raises(TooLarge):
        render(build(song_ops(bars=4)), bank, max_seconds=5.0)
