"""Every HTTP answer the server writes: one builder, the headers each carries, GET and HEAD only.

The server's HTTP side is small (health, metrics, recordings, the web
client), but browsers read it, so each answer says how to treat it:

- ``X-Content-Type-Options: nosniff``: the browser takes the Content-Type as
  given, so that no JSON error, WAV or plain-text 404 is ever sniffed into
  HTML or a script.
- ``X-Frame-Options: DENY`` and ``Content-Security-Policy: frame-ancestors
  'none'``: no other site may frame our pages and trick an owner into
  clicking the session controls (clickjacking). Only ``frame-ancestors``: the
  page loads same-origin ES modules, opens a websocket to its own origin and
  uses WebRTC and Web Audio, and a stricter policy is a risk of breaking it
  for no gain here. Sent on every answer, not only on pages, so that a page
  added later is covered too.
- ``Cache-Control: no-store``: health, metrics and recordings change, and
  no proxy should keep an owner's download.

Methods: only GET and HEAD are answered. HEAD gets exactly what GET would
(status and headers, Content-Length of the GET body) without the body. Any
other method is refused with 405 and ``Allow: GET, HEAD`` before any route
runs, so it changes nothing. (websockets refuses requests with a body or a
``Transfer-Encoding`` by closing the connection before we see them.)

`harden` is a websockets ``process_response`` hook that adds the same headers
to the refusals websockets writes itself (403 for a refused Origin, 400 for a
bad handshake, 500 when a route raised). websockets sends a few answers
outside any hook, which go without them: 414/431 for an oversized request
line or headers (before a request exists) and 503 to a handshake arriving
while the server stops (decided after the hook).
"""

from __future__ import annotations

import http

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

__all__ = [
    "ALLOWED_METHODS",
    "SECURITY_HEADERS",
    "harden",
    "method_not_allowed",
    "response",
]

ALLOWED_METHODS = frozenset({"GET", "HEAD"})
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "frame-ancestors 'none'"),
)


def response(
    status: http.HTTPStatus,
    body: bytes,
    content_type: str,
    extra: tuple[tuple[str, str], ...] = (),
    *,
    head: bool = False,
) -> Response:
    """An answer with `body` (for HEAD: its headers, Content-Length included, and no body)."""
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *SECURITY_HEADERS,
            *extra,
        ]
    )
    return Response(status.value, status.phrase, headers, b"" if head else body)


def method_not_allowed() -> Response:
    """The 405 for any method but GET and HEAD."""
    allow = (("Allow", ", ".join(sorted(ALLOWED_METHODS))),)
    status = http.HTTPStatus.METHOD_NOT_ALLOWED
    return response(status, b"only GET and HEAD\n", "text/plain; charset=utf-8", allow)


def harden(connection: ServerConnection, request: Request, answer: Response) -> None:
    """``process_response`` hook: the security headers on websockets' own refusals too.

    Answers from our routes already carry them; a 101 (the websocket upgrade)
    has no body for a browser to misread and is left as it is.
    """
    if answer.status_code == http.HTTPStatus.SWITCHING_PROTOCOLS:
        return
    for name, value in SECURITY_HEADERS:
        if name not in answer.headers:
            answer.headers[name] = value
