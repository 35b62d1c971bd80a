"""The real-time master limiter (media/stream_limiter.py) is `chain.limit`, delayed, for any split."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backline.client.synth import drum
from backline.media import chain
from backline.media.stream_limiter import StreamLimiter
from backline.protocol import dsp

D = dsp.LIMITER_DELAY


def stream(limiter: StreamLimiter, x: chain.Signal, sizes: list[int]) -> chain.Signal:
    """`x` through `limiter` in pieces of `sizes` (repeated), then D samples of silence."""
    out, at, i = [], 0, 0
    while at < x.shape[1]:
        size = sizes[i % len(sizes)] if sizes else x.shape[1]
        out.append(limiter.process(x[:, at : at + size]))
        at, i = at + size, i + 1
    out.append(limiter.process(np.zeros((x.shape[0], D), dtype=np.float32)))
    return np.concatenate(out, axis=1)


def full_scale(name: str) -> chain.Signal:
    hit = drum(name)
    scaled: chain.Signal = (hit / np.abs(hit).max()).astype(np.float32)
    return scaled


def drums(seconds: float = 2.0) -> chain.Signal:
    """Two full-scale drum tracks summed (kick on every beat at 120 BPM, snare on the
    off-beats, both players together): peaks near 2, far over full scale."""
    frames = round(seconds * dsp.RATE)
    one = np.zeros(frames, dtype=np.float32)
    for beat, at in enumerate(range(0, frames, dsp.RATE // 2)):
        hit = full_scale("kick" if beat % 2 == 0 else "snare")[: frames - at]
        one[at : at + len(hit)] += hit
    two = np.roll(one, 7)  # the other player a few samples off: peaks sum differently
    return np.stack([one + two, one + 0.8 * two])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    frames=st.integers(1, 4_000),
    level=st.sampled_from([0.05, 0.4, 1.0, 4.0]),
    sizes=st.lists(st.integers(0, 700), max_size=12),
    channels=st.sampled_from([1, 2]),
)
def test_it_is_chain_limit_delayed_for_any_split(
    seed: int, frames: int, level: float, sizes: list[int], channels: int
) -> None:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((channels, frames)) * level).astype(np.float32)
    x[:, rng.integers(0, frames, size=3)] *= 3  # a few spikes
    out = stream(StreamLimiter(channels), x, [s for s in sizes if s] or [frames])
    assert out.shape == (channels, frames + D) and out.dtype == np.float32
    assert not out[:, :D].any()
    # the padding shows chain.limit that the signal ends in silence, as the stream does
    want, _ = chain.limit(np.pad(x, ((0, 0), (0, D))), -1.0)
    np.testing.assert_allclose(out[:, D:], want[:, :frames], rtol=0, atol=1e-6)


def test_the_delay_is_exactly_limiter_delay() -> None:
    x = np.zeros((1, 1_000), dtype=np.float32)
    x[0, 0], x[0, 333] = 0.5, -0.25
    out = stream(StreamLimiter(1), x, [10, 31, 64, 1, 480])
    assert np.flatnonzero(out[0]).tolist() == [D, 333 + D]
    assert out[0, D] == 0.5 and out[0, 333 + D] == -0.25
    assert D == 70 and StreamLimiter(2).process(np.ones((2, 0), np.float32)).shape == (2, 0)


def quiet_signals() -> dict[str, chain.Signal]:
    rng = np.random.default_rng(3)
    t = np.arange(20_000) / dsp.RATE
    sine = 0.8 * np.sin(2 * np.pi * np.array([[997.0], [3_001.0]]) * t)  # -1.9 dBTP, no more
    return {
        "noise": rng.uniform(-0.4, 0.4, (2, 20_000)).astype(np.float32),  # skips interpolating
        "sines just under the limit": sine.astype(np.float32),  # interpolated, found under it
    }


@pytest.mark.parametrize("name", ["noise", "sines just under the limit"])
@pytest.mark.parametrize("size", [480, 37, 4_800])
def test_a_quiet_signal_passes_unchanged(name: str, size: int) -> None:
    x = quiet_signals()[name]
    limiter = StreamLimiter(2)
    out = stream(limiter, x, [size])
    np.testing.assert_array_equal(out[:, D:], x)
    assert limiter.limited == 0 and limiter.gain == 1.0


def hot_signals() -> dict[str, chain.Signal]:
    rng = np.random.default_rng(11)
    noise = rng.uniform(-4.0, 4.0, (2, 48_000)).astype(np.float32)  # +12 dBFS peaks
    return {"two drum tracks": drums(), "noise at +12 dBFS": noise}


@pytest.mark.parametrize("name", ["two drum tracks", "noise at +12 dBFS"])
@pytest.mark.parametrize("ceiling", [-1.0, -3.0, 0.0])
def test_a_hot_signal_never_reaches_full_scale_nor_the_ceiling(name: str, ceiling: float) -> None:
    x = hot_signals()[name]
    assert np.abs(x).max() > 1.5
    limiter = StreamLimiter(2, ceiling)
    out = stream(limiter, x, [480])
    assert np.abs(out).max() < 1.0
    assert chain.true_peak_db(out) <= ceiling
    assert limiter.gain < 1.0 or name == "two drum tracks"  # (the drums end in silence)


def test_a_lower_ceiling_applies_from_the_next_block() -> None:
    x = drums(3.0)
    limiter = StreamLimiter(2)
    first = limiter.process(x[:, :48_000])
    assert -2.0 < chain.true_peak_db(first) <= -1.0
    limiter.ceiling_db = -6.0
    rest = stream(limiter, x[:, 48_000:], [480])
    # the input already looked at keeps -1 dBTP (out: its last D samples, and a block)
    peaks = 20 * np.log10(np.maximum(chain.true_peak_blocks(rest), 1e-9))
    assert peaks[(D + dsp.BLOCK) // dsp.BLOCK :].max() <= -6.0
    assert limiter.ceiling_db == -6.0


def test_broken_input_does_not_poison_the_gain() -> None:
    limiter = StreamLimiter(1)
    quiet = np.full((1, 480), 0.25, dtype=np.float32)
    limiter.process(quiet)
    out = limiter.process(np.full((1, 480), np.nan, dtype=np.float32))
    assert np.isfinite(out).all() and limiter.gain == 1.0  # NaN is silence
    limiter.process(np.full((1, 480), np.inf, dtype=np.float32))  # a limit, however low
    after = np.concatenate([limiter.process(quiet) for _ in range(300)], axis=1)  # 3 s
    assert np.isfinite(after).all() and np.abs(after).max() < 1.0
    np.testing.assert_array_equal(after[:, -480:], quiet)  # recovered: unity again


def test_frames_must_have_its_channels() -> None:
    with pytest.raises(ValueError, match=r"\(2, n\)"):
        StreamLimiter(2).process(np.zeros((1, 480), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(1, n\)"):
        StreamLimiter(1).process(np.zeros(480, dtype=np.float32))
    with pytest.raises(ValueError, match="at least 1 channel"):
        StreamLimiter(0)
