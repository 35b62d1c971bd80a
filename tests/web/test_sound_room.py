"""A browser in the audio room, through a real server, against a real Python participant.

Chromium's fake media device plays a 660 Hz tone file as the microphone; a
Python participant (the SDK's `s.audio`) publishes a 1000 Hz tone. The Python
side must hear 660 Hz through the server's mix, and the page must hear 1000 Hz
(measured in the page with the panel's AnalyserNode on the received mix).
Then the browser turns the Python participant down to silence and up again
with its level slider.
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import CHROMIUM_ARGS
from playwright.sync_api import Browser, Page
from sound_page import client_id, join_page

from backline.client.audio import FRAME, SAMPLE_RATE, ToneTrack
from backline.client.session import Session
from backline.testing import ServerProcess, SessionThread

SESSION = "jam"
BROWSER_HZ, PYTHON_HZ = 660.0, 1000.0
SECOND = SAMPLE_RATE // FRAME  # frames of the mix per second
AUDIO_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


def level_at(signal: np.ndarray, hz: float) -> float:
    """Amplitude of the `hz` component (Hann window)."""
    window = np.hanning(len(signal))
    spectrum = np.abs(np.fft.rfft(signal * window)) / (window.sum() / 2)
    bins = np.fft.rfftfreq(len(signal), 1 / SAMPLE_RATE)
    return float(spectrum[np.abs(bins - hz) <= 5].max())


def tone_wav(path: Path, hz: float, seconds: float = 10.0, level: float = 0.3) -> Path:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    pcm = (level * 32767 * np.sin(2 * np.pi * hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return path


async def second_after(s: Session, hz: float, timeout: float = 30.0) -> np.ndarray:
    """Once `hz` shows up in my mix, the whole second of the mix that follows."""

    async def listen() -> np.ndarray:
        frames: list[np.ndarray] = []
        arrived = False
        async for frame in s.audio.mix():
            frames.append(frame)
            del frames[:-SECOND]
            if len(frames) < SECOND:
                continue
            if arrived:
                return np.concatenate(frames)
            if level_at(np.concatenate(frames), hz) > 0.05:
                arrived = True
                frames.clear()
        raise AssertionError("the mix ended")

    return await asyncio.wait_for(listen(), timeout)


@pytest.fixture
def audio_page(browser: Browser, chromium_path: str, tmp_path: Path) -> Iterator[Page]:
    """A page in a Chromium whose microphone is a 660 Hz tone file."""
    wav = tone_wav(tmp_path / "mic.wav", BROWSER_HZ)
    own = browser.browser_type.launch(
        executable_path=chromium_path,
        headless=True,
        args=[*CHROMIUM_ARGS, *AUDIO_ARGS, f"--use-file-for-fake-audio-capture={wav}"],
    )
    try:
        yield own.new_context().new_page()
    finally:
        own.close()


# the page's measure of the received mix: level (dBFS) and the loudest frequency
MIX_JS = """() => {
  const room = window.backlineSound.room;
  const meter = room && room.outputMeter;
  if (!meter) return { level: -Infinity, peakHz: 0 };
  const bins = new Float32Array(meter.analyser.frequencyBinCount);
  meter.analyser.getFloatFrequencyData(bins);
  let best = 0;
  for (let i = 1; i < bins.length; i += 1) if (bins[i] > bins[best]) best = i;
  return { level: room.outputLevel(),
           peakHz: best * meter.analyser.context.sampleRate / meter.analyser.fftSize };
}"""


def mix_is(page: Page, condition: str, timeout: float = 20_000) -> None:
    page.wait_for_function(f"(() => {{ const m = ({MIX_JS})(); return {condition}; }})()",
                           timeout=timeout)  # fmt: skip


def test_browser_and_python_hear_each_other_through_the_server_mix(
    audio_page: Page, server: ServerProcess
) -> None:
    page = audio_page
    token = server.token(SESSION)
    with SessionThread(server.url, session=SESSION, token=token, name="py") as py:
        py.run(lambda s: s.audio.publish(ToneTrack(PYTHON_HZ)))
        errors = join_page(page, server, SESSION, "web")
        browser_id = client_id(page)
        page.get_by_role("button", name="Join audio", exact=True).click()
        page.wait_for_function("window.backlineSound.room.state === 'connected'", timeout=20_000)
        py.wait_until(lambda s: s.peers.get(browser_id, {}).get("audio") is True, what="audio")

        # browser -> server mix -> Python: the browser's tone, loud (0.3 sent, RMS 0.21;
        # the room's jitter buffer smears its spectrum a little, so the RMS says how loud)
        heard = py.run(lambda s: second_after(s, BROWSER_HZ), timeout=40)
        assert level_at(heard, BROWSER_HZ) > 0.05
        assert float(np.sqrt(np.mean(heard**2))) > 0.1
        assert level_at(heard, PYTHON_HZ) < 0.01  # never yourself

        # Python -> server mix -> browser: loud (0.25 sent: -15 dBFS), at the Python tone
        mix_is(page, f"m.level > -30 && Math.abs(m.peakHz - {PYTHON_HZ}) < 50")
        # the input meter shows the microphone (0.3: -13.5 dBFS)
        page.wait_for_function("window.backlineSound.room.inputLevel() > -20", timeout=10_000)

        # my level of the Python participant, from its slider: silent, then twice as loud
        slider = page.get_by_label("Level of py in my mix")
        slider.focus()
        page.keyboard.press("Home")  # keyboard: all the way down
        mix_is(page, "m.level < -60")
        slider.fill("2")  # -9 dBFS: above what gain 1 can give
        mix_is(page, "m.level > -12")
        assert errors == []


def test_the_browser_offers_again_after_the_server_restarts(
    audio_page: Page, server: ServerProcess
) -> None:
    """The socket reconnects (same client, resumed), and the panel re-offers by itself."""
    page = audio_page
    token = server.token(SESSION)
    with SessionThread(server.url, session=SESSION, token=token, name="py") as py:
        py.run(lambda s: s.audio.publish(ToneTrack(PYTHON_HZ)))
        errors = join_page(page, server, SESSION, "web")
        browser_id = client_id(page)
        page.get_by_role("button", name="Join audio", exact=True).click()
        mix_is(page, f"m.level > -30 && Math.abs(m.peakHz - {PYTHON_HZ}) < 50")

        server.stop()
        page.wait_for_function("window.backline.session.state !== 'connected'", timeout=20_000)
        server.start()  # same port and data dir
        page.wait_for_function("window.backline.session.state === 'connected'", timeout=30_000)
        assert page.evaluate("window.backline.session.clientId") == browser_id
        py.wait_until(lambda s: s.connected, what="the SDK reconnected")
        py.run(lambda s: s.audio.publish(ToneTrack(PYTHON_HZ)))  # the SDK's own re-offer

        page.wait_for_function("window.backlineSound.room.state === 'connected'", timeout=30_000)
        py.wait_until(lambda s: s.peers.get(browser_id, {}).get("audio") is True, what="audio")
        heard = py.run(lambda s: second_after(s, BROWSER_HZ), timeout=40)
        assert float(np.sqrt(np.mean(heard**2))) > 0.1
        mix_is(page, f"m.level > -30 && Math.abs(m.peakHz - {PYTHON_HZ}) < 50")
        assert errors == []


# A network failure cannot be made on loopback (ICE would need minutes of lost
# consent), so the page's peer connection is told it failed, as Chromium tells it;
# everything after that (the new offer, the server replacing our peer) is real.
FAIL_PEER_JS = """() => {
  const room = window.backlineSound.room;
  const pc = room.pc;
  window.failedPeer = pc;
  Object.defineProperty(pc, "connectionState", { get: () => "failed" });
  pc.dispatchEvent(new Event("connectionstatechange"));
  return room.state;
}"""


def test_a_failed_peer_connection_is_replaced_without_rejoining(
    audio_page: Page, server: ServerProcess
) -> None:
    page = audio_page
    token = server.token(SESSION)
    with SessionThread(server.url, session=SESSION, token=token, name="py") as py:
        py.run(lambda s: s.audio.publish(ToneTrack(PYTHON_HZ)))
        errors = join_page(page, server, SESSION, "web")
        browser_id = client_id(page)
        page.get_by_role("button", name="Join audio", exact=True).click()
        mix_is(page, f"m.level > -30 && Math.abs(m.peakHz - {PYTHON_HZ}) < 50")
        version = page.evaluate("window.backline.version()")

        assert page.evaluate(FAIL_PEER_JS) == "reconnecting"
        assert "reconnecting" in (page.text_content(".sound-status") or "")
        page.wait_for_function(
            "window.backlineSound.room.state === 'connected' "
            "&& window.backlineSound.room.pc !== window.failedPeer",
            timeout=30_000,
        )
        # the same session all along: same client, nothing rejoined or replayed
        assert client_id(page) == browser_id
        assert page.evaluate("window.backline.state()") == "connected"
        assert page.evaluate("window.backline.version()") == version
        # and the new peer carries audio both ways (the second second Python hears
        # starts well after anything the old peer sent; the page's meter is on the new one)
        py.run(lambda s: second_after(s, BROWSER_HZ), timeout=40)
        heard = py.run(lambda s: second_after(s, BROWSER_HZ), timeout=40)
        assert float(np.sqrt(np.mean(heard**2))) > 0.1
        mix_is(page, f"m.level > -30 && Math.abs(m.peakHz - {PYTHON_HZ}) < 50")
        assert errors == []
