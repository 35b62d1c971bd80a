"""The numpy signal chain (media/chain.py) computes protocol/dsp.py's definitions exactly."""

from __future__ import annotations

import numpy as np
import pytest

from backline.media import chain
from backline.protocol import dsp
from backline.protocol.mixer import compressor_gain_db

RNG = np.random.default_rng(7)


def signal(frames: int, level: float) -> chain.Signal:
    return (RNG.standard_normal((2, frames)) * level).astype(np.float32)


def test_the_gain_curve_is_the_protocols_at_every_level() -> None:
    levels = np.linspace(-80, 10, 901)
    for threshold, ratio, knee in ((-20, 4, 6), (-10, 20, 0), (-30, 1.5, 40)):
        got = chain.gain_curve_db(levels, threshold, ratio, knee)
        want = [compressor_gain_db(float(v), threshold, ratio, knee) for v in levels]
        assert np.allclose(got, want, atol=1e-12)


def test_the_compressor_is_the_block_by_block_definition() -> None:
    x = signal(3_000, 0.5)
    track = {"comp_on": True, "comp_threshold": -20.0, "comp_ratio": 4.0, "comp_knee": 6.0,
             "comp_attack": 5.0, "comp_release": 50.0, "comp_makeup": 3.0}  # fmt: skip
    y, _ = chain.compress(x, track)
    attack, release = dsp.block_coefficient(5.0), dsp.block_coefficient(50.0)
    want = np.zeros_like(x, dtype=np.float64)
    g, before = 0.0, 1.0
    for k in range(0, x.shape[1], dsp.BLOCK):
        block = x[:, k : k + dsp.BLOCK].astype(np.float64)
        g = dsp.compressor_step(g, float(np.abs(block).max()), -20.0, 4.0, 6.0, attack, release)
        after = 10 ** (g / 20)
        for i in range(block.shape[1]):
            want[:, k + i] = block[:, i] * dsp.ramp(before, after, i) * 10 ** (3 / 20)
        before = after
    assert np.abs(y - want).max() < 1e-5
    off, _ = chain.compress(x, {**track, "comp_on": False})
    assert off is x


def test_the_true_peak_estimate_is_the_kernels_interpolation() -> None:
    x = signal(300, 0.3)
    kernel = dsp.true_peak_kernel()

    def at(m: int, p: int, c: int) -> float:
        return sum(
            (float(x[c, m + j]) if 0 <= m + j < 300 else 0.0) * kernel[p][j + 5]
            for j in range(-5, 7)
        )

    want = max(
        max(abs(at(m, p, c)) for p in range(3) for c in range(2) for m in range(300)),
        float(np.abs(x).max()),
    )
    assert float(chain.true_peak_blocks(x).max()) == pytest.approx(want, abs=1e-6)


def test_the_limiter_keeps_a_hot_signal_under_its_ceiling_and_leaves_a_quiet_one() -> None:
    hot = signal(48_000, 2.0)  # white noise at +6 dBFS RMS: the worst case for true peak
    out, gains = chain.limit(hot, -1.0)
    assert chain.true_peak_db(out) <= -1.0
    assert gains.min() < 0.5
    quiet = signal(48_000, 0.05)
    same, gains = chain.limit(quiet, -1.0)
    assert np.array_equal(same, quiet) and gains.min() == 1.0


def test_the_reverb_ir_is_the_definitions_samples_at_unit_energy() -> None:
    ir = chain.reverb_ir(0.4, 10.0, 0.6)
    assert ir.shape == (2, dsp.reverb_length(0.4, 10.0))
    raw = np.array([dsp.reverb_sample(n, 1, 0.4, 10.0, 0.6) for n in range(ir.shape[1])])
    assert np.allclose(ir[1], raw / np.sqrt(np.sum(raw * raw)), atol=1e-6)
    assert np.sum(ir[0].astype(np.float64) ** 2) == pytest.approx(1.0, rel=1e-5)
    assert not ir[:, : round(0.01 * dsp.RATE)].any()  # the pre-delay is silent


def test_the_delay_is_the_feedback_loop_sample_by_sample() -> None:
    x = signal(2_000, 0.5)
    delay, feedback, pole = 200, 0.5, dsp.one_pole(3_000.0)
    want = np.zeros((2, 2_000))
    for n in range(2_000):
        v = x[:, n - delay] + feedback * want[:, n - delay] if n >= delay else 0.0
        want[:, n] = (1 - pole) * v + pole * (want[:, n - 1] if n else 0.0)
    assert np.abs(chain.delay_return(x, delay, feedback, pole) - want).max() < 1e-5
    assert dsp.delay_samples(0.75, 120.0) == 18_000
    assert dsp.delay_samples(0.0625, 999.0) == dsp.MIN_DELAY_SAMPLES == 256  # 180: too short
    assert dsp.delay_samples(0.125, 999.0) == 360  # for a browser loop to realise exactly


def test_pan_is_the_stereo_panner_law() -> None:
    x = signal(100, 0.5)
    for position in (-1.0, -0.4, 0.0, 0.7, 1.0):
        ll, rl, lr, rr = dsp.pan_gains(position)
        out = chain.pan(x, position)
        assert np.allclose(out[0], ll * x[0] + rl * x[1], atol=1e-6)
        assert np.allclose(out[1], lr * x[0] + rr * x[1], atol=1e-6)
    assert dsp.pan_gains(0.0) == pytest.approx((1.0, 0.0, 0.0, 1.0))


def test_a_peak_between_samples_is_limited_though_no_sample_reaches_the_ceiling() -> None:
    # a sine at a quarter of the rate, sampled 45 degrees off its crests: every sample
    # is at -3 dBFS while the wave itself reaches 0 dBTP between them
    n = np.arange(48_000)
    wave = np.sin(np.pi / 2 * n + np.pi / 4)
    x = np.stack([wave, wave]).astype(np.float32)
    assert float(np.abs(x).max()) < 0.71
    assert chain.true_peak_db(x) > -0.1
    out, _ = chain.limit(x, -1.0)
    assert chain.true_peak_db(out) <= -1.0


def test_the_browser_gets_every_dsp_constant_and_the_kernel() -> None:
    from backline.protocol.browser import protocol_constants

    exported = protocol_constants()["DSP"]
    names = {n for n in dsp.__all__ if n.isupper()}
    assert set(exported) == names | {"TRUE_PEAK_KERNEL"}
    assert all(exported[n] == getattr(dsp, n) for n in names)
    assert exported["TRUE_PEAK_KERNEL"] == dsp.true_peak_kernel()
