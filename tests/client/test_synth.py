"""Synthesised sounds: the click and the drum kit, checked by their numbers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backline.client.synth import (
    ACCENT_HZ,
    CLICK_HZ,
    DRUM_NAMES,
    SAMPLE_RATE,
    Voices,
    click,
    drum,
    voice_of,
)


def dominant_hz(sound: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(sound, n=1 << 16))
    return float(np.fft.rfftfreq(1 << 16, 1 / SAMPLE_RATE)[np.argmax(spectrum)])


def band_share(sound: np.ndarray, lo: float, hi: float) -> float:
    """Share of the energy between lo and hi Hz."""
    power = np.abs(np.fft.rfft(sound)) ** 2
    bins = np.fft.rfftfreq(len(sound), 1 / SAMPLE_RATE)
    return float(power[(bins >= lo) & (bins < hi)].sum() / power.sum())


def test_a_click_is_a_short_decaying_burst_at_its_pitch() -> None:
    sound = click(CLICK_HZ, level=0.5, duration=0.03)
    assert sound.dtype == np.float32 and len(sound) == 1440  # 30 ms at 48 kHz
    assert sound[0] == 0.0 and np.max(np.abs(sound[:48])) > 0.1  # sharp onset, no DC step
    assert 0.3 < np.max(np.abs(sound)) <= 0.5
    assert np.max(np.abs(sound[-48:])) < 0.001  # decayed to -60 dB
    assert abs(dominant_hz(sound) - CLICK_HZ) < 30
    assert abs(dominant_hz(click(ACCENT_HZ)) - ACCENT_HZ) < 60


def test_click_level_scales_linearly() -> None:
    assert np.allclose(click(level=0.8), click(level=0.4) * 2, atol=1e-6)


@pytest.mark.parametrize("name", sorted(DRUM_NAMES))
def test_every_drum_is_a_bounded_deterministic_one_shot(name: str) -> None:
    sound = drum(name)
    assert sound.dtype == np.float32 and 0.02 * SAMPLE_RATE < len(sound) < 2 * SAMPLE_RATE
    assert np.max(np.abs(sound)) == pytest.approx(0.9, abs=1e-6)
    assert np.max(np.abs(sound[-100:])) < 0.05  # it dies away: no click at the end
    assert not sound.flags.writeable  # cached: nobody may change the shared copy
    assert np.array_equal(sound, drum.__wrapped__(name))  # same numbers every time


def test_kick_is_low_snare_and_hats_are_bright() -> None:
    assert band_share(drum("kick"), 20, 200) > 0.8
    assert band_share(drum("snare"), 1_000, 20_000) > 0.5
    assert band_share(drum("closed_hat"), 6_000, 24_000) > 0.8
    assert len(drum("open_hat")) > len(drum("closed_hat"))
    assert band_share(drum("low_tom"), 20, 250) > 0.7
    assert dominant_hz(drum("low_tom")) < dominant_hz(drum("high_tom"))


def test_lanes_map_to_voices_by_general_midi_note() -> None:
    assert [voice_of(n) for n in (36, 38, 42, 46, 39, 49, 51, 45)] == [
        "kick",
        "snare",
        "closed_hat",
        "open_hat",
        "clap",
        "crash",
        "ride",
        "low_tom",
    ]
    assert all(voice_of(n) in DRUM_NAMES for n in range(128))  # any lane makes a sound


def test_voices_carry_a_sound_across_frames_unchanged() -> None:
    sound = drum("snare")
    voices = Voices()
    frames = [voices.render(480, [(400, sound, 0.5)])]
    while voices.active:
        frames.append(voices.render(480, []))
    played = np.concatenate(frames)
    assert np.array_equal(played[:400], np.zeros(400))
    assert np.allclose(played[400 : 400 + len(sound)], 0.5 * sound)
    assert not played[400 + len(sound) :].any()


@given(
    offsets=st.lists(st.integers(0, 239), min_size=1, max_size=6),
    size=st.sampled_from([240, 480, 960]),
)
def test_voices_sum_overlapping_hits(offsets: list[int], size: int) -> None:
    """Mixing is linear: the frames add up to the sum of each hit placed alone."""
    sound = click()
    voices = Voices()
    starts = [(offset, sound, 0.25) for offset in offsets]
    frames = [voices.render(size, starts)] + [voices.render(size, []) for _ in range(8)]
    expected = np.zeros(size * 9, dtype=np.float64)
    for offset in offsets:
        expected[offset : offset + len(sound)] += 0.25 * sound
    assert np.allclose(np.concatenate(frames), expected, atol=1e-6)


def test_an_offset_outside_the_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        Voices().render(480, [(480, click(), 1.0)])
