"""web/dsp.js is protocol/dsp.py: every definition evaluated in Chromium on the same
inputs, and its stream processors (what the AudioWorklets run) against media.chain."""

from __future__ import annotations

import base64
import math
import random

import numpy as np
from playwright.sync_api import Page

from backline.media import chain
from backline.protocol import dsp

JS = """async ({ base, noise, levels, pans, keys, delays, reverb, signal, comp, ceiling }) => {
  const d = await import(`${base}/dsp.js`);
  const dec = (s) => { const bin = atob(s); const b = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i += 1) b[i] = bin.charCodeAt(i); return new Float32Array(b.buffer); };
  const enc = (x) => { const b = new Uint8Array(x.buffer, x.byteOffset, x.byteLength); let s = "";
    for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192)); return btoa(s); };
  const left = dec(signal[0]);
  const right = dec(signal[1]);
  // the compressor, block by block, in place
  const cl = left.slice(), cr = right.slice();
  const c = new d.Compressor(comp);
  for (let i = 0; i + d.BLOCK <= cl.length; i += d.BLOCK) c.block(cl, cr, i);
  // the limiter in uneven pushes: its output is the input LIMITER_DELAY later
  const lim = new d.Limiter(ceiling);
  const ll = new Float32Array(left.length), lr = new Float32Array(left.length);
  const sizes = [7, 128, 300, 1, 128, 977];
  for (let at = 0, k = 0; at < left.length; k += 1) {
    const n = Math.min(sizes[k % sizes.length], left.length - at);
    lim.push(left, right, at, at + n);
    lim.pull(ll.subarray(at, at + n), lr.subarray(at, at + n), n);
    at += n;
  }
  const [irL, irR] = d.reverbIr(...reverb);
  return {
    noise: noise.map(([n, ch]) => d.noise(n, ch)),
    levels: levels.map((p) => d.levelDb(p)),
    steps: levels.map((p, i) => d.compressorStep(-3, p, -20, 4, 6, d.blockCoefficient(5), d.blockCoefficient(80))),
    limits: levels.map((p) => [d.limiterNeed(p * 2, -1), d.limiterStep(0.5, 0.9, 0.8, d.blockCoefficient(80))]),
    pans: pans.map((p) => d.panGains(p)),
    keys: keys.map(([kind, inst, pitch, vel]) => d.sampleKey(kind, inst, pitch, vel).name),
    gains: keys.map(([, , , vel]) => d.noteGain(vel, d.sampleKey("drums", 0, 36, vel).layer)),
    releases: [0, 0.01, 0.06, 0.3, 0.479, 0.48, 1].map((t) => d.releaseGain(t)),
    delays: delays.map(([beats, tempo, tone]) => [d.delaySamples(beats, tempo), d.onePole(tone)]),
    ir: [irL.length, enc(irL.subarray(0, 4096)), enc(irR.subarray(0, 4096))],
    compressed: [enc(cl), enc(cr)],
    limited: [enc(ll), enc(lr)],
    delay: d.LIMITER_DELAY,
  };
}"""


def decode(s: str) -> np.ndarray:  # type: ignore[type-arg]
    return np.frombuffer(base64.b64decode(s), dtype=np.float32)


def test_dsp_js_computes_what_protocol_dsp_defines(page: Page, web_server: str) -> None:
    rng = random.Random(16)
    noise = [[rng.randrange(-10, 2_000_000), rng.randrange(2)] for _ in range(300)]
    levels = [0.0, 1e-7, 1e-6, 0.001, 0.1, 0.5, 1.0, 3.0] + [rng.random() for _ in range(40)]
    pans = [-1.0, -0.5, 0.0, 0.25, 1.0]
    keys = [[rng.choice(["drums", "instrument"]), rng.randrange(128), rng.randrange(128),
             rng.randrange(1, 128)] for _ in range(60)]  # fmt: skip
    delays = [[0.0625, 999.0, 500.0], [0.75, 120.0, 6000.0], [4.0, 20.0, 20_000.0]]
    reverb = [1.3, 35.0, 0.6]
    t = np.arange(9_600) / dsp.RATE
    burst = np.where((t > 0.05) & (t < 0.12), 1.8, 0.2) * np.sin(2 * np.pi * 3_000 * t)
    signal = np.stack([burst, 0.7 * burst]).astype(np.float32)
    comp = {
        "threshold": -20.0,
        "ratio": 6.0,
        "knee": 4.0,
        "attack": 2.0,
        "release": 60.0,
        "makeup": 3.0,
    }
    page.goto(f"{web_server}/")
    got = page.evaluate(
        JS,
        {"base": web_server, "noise": noise, "levels": levels, "pans": pans, "keys": keys,
         "delays": delays, "reverb": reverb, "ceiling": -1.0, "comp": comp,
         "signal": [base64.b64encode(ch.tobytes()).decode() for ch in signal]},
    )  # fmt: skip
    assert got["noise"] == [dsp.noise(n, ch) for n, ch in noise]
    assert got["levels"] == [dsp.level_db(p) for p in levels]
    for js, p in zip(got["steps"], levels, strict=True):
        want = dsp.compressor_step(
            -3, p, -20, 4, 6, dsp.block_coefficient(5), dsp.block_coefficient(80)
        )
        assert math.isclose(js, want, rel_tol=1e-12, abs_tol=1e-12)
    for (need, step), p in zip(got["limits"], levels, strict=True):
        assert math.isclose(need, dsp.limiter_need(p * 2, -1), rel_tol=1e-12)
        assert math.isclose(
            step, dsp.limiter_step(0.5, 0.9, 0.8, dsp.block_coefficient(80)), rel_tol=1e-12
        )
    for js, p in zip(got["pans"], pans, strict=True):
        assert js == list(dsp.pan_gains(p))
    assert got["keys"] == [dsp.sample_key(*k).name for k in keys]
    for js, (_, _, _, vel) in zip(got["gains"], keys, strict=True):
        assert math.isclose(
            js, dsp.note_gain(vel, dsp.sample_key("drums", 0, 36, vel).layer), rel_tol=1e-12
        )
    assert got["releases"] == [dsp.release_gain(t) for t in (0, 0.01, 0.06, 0.3, 0.479, 0.48, 1)]
    for (samples, pole), (beats, tempo, tone) in zip(got["delays"], delays, strict=True):
        assert samples == dsp.delay_samples(beats, tempo)
        assert math.isclose(pole, dsp.one_pole(tone), rel_tol=1e-12)
    ir = chain.reverb_ir(*reverb)
    assert got["ir"][0] == ir.shape[1]
    assert np.allclose(decode(got["ir"][1]), ir[0, :4096], atol=1e-7)
    assert np.allclose(decode(got["ir"][2]), ir[1, :4096], atol=1e-7)
    # the stream processors are media.chain's whole-signal ones
    track = {"comp_on": True, **{f"comp_{k}": v for k, v in comp.items()}}
    want, _ = chain.compress(signal, track)
    compressed = np.stack([decode(c) for c in got["compressed"]])
    assert np.abs(compressed - want).max() < 1e-5
    limited = np.stack([decode(c) for c in got["limited"]])
    delay = got["delay"]
    assert delay == dsp.LIMITER_DELAY and not limited[:, :delay].any()
    want, _ = chain.limit(signal, -1.0)
    assert np.abs(limited[:, delay:] - want[:, : signal.shape[1] - delay]).max() < 1e-5
    assert chain.true_peak_db(limited) <= -1.0
    assert np.abs(signal).max() > 1.5  # it had work to do
