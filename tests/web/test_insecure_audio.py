"""A guest on a plain http:// page from another machine is told why there is no microphone."""

from __future__ import annotations

from conftest import CHROMIUM_ARGS  # tests/web is on the path
from playwright.sync_api import Browser

from backline.testing import ServerProcess

SESSION = "remote"


def test_join_audio_without_a_secure_context_says_why_and_what_to_do(
    browser: Browser, chromium_path: str, server: ServerProcess
) -> None:
    port = server.http_url.rsplit(":", 1)[1]
    # a host name mapped to loopback: to the browser, another machine over plain http
    remote = browser.browser_type.launch(
        executable_path=chromium_path,
        headless=True,
        args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP jam.test 127.0.0.1"],
    )
    try:
        page = remote.new_page()
        page.goto(f"http://jam.test:{port}/#session={SESSION}&token={server.token(SESSION)}")
        assert page.evaluate("window.isSecureContext") is False
        page.fill("input[name=name]", "Guest")
        page.click("button[type=submit]")
        page.wait_for_function("() => window.backline && window.backline.state() === 'connected'")
        page.click("[data-sound=join]")
        page.wait_for_function(
            "() => document.querySelector('.sound-status').textContent.includes('secure page')"
        )
        text = page.text_content(".sound-status") or ""
        assert f"http://localhost:{port}" in text and "https://" in text, text
        assert "Remote guests and HTTPS" in text and "getUserMedia" not in text
    finally:
        remote.close()
