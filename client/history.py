"""The session's past from the SDK: `s.history.at(version | time)`, versions, labels, diffs,
blame, restore; and what forks and imports send.

Reads ask the server (editors and owners), which rebuilds any version from
its kept log; nothing here replays anything. Restore and import are edits:
they return the `Edit` handle like `s.edit`, resolving to the version that
carried them (one undoable step).
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from backline.protocol.messages import ClientType
from backline.protocol.model import Document

__all__ = ["Blame", "PastVersion", "SessionHistory", "Version", "unix_ms"]

Request = Callable[..., Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Version:
    """One version of the timeline: who made it, when (unix ms), from what, what changed."""

    version: int
    by: str
    at: int
    source: str  # op, undo, redo, restore, fork, midi, json, v12 (restored from v12)
    summary: str
    name: str = ""  # the author's name as the log last knew it

    @property
    def time(self) -> datetime.datetime | None:
        return (
            None if not self.at else datetime.datetime.fromtimestamp(self.at / 1000, datetime.UTC)
        )


@dataclass(frozen=True, slots=True)
class Blame:
    """Who made an entity and who changed it last, and when (unix ms)."""

    made_by: str
    made_at: int
    changed_by: str
    changed_at: int

    @classmethod
    def from_wire(cls, row: list[Any]) -> Blame:
        return cls(str(row[0]), int(row[1]), str(row[2]), int(row[3]))


@dataclass(frozen=True, slots=True)
class PastVersion:
    """The project as it was at `version`, and the blame then."""

    version: int
    project: Document
    blame: dict[str, Blame]


def unix_ms(when: datetime.datetime | str | float) -> int:
    """Unix milliseconds of a datetime, an ISO 8601 text (naive: UTC) or unix seconds."""
    if isinstance(when, str):
        when = datetime.datetime.fromisoformat(when.replace("Z", "+00:00"))
    if isinstance(when, datetime.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        return int(when.timestamp() * 1000)
    return int(when * 1000)


class SessionHistory:
    """`s.history`: read the session's past; label, restore."""

    def __init__(self, request: Request, restore: Callable[[int], Any]) -> None:
        self._request = request
        self._restore = restore
        self.labels: list[dict[str, Any]] = []
        """Named versions (version, name, by, at), as of the last `versions()` call."""
        self.parent: dict[str, Any] | None = None
        """Where this session was forked from (session, version, by, name, at, credits)."""
        self.forks: list[dict[str, Any]] = []
        self.credits: list[dict[str, Any]] = []
        """Everyone with accepted edits here (client, name, edits), most first."""
        self.names: dict[str, str] = {}
        """Client id -> the name its edits last carried (from the last read)."""

    async def versions(self, before: int | None = None, count: int = 200) -> list[Version]:
        """The timeline, oldest first: the last `count` versions before `before` (None: now).
        Also refreshes `labels`, `parent`, `forks` and `credits`."""
        fields: dict[str, Any] = {"what": "versions", "count": count}
        if before is not None:
            fields["before"] = before
        answer = await self._request(ClientType.HISTORY, **fields)
        self.labels = list(answer.get("labels") or [])
        self.parent = answer.get("parent")
        self.forks = list(answer.get("forks") or [])
        self.credits = list(answer.get("credits") or [])
        names: dict[str, str] = answer.get("names") or {}
        self.names = dict(names)
        return [
            Version(int(v), str(by), int(at or 0), str(src), str(summ), names.get(str(by), ""))
            for v, by, at, src, summ in answer["versions"]
        ]

    async def at(self, when: int | datetime.datetime | str | float) -> PastVersion:
        """The project at a version (an int) or at a time (a datetime, an ISO text, unix
        seconds as a float): the latest version made by then."""
        if isinstance(when, int) and not isinstance(when, bool):
            answer = await self._request(ClientType.HISTORY, what="at", version=when)
        else:
            answer = await self._request(ClientType.HISTORY, what="at", time=unix_ms(when))
        blame = {k: Blame.from_wire(v) for k, v in (answer.get("blame") or {}).items()}
        return PastVersion(int(answer["version"]), Document.from_data(answer["project"]), blame)

    async def diff(self, before: int, after: int) -> dict[str, Any]:
        """What changed from `before` to `after`: ``changes`` (id, kind, change, fields,
        by, at) and the ``authors`` of the versions in between."""
        answer = await self._request(ClientType.HISTORY, what="diff", version=before, to=after)
        return {k: v for k, v in answer.items() if k not in ("type", "id", "what")}

    async def blame(self) -> dict[str, Blame]:
        """Who made and who last changed each entity of the project now."""
        answer = await self._request(ClientType.HISTORY, what="blame")
        self.names = dict(answer.get("names") or {})
        return {k: Blame.from_wire(v) for k, v in answer["blame"].items()}

    async def label(self, name: str) -> int:
        """Name the current version (e.g. "v2 mix"); returns the version named."""
        answer = await self._request(ClientType.LABEL, name=name)
        return int(answer.get("version", 0))

    def restore(self, version: int) -> Any:
        """Bring `version` back as one forward edit (undoable); returns its `Edit`."""
        return self._restore(version)
