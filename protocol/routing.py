"""The session in the websocket URL path, so a load balancer can route by session.

A connection to ``/s/<session>`` (the id percent-encoded) belongs to that
session: the hello must name the same one (else `SessionMismatch`). Any other
path is the older form, where only the hello names the session. The HTTP routes
that carry a session (``/recordings/<s>/…``, ``/history/<s>…``, ``/renders/<s>…``)
have it in the same place, the second path segment, so one hash rule (HAProxy's
``path,field(3,/)``, deploy/haproxy.cfg) sends all of a session's traffic to one
process.
"""

from __future__ import annotations

from .errors import BacklineError, BadField
from .model import check_id

__all__ = [
    "SESSION_PATH_PREFIX",
    "path_session",
    "percent_decode",
    "percent_encode",
    "session_path",
]

SESSION_PATH_PREFIX = "/s/"
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset(b"0123456789abcdefABCDEF")


def percent_encode(text: str) -> str:
    """`text` as one URL path segment: UTF-8, everything but the unreserved as ``%XX``."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode())


def percent_decode(segment: str) -> str:
    """The text of a percent-encoded segment; raises ValueError for a malformed escape
    or bytes that are not UTF-8."""
    raw = segment.encode()
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == ord("%"):
            pair = raw[i + 1 : i + 3]
            if len(pair) != 2 or not set(pair) <= _HEX:
                raise ValueError("a % escape needs two hex digits")
            out.append(int(pair, 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode()  # UnicodeDecodeError is a ValueError


def session_path(session: str) -> str:
    """The websocket path of `session`: ``/s/<session>``, percent-encoded."""
    return SESSION_PATH_PREFIX + percent_encode(session)


def path_session(path: str) -> str | None:
    """The session a websocket request path names, None for any other path (the
    query is ignored). Raises `BadField` for ``/s/…`` that holds no session id."""
    path = path.split("?", 1)[0]
    if not path.startswith(SESSION_PATH_PREFIX):
        return None
    raw = path[len(SESSION_PATH_PREFIX) :]
    try:
        session = percent_decode(raw)
    except ValueError:
        raise BadField("the session in the URL path is not percent-encoded UTF-8") from None
    if "/" in raw:
        raise BadField("the URL path names a session as /s/<session>, nothing after it")
    try:
        return check_id(session, name="session in the URL path")
    except BacklineError as exc:
        raise BadField(exc.message) from None
