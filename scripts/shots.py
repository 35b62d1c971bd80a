"""What the screenshot scripts share: a real server, a Python participant who builds
the project, and Debian's Chromium at 1440x900 (as in tests/web). Not a script."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from backline.client.session import Session
from backline.testing import ServerProcess, SessionThread

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run"]


@dataclass
class Studio:
    server: ServerProcess
    bot: SessionThread  # "Bo", an owner, in teal
    page: Page  # a fresh page, not joined yet
    built: Any  # what the build function returned


@contextmanager
def studio(session: str, build: Callable[[Session], Any]) -> Iterator[Studio]:
    chromium = os.environ.get("BACKLINE_CHROMIUM") or shutil.which("chromium")
    assert chromium, "needs Debian's chromium (apt-get install -y chromium)"
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(Path(tmp) / "data") as server:
        owner = server.token(session, "owner")
        with SessionThread(server.url, session=session, token=owner, name="Bo") as bot:
            bot.run(lambda s: s.set_presence(color="#17bebb"))
            built = bot.run(build)
            with sync_playwright() as driver:
                browser = driver.chromium.launch(
                    executable_path=chromium, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    page = browser.new_page(viewport={"width": 1440, "height": 900})
                    yield Studio(server, bot, page, built)
                finally:
                    browser.close()


def join(page: Page, server: ServerProcess, session: str, name: str, role: str = "editor") -> None:
    """Join `session` through the page's own form, as `name`, and wait until connected."""
    page.goto(f"{server.http_url}/#session={session}&token={server.token(session, role)}")
    page.fill("input[name=name]", name)
    page.click("button[type=submit]")
    page.wait_for_function("() => window.backline && window.backline.state() === 'connected'")
