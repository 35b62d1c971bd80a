"""Who is asking, for the HTTP routes: the token, its check, and the answers that refuse.

The token travels as for the websocket, in an ``Authorization: Bearer`` header
or a ``token`` query parameter (spelled exactly so: see `_query_token`).
"""

from __future__ import annotations

import base64
import http
import json
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from backline.protocol.errors import BacklineError, Revoked, Unauthorized, WrongSession
from backline.protocol.messages import check_session_name
from backline.protocol.tokens import Claims, Secret, verify

__all__ = [
    "HttpAnswer",
    "SessionRequest",
    "authorize",
    "authorize_any",
    "error_answer",
    "request_token",
    "session_request",
]


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What to send back: status, body, content type and extra headers."""

    status: http.HTTPStatus
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def error_answer(status: http.HTTPStatus, message: str, code: str) -> HttpAnswer:
    body = json.dumps({"code": code, "message": message}).encode()
    extra = (("WWW-Authenticate", "Bearer"),) if status is http.HTTPStatus.UNAUTHORIZED else ()
    return HttpAnswer(status, body, headers=extra)


def _query_token(query: str) -> str | None:
    """The value of the one query parameter spelled exactly ``token``, percent-decoded.

    The name is compared as sent, not decoded: ``tok%65n=`` is not a token, so
    that a proxy that hides ``token=`` from its logs sees every token this
    server accepts. A second ``token`` is refused (None) rather than guessed at.
    """
    values = [
        value for name, _, value in (p.partition("=") for p in query.split("&")) if name == "token"
    ]
    return urllib.parse.unquote(values[0]) if len(values) == 1 else None


def request_token(query: str, headers: Any) -> str | None:
    """The request's token: the ``Authorization: Bearer`` header, else the query's ``token``."""
    authorization = headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        return str(authorization[7:].strip())
    return _query_token(query)


def authorize(query: str, headers: Any, secret: Secret, session: str) -> Claims | HttpAnswer:
    """The request's verified claims for `session`, or the 401/403 answer that refuses it."""
    token = request_token(query, headers)
    if token is None:
        message = "a token is required: an Authorization: Bearer header or one token= parameter"
        return error_answer(http.HTTPStatus.UNAUTHORIZED, message, "unauthorized")
    try:
        return verify(secret, token, session, time.time())
    except WrongSession as exc:
        return error_answer(http.HTTPStatus.FORBIDDEN, exc.message, "forbidden")
    except Unauthorized as exc:
        return error_answer(http.HTTPStatus.UNAUTHORIZED, exc.message, "unauthorized")


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """A request of a session's route whose token checked out: what the route needs."""

    session: str
    parts: list[str]  # the path below the prefix, decoded: [session, ...]
    query: str
    claims: Claims


def session_request(
    target: str, prefix: str, headers: Any, secret: Secret, shapes: tuple[int, ...], what: str
) -> SessionRequest | HttpAnswer | None:
    """The common first steps of ``/<route>/<session>/…``: None when the path is not under
    `prefix`; a 404 for a path of another length than `shapes` (counting the session) or
    a bad session name (`what` names the thing not found); the token's 401/403; else the
    request, for the route to go on with."""
    path, _, query = target.partition("?")
    if not path.startswith(prefix):
        return None
    parts = [urllib.parse.unquote(p) for p in path[len(prefix) :].split("/")]
    if len(parts) == 2 and parts[1] == "":
        parts = parts[:1]  # /<route>/<session>/
    not_found = error_answer(http.HTTPStatus.NOT_FOUND, f"no such {what}", "not_found")
    if len(parts) not in shapes:
        return not_found
    try:
        session = check_session_name(parts[0])
    except BacklineError:
        return not_found
    claims = authorize(query, headers, secret, session)
    if isinstance(claims, HttpAnswer):
        return claims
    return SessionRequest(session, parts, query, claims)


# the routes that belong to one session: /<route>/<session>/...
SESSION_ROUTES = ("recordings", "renders", "history")


async def revoked_answer(
    path: str,
    query: str,
    headers: Any,
    secret: Secret,
    refusal: Callable[[str, Claims], Awaitable[Revoked | None]],
) -> HttpAnswer | None:
    """The 403 for a request of a session's route whose token (or invite) an owner revoked
    in that session's log; None to go on (the route checks the token itself)."""
    parts = path.split("/")
    if len(parts) < 3 or parts[1] not in SESSION_ROUTES or not parts[2]:
        return None
    claims = authorize(query, headers, secret, urllib.parse.unquote(parts[2]))
    if isinstance(claims, HttpAnswer):
        return None
    refused = await refusal(urllib.parse.unquote(parts[2]), claims)
    if refused is None:
        return None
    return error_answer(http.HTTPStatus.FORBIDDEN, refused.message, refused.code.value)


def authorize_any(query: str, headers: Any, secret: Secret) -> Claims | HttpAnswer:
    """Like `authorize`, for a route that belongs to no session: any valid token of
    this server (of any session and role) is enough."""
    token = request_token(query, headers) or ""
    session = ""
    try:
        payload = token.split(".")[-2]  # v2.<kid>.<payload>.<sig> (v1.<payload>.<sig>)
        session = str(
            json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["s"]
        )
    except (IndexError, ValueError, KeyError, TypeError):
        pass  # malformed: verify says so below
    return authorize(query, headers, secret, session or "-")
