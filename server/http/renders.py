"""Renders over HTTP: start one, follow its progress, download its files.

Routes (owners and editors of the session; viewers may listen, not bounce):

- ``POST /renders/<session>?stems=none|dry|wet[&version=N]``: queue a render
  of the session's latest version (or version N); 202 with the job. The token
  must come in an ``Authorization: Bearer`` header here (never the query): a
  page elsewhere cannot send that header without a CORS preflight, which this
  server refuses, so it cannot start renders in someone's name;
- ``GET /renders/<session>``: every render of the session (``renders``);
- ``GET /renders/<session>/<id>``: one job: ``status`` (queued, running,
  done, failed), ``progress`` (0‥1), ``stage``, and once done its ``files``
  (each with its ``url``), ``lufs``, ``true_peak_db``, ``seconds``; a failed
  one carries ``error`` (``code``, ``message``);
- ``GET /renders/<session>/<id>/<file>``: a finished file (WAV or
  ``render.json``), token in the header or a ``token`` query parameter.

Errors are JSON ``{"code", "message"}`` with the error code's usual status
(400 bad field or range, 401, 403 forbidden, 404 not found, 413 too large,
429 rate limited, 503 unavailable).
"""

from __future__ import annotations

import asyncio
import http
import json
import re
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from backline.protocol.arrangement import song_end
from backline.protocol.errors import BacklineError, ErrorCode, NotFound, TooLarge
from backline.protocol.messages import Role, check_session_name
from backline.protocol.model import PPQ, Document
from backline.protocol.tokens import Claims, Secret
from backline.server.http.auth import HttpAnswer, authorize, error_answer, request_token
from backline.server.http.recordings import read_file
from backline.server.rendering.jobs import RENDER_ID, STEM_MODES, Renders

__all__ = ["PREFIX", "DocumentAt", "renders_request"]

PREFIX = "/renders/"
FILE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}\.(wav|json)")
_TYPES = {"wav": "audio/wav", "json": "application/json"}

DocumentAt = Callable[[str, int | None], Awaitable[tuple[Document, int]]]
"""(session, version or None) → (document, version); raises NotFound."""

_STATUS = {
    ErrorCode.BAD_FIELD: http.HTTPStatus.BAD_REQUEST,
    ErrorCode.OUT_OF_RANGE: http.HTTPStatus.BAD_REQUEST,
    ErrorCode.NOT_FOUND: http.HTTPStatus.NOT_FOUND,
    ErrorCode.FORBIDDEN: http.HTTPStatus.FORBIDDEN,
    ErrorCode.TOO_LARGE: http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    ErrorCode.RATE_LIMITED: http.HTTPStatus.TOO_MANY_REQUESTS,
    ErrorCode.UNAVAILABLE: http.HTTPStatus.SERVICE_UNAVAILABLE,
}


def _json(status: http.HTTPStatus, body: dict[str, Any]) -> HttpAnswer:
    return HttpAnswer(status, json.dumps(body).encode(), headers=(("Cache-Control", "no-store"),))


def _refused(error: BacklineError) -> HttpAnswer:
    status = _STATUS.get(error.code, http.HTTPStatus.INTERNAL_SERVER_ERROR)
    return error_answer(status, error.message, str(error.code))


def _params(query: str) -> dict[str, str] | HttpAnswer:
    params: dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if name == "token":
            continue
        if name not in ("stems", "version") or name in params:
            message = f"unknown or repeated parameter {name!r} (stems, version)"
            return error_answer(http.HTTPStatus.BAD_REQUEST, message, "bad_field")
        params[name] = value
    return params


