"""The browser client over HTTP: files of web and the generated /protocol.js.

Only regular files inside the web folder with a known type are served; any
other path (``..``, encoded separators, hidden files, unknown extensions) is a
404, never a file from elsewhere on disk.
"""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path
from urllib.parse import unquote

from backline.protocol.browser import protocol_module
from backline.protocol.limits import Limits

__all__ = ["CONTENT_TYPES", "WEB_ROOT", "WebFile", "web_file"]

# the browser client is its own package of static files (backline.web), found through the
# import system wherever it is installed; the server imports no SDK code to serve it
WEB_ROOT = Path(str(importlib.resources.files("backline.web")))

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
}

WebFile = tuple[bytes, str]  # body, content type


@functools.lru_cache(maxsize=4)
def _protocol_js(limits: Limits) -> bytes:
    return protocol_module(limits).encode()


def web_file(path: str, limits: Limits, root: Path = WEB_ROOT) -> WebFile | None:
    """The body and type for a request path (query already removed), or None for 404."""
    if path == "/protocol.js":
        return _protocol_js(limits), CONTENT_TYPES[".js"]
    if path in ("/", "/index.html"):
        path = "/index.html"
    name = unquote(path).lstrip("/")
    parts = name.split("/")
    if not name or "\\" in name or "\0" in name or any(p in ("", ".", "..") for p in parts):
        return None
    if any(p.startswith(".") for p in parts):
        return None
    content_type = CONTENT_TYPES.get(Path(name).suffix.lower())
    if content_type is None:
        return None
    base = root.resolve()
    target = (base / name).resolve()
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target.read_bytes(), content_type
