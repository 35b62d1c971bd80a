"""Server-side recordings over HTTP: list a session's recordings, download their files.

Owners only; the same token as for the session's websocket. Plain blocking
calls (urllib), so scripts and the CLI use them directly; from async code run
them with ``asyncio.to_thread``. ``url`` may be the server's ``ws://`` or
``http://`` URL.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from backline.protocol.errors import BacklineError, Forbidden, NotFound, Unauthorized, Unavailable

__all__ = ["download", "http_base", "list_recordings"]


def http_base(url: str) -> str:
    """``ws://h:p/`` -> ``http://h:p``, ``wss://`` -> ``https://``; http(s) stays."""
    url = url.rstrip("/")
    if url.startswith("ws://") or url.startswith("wss://"):
        return "http" + url[2:]
    return url


def _get(url: str, token: str, timeout: float, context: ssl.SSLContext | None) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        raise _error(exc.code, exc.read()) from None
    except (urllib.error.URLError, OSError) as exc:
        raise Unavailable(f"cannot reach {url.split('?')[0]}: {exc}") from exc


def _error(status: int, body: bytes) -> BacklineError:
    try:
        message = str(json.loads(body)["message"])
    except (ValueError, KeyError, TypeError):
        message = f"HTTP {status}"
    if status == 401:
        return Unauthorized(message)
    if status == 403:
        return Forbidden(message)
    if status == 404:
        return NotFound(message)
    return Unavailable(f"HTTP {status}: {message}")


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
    answer = json.loads(_get(target, token, timeout, ssl_context))
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
    return _get(f"{http_base(url)}/recordings/{parts}", token, timeout, ssl_context)