async def renders_request(
    method: str,
    target: str,
    headers: Any,
    secret: Secret,
    renders: Renders,
    document_at: DocumentAt,
) -> HttpAnswer | None:
    """Answer a ``/renders/…`` request (None: the path is not ours)."""
    path, _, query = target.partition("?")
    if not path.startswith(PREFIX):
        return None
    parts = [urllib.parse.unquote(p) for p in path[len(PREFIX) :].split("/")]
    if len(parts) == 2 and parts[1] == "":
        parts = parts[:1]
    not_found = error_answer(http.HTTPStatus.NOT_FOUND, "no such render or file", "not_found")
    if len(parts) not in (1, 2, 3):
        return not_found
    try:
        session = check_session_name(parts[0])
    except BacklineError:
        return not_found
    if method == "POST" and request_token("", headers) is None:
        message = "starting a render needs the token in an Authorization: Bearer header"
        return error_answer(http.HTTPStatus.UNAUTHORIZED, message, "unauthorized")
    claims = authorize(query, headers, secret, session)
    if isinstance(claims, HttpAnswer):
        return claims
    if method == "POST":
        if len(parts) != 1:
            return error_answer(
                http.HTTPStatus.METHOD_NOT_ALLOWED, "POST starts a render: /renders/<session>",
                "bad_field",
            )  # fmt: skip
        return await _start(session, query, claims, renders, document_at)
    if claims.role is Role.VIEWER:
        message = "viewers can listen, not bounce: renders are for owners and editors"
        return error_answer(http.HTTPStatus.FORBIDDEN, message, "forbidden")
    if len(parts) == 1:
        listed = [job.to_json() for job in renders.jobs(session)]
        return _json(http.HTTPStatus.OK, {"session": session, "renders": listed})
    if not re.fullmatch(RENDER_ID, parts[1]):
        return not_found
    job = renders.get(session, parts[1])
    if job is None:
        return not_found
    if len(parts) == 2:
        return _json(http.HTTPStatus.OK, job.to_json())
    if not FILE_NAME.fullmatch(parts[2]):
        return not_found
    found = renders.file(session, parts[1], parts[2])
    data = None if found is None else await asyncio.to_thread(read_file, found)
    if data is None or found is None:
        return not_found
    disposition = (("Content-Disposition", f'attachment; filename="{found.name}"'),)
    return HttpAnswer(http.HTTPStatus.OK, data, _TYPES[found.suffix[1:]], disposition)


def _check_playable(doc: Document, max_seconds: float) -> None:
    """Refuse at once what the render would refuse: nothing to play, or too long."""
    end = song_end(doc) / PPQ
    if end <= 0:
        raise NotFound("the project has nothing to play yet: add a pattern, notes or a clip")
    seconds = end * 60.0 / float(doc.project["tempo"])
    if seconds > max_seconds:
        raise TooLarge(f"the song lasts {seconds:.0f} s; renders here stop at {max_seconds:.0f} s")


async def _start(
    session: str, query: str, claims: Claims, renders: Renders, document_at: DocumentAt
) -> HttpAnswer:
    if claims.role is Role.VIEWER:
        message = "viewers can listen, not bounce: renders are for owners and editors"
        return error_answer(http.HTTPStatus.FORBIDDEN, message, "forbidden")
    params = _params(query)
    if isinstance(params, HttpAnswer):
        return params
    stems = params.get("stems", "none")
    if stems not in STEM_MODES:
        message = f"stems must be one of {', '.join(STEM_MODES)}, not {stems!r}"
        return error_answer(http.HTTPStatus.BAD_REQUEST, message, "out_of_range")
    version: int | None = None
    if "version" in params:
        raw = params["version"]
        if not raw.isdigit() or len(raw) > 15:
            message = f"version must be a whole number of at most 15 digits, not {raw!r}"
            return error_answer(http.HTTPStatus.BAD_REQUEST, message, "out_of_range")
        version = int(raw)
    try:
        doc, at = await document_at(session, version)
        _check_playable(doc, renders.max_seconds)  # no await between: a live doc stays put
        job = renders.start(session, doc.to_data(), at, stems, claims.role.value)
    except BacklineError as error:
        return _refused(error)
    return _json(http.HTTPStatus.ACCEPTED, job.to_json())
