"""Recordings on disk and over HTTP: where they live, who may list and download them.

Layout: ``<data-dir>/recordings/<session>/<recording id>/`` holds one WAV per
participant (``01-alice.wav``, …), ``mix.wav`` and the sidecar
``recording.json`` (see `backline.server.audio.recording`).

Routes (owners of the session only; the token as for the websocket, in a
``token`` query parameter or an ``Authorization: Bearer`` header):

- ``GET /recordings/<session>``: JSON, every recording's sidecar plus its files;
- ``GET /recordings/<session>/<id>/<file>``: one file (WAV or the sidecar).

No part of a request path is ever joined to a filesystem path unchecked:
session names must be valid ids, recording ids and file names must match
their own strict patterns, and the resolved file must lie inside the
session's directory. Anything else is a 404, like a recording that does not
exist, so the answers reveal nothing about the disk.
"""

from __future__ import annotations

import asyncio
import http
import json
import re
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backline.protocol.errors import BacklineError, Unauthorized, WrongSession
from backline.protocol.messages import Role, check_session_name
from backline.protocol.tokens import verify

__all__ = [
    "PREFIX",
    "HttpAnswer",
    "find_file",
    "list_recordings",
    "recording_dir_name",
    "recordings_request",
]

PREFIX = "/recordings/"
RECORDING_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{4}")
FILE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}\.(wav|json)")
SIDECAR = "recording.json"
_TYPES = {"wav": "audio/wav", "json": "application/json"}


def recording_dir_name(session: str) -> str:
    """The directory of a session's recordings: its name, unless that starts with a dot."""
    return session.replace(".", "%2E") if session.startswith(".") else session


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What to send back: status, body, content type and extra headers."""

    status: http.HTTPStatus
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def _error(status: http.HTTPStatus, message: str, code: str) -> HttpAnswer:
    body = json.dumps({"code": code, "message": message}).encode()
    extra = (("WWW-Authenticate", "Bearer"),) if status is http.HTTPStatus.UNAUTHORIZED else ()
    return HttpAnswer(status, body, headers=extra)


def _session_root(root: Path, session: str) -> Path:
    return root / recording_dir_name(session)


def list_recordings(root: Path, session: str) -> list[dict[str, Any]]:
    """Every recording of ``session``, oldest first: its sidecar plus ``files`` (name, bytes)."""
    base = _session_root(root, session)
    if not base.is_dir():
        return []
    found = []
    for directory in sorted(base.iterdir()):
        if not (RECORDING_ID.fullmatch(directory.name) and directory.is_dir()):
            continue
        try:
            sidecar = json.loads((directory / SIDECAR).read_text())
        except (OSError, ValueError):
            continue  # being created, or damaged: not listed
        files = [
            {"name": path.name, "bytes": path.stat().st_size}
            for path in sorted(directory.iterdir())
            if FILE_NAME.fullmatch(path.name) and path.is_file()
        ]
        found.append({**sidecar, "files": files})
    return found


def find_file(root: Path, session: str, recording: str, name: str) -> Path | None:
    """The file ``name`` of a recording, or None (also for any name that is not ours)."""
    if not (RECORDING_ID.fullmatch(recording) and FILE_NAME.fullmatch(name)):
        return None
    base = _session_root(root, session).resolve()
    path = (base / recording / name).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


def _token(query: str, headers: Any) -> str | None:
    authorization = headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        return str(authorization[7:].strip())
    values = urllib.parse.parse_qs(query).get("token")
    return values[0] if values else None


async def recordings_request(
    target: str, headers: Any, root: Path, secret: bytes
) -> HttpAnswer | None:
    """Answer a ``/recordings/…`` request (None: the path is not ours)."""
    path, _, query = target.partition("?")
    if not path.startswith(PREFIX):
        return None
    parts = [urllib.parse.unquote(p) for p in path[len(PREFIX) :].split("/")]
    if parts and parts[-1] == "" and len(parts) == 2:
        parts = parts[:1]  # /recordings/<session>/
    not_found = _error(http.HTTPStatus.NOT_FOUND, "no such recording or file", "not_found")
    if len(parts) not in (1, 3):
        return not_found
    try:
        session = check_session_name(parts[0])
    except BacklineError:
        return not_found
    token = _token(query, headers)
    if token is None:
        return _error(http.HTTPStatus.UNAUTHORIZED, "a token is required", "unauthorized")
    try:
        claims = verify(secret, token, session, time.time())
    except WrongSession as exc:
        return _error(http.HTTPStatus.FORBIDDEN, exc.message, "forbidden")
    except Unauthorized as exc:
        return _error(http.HTTPStatus.UNAUTHORIZED, exc.message, "unauthorized")
    if claims.role is not Role.OWNER:
        message = f"only owners may list and download recordings, not a {claims.role.value}"
        return _error(http.HTTPStatus.FORBIDDEN, message, "forbidden")
    if len(parts) == 1:
        listed = await asyncio.to_thread(list_recordings, root, session)
        body = json.dumps({"session": session, "recordings": listed}).encode()
        return HttpAnswer(http.HTTPStatus.OK, body)
    found = await asyncio.to_thread(find_file, root, session, parts[1], parts[2])
    if found is None:
        return not_found
    data = await asyncio.to_thread(found.read_bytes)
    disposition = (("Content-Disposition", f'attachment; filename="{found.name}"'),)
    return HttpAnswer(http.HTTPStatus.OK, data, _TYPES[found.suffix[1:]], disposition)
