"""`kill -9` at random moments under load, 20 rounds per store: no acknowledged edit is lost.

Each round: three writers pipeline edits (note inserts with unique ids) as fast
as acknowledgements come back; after a random share of a second the server
process is killed with SIGKILL (with Redis, every other round Redis too), then
started again on the same data. A fresh client must see every acknowledged
note. After all rounds the stored session is decided again from scratch, in
this process: versions are gap-free and every acknowledged edit sits at exactly
the version its author was told.

Each store runs twice: with snapshots off (20 rounds), so that the log holds
every entry and every acknowledgement's version is checked, and with a
snapshot every 64 versions (10 rounds), so that kills also land while
snapshots are saved and the log is trimmed; there, edits the snapshot covers
are checked for presence and the ones after it for their exact version.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from backline.protocol.codec import decode_record
from backline.protocol.limits import DEFAULT_LIMITS
from backline.protocol.sequencer import Sequencer
from backline.server.storage.base import Store
from backline.testing import RawClient, ServerProcess
from backline.testing.redis import RedisServer

SESSION = "crash"
ROUNDS = int(os.environ.get("KILL_ROUNDS", "20"))  # with snapshots: half as many
WRITERS = 3
WINDOW = 16  # edits in flight per writer
SNAPSHOTS = {"log": 100_000_000, "snapshots": 64}  # --snapshot-every: off, or often
MAX_NOTES = 10_000_000  # room for every note of every round in the one session


def server_args(snapshots: str) -> list[str]:
    # no rate limit: the writers go as fast as acknowledgements allow; and room for
    # every note of every round in the one session (a fast machine writes > 50,000)
    return [
        "--snapshot-every",
        str(SNAPSHOTS[snapshots]),
        "--edit-rate",
        "0",
        "--max-notes",
        str(MAX_NOTES),
    ]


@dataclass
class Ledger:
    """What the clients were told, across every round."""

    acked: dict[str, int] = field(default_factory=dict)  # note id -> version it was acked at
    sent: int = 0
    acked_edits: int = 0
    refused: int = 0  # `unavailable` rejects: the author knows it was not stored
    grew: asyncio.Event = field(default_factory=asyncio.Event)

    def ack(self, note_ids: list[str], version: int) -> None:
        self.acked_edits += 1
        for note_id in note_ids:
            self.acked[note_id] = version
        self.grew.set()

    async def reach(self, count: int, timeout: float = 60) -> None:
        async with asyncio.timeout(timeout):
            while len(self.acked) < count:
                self.grew.clear()
                await self.grew.wait()


async def writer(server: ServerProcess, name: str, ledger: Ledger, rng: random.Random) -> None:
    """Pipeline note inserts until the connection dies; record every acknowledgement."""
    try:
        client = await RawClient.open(server.url)
        welcome = await client.hello(
            SESSION,
            server.token(SESSION),
            name=name,
            client=name,
            resume=server.resume(SESSION, name),
        )
    except (OSError, ConnectionClosed):
        return  # killed before we got in
    me, seq = welcome["client"], welcome["seq"]
    in_flight: dict[int, list[str]] = {}
    window = asyncio.Semaphore(WINDOW)

    async def read() -> None:
        try:
            await read_acks()
        finally:
            for _ in range(WINDOW):
                window.release()  # wake the sender: the connection is over

    async def read_acks() -> None:
        while True:
            message = await client.recv(timeout=60)
            if message["type"] == "ops":
                for batch in message["batches"]:
                    if batch["by"] == me and batch["seq"] in in_flight:
                        ledger.ack(in_flight.pop(batch["seq"]), batch["v"])
                        window.release()
            elif message["type"] == "reject":
                assert message["code"] == "unavailable", message  # the only refusal allowed
                in_flight.pop(message["seq"])
                ledger.refused += 1
                window.release()

    reading = asyncio.create_task(read())
    try:
        while not reading.done():
            await window.acquire()
            seq += 1
            ids = [f"{name}:{seq}:{i}" for i in range(rng.choice([1, 1, 2, 3]))]
            ops = [
                {"op": "insert", "kind": "note", "id": nid,
                 "value": {"track": "t", "pitch": rng.randrange(128), "start": seq}}
                for nid in ids
            ]  # fmt: skip
            in_flight[seq] = ids
            ledger.sent += 1
            await client.send({"type": "op", "seq": seq, "ops": ops})
    except ConnectionClosed:
        pass
    finally:
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            await reading  # the server is gone: the reader ends with the connection
        await client.ws.close()


async def check_live(server: ServerProcess, ledger: Ledger) -> int:
    """A fresh client sees every acknowledged note; returns how many were missing."""
    client = await RawClient.open(server.url)
    try:
        welcome = await client.hello(SESSION, server.token(SESSION), name="check")
    finally:
        await client.ws.close()
    notes = {n["id"] for n in welcome["snapshot"]["notes"]}
    missing = [nid for nid in ledger.acked if nid not in notes]
    assert welcome["version"] >= max(ledger.acked.values(), default=0)
    return len(missing)


async def check_log(store: Store, ledger: Ledger, snapshots: str) -> int:
    """Decide the stored session again from scratch: versions gap-free after the snapshot,
    every acknowledged note in the document, and at its version when the log still has it.
    Returns how many acknowledged notes are missing or at another version."""
    loaded = await store.load(SESSION)
    assert loaded is not None
    assert (loaded.snapshot is not None) == (snapshots == "snapshots")
    # the server's limits: a fast machine writes more notes than the default allows
    # and a catch-up window holding every batch (by count and by bytes)
    limits = replace(DEFAULT_LIMITS, max_notes=MAX_NOTES, catch_up_bytes=1 << 40)
    sequencer = Sequencer(limits, catch_up=10_000_000)
    if loaded.snapshot is not None:
        sequencer.restore(decode_record(loaded.snapshot))
    base = sequencer.version
    for entry in loaded.entries:
        with contextlib.suppress(Exception):
            sequencer.apply_entry(decode_record(entry.data))
    versions = [batch.version for batch in sequencer.recent]
    assert versions == list(range(base + 1, base + len(versions) + 1))
    at_version: dict[str, int] = {}
    for batch in sequencer.recent:
        for op in batch.ops:
            if op["op"] == "insert":
                at_version[op["id"]] = batch.version
    lost = {nid for nid in ledger.acked if nid not in sequencer.doc.notes}
    moved = {nid for nid, v in ledger.acked.items() if v > base and at_version.get(nid) != v}
    return len(lost | moved)


async def kill_rounds(
    server: ServerProcess, redis: RedisServer | None, label: str, seed: int, rounds: int
) -> Ledger:
    rng = random.Random(seed)
    ledger = Ledger()
    started = time.monotonic()
    setup = await RawClient.open(server.url)
    await setup.hello(SESSION, server.token(SESSION), name="setup")
    await setup.send(
        {"type": "op", "seq": 1, "ops": [{"op": "insert", "kind": "track", "id": "t", "value": {}}]}
    )
    assert (await setup.recv_type("ops"))["batches"][0]["v"] == 1
    await setup.ws.close()
    missing = 0
    for round_ in range(rounds):
        before = len(ledger.acked)
        tasks = [
            asyncio.create_task(writer(server, f"r{round_}w{w}", ledger, rng))
            for w in range(WRITERS)
        ]
        await ledger.reach(before + 20)  # load is flowing
        await asyncio.sleep(rng.uniform(0.0, 0.8))  # fault injection: a random moment
        server.kill()
        if redis is not None and round_ % 2:
            redis.kill()  # Redis too: only what its AOF fsynced survives
        await asyncio.gather(*tasks)
        if redis is not None and not redis.running:
            await asyncio.to_thread(redis.start)
        await server.astart()
        missing += await check_live(server, ledger)
    await server.astop()
    print(
        f"\nkill -9 ({label}): {rounds} rounds survived in {time.monotonic() - started:.0f} s; "
        f"{ledger.sent} edits sent, {ledger.acked_edits} acknowledged ({len(ledger.acked)} notes), "
        f"{ledger.refused} refused as unavailable, {missing} acknowledged notes lost"
    )
    assert missing == 0
    return ledger


@pytest.mark.timeout(900)  # 20 restarts: slow on a loaded 2-core machine
@pytest.mark.parametrize("snapshots", list(SNAPSHOTS))
async def test_kill_9_rounds_sqlite_lose_no_acknowledged_edit(
    tmp_path: Path, snapshots: str
) -> None:
    """SIGKILLs of a SQLite-backed server under load: every ack survives at its version."""
    from backline.server.storage.sqlite import SQLiteStore

    server = ServerProcess(tmp_path / "data", extra_args=server_args(snapshots))
    await server.astart()
    rounds = ROUNDS if snapshots == "log" else ROUNDS // 2
    try:
        ledger = await kill_rounds(server, None, f"sqlite, {snapshots}", 11, rounds)
    finally:
        server.kill()
    store = SQLiteStore(server.data_dir)
    try:
        assert await check_log(store, ledger, snapshots) == 0
    finally:
        await store.close()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("snapshots", list(SNAPSHOTS))
async def test_kill_9_rounds_redis_lose_no_acknowledged_edit(
    own_redis: RedisServer, tmp_path: Path, snapshots: str
) -> None:
    """SIGKILLs of a Redis-backed server (and of Redis, every other round), AOF fsync always."""
    from backline.server.storage.redis import RedisStore

    assert own_redis.appendonly and own_redis.appendfsync == "always"
    server = ServerProcess(
        tmp_path / "node",
        extra_args=["--redis", own_redis.url, "--node-id", "n0", *server_args(snapshots)],
    )
    await server.astart()
    rounds = ROUNDS if snapshots == "log" else ROUNDS // 2
    try:
        ledger = await kill_rounds(server, own_redis, f"redis, {snapshots}", 12, rounds)
    finally:
        server.kill()
    store = RedisStore(own_redis.url, node="check")
    try:
        assert await check_log(store, ledger, snapshots) == 0
    finally:
        await store.close()
