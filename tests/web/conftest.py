"""Browser fixtures: Debian's Chromium driven by Playwright, and the web client served locally.

Playwright's own browser builds cannot be downloaded here, so the tests drive
the system Chromium (``apt-get install -y chromium``; ``bash scripts/test``
installs it). Never run ``playwright install``. ``BACKLINE_CHROMIUM`` overrides
the executable.

- ``browser``: one headless Chromium shared by the session's browser tests;
  Playwright gives it a fresh temporary profile (user-data dir) and deletes it
  when it closes.
- ``page`` (function): a page in its own browser context, so cookies, storage
  and cache never leak from one test to the next.
- ``web_server`` (session): base URL of an HTTP server on 127.0.0.1 serving
  the browser client (the ``backline.web`` package, as installed) and the
  generated ``/protocol.js`` its modules import. ES modules only load over
  HTTP, not from ``file://`` pages.

Browser tests must be plain (sync) functions, and the browser is closed as soon
as the next test is not one of tests/web: while Playwright's sync API runs, its
event loop counts as *running* in the main thread (it lives in a greenlet), so
``asyncio.run`` and every pytest-asyncio test or fixture would fail with "cannot
be called from a running event loop". (A ``package`` scope would not do: a
folder without ``__init__.py`` is no package, so it means the whole session.)
A browser test that needs a backline server uses the sync ``server`` fixture.
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from backline.protocol.browser import protocol_module
from backline.server.http.web import WEB_ROOT
from backline.testing import ServerProcess, SessionThread

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def find_chromium() -> str | None:
    """The system Chromium: ``BACKLINE_CHROMIUM`` if set, else ``chromium`` on PATH."""
    override = os.environ.get("BACKLINE_CHROMIUM")
    if override:
        return override if os.access(override, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        # Fail, not skip: a skipped browser suite looks green while testing nothing.
        pytest.fail(
            "Chromium not found: the browser tests need Debian's chromium. Install it with "
            "`apt-get install -y chromium` (as root), or run `bash scripts/test`, which "
            "installs it. Do not use `playwright install`: its download does not work here.",
            pytrace=False,
        )
    return path


class _SharedBrowser:
    """The Playwright driver and Chromium, launched on first use and closed on demand."""

    def __init__(self) -> None:
        self._driver: Playwright | None = None
        self._browser: Browser | None = None

    def get(self, executable: str) -> Browser:
        if self._browser is None:
            self._driver = sync_playwright().start()
            self._browser = self._driver.chromium.launch(
                executable_path=executable, headless=True, args=CHROMIUM_ARGS
            )
        return self._browser

    def close(self) -> None:
        browser, driver = self._browser, self._driver
        self._browser = self._driver = None
        try:
            if browser is not None:
                browser.close()
        finally:
            if driver is not None:
                driver.stop()  # this is what gives the thread its event loop back


_SHARED = _SharedBrowser()
_WEB_TESTS = Path(__file__).resolve().parent


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After a browser test's own teardown: close the browser unless a browser test follows."""
    try:
        return (yield)
    finally:
        if nextitem is None or not nextitem.path.resolve().is_relative_to(_WEB_TESTS):
            _SHARED.close()


@pytest.fixture(scope="session")
def _shared_browser() -> Iterator[_SharedBrowser]:
    try:
        yield _SHARED
    finally:
        _SHARED.close()  # in case the run stopped early


@pytest.fixture
def browser(_shared_browser: _SharedBrowser, chromium_path: str) -> Browser:
    return _shared_browser.get(chromium_path)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser context (its own storage: a new browser, to the page) at 1440x900."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    yield context
    context.close()


@pytest.fixture
def bot(server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[SessionThread]:
    """An SDK participant, on a thread of its own, in the test module's ``SESSION``."""
    session = request.module.SESSION
    with SessionThread(server.url, session=session, token=server.token(session), name="bot") as b:
        yield b


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    if inspect.iscoroutinefunction(getattr(request, "function", None)):
        pytest.fail("browser tests must be plain (sync) functions: see tests/web/conftest.py")
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


class _StaticHandler(SimpleHTTPRequestHandler):
    """Serves files with the MIME types browsers insist on for modules, uncached, quietly."""

    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".json": "application/json",
        ".html": "text/html; charset=utf-8",
        ".css": "text/css",
    }

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_GET(self) -> None:
        """Files of ``web``, and ``/protocol.js`` generated as the server generates it."""
        if self.path.split("?", 1)[0] != "/protocol.js":
            super().do_GET()
            return
        body = protocol_module().encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/javascript; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output to failures


@pytest.fixture(scope="session")
def web_server() -> Iterator[str]:
    """Base URL (no trailing slash) of ``web`` served on a free loopback port."""
    handler = functools.partial(_StaticHandler, directory=str(WEB_ROOT))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="web-server", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
