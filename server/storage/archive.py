"""Old log segments and milestone snapshots moved out of Redis, into files (`--archive-dir`).

With history kept, a session's Redis stream would hold every edit forever. When
Redis memory must be bounded, the Redis store moves each finished segment of
the log (the entries up to the milestone before the latest) and the snapshots
of older milestones into this archive, and trims them from Redis: Redis then
holds at most about two snapshot intervals of entries per session plus the
small version index, whatever the session's age.

Why files, not the SQLite store: every process of a Redis deployment must be
able to read any version, so the archive has to be shared; a directory on a
volume every process mounts (one machine, or a network file system) is the
simplest shared durable store that needs no new server, and each file is
written once and never changed (written to a temporary name, fsynced, renamed),
so readers never see half a segment and no locking is needed. A process that
does not mount the directory can still serve every live session; only rebuilding
versions older than what Redis holds fails there, as `not_found`.

Layout: ``<dir>/<session, percent-quoted>/log-<first>_<last>.seg`` (zlib of the
msgpack list of ``[id, data]``, ids in stream form) and ``ms-<version>.snap``
(a milestone's zlib-compressed snapshot, as the store keeps it).
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.parse
import zlib
from pathlib import Path

from backline.protocol.codec import decode_record, encode
from backline.server.storage.base import Entry

__all__ = ["SegmentArchive"]

_SEGMENT = re.compile(r"log-(\d+)-(\d+)_(\d+)-(\d+)\.seg")
Position = tuple[int, int]


def _position(entry_id: str) -> Position:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class SegmentArchive:
    """Write-once files of old entries and snapshots, per session (blocking: run it in a
    worker thread)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, session: str) -> Path:
        return self.root / urllib.parse.quote(session, safe="")

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        with open(temporary, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def write_segment(self, session: str, entries: list[Entry]) -> None:
        """Keep `entries` (consecutive, in log order) as one segment file."""
        if not entries:
            return
        name = f"log-{entries[0].id}_{entries[-1].id}.seg"
        path = self._dir(session) / name
        if path.exists():
            return  # written before (a retry, or another process): never changed
        blob = zlib.compress(encode([[e.id, e.data] for e in entries]), 6)
        self._write(path, blob)

    def segments(self, session: str) -> list[tuple[Position, Position, Path]]:
        """(first, last, file) of every segment, in log order."""
        directory = self._dir(session)
        if not directory.is_dir():
            return []
        found = []
        for path in directory.iterdir():
            match = _SEGMENT.fullmatch(path.name)
            if match:
                a, b, c, d = (int(g) for g in match.groups())
                found.append(((a, b), (c, d), path))
        return sorted(found)

    def read(self, session: str, after: str | None, count: int) -> list[Entry]:
        """Up to `count` archived entries after `after` (None: from the start), in order."""
        start = (0, 0) if after is None else _position(after)
        out: list[Entry] = []
        for _, last, path in self.segments(session):
            if last <= start:
                continue
            rows = decode_record(zlib.decompress(path.read_bytes()))
            out.extend(Entry(str(i), bytes(d)) for i, d in rows if _position(str(i)) > start)
            if len(out) >= count:
                break
        return out[:count]

    def write_snapshot(self, session: str, version: int, packed: bytes) -> None:
        path = self._dir(session) / f"ms-{version}.snap"
        if not path.exists():
            self._write(path, packed)

    def snapshot(self, session: str, version: int) -> bytes | None:
        """A milestone's compressed snapshot, if archived."""
        path = self._dir(session) / f"ms-{version}.snap"
        return path.read_bytes() if path.exists() else None

    def delete(self, session: str) -> None:
        shutil.rmtree(self._dir(session), ignore_errors=True)
