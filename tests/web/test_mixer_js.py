"""web/mixer.js computes protocol/mixer.py's filters, and Chromium's own BiquadFilterNode,
set as mixer.js says, is that filter: the browser's EQ is the server's EQ."""

from __future__ import annotations

import math
import random

from playwright.sync_api import Page

from backline.protocol.mixer import BANDS, biquad, compressor_gain_db, response_db

RATE = 48_000
FREQS = [20 * 1000 ** (i / 39) for i in range(40)]  # 20 Hz to 20 kHz, log-spaced

JS = """async ({ base, bands, freqs, rate, curves }) => {
  const m = await import(`${base}/mixer.js`);
  const context = new OfflineAudioContext(1, 128, rate);
  return {
    coeffs: bands.map(([kind, f, g, q]) => m.biquad(kind, f, g, q, rate)),
    ours: bands.map(([kind, f, g, q]) => freqs.map((x) => m.responseDb(m.biquad(kind, f, g, q, rate), x, rate))),
    chromium: bands.map(([kind, f, g, q]) => {
      const prefix = "b";
      const track = { b_freq: f, b_gain: g, b_q: q };
      const p = m.nodeParams(track, prefix, kind);
      const node = new BiquadFilterNode(context, p);
      const mag = new Float32Array(freqs.length);
      node.getFrequencyResponse(new Float32Array(freqs), mag, new Float32Array(freqs.length));
      return Array.from(mag, (v) => 20 * Math.log10(v));
    }),
    compressor: curves.map(([l, t, r, k]) => m.compressorGainDb(l, t, r, k)),
  };
}"""


def test_browser_eq_and_compressor_law_are_the_protocols(page: Page, web_server: str) -> None:
    rng = random.Random(16)
    kinds = [kind for _, kind in BANDS]
    bands = [
        [kind, rng.uniform(30, 15_000), rng.uniform(-24, 24), rng.uniform(0.3, 12)]
        for kind in kinds
        for _ in range(6)
    ]
    curves = [[rng.uniform(-80, 6), rng.uniform(-60, 0), rng.uniform(1, 20), rng.uniform(0, 40)]
              for _ in range(200)]  # fmt: skip
    page.goto(f"{web_server}/")
    got = page.evaluate(
        JS, {"base": web_server, "bands": bands, "freqs": FREQS, "rate": RATE, "curves": curves}
    )
    for band, js, ours, chromium in zip(
        bands, got["coeffs"], got["ours"], got["chromium"], strict=True
    ):
        kind, freq, gain, q = band
        python = biquad(kind, freq, gain, q, RATE)
        for name in ("b0", "b1", "b2", "a1", "a2"):
            assert math.isclose(js[name], getattr(python, name), rel_tol=1e-12, abs_tol=1e-15), band
        for f, our_js, theirs in zip(FREQS, ours, chromium, strict=True):
            want = response_db(python, f, RATE)
            assert abs(our_js - want) < 1e-9, (band, f)
            # Chromium computes in single precision (its response is a Float32Array)
            assert abs(theirs - want) < 0.05, (band, f, theirs, want)
    for curve, js in zip(curves, got["compressor"], strict=True):
        assert math.isclose(js, compressor_gain_db(*curve), rel_tol=1e-12, abs_tol=1e-12), curve
