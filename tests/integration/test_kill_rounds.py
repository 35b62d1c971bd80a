"""`kill -9` at random moments under load, 20 rounds per store: no acknowledged edit is lost.

Each round: three writers pipeline edits (note inserts with unique ids) as fast
as acknowledgements come back; after a random share of a second the server
process is killed with SIGKILL (with Redis, every other round Redis too), then
started again on the same data. A fresh client must see every acknowledged
note. After all rounds the whole stored log is decided again from scratch, in
this process: versions are gap-free and every acknowledged edit sits at exactly
the version its author was told. Snapshots are off here so that the log holds
every entry for that check (snapshot saving under faults is covered in
test_sessions.py and test_redis_nodes.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from backline.client.testing import RawClient, ServerProcess
from backline.client.testing_redis import RedisServer
from backline.protocol.codec import decode_record
from backline.server.sequencer import Sequencer
from backline.server.store import Store

SESSION = "crash"
ROUNDS = int(os.environ.get("KILL_ROUNDS", "20"))
WRITERS = 3
WINDOW = 16  # edits in flight per writer
# snapshots off (see above); no rate limit: the writers go as fast as acknowledgements allow
SERVER_ARGS = ["--snapshot-every", "100000000", "--edit-rate", "0"]


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
        welcome = await client.hello(SESSION, server.token(SESSION), name=name, client=name)
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


async def check_log(store: Store, ledger: Ledger) -> int:
    """Decide the stored log again from scratch: gap-free, every ack at its version."""
    loaded = await store.load(SESSION)
    assert loaded is not None and loaded.snapshot is None
    sequencer = Sequencer(catch_up=10_000_000)
    at_version: dict[str, int] = {}
    for entry in loaded.entries:
        with contextlib.suppress(Exception):
            sequencer.apply_entry(decode_record(entry.data))
    versions = [batch.version for batch in sequencer.recent]
    assert versions == list(range(1, len(versions) + 1))
    for batch in sequencer.recent:
        for op in batch.ops:
            if op["op"] == "insert":
                at_version[op["id"]] = batch.version
    wrong = {nid: v for nid, v in ledger.acked.items() if at_version.get(nid) != v}
    return len(wrong)


async def kill_rounds(
    server: ServerProcess, redis: RedisServer | None, label: str, seed: int
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
    for round_ in range(ROUNDS):
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
        f"\nkill -9 ({label}): {ROUNDS} rounds survived in {time.monotonic() - started:.0f} s; "
        f"{ledger.sent} edits sent, {ledger.acked_edits} acknowledged ({len(ledger.acked)} notes), "
        f"{ledger.refused} refused as unavailable, {missing} acknowledged notes lost"
    )
    assert missing == 0
    return ledger


@pytest.mark.timeout(900)  # 20 restarts: slow on a loaded 2-core machine
async def test_kill_9_rounds_sqlite_lose_no_acknowledged_edit(tmp_path: Path) -> None:
    """20 SIGKILLs of a SQLite-backed server under load: every ack survives at its version."""
    from backline.server.sqlite_store import SQLiteStore

    server = ServerProcess(tmp_path / "data", extra_args=SERVER_ARGS)
    await server.astart()
    try:
        ledger = await kill_rounds(server, None, "sqlite", seed=11)
    finally:
        server.kill()
    store = SQLiteStore(server.data_dir)
    try:
        assert await check_log(store, ledger) == 0
    finally:
        await store.close()


@pytest.mark.timeout(900)
async def test_kill_9_rounds_redis_lose_no_acknowledged_edit(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    """20 SIGKILLs of a Redis-backed server (and of Redis, every other round), AOF fsync always."""
    from backline.server.redis_store import RedisStore

    assert own_redis.appendonly and own_redis.appendfsync == "always"
    server = ServerProcess(
        tmp_path / "node", extra_args=["--redis", own_redis.url, "--node-id", "n0", *SERVER_ARGS]
    )
    await server.astart()
    try:
        ledger = await kill_rounds(server, own_redis, "redis", seed=12)
    finally:
        server.kill()
    store = RedisStore(own_redis.url, node="check")
    try:
        assert await check_log(store, ledger) == 0
    finally:
        await store.close()
