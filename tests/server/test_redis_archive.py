"""`--archive-dir`: Redis holds about two snapshot intervals of a session's log, the files
hold the rest, and every version stays rebuildable (a real redis-server, real files)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from backline.protocol.codec import encode
from backline.protocol.entry import EntryKind, LogEntry
from backline.protocol.sequencer import Sequencer
from backline.server.history import History
from backline.server.storage.archive import SegmentArchive
from backline.server.storage.redis import RedisStore
from backline.testing.redis import RedisCluster, RedisServer

EVERY = 10
SESSION = "long"


@pytest.fixture
async def admin(any_redis: RedisServer | RedisCluster) -> AsyncIterator[Any]:
    """A client of the shared Redis (on a Cluster, one that follows the slots)."""
    client: Any
    if isinstance(any_redis, RedisCluster):
        from redis.asyncio.cluster import RedisCluster as ClusterClient

        client = ClusterClient(host="127.0.0.1", port=any_redis.nodes[0].port)
    else:
        client = Redis.from_url(any_redis.url)
    yield client
    await client.aclose()


async def fill(store: RedisStore, versions: int) -> Sequencer:
    """A note per version, a milestone every `EVERY` versions, as a session writes them."""
    seq = Sequencer()
    track = LogEntry(
        EntryKind.OP, "ann", 1, ops=[{"op": "insert", "kind": "track", "id": "t", "value": {}}]
    )
    entries = [track] + [
        LogEntry(
            EntryKind.OP,
            "ann",
            n + 1,
            ops=[
                {
                    "op": "insert",
                    "kind": "note",
                    "id": f"n{n}",
                    "value": {"track": "t", "pitch": 60, "start": n},
                }
            ],
            wall=1_700_000_000_000 + n,
        )
        for n in range(1, versions)
    ]
    for entry in entries:
        record = encode(entry.to_wire())
        [entry_id] = await store.append(SESSION, [record])
        seq.apply(entry)
        if seq.version % EVERY == 0:
            journal, snapshot = encode(seq.take_journal()), encode(seq.snapshot())
            await store.save_snapshot(
                SESSION, entry_id, snapshot, version=seq.version, journal=journal
            )
    return seq


async def test_redis_keeps_two_intervals_and_the_archive_the_rest(
    any_redis: RedisServer | RedisCluster, redis_prefix: str, admin: Any, tmp_path: Path
) -> None:
    archive = SegmentArchive(tmp_path / "archive")
    store = RedisStore(any_redis.url, node="n", prefix=redis_prefix, archive=archive)
    try:
        final = await fill(store, 95)
        length = await admin.xlen(f"{redis_prefix}:{{{SESSION}}}:log")
        assert length <= 2 * EVERY  # what is left since the milestone before the latest
        assert await admin.hlen(f"{redis_prefix}:{{{SESSION}}}:msd") == 2
        assert await admin.hlen(f"{redis_prefix}:{{{SESSION}}}:ms") == 9  # the index stays
        assert len(archive.segments(SESSION)) >= 7
        # the whole log still reads in order, from the files, then from the stream
        ids, after = [], None
        while batch := await store.read(SESSION, after, 7):
            ids.extend(e.id for e in batch)
            after = batch[-1].id
        assert len(ids) == 95 and len(set(ids)) == 95
        history = History(store)
        for version in (1, 5, 10, 11, 37, 60, 80, 95):
            rebuilt = await history.rebuild(SESSION, version)
            assert len(rebuilt.sequencer.doc.notes) == version - 1, version
        assert (await history.rebuild(SESSION)).sequencer.doc == final.doc
        rows = await history.versions(SESSION)
        assert [row[0] for row in rows] == list(range(1, 96))
        loaded = await store.load(SESSION)  # a session loads from Redis alone
        assert loaded is not None and loaded.snapshot is not None
        await store.delete(SESSION)
        assert archive.segments(SESSION) == [] and not (tmp_path / "archive" / SESSION).exists()
    finally:
        await store.close()


async def test_without_the_archive_redis_keeps_everything(
    any_redis: RedisServer | RedisCluster, redis_prefix: str, admin: Any
) -> None:
    store = RedisStore(any_redis.url, node="n", prefix=redis_prefix)
    try:
        await fill(store, 35)
        assert await admin.xlen(f"{redis_prefix}:{{{SESSION}}}:log") == 35
        assert await admin.hlen(f"{redis_prefix}:{{{SESSION}}}:msd") == 3
    finally:
        await store.close()
