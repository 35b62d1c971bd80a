"""Server renders from Python: start one, follow its progress, fetch its files.

Owners and editors; the same token as for the session's websocket. The
server renders (`backline.server.rendering`); these calls only ask and
download. Blocking calls (urllib), like `recordings`: from async code run
them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backline.client.httpapi import http_base, request
from backline.protocol.errors import BacklineError, error_for_code

__all__ = ["download_render", "render", "render_status", "start_render"]

Progress = Callable[[dict[str, Any]], None]


def _base(url: str, session: str) -> str:
    return f"{http_base(url)}/renders/{urllib.parse.quote(session, safe='')}"


def _job(
    method: str, target: str, token: str, timeout: float, context: ssl.SSLContext | None
) -> dict[str, Any]:
    job: dict[str, Any] = json.loads(request(method, target, token, timeout, context))
    return job


def start_render(
    url: str,
    session: str,
    token: str,
    *,
    stems: str = "none",
    version: int | None = None,
    timeout: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
) -> dict[str, Any]:
    """Queue a render (``stems``: none, dry or wet); the job as the server reports it."""
    query = {"stems": stems, **({"version": str(version)} if version is not None else {})}
    target = f"{_base(url, session)}?{urllib.parse.urlencode(query)}"
    return _job("POST", target, token, timeout, ssl_context)


def render_status(
    url: str,
    session: str,
    token: str,
    render_id: str,
    *,
    timeout: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
) -> dict[str, Any]:
    target = f"{_base(url, session)}/{urllib.parse.quote(render_id, safe='')}"
    return _job("GET", target, token, timeout, ssl_context)


def download_render(
    url: str,
    session: str,
    token: str,
    job: dict[str, Any],
    out: Path,
    *,
    timeout: float = 300.0,
    ssl_context: ssl.SSLContext | None = None,
) -> list[Path]:
    """Every file of a finished render into the directory `out` (made if need be), each
    written beside and renamed into place (never half a file), ``render.json`` last."""
    out.mkdir(parents=True, exist_ok=True)
    names = [f["name"] for f in job.get("files", [])] + ["render.json"]
    written = []
    for name in names:
        if "/" in name or name.startswith("."):
            raise BacklineError(f"the server listed an odd file name {name!r}")
        target = f"{_base(url, session)}/{urllib.parse.quote(job['id'], safe='')}/{name}"
        data = request("GET", target, token, timeout, ssl_context)
        path = out / name
        partial = out / f".{name}.partial"
        partial.write_bytes(data)
        os.replace(partial, path)
        written.append(path)
    return written


def render(
    url: str,
    session: str,
    token: str,
    *,
    stems: str = "none",
    version: int | None = None,
    on_progress: Progress | None = None,
    poll: float = 0.25,
    timeout: float = 900.0,
    ssl_context: ssl.SSLContext | None = None,
) -> dict[str, Any]:
    """Start a render and wait for it: the finished job (``files``, ``lufs``, ...).

    Raises the render's own error (typed by its code) when it fails.
    """
    job = start_render(url, session, token, stems=stems, version=version,
                       ssl_context=ssl_context)  # fmt: skip
    deadline = time.monotonic() + timeout
    while job["status"] not in ("done", "failed"):
        if on_progress is not None:
            on_progress(job)
        if time.monotonic() > deadline:
            raise error_for_code(
                "unavailable", f"render {job['id']} still running after {timeout:.0f} s"
            )
        time.sleep(poll)  # polling an HTTP resource: there is no event to await here
        job = render_status(url, session, token, job["id"], ssl_context=ssl_context)
    if on_progress is not None:
        on_progress(job)
    if job["status"] == "failed":
        error = job.get("error") or {}
        raise error_for_code(
            str(error.get("code", "internal")), str(error.get("message", "render failed"))
        )
    return job
