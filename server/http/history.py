"""A session's past over HTTP, for owners and editors (scripts, DAW bridges, curl).

Routes (the token as for renders: ``Authorization: Bearer`` or ``token=``):

- ``GET /history/<session>[?count=N&before=V]``: the timeline, oldest first:
  ``versions`` (version, by, name, at (ISO), source, summary), ``labels``,
  ``parent``, ``forks``, ``credits``, ``latest``;
- ``GET /history/<session>/at?version=V`` or ``?time=ISO``: the project as it
  was (the same JSON as ``backline state``), with ``version``;
- ``GET /history/<session>/blame``: who made and last changed each entity.

Errors are JSON ``{"code", "message"}``: 400 for a bad parameter, 401/403 for
the token (viewers: 403 ``forbidden``), 404 ``not_found`` for a session or a
version that does not exist.
"""

from __future__ import annotations

import datetime
import http
import json
import urllib.parse
from collections.abc import Callable
from typing import Any

from backline.protocol.errors import NotFound
from backline.protocol.messages import MAX_HISTORY_PAGE, Role
from backline.protocol.sequencer import Sequencer
from backline.protocol.tokens import Secret
from backline.server.history import History
from backline.server.http.auth import HttpAnswer, SessionRequest, error_answer, session_request

__all__ = ["PREFIX", "history_request"]

PREFIX = "/history/"

LiveSequencer = Callable[[str], Sequencer | None]
"""The sequencer of a session this process holds (None: not loaded here)."""


def _iso(ms: int) -> str | None:
    if not ms:
        return None
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).isoformat(
        timespec="milliseconds"
    )


def _json(body: dict[str, Any]) -> HttpAnswer:
    return HttpAnswer(
        http.HTTPStatus.OK, json.dumps(body).encode(), headers=(("Cache-Control", "no-store"),)
    )


def _bad(message: str) -> HttpAnswer:
    return error_answer(http.HTTPStatus.BAD_REQUEST, message, "bad_field")


def _params(query: str, allowed: tuple[str, ...]) -> dict[str, str] | HttpAnswer:
    params: dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if name == "token":
            continue
        if name not in allowed or name in params:
            return _bad(f"unknown or repeated parameter {name!r} ({', '.join(allowed) or 'none'})")
        params[name] = value
    return params


def _number(params: dict[str, str], name: str, lo: int, hi: int) -> int | HttpAnswer | None:
    if name not in params:
        return None
    text = params[name]
    if not text.isdigit() or not lo <= int(text) <= hi:
        return _bad(f"{name} must be a whole number from {lo} to {hi}")
    return int(text)


async def history_request(
    target: str, headers: Any, secret: Secret, history: History, live: LiveSequencer
) -> HttpAnswer | None:
    """Answer a ``/history/…`` GET (None: the path is not ours)."""
    asked = session_request(target, PREFIX, headers, secret, (1, 2), "history route")
    if not isinstance(asked, SessionRequest):
        return asked
    session, parts, query, claims = asked.session, asked.parts, asked.query, asked.claims
    if len(parts) == 2 and parts[1] not in ("at", "blame"):
        return error_answer(http.HTTPStatus.NOT_FOUND, "no such history route", "not_found")
    if claims.role is Role.VIEWER:
        message = "the history is for owners and editors"
        return error_answer(http.HTTPStatus.FORBIDDEN, message, "forbidden")
    view = parts[1] if len(parts) == 2 else "versions"
    try:
        if view == "at":
            return await _at(session, query, history)
        if view == "blame":
            return await _blame(session, query, history, live)
        return await _versions(session, query, history, live)
    except NotFound as exc:
        return error_answer(http.HTTPStatus.NOT_FOUND, exc.message, "not_found")


async def _current(session: str, history: History, live: LiveSequencer) -> Sequencer:
    found = live(session)
    return found if found is not None else (await history.rebuild(session)).sequencer


async def _versions(session: str, query: str, history: History, live: LiveSequencer) -> HttpAnswer:
    params = _params(query, ("count", "before"))
    if isinstance(params, HttpAnswer):
        return params
    count = _number(params, "count", 1, MAX_HISTORY_PAGE)
    before = _number(params, "before", 0, 2**53)
    for value in (count, before):
        if isinstance(value, HttpAnswer):
            return value
    seq = await _current(session, history, live)
    rows = await history.versions(session)
    if isinstance(before, int):
        rows = [row for row in rows if row[0] < before]
    page = rows[-(count if isinstance(count, int) else 200) :]
    names = seq.names
    return _json(
        {
            "session": session,
            "latest": seq.version,
            "more": len(rows) > len(page),
            "versions": [
                {
                    "version": v,
                    "by": by,
                    "name": names.get(by, ""),
                    "at": _iso(at),
                    "source": source,
                    "summary": summary,
                }
                for v, by, at, source, summary in page
            ],
            "labels": [{**label, "at": _iso(label.get("at", 0))} for label in seq.labels],
            "parent": seq.parent,
            "forks": seq.forks,
            "credits": seq.credits(),
        }
    )


async def _at(session: str, query: str, history: History) -> HttpAnswer:
    params = _params(query, ("version", "time"))
    if isinstance(params, HttpAnswer):
        return params
    if ("version" in params) == ("time" in params):
        return _bad("give exactly one of version=N or time=ISO-TIME")
    version = _number(params, "version", 0, 2**53)
    if isinstance(version, HttpAnswer):
        return version
    if version is None:
        try:
            when = datetime.datetime.fromisoformat(params["time"].replace("Z", "+00:00"))
        except ValueError:
            return _bad("time must be an ISO 8601 time such as 2026-12-07T21:30:00Z")
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        version = await history.version_at(session, int(when.timestamp() * 1000))
    rebuilt = await history.rebuild(session, version)
    data: dict[str, Any] = rebuilt.sequencer.doc.to_data()
    data["version"] = version
    return _json(data)


async def _blame(session: str, query: str, history: History, live: LiveSequencer) -> HttpAnswer:
    params = _params(query, ())
    if isinstance(params, HttpAnswer):
        return params
    seq = await _current(session, history, live)
    kinds = seq.doc.kind_of
    names = seq.names
    blame = {
        eid: {
            "made_by": row[0],
            "made_by_name": names.get(row[0], ""),
            "made_at": _iso(row[1]),
            "changed_by": row[2],
            "changed_by_name": names.get(row[2], ""),
            "changed_at": _iso(row[3]),
        }
        for eid, row in sorted(seq.blame.items())
        if eid in kinds or eid == "project"
    }
    return _json({"session": session, "version": seq.version, "blame": blame})
