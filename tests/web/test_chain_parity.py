"""What the browser plays is what the server renders: the same signal chain, computed
twice (numpy in `media.chain`/`media.render`, Web Audio nodes and AudioWorklets in
real Chromium's OfflineAudioContext), compared on the same input.

- every EQ band on white noise, per third-octave band (within 0.5 dB);
- the compressor's gain curve (within 0.5 dB of `mixer.compressor_gain_db`, and the
  whole signal sample for sample against `chain.compress`);
- a hot project through the limiter: under -1 dBTP in both;
- a GM piano note and a GM kick: same pitch (1 cent) and onset (1 ms);
- a whole song rendered by the server's /renders endpoint and by the page: loudness
  within 0.5 LU, onsets within 1 ms, and the difference far under the music.

The samples come from the server (its FluidSynth, its disk cache), as the page
loads them when it plays: a render and a page of one server play the same bytes.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from playwright.sync_api import Page

from backline.client.httpapi import request
from backline.client.renders import render as server_render
from backline.media import chain
from backline.media.render import loudness, render
from backline.media.soundfont import SampleBank, find_soundfont
from backline.protocol import dsp
from backline.protocol.mixer import BANDS, compressor_gain_db
from backline.protocol.model import PPQ, Document
from backline.protocol.ops import apply
from backline.testing import ServerProcess, SessionThread
from backline.testing.songs import hot_drums_ops, song_ops

RATE = dsp.RATE

ENCODE_JS = """
const enc = (x) => {
  const b = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  let s = "";
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return btoa(s);
};
const dec = (s) => {
  const bin = atob(s);
  const b = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) b[i] = bin.charCodeAt(i);
  return new Float32Array(b.buffer);
};
const stereo = (buffer) => [enc(buffer.getChannelData(0)), enc(buffer.getChannelData(1))];
"""

RENDER_PROJECT_JS = (
    "async ({ project, token, seconds }) => {"
    + ENCODE_JS
    + """
  const o = await import("/sound/offline.js");
  const s = await import("/sound/samples.js");
  const library = new s.SampleLibrary(new OfflineAudioContext(2, 128, 48000), { base: location.origin, token });
  return stereo(await o.renderOffline(project, { library, seconds }));
}"""
)

STRIP_JS = (
    "async ({ track, input }) => {"
    + ENCODE_JS
    + """
  const c = await import("/sound/chain.js");
  const left = dec(input[0]);
  const context = new OfflineAudioContext(2, left.length, 48000);
  await c.loadWorklets(context);
  const bus = new c.Bus(context, context.destination, { dynamics: true, loopExtra: await c.cycleLatency() });
  bus.set({ limiter_on: false }, false);
  const strip = new c.Strip(context, bus);
  strip.set(track, true);
  const buffer = new AudioBuffer({ numberOfChannels: 2, length: left.length, sampleRate: 48000 });
  buffer.copyToChannel(left, 0);
  buffer.copyToChannel(dec(input[1]), 1);
  const source = new AudioBufferSourceNode(context, { buffer });
  source.connect(strip.input);
  source.start(0);
  return stereo(await context.startRendering());
}"""
)


def encode(x: np.ndarray) -> list[str]:  # type: ignore[type-arg]
    return [
        base64.b64encode(np.ascontiguousarray(ch, dtype=np.float32).tobytes()).decode() for ch in x
    ]


def decode(channels: list[str]) -> chain.Signal:
    return np.stack([np.frombuffer(base64.b64decode(c), dtype=np.float32) for c in channels])


@pytest.fixture(scope="module")
def sample_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module: its samples are rendered once and shared by every test."""
    proc = ServerProcess(tmp_path_factory.mktemp("parity") / "data").start()
    try:
        yield proc
    finally:
        proc.stop()


def server_bank(server: ServerProcess) -> SampleBank:
    """A SampleBank on the server's own disk cache: the bytes its pages downloaded."""
    font = find_soundfont()
    assert font is not None, "scripts/bootstrap.sh installs timgm6mb-soundfont"
    return SampleBank(font, cache_dir=server.data_dir / "samples")


def build(ops: list[dict[str, Any]]) -> Document:
    doc = Document()
    for op in ops:
        apply(doc, op)
    return doc


def in_browser(page: Page, server: ServerProcess, doc: Document, seconds: float) -> chain.Signal:
    page.goto(f"{server.http_url}/")
    data = {"project": doc.to_data(), "token": server.token("parity"), "seconds": seconds}
    return decode(page.evaluate(RENDER_PROJECT_JS, data))


