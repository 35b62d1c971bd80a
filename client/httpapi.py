"""The server's HTTP routes from Python: one request with the token, typed errors back.

Plain blocking calls (urllib), so scripts and the CLI use them directly; from
async code run them with ``asyncio.to_thread``. URLs may be the server's
``ws://`` or ``http://`` ones (`http_base`).
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request

from backline.protocol.errors import (
    BacklineError,
    ErrorCode,
    Forbidden,
    NotFound,
    Unauthorized,
    Unavailable,
    error_for_code,
)

__all__ = ["http_base", "http_error", "invite_link", "request"]


def http_base(url: str) -> str:
    """``ws://h:p/`` -> ``http://h:p``, ``wss://`` -> ``https://``; http(s) stays."""
    url = url.rstrip("/")
    if url.startswith("ws://") or url.startswith("wss://"):
        return "http" + url[2:]
    return url


def invite_link(url: str, session: str, token: str) -> str:
    """The page's address that joins `session` with `token` (what an invite sends)."""
    query = urllib.parse.urlencode({"session": session, "token": token})
    return f"{http_base(url)}/#{query}"


def request(
    method: str, url: str, token: str, timeout: float, context: ssl.SSLContext | None = None
) -> bytes:
    """The body of `method` `url` with the token in the header; a typed error otherwise."""
    asked = urllib.request.Request(url, method=method, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(asked, timeout=timeout, context=context) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        raise http_error(exc.code, exc.read()) from None
    except (urllib.error.URLError, OSError) as exc:
        raise Unavailable(f"cannot reach {url.split('?')[0]}: {exc}") from exc


def http_error(status: int, body: bytes) -> BacklineError:
    """The typed error of an HTTP refusal: its JSON ``code`` when it has one, else by status."""
    try:
        answer = json.loads(body)
        message, code = str(answer["message"]), answer.get("code")
    except (ValueError, KeyError, TypeError, AttributeError):
        message, code = f"HTTP {status}", None
    if isinstance(code, str) and code in set(ErrorCode):
        return error_for_code(code, message)
    if status == 401:
        return Unauthorized(message)
    if status == 403:
        return Forbidden(message)
    if status == 404:
        return NotFound(message)
    return Unavailable(f"HTTP {status}: {message}")
