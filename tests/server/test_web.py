"""The web client's files: served from web only, with the right types."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backline.protocol.limits import DEFAULT_LIMITS
from backline.server.http.web import WEB_ROOT, web_file


@pytest.fixture
def root(tmp_path: Path) -> Path:
    web = tmp_path / "web"
    (web / "sound").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html>")
    (web / "app.js").write_text("export {};")
    (web / "sound" / "panel.js").write_text("export {};")
    (web / "style.css").write_text("body{}")
    (web / "notes.py").write_text("secret = 1")
    (web / ".hidden.js").write_text("x")
    (tmp_path / "outside.js").write_text("outside")
    os.symlink(tmp_path / "outside.js", web / "link.js")
    return web


def test_serves_files_with_their_types(root: Path) -> None:
    """Index for / and files below the root, with content types browsers accept for modules."""
    assert web_file("/", DEFAULT_LIMITS, root) == (b"<!doctype html>", "text/html; charset=utf-8")
    assert web_file("/app.js", DEFAULT_LIMITS, root) == (
        b"export {};",
        "text/javascript; charset=utf-8",
    )
    assert web_file("/sound/panel.js", DEFAULT_LIMITS, root) is not None
    found = web_file("/style.css", DEFAULT_LIMITS, root)
    assert found is not None and found[1].startswith("text/css")


@pytest.mark.parametrize(
    "path",
    [
        "/../outside.js",
        "/sound/../../outside.js",
        "/%2e%2e/outside.js",
        "/sound%2f..%2f..%2foutside.js",
        "/..%5coutside.js",
        "/link.js",  # a symlink out of the folder
        "/.hidden.js",
        "/notes.py",  # not a served type
        "/sound",  # a folder
        "/sound/",
        "/missing.js",
        "//etc/passwd",
        "/app.js%00.png",
    ],
)
def test_refuses_everything_else(root: Path, path: str) -> None:
    """Traversal, hidden files, unknown types and folders are 404s."""
    assert web_file(path, DEFAULT_LIMITS, root) is None


def test_protocol_module_is_generated() -> None:
    """/protocol.js comes from backline.protocol, whatever is on disk."""
    found = web_file("/protocol.js", DEFAULT_LIMITS, WEB_ROOT)
    assert found is not None
    body, content_type = found
    assert content_type.startswith("text/javascript")
    assert b"export const ERROR_CODES" in body
    assert not (WEB_ROOT / "protocol.js").exists()
