"""Server-side recordings over HTTP: list a session's recordings, download their files.

Owners only; the same token as for the session's websocket. Plain blocking
calls (urllib), so scripts and the CLI use them directly; from async code run
them with ``asyncio.to_thread``. ``url`` may be the server's ``ws://`` or
``http://`` URL.
"""

from __future__ import annotations

import json
import ssl
import urllib.parse
from typing import Any

from backline.client.httpapi import http_base, request

__all__ = ["download", "http_base", "list_recordings"]


def list_recordings(
    url: str,
    session: str,
    token: str,
    *,
    timeout: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
) -> list[dict[str, Any]]:
    """Every recording of ``session``: its sidecar plus ``files`` (``name``, ``bytes``).

    Raises:
        Unauthorized: the token was refused (401).
        Forbidden: the token is not an owner's of this session (403).
        Unavailable: the server could not be reached or failed.
    """
    target = f"{http_base(url)}/recordings/{urllib.parse.quote(session, safe='')}"
    answer = json.loads(request("GET", target, token, timeout, ssl_context))
    recordings: list[dict[str, Any]] = answer["recordings"]
    return recordings


def download(
    url: str,
    session: str,
    token: str,
    recording: str,
    file: str,
    *,
    timeout: float = 300.0,
    ssl_context: ssl.SSLContext | None = None,
) -> bytes:
    """One file of a recording (a WAV stem, ``mix.wav`` or ``recording.json``).

    Raises:
        NotFound: no such recording or file (404); and as `list_recordings`.
    """
    parts = "/".join(urllib.parse.quote(p, safe="") for p in (session, recording, file))
    return request("GET", f"{http_base(url)}/recordings/{parts}", token, timeout, ssl_context)
