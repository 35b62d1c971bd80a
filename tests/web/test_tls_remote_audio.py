"""A guest on another machine joins over https (`--tls self-signed`) and is heard.

The browser reaches the server by a name that is not localhost
(`backline.test`, mapped to loopback by Chromium's resolver rules): to the
page, another machine. Over plain http that page gets no microphone
(test_insecure_audio.py); over the self-signed certificate, which the guest
accepted (`ignore_https_errors`), it is a secure context, "Join audio" sends
Chromium's fake microphone (a 660 Hz tone file), and a Python participant,
trusting the same certificate over wss://, hears it in its mix.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import CHROMIUM_ARGS  # tests/web is on the path
from playwright.sync_api import Browser
from sound_page import client_id, join_page
from test_sound_room import AUDIO_ARGS, BROWSER_HZ, PYTHON_HZ, level_at, mix_is, second_after
from test_sound_room import tone_wav as make_tone

from backline.client.audio import ToneTrack
from backline.protocol.messages import Role
from backline.testing import ServerProcess, SessionThread

SESSION = "lan"
NAME = "backline.test"  # what the guest types; the certificate names it (--tls-names)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real server with its own self-signed certificate, naming `NAME` too."""
    args = ["--tls", "self-signed", "--tls-names", NAME]
    proc = ServerProcess(tmp_path / "data", extra_args=args).start()
    try:
        yield proc
    finally:
        proc.stop()


def test_a_guest_over_https_gets_the_microphone_and_is_heard(
    browser: Browser, chromium_path: str, tls_server: ServerProcess, tmp_path: Path
) -> None:
    server = tls_server
    assert server.url.startswith("wss://")
    mic = make_tone(tmp_path / "mic.wav", BROWSER_HZ)
    guest = browser.browser_type.launch(
        executable_path=chromium_path,
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            *AUDIO_ARGS,
            f"--use-file-for-fake-audio-capture={mic}",
            f"--host-resolver-rules=MAP {NAME} 127.0.0.1",
        ],
    )
    trusting = ssl.create_default_context(cafile=str(server.data_dir / "tls" / "cert.pem"))
    owner = server.token(SESSION, Role.OWNER)
    try:
        # the guest has accepted the self-signed certificate (after checking its fingerprint)
        page = guest.new_context(ignore_https_errors=True).new_page()
        with SessionThread(server.url, session=SESSION, token=owner, name="py", ssl=trusting) as py:
            py.run(lambda s: s.audio.publish(ToneTrack(PYTHON_HZ)))
            errors = join_page(page, server, SESSION, "guest", base=f"https://{NAME}:{server.port}")
            assert page.evaluate("location.origin") == f"https://{NAME}:{server.port}"
            assert page.evaluate("window.isSecureContext") is True
            assert page.evaluate("window.backline.state()") == "connected"  # over wss://
            guest_id = client_id(page)

            page.get_by_role("button", name="Join audio", exact=True).click()
            page.wait_for_function(
                "window.backlineSound.room.state === 'connected'", timeout=20_000
            )
            py.wait_until(lambda s: s.peers.get(guest_id, {}).get("audio") is True, what="audio")
            # the guest's microphone, heard by the Python participant through the server
            heard = py.run(lambda s: second_after(s, BROWSER_HZ), timeout=40)
            assert level_at(heard, BROWSER_HZ) > 0.05
            assert float(np.sqrt(np.mean(heard**2))) > 0.1
            # and the guest hears the Python participant
            mix_is(page, f"m.level > -30 && Math.abs(m.peakHz - {PYTHON_HZ}) < 50")
            assert "secure page" not in (page.text_content(".sound-status") or "")
            assert errors == []
    finally:
        guest.close()