def third_octaves(x: chain.Signal) -> np.ndarray:  # type: ignore[type-arg]
    """Energy (dB) per third-octave band from 25 Hz to 16 kHz, both channels."""
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64), axis=1)) ** 2
    freqs = np.fft.rfftfreq(x.shape[1], 1 / RATE)
    out = []
    for k in range(-16, 13):
        centre = 1000 * 2 ** (k / 3)
        band = (freqs >= centre * 2 ** (-1 / 6)) & (freqs < centre * 2 ** (1 / 6))
        out.append(10 * math.log10(float(spectrum[:, band].sum()) + 1e-30))
    return np.array(out)


def onsets(x: chain.Signal, rise_db: float = 6.0, floor_db: float = -50.0) -> list[int]:
    """Where sounds start (sample of the 1 ms frame): the frame's level rises `rise_db`
    over the loudest of the 10 ms before it (over `floor_db`), at most one per 40 ms."""
    hop = RATE // 1000
    env = np.abs(x).max(axis=0)
    frames = env[: env.size // hop * hop].reshape(-1, hop).max(axis=1)
    level = 20 * np.log10(np.maximum(frames, 1e-9))
    out: list[int] = []
    for i in range(10, level.size):
        before = float(level[i - 10 : i].max())
        if (
            level[i] > floor_db
            and level[i] > before + rise_db
            and (not out or i * hop - out[-1] >= 40 * hop)
        ):
            out.append(i * hop)
    if level[0] > floor_db:
        out.insert(0, 0)
    return out


def pitch_hz(x: np.ndarray) -> float:  # type: ignore[type-arg]
    """The strongest partial's frequency, by a zero-padded FFT and parabolic interpolation."""
    n = x.size
    spectrum = np.abs(np.fft.rfft(x * np.hanning(n), 8 * n))
    k = int(np.argmax(spectrum[: 8 * n * 2000 // RATE]))  # under 2 kHz: the fundamental region
    a, b, c = np.log(spectrum[k - 1 : k + 2])
    return float((k + 0.5 * (a - c) / (a - 2 * b + c)) * RATE / (8 * n))


# -- the chain's stages ---------------------------------------------------------------


BAND_SETTINGS = {
    "highpass": {"freq": 180.0, "q": 2.5},
    "lowshelf": {"freq": 150.0, "gain": 9.0},
    "peaking": {"freq": 1200.0, "gain": -12.0, "q": 4.0},
    "highshelf": {"freq": 6000.0, "gain": -9.0},
}


@pytest.mark.parametrize(("prefix", "kind"), BANDS, ids=[p for p, _ in BANDS])
def test_each_eq_band_filters_white_noise_as_the_server_does(
    page: Page, web_server: str, prefix: str, kind: str
) -> None:
    noise = np.random.default_rng(16).uniform(-0.25, 0.25, (2, RATE)).astype(np.float32)
    track = {f"{prefix}_on": True, **{f"{prefix}_{k}": v for k, v in BAND_SETTINGS[kind].items()}}
    page.goto(f"{web_server}/")
    browser = decode(page.evaluate(STRIP_JS, {"track": track, "input": encode(noise)}))
    server = chain.eq(noise, {**_track_defaults(), **track})  # the rest at the protocol's defaults
    ours, theirs = third_octaves(browser), third_octaves(server)
    assert np.max(np.abs(ours - theirs)) < 0.5, (ours - theirs).round(3)
    # the band did something: the noise's spectrum is no longer flat
    assert np.ptp(theirs - third_octaves(noise)) > 6
    assert np.max(np.abs(browser - server)) < 1e-3  # and sample for sample, not just on average


def _track_defaults() -> dict[str, Any]:
    doc = build([{"op": "insert", "kind": "track", "id": "t", "value": {}}])
    return dict(doc.tracks["t"])


def test_the_compressor_gain_curve_is_the_servers(page: Page, web_server: str) -> None:
    # a 1 kHz tone in 0.25 s steps from -60 to 0 dBFS; fast attack and release so each
    # step settles: the gain at the end of a step is the static curve
    levels = np.arange(-60.0, 1.0, 3.0)
    step = RATE // 4
    t = np.arange(step * levels.size) / RATE
    amplitude = np.repeat(10 ** (levels / 20), step)
    tone = (amplitude * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    signal = np.stack([tone, tone])
    comp = {"comp_on": True, "comp_threshold": -30.0, "comp_ratio": 4.0, "comp_knee": 10.0,
            "comp_attack": 1.0, "comp_release": 20.0, "comp_makeup": 0.0}  # fmt: skip
    page.goto(f"{web_server}/")
    browser = decode(page.evaluate(STRIP_JS, {"track": comp, "input": encode(signal)}))
    server, _ = chain.compress(signal, {**_track_defaults(), **comp})
    assert np.max(np.abs(browser - server)) < 1e-4
    for i, level in enumerate(levels):
        window = slice((i + 1) * step - RATE // 20, (i + 1) * step)  # the last 50 ms of the step
        gain = 20 * math.log10(np.abs(browser[0, window]).max() / np.abs(signal[0, window]).max())
        want = compressor_gain_db(level, -30.0, 4.0, 10.0)
        assert abs(gain - want) < 0.5, (level, gain, want)
    assert compressor_gain_db(0.0, -30.0, 4.0, 10.0) < -20  # the curve was exercised


# -- instruments and whole projects -----------------------------------------------------


def test_a_hot_project_is_limited_under_the_ceiling_in_the_browser_too(
    page: Page, sample_server: ServerProcess
) -> None:
    doc = build(hot_drums_ops())
    browser = in_browser(page, sample_server, doc, 3.0)
    server = render(doc, server_bank(sample_server)).mix[:, : browser.shape[1]]
    assert chain.true_peak_db(browser) <= -1.0 + 1e-3
    from scipy.signal import resample_poly

    assert 20 * math.log10(np.abs(resample_poly(browser, 8, 1, axis=1)).max()) <= -1.0 + 0.1
    assert np.max(np.abs(browser - server)) < 1e-3
    assert np.abs(browser).max() > 0.5  # loud: the limiter did the work, not silence


def test_a_piano_note_and_a_kick_have_the_servers_pitch_and_onset(
    page: Page, sample_server: ServerProcess
) -> None:
    doc = build([
        {"op": "set", "id": "project", "field": "tempo", "value": 120.0},
        {"op": "insert", "kind": "track", "id": "p", "value": {"kind": "instrument", "instrument": 0}},
        {"op": "insert", "kind": "note", "id": "a4", "value": {"track": "p", "pitch": 69,
         "start": PPQ, "dur": 2 * PPQ, "vel": 100}},
        {"op": "insert", "kind": "track", "id": "d", "value": {"kind": "drums"}},
        {"op": "insert", "kind": "note", "id": "kick", "value": {"track": "d", "pitch": 36,
         "start": 4 * PPQ, "dur": PPQ // 4, "vel": 110}},
    ])  # fmt: skip
    browser = in_browser(page, sample_server, doc, 3.0)
    server = render(doc, server_bank(sample_server)).mix[:, : browser.shape[1]]
    heard_b, heard_s = onsets(browser), onsets(server)
    assert len(heard_s) == 2 and len(heard_b) == 2
    for b, s, beat in zip(heard_b, heard_s, (1, 4), strict=True):
        assert abs(b - s) <= RATE // 1000  # within 1 ms of each other ...
        assert abs(s - beat * RATE // 2) < RATE // 100  # ... and on the beat (120 BPM)
    piano = slice(heard_s[0] + RATE // 20, heard_s[0] + RATE // 20 + 32_768)  # the held note
    f_b, f_s = pitch_hz(browser[0, piano]), pitch_hz(server[0, piano])
    assert abs(1200 * math.log2(f_b / f_s)) < 1.0
    assert abs(1200 * math.log2(f_s / 440.0)) < 10  # A4, as the font tunes it
    kick = slice(heard_s[1], heard_s[1] + RATE // 10)
    assert np.corrcoef(browser[0, kick], server[0, kick])[0, 1] > 0.999


def test_a_song_rendered_by_the_server_sounds_like_the_browser(
    page: Page, sample_server: ServerProcess, tmp_path: Path
) -> None:
    session = "song"
    token = sample_server.token(session, "owner")
    ops = song_ops(bars=4)
    with SessionThread(sample_server.url, session=session, token=token, name="maker") as maker:
        for i in range(0, len(ops), 50):
            maker.run(lambda s, part=ops[i : i + 50]: s.edit(part))
        maker.run(lambda s: s.synced())
        data = maker.run(lambda s: s.project.to_data())
    job = server_render(sample_server.url, session, token)
    wav = request(
        "GET", f"{sample_server.http_url}/renders/{session}/{job['id']}/mix.wav", token, 60
    )
    server, rate = soundfile.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    assert rate == RATE
    server = server.T
    doc = Document.from_data(data)
    browser = in_browser(page, sample_server, doc, server.shape[1] / RATE)
    assert browser.shape == server.shape
    assert abs(loudness(browser) - loudness(server)) < 0.5
    assert abs(loudness(server) - job["lufs"]) < 0.05
    heard_b, heard_s = onsets(browser), onsets(server)
    assert len(heard_s) >= 4 and len(heard_b) == len(heard_s)
    assert max(abs(b - s) for b, s in zip(heard_b, heard_s, strict=True)) <= RATE // 1000
    # beyond the measures: the difference is noise far under the music (24-bit file, float32 math)
    residual = float(np.sqrt(np.mean((browser - server) ** 2)))
    music = float(np.sqrt(np.mean(server**2)))
    assert 20 * math.log10(residual / music) < -60
