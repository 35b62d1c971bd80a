"""Recordings on disk and over HTTP: where they live, who may list and download them.

Layout: ``<data-dir>/recordings/<session>/<recording id>/`` holds one WAV per
participant (``01-alice.wav``, …), ``mix.wav`` and the sidecar
``recording.json`` (see `backline.server.audio.recording`).

Routes (owners of the session only; the token as for the websocket, in an
``Authorization: Bearer`` header or a ``token`` query parameter):

- ``GET /recordings/<session>``: JSON, every recording's sidecar plus its files;
- ``GET /recordings/<session>/<id>/<file>``: one file (WAV or the sidecar).

No part of a request path is ever joined to a filesystem path unchecked:
session names must be valid ids, recording ids and file names must match
their own strict patterns, and the path must resolve to itself inside the
session's directory (no symlink below the recordings root, at any level). The
listing applies the very same check (`find_file`) to each recording's sidecar
and to every file it lists, so it never shows what a download would refuse.
Anything else is a 404, like a recording that does not exist, so the answers
reveal nothing about the disk.

The query parameter is spelled exactly ``token`` (not percent-encoded; its
value may be), so that what a proxy sees is what this server accepts.
"""

from __future__ import annotations

import asyncio
import http
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from backline.protocol.messages import Role
from backline.protocol.tokens import Secret
from backline.server.http.auth import HttpAnswer, SessionRequest, error_answer, session_request

__all__ = [
    "PREFIX",
    "HttpAnswer",
    "find_file",
    "list_recordings",
    "read_file",
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


def _inside(root: Path, session: str, *names: str) -> Path | None:
    """``<root>/<session dir>/<names...>`` if that is exactly where it resolves to, else None.

    Resolving follows every symlink and ``..``; asking the result to be the very path
    the names spell, under the resolved root, refuses a symlink at any level below
    the root (session directory, recording directory, file), wherever it points,
    and so the same answer for listing and download. The root itself (the data
    dir, ``recordings``) may be a symlink: the operator chose it.
    """
    expected = root.resolve().joinpath(recording_dir_name(session), *names)
    try:
        actual = expected.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, unreadable, a symlink loop
        return None
    return actual if actual == expected else None


def find_file(root: Path, session: str, recording: str, name: str) -> Path | None:
    """The regular file ``name`` of a recording, or None (also for any name that is not ours).

    The one check that listing and download share: the names match their
    patterns, and the path resolves inside the session's directory to itself.
    """
    if not (RECORDING_ID.fullmatch(recording) and FILE_NAME.fullmatch(name)):
        return None
    path = _inside(root, session, recording, name)
    return path if path is not None and path.is_file() else None


def read_file(path: Path) -> bytes | None:
    """The bytes of a file `find_file` returned, or None if it became a symlink or went away.

    ``O_NOFOLLOW`` keeps a symlink swapped in after the check from being read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return None
        return file.read()


def _sidecar(path: Path | None) -> dict[str, Any] | None:
    """The sidecar's JSON object, or None (missing, being written, damaged, not an object)."""
    raw = None if path is None else read_file(path)
    try:
        value = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _files(root: Path, session: str, recording: str, directory: Path) -> list[dict[str, Any]]:
    """The recording's files that `find_file` would serve, with their sizes."""
    files = []
    for entry in sorted(directory.iterdir()):
        path = find_file(root, session, recording, entry.name)
        if path is None:
            continue
        try:
            files.append({"name": path.name, "bytes": path.stat().st_size})
        except OSError:
            continue  # removed meanwhile
    return files


def _listed(root: Path, session: str, recording: str) -> dict[str, Any] | None:
    """One recording as listed: its sidecar plus ``files``; None without a readable sidecar."""
    path = find_file(root, session, recording, SIDECAR)
    sidecar = _sidecar(path)
    if path is None or sidecar is None:
        return None
    return {**sidecar, "files": _files(root, session, recording, path.parent)}


def list_recordings(root: Path, session: str) -> list[dict[str, Any]]:
    """Every recording of ``session``, oldest first: its sidecar plus ``files`` (name, bytes)."""
    base = _inside(root, session)
    if base is None or not base.is_dir():
        return []
    found = []
    for directory in sorted(base.iterdir()):
        listed = _listed(root, session, directory.name)
        if listed is not None:
            found.append(listed)
    return found


async def recordings_request(
    target: str, headers: Any, root: Path, secret: Secret
) -> HttpAnswer | None:
    """Answer a ``/recordings/…`` request (None: the path is not ours)."""
    asked = session_request(target, PREFIX, headers, secret, (1, 3), "recording or file")
    if not isinstance(asked, SessionRequest):
        return asked
    session, parts, claims = asked.session, asked.parts, asked.claims
    not_found = error_answer(http.HTTPStatus.NOT_FOUND, "no such recording or file", "not_found")
    if claims.role is not Role.OWNER:
        message = (
            f"only owners may list and download recordings (this token's role: {claims.role.value})"
        )
        return error_answer(http.HTTPStatus.FORBIDDEN, message, "forbidden")
    if len(parts) == 1:
        listed = await asyncio.to_thread(list_recordings, root, session)
        body = json.dumps({"session": session, "recordings": listed}).encode()
        return HttpAnswer(http.HTTPStatus.OK, body)
    found = await asyncio.to_thread(find_file, root, session, parts[1], parts[2])
    if found is None:
        return not_found
    data = await asyncio.to_thread(read_file, found)
    if data is None:
        return not_found
    disposition = (("Content-Disposition", f'attachment; filename="{found.name}"'),)
    return HttpAnswer(http.HTTPStatus.OK, data, _TYPES[found.suffix[1:]], disposition)
