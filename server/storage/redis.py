"""The session log on Redis, shared by every server process (see `base.py`).

Keys of session ``s`` (prefix ``bl``), all in the slot of the hash tag ``{s}``:

- ``bl:{s}:log``: a Redis Stream, one entry per appended item (field ``d``);
  entry ids are the stream ids (``"<ms>-<seq>"``), so the stream is the order.
- ``bl:{s}:snap``: a hash, ``after`` (an entry id) and ``data`` (the snapshot).
- ``bl:{s}:trim``: the id of the newest entry dropped from the log. A reader at
  a position before it has missed entries and must load the session again.
- ``bl:{s}:chat``: the chat history, a list of msgpack entries trimmed to the
  last ones on every push.
- ``bl:{s}:ms`` and ``bl:{s}:msd``: with `keep_history`, the milestones (hash
  field: the version; values msgpack ``[after, journal]`` and the zlib-compressed
  snapshot). Then the stream is never trimmed: the whole log stays in Redis
  (its growth is in docs/SCALING.md).
- ``bl:{s}:fence``: on a Cluster, the key `tail` writes before its ``WAIT`` so it
  hands out only entries a replica has (see `_tail_group`); it expires by itself.

Durability is Redis's: an append returns once Redis has replied, which with
``appendonly yes`` and ``appendfsync always`` means the entries are in the AOF
on disk (``everysec`` may lose the last second on a crash of the machine, and
without AOF a restart loses everything since the last RDB save). `persistence()`
reports the settings so the server can warn.

Appends, reads, loads and snapshot saves are Lua scripts: each is atomic and one
round trip, and a process's appends and snapshots of one session reach Redis in
call order. `tail` blocks on its own connection with one XREAD BLOCK over every
session it follows; `wake_tail` ends that wait with CLIENT UNBLOCK, sent on
another connection.

On a Redis Cluster (a ``redis+cluster://`` URL) a multi-key command must keep to
one slot, so `tail` sends one such XREAD per followed slot (in practice one per
session), each on its own connection to the node serving that slot, all at
once; the first with news ends the others (CLIENT UNBLOCK on their node). A
``MOVED`` reply (a failover, a resharding) fails that round with
`StoreUnavailable` and the next one goes to the new owner. Appends then also
wait (``WAIT``) until a replica has them when the Cluster has replicas, so an
acknowledged entry survives the promotion of a replica (docs/SCALING.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.crc import key_slot
from redis.exceptions import MovedError, NoScriptError, RedisError, ResponseError

from backline.protocol.codec import decode_record, encode
from backline.server.storage.archive import SegmentArchive
from backline.server.storage.base import (
    Entry,
    EntryId,
    Loaded,
    Milestone,
    StoreUnavailable,
    Trimmed,
)
from backline.server.storage.redis_client import (
    COMMAND_TIMEOUT,
    KINDS,
    CallOrder,
    RedisPools,
    Script,
    check_prefix,
    checkout,
    execute,
    redacted,
    session_key,
    text,
)

__all__ = ["RedisStore"]

log = logging.getLogger("backline.store")

HEALTH_TIMEOUT = 1.0  # seconds a PING may take before `healthy()` says no
UNBLOCK_ATTEMPTS = 50  # CLIENT UNBLOCK tries while the XREAD has not blocked yet ...
UNBLOCK_RETRY = 0.002  # ... this many seconds apart
POLL_BLOCK = 0.05  # longest XREAD BLOCK when CLIENT UNBLOCK is refused (seconds)
REDIRECTS = 5  # MOVED replies an append on a Cluster follows before it gives up
REPLICA_WAIT_MS = 2000  # how long an append on a Cluster waits for a replica's copy
FENCE_TTL_MS = 60_000  # the tail's fence key (see `_tail_group`) expires by itself
ROUND_GAP_PER_SESSION = 20e-6  # seconds between tail rounds with news, per followed session

_STREAM_ID = re.compile(r"(\d+)(?:-(\d+))?")

# KEYS: log; ARGV: the entries. Returns their ids.
_APPEND = Script(
    """
local ids = {}
for i = 1, #ARGV do
  ids[i] = redis.call('XADD', KEYS[1], '*', 'd', ARGV[i])
end
return ids
"""
)

# Scripts return entries flat, {id, data, id, data, ...}: a third of the reply
# elements of XRANGE's, and parsing the reply is most of a read's cost.
_FLAT = """
local function flat(items)
  local out = {}
  for i, item in ipairs(items) do
    out[2 * i - 1] = item[1]
    out[2 * i] = item[2][2]
  end
  return out
end
"""

# KEYS: log, trim; ARGV: first id ('-' or '(<id>'), count. Returns {trim point, entries}.
_READ = Script(
    _FLAT
    + """
local trimmed = redis.call('GET', KEYS[2])
return {trimmed, flat(redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2]))}
"""
)

# KEYS: log, snap. Returns {number of keys that exist, after, snapshot, entries after it}.
_LOAD = Script(
    _FLAT
    + """
local snap = redis.call('HMGET', KEYS[2], 'after', 'data')
local first = '-'
if snap[1] then first = '(' .. snap[1] end
return {redis.call('EXISTS', KEYS[1], KEYS[2]), snap[1], snap[2],
        flat(redis.call('XRANGE', KEYS[1], first, '+'))}
"""
)

# KEYS: snap, log, trim; ARGV: after, snapshot, keep (1: never trim). Ids arrive in canonical form
# ("<ms>-<seq>", no leading zeros), so comparing lengths, then digits, is exact.
_SAVE_SNAPSHOT = Script(
    """
local function later(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  if #am ~= #bm then return #am > #bm end
  if am ~= bm then return am > bm end
  if #as ~= #bs then return #as > #bs end
  return as > bs
end
local previous = redis.call('HGET', KEYS[1], 'after')
if previous and not later(ARGV[1], previous) then return 0 end
redis.call('HSET', KEYS[1], 'after', ARGV[1], 'data', ARGV[2])
if previous and ARGV[3] ~= '1' then
  redis.call('XTRIM', KEYS[2], 'MINID', previous)
  redis.call('XDEL', KEYS[2], previous)
  redis.call('SET', KEYS[3], previous)
end
return 1
"""
)


# KEYS: log, trim; ARGV: the last id to drop. The archive holds them now (`_move_to_archive`).
_TRIM_TO = Script(
    """
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""
)


def _position(entry_id: EntryId | None) -> tuple[int, int]:
    """A stream id as numbers; None (the start of the log) is 0-0."""
    if entry_id is None:
        return (0, 0)
    match = _STREAM_ID.fullmatch(entry_id)
    if match is None:
        raise ValueError(f"not a Redis stream id: {entry_id!r}")
    return (int(match.group(1)), int(match.group(2) or 0))


def _canonical(entry_id: EntryId | None) -> str:
    ms, seq = _position(entry_id)
    return f"{ms}-{seq}"


def _flat_entries(items: Any) -> list[Entry]:
    """Entries from a script's reply: ``[id, data, id, data, ...]``."""
    return [Entry(text(i), bytes(d)) for i, d in zip(items[::2], items[1::2], strict=True)]


def _entries(items: Any) -> list[Entry]:
    """Entries from a raw XRANGE / XREAD reply: ``[[id, [field, value, ...]], ...]``."""
    found = []
    for entry_id, fields in items:
        values = dict(zip(fields[::2], fields[1::2], strict=True))
        found.append(Entry(text(entry_id), bytes(values[b"d"])))
    return found


class _Wait:
    """One `tail` call in progress, so that `wake_tail` can end it."""

    __slots__ = ("blocked", "woken")

    def __init__(self) -> None:
        self.woken = asyncio.Event()
        # per XREAD in progress (one, or one per slot on a Cluster): the client that
        # can unblock it and the id of the connection blocked in it, while it is
        self.blocked: dict[int, tuple[Redis | RedisCluster, int]] = {}


class RedisStore:
    """Entry logs and snapshots of every session, in Redis at `url`.

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]`` (or ``rediss://``).
        node: this server process's name; shows in ``CLIENT LIST``.
        prefix: the first part of every key, so several deployments can share a Redis.
        tail_count: the most entries `tail` returns per session at once.
        command_timeout: seconds to wait for Redis's reply to a command (beyond the
            wait a `tail` asks for) before giving up with `StoreUnavailable`.
    """

    def __init__(
        self,
        url: str,
        *,
        node: str,
        prefix: str = "bl",
        tail_count: int = 1000,
        command_timeout: float = COMMAND_TIMEOUT,
        keep_history: bool = True,
        archive: SegmentArchive | None = None,
    ) -> None:
        self.url = url
        self.keep_history = keep_history
        self.single_writer = False
        self.archive = archive if keep_history else None
        self.node = node
        self.prefix = check_prefix(prefix)
        self.tail_count = tail_count
        self.command_timeout = command_timeout
        # XREAD BLOCK holds a connection of `waiting`; each wait is bounded by `tail` itself
        self._pools = RedisPools(
            url,
            names=(f"backline-store-{node}", f"backline-tail-{node}"),
            command_timeout=command_timeout,
        )
        self._redis = self._pools.redis
        self._blocking = self._pools.waiting  # None on a Cluster: `_pools.node` instead
        self._in_order = CallOrder()  # appends, snapshots and deletes of a session
        self._waits: set[_Wait] = set()
        self._wake_pending = False  # a wake came while no tail was in progress
        self._last_news = float("-inf")  # loop time the last tail round with news started
        self._unblocking: set[asyncio.Task[None]] = set()
        self._unblock_refused = False
        self._replicas: dict[tuple[str, int], int] = {}  # Cluster node -> its replicas
        self._closed = False

    def __repr__(self) -> str:
        return f"RedisStore({redacted(self.url)!r}, node={self.node!r}, prefix={self.prefix!r})"

    def _key(self, session: str, kind: str) -> str:
        return session_key(self.prefix, session, kind)

    def _unavailable(self, what: str, exc: BaseException) -> StoreUnavailable:
        detail = str(exc) or type(exc).__name__
        return StoreUnavailable(f"Redis at {redacted(self.url)}: {what} failed: {detail}")

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable(f"Redis store for {redacted(self.url)} is closed")

    async def _run(
        self, what: str, script: Script, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        self._check_open()
        try:
            return await script(self._redis, keys, args)
        except (RedisError, OSError) as exc:
            raise self._unavailable(what, exc) from exc

    # -- the log -----------------------------------------------------------------

    def append_soon(self, session: str, entries: Sequence[bytes]) -> asyncio.Future[list[EntryId]]:
        """`append` as a task: calls made in order still enter the log in order."""
        return asyncio.ensure_future(self.append(session, entries))

    async def append(self, session: str, entries: Sequence[bytes]) -> list[EntryId]:
        """Append `entries` as one unit (one Lua script); return their stream ids.

        Appends to one session enter the log in call order. Returns once Redis
        replied; what that means on disk depends on its ``appendfsync`` (see the
        module docstring).
        """
        key = self._key(session, "log")
        if not entries:
            self._check_open()
            return []
        async with self._in_order(session):
            if self._pools.cluster:
                ids = await self._append_on_cluster(key, list(entries))
            else:
                ids = await self._run(f"append to {key}", _APPEND, [key], list(entries))
        return [text(i) for i in ids]

    async def _append_on_cluster(self, key: str, entries: list[bytes]) -> Any:
        """The append script on the node serving `key`, followed on the same
        connection by ``WAIT 1`` when that node has replicas: the entries are then
        on a replica too (and in its AOF with ``appendfsync always``), so they
        survive a failover. A ``MOVED`` reply is followed to the new owner."""
        self._check_open()
        what = f"append to {key}"
        try:
            for _ in range(REDIRECTS):
                owner = await self._pools.owner(key)
                node = self._pools.node(owner)
                replicas = await self._replicas_of(owner)
                async with node.redis.pipeline(transaction=False) as pipe:
                    pipe.execute_command("EVALSHA", _APPEND.sha, 1, key, *entries)
                    if replicas:
                        pipe.execute_command("WAIT", 1, REPLICA_WAIT_MS)
                    replies = await pipe.execute(raise_on_error=False)
                first = replies[0]
                if isinstance(first, NoScriptError):
                    await execute(node.redis, "SCRIPT", "LOAD", _APPEND.source)
                    continue  # not run: nothing was appended
                if isinstance(first, MovedError):
                    self._pools.moved(first)
                    self._replicas.pop(owner, None)
                    continue  # not run on that node
                if isinstance(first, BaseException):
                    raise first
                if replicas and not (isinstance(replies[1], int) and replies[1] >= 1):
                    log.warning(
                        "%s: no replica confirmed it within %d ms; a failover now may lose it",
                        what, REPLICA_WAIT_MS,
                    )  # fmt: skip
                    self._replicas.pop(owner, None)  # the replica may be gone: ask again
                return first
        except (RedisError, OSError) as exc:
            self._pools.moved(exc)
            self._replicas.clear()
            raise self._unavailable(what, exc) from exc
        raise self._unavailable(what, RuntimeError(f"more than {REDIRECTS} redirections"))

    async def _replicas_of(self, owner: tuple[str, int]) -> int:
        """How many replicas the Cluster node `owner` has (asked once, then cached until
        a failure or an unconfirmed ``WAIT`` makes the answer doubtful)."""
        replicas = self._replicas.get(owner)
        if replicas is None:
            info = await execute(self._pools.node(owner).redis, "INFO", "replication")
            replicas = int(info.get("connected_slaves", 0)) if isinstance(info, dict) else 0
            self._replicas[owner] = replicas
        return replicas

    async def read(self, session: str, after: EntryId | None, count: int = 1000) -> list[Entry]:
        first = "-" if after is None else f"({_canonical(after)}"
        keys = [self._key(session, "log"), self._key(session, "trim")]
        trimmed, items = await self._run(f"read {keys[0]}", _READ, keys, [first, count])
        if trimmed is not None and _position(text(trimmed)) > _position(after):
            if self.archive is not None:  # moved out of Redis, not gone
                archived = await asyncio.to_thread(self.archive.read, session, after, count)
                if archived:
                    return archived
            raise Trimmed(
                f"session {session}: the entries after {after} were trimmed (up to {text(trimmed)})"
            )
        return _flat_entries(items)

    async def tail(
        self, positions: Mapping[str, EntryId | None], timeout: float
    ) -> dict[str, list[Entry] | None]:
        """See `Store.tail`. Raises `StoreUnavailable` when Redis fails or does not
        answer within `timeout` plus `command_timeout`; the next call connects again."""
        self._check_open()
        loop = asyncio.get_running_loop()
        # pace the rounds: each one names every followed stream (3 to 5 µs of CPU
        # per session), so with many sessions and constant news they would take the
        # whole core; a round that follows news starts at least ROUND_GAP_PER_SESSION
        # times the sessions after the previous one (20 ms with 1,000 sessions, 0.2 ms with 10)
        gap = self._last_news + ROUND_GAP_PER_SESSION * len(positions) - loop.time()
        if gap > 0:
            await asyncio.sleep(gap)  # pacing, not synchronisation: wakes meanwhile count
        started = loop.time()
        wait = _Wait()  # registered before the first await: a wake from now on counts
        if self._wake_pending:
            # the positions may predate that wake (a tail created as a task, not yet started)
            self._wake_pending = False
            wait.woken.set()
        self._waits.add(wait)
        deadline = loop.time() + max(timeout, 0.0)
        try:
            while True:
                block = 0.0 if wait.woken.is_set() else max(deadline - loop.time(), 0.0)
                if self._unblock_refused:
                    block = min(block, POLL_BLOCK)
                found = await self._tail_once(positions, block, wait)
                if found:
                    self._last_news = started
                if found or wait.woken.is_set() or loop.time() >= deadline:
                    return found
        finally:
            self._waits.discard(wait)

    async def _tail_once(
        self, positions: Mapping[str, EntryId | None], block: float, wait: _Wait
    ) -> dict[str, list[Entry] | None]:
        """One round: one XREAD over every followed session, or on a Cluster one per
        followed slot, at once (see the module docstring)."""
        if not positions:
            if block > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wait.woken.wait(), block)
            return {}
        if self._blocking is not None:
            return await self._tail_group(self._blocking, self._redis, 0, positions, block, wait)
        slots: dict[int, dict[str, EntryId | None]] = {}
        for session, position in positions.items():
            slots.setdefault(key_slot(self._key(session, "log").encode()), {})[session] = position
        try:
            owners = [
                await self._pools.owner(self._key(next(iter(g)), "log")) for g in slots.values()
            ]
        except (RedisError, OSError) as exc:
            raise self._unavailable("tail", exc) from exc

        async def one(slot: int, group: dict[str, EntryId | None], owner: tuple[str, int]) -> Any:
            node = self._pools.node(owner)
            assert node.waiting is not None
            try:
                try:
                    fence = await self._replicas_of(owner) > 0
                except (RedisError, OSError) as exc:
                    raise self._unavailable("tail", exc) from exc
                found = await self._tail_group(
                    node.waiting, node.redis, slot, group, block, wait, fence=fence
                )
            except StoreUnavailable as exc:
                self._pools.moved(exc.__cause__ or exc)
                self._wake(wait)  # end the other XREADs of this round: it failed
                raise
            if found:
                self._wake(wait)  # news: the other XREADs of the round need not wait on
            return found

        rounds = await asyncio.gather(
            *(
                one(slot, group, owner)
                for (slot, group), owner in zip(slots.items(), owners, strict=True)
            ),
            return_exceptions=True,
        )
        merged: dict[str, list[Entry] | None] = {}
        for result in rounds:
            if isinstance(result, BaseException):
                raise result
            merged.update(result)
        return merged

    async def _tail_group(
        self,
        pool: ConnectionPool,
        unblocker: Redis | RedisCluster,
        group: int,
        positions: Mapping[str, EntryId | None],
        block: float,
        wait: _Wait,
        *,
        fence: bool = False,
    ) -> dict[str, list[Entry] | None]:
        """One XREAD (blocking up to `block` seconds) on a connection of `pool`, then
        the trim points; with `fence`, news is returned only once a replica has it.

        The three commands go out in one write: CLIENT ID (so `wake_tail` knows
        whom to unblock, through `unblocker`), XREAD BLOCK, and MGET of the trim
        points, which Redis runs right after the XREAD returns. A trim point is set
        in the same script that trims, so any entry the XREAD missed shows as a
        trim point past the position: no entry is skipped silently, at no extra
        round trip.

        The fence (a Cluster node with replicas): Redis hands a blocked XREAD an
        entry as soon as the primary has it, before its replica does. Were the
        primary killed then, this process would have applied an entry the promoted
        replica never had, and its versions would run ahead of every other
        process's for good. So when the XREAD found news, the same connection
        writes a short-lived key in the slot and sends ``WAIT 1``: replication is
        in order, so once a replica has that write it has every entry read before
        it. An entry is handed out only then, as an append is acknowledged only
        after its own ``WAIT``. (Without a confirmation within `REPLICA_WAIT_MS`,
        a replica being gone, the news goes out with a warning, as an append is
        acknowledged with one.)
        """
        sessions = list(positions)
        logs = [self._key(s, "log") for s in sessions]
        xread: list[Any] = ["XREAD", "COUNT", self.tail_count]
        if block > 0:
            xread += ["BLOCK", max(1, math.ceil(block * 1000))]
        xread += ["STREAMS", *logs, *(_canonical(positions[s]) for s in sessions)]
        commands = [("CLIENT", "ID"), xread, ("MGET", *(self._key(s, "trim") for s in sessions))]
        try:
            fenced = REPLICA_WAIT_MS / 1000 if fence else 0.0
            async with asyncio.timeout(block + fenced + self.command_timeout):
                conn = await checkout(pool)
                try:
                    await conn.send_packed_command(conn.pack_commands(commands))
                    wait.blocked[group] = (unblocker, int(await conn.read_response()))
                    if wait.woken.is_set():
                        self._unblock(wait, group)
                    streams = await conn.read_response()
                    wait.blocked.pop(group, None)
                    marks = await conn.read_response()
                    if fence and streams:
                        await self._fence(conn, sessions[0])
                except BaseException:
                    # replies may still be pending on it: never hand it out again as is
                    await conn.disconnect(nowait=True)
                    raise
                finally:
                    wait.blocked.pop(group, None)
                    await pool.release(conn)
        except TimeoutError as exc:
            late = TimeoutError(f"no reply within {block + self.command_timeout:.1f} s")
            raise self._unavailable("tail", late) from exc
        except (RedisError, OSError) as exc:
            raise self._unavailable("tail", exc) from exc
        found: dict[str, list[Entry] | None] = {}
        by_key = {key.encode(): session for key, session in zip(logs, sessions, strict=True)}
        for key, items in streams or ():
            found[by_key[bytes(key)]] = _entries(items)
        for session, mark in zip(sessions, marks, strict=True):
            if mark is not None and _position(text(mark)) > _position(positions[session]):
                found[session] = None
        return found

    async def _fence(self, conn: AbstractConnection, session: str) -> None:
        """Wait until a replica has everything this connection's node had when the
        last command on `conn` ran (see `_tail_group`)."""
        key = self._key(session, "fence")
        fence = (("SET", key, "1", "PX", FENCE_TTL_MS), ("WAIT", 1, REPLICA_WAIT_MS))
        await conn.send_packed_command(conn.pack_commands(fence))
        await conn.read_response()
        confirmed = await conn.read_response()
        if not (isinstance(confirmed, int) and confirmed >= 1):
            log.warning(
                "tail of %s: no replica confirmed the news within %d ms; handed out anyway",
                session, REPLICA_WAIT_MS,
            )  # fmt: skip
            self._replicas.clear()  # the replica may be gone: ask again

    def wake_tail(self, session: str | None = None) -> None:
        """End the `tail` in progress now; with none in progress, the next one returns
        after a single non-blocking read. (Every `tail` reads every followed session's
        stream, so `session` needs no bookkeeping here.)"""
        if not self._waits:
            self._wake_pending = True
        for wait in list(self._waits):
            self._wake(wait)

    def _wake(self, wait: _Wait) -> None:
        if not wait.woken.is_set():
            wait.woken.set()
            for group in list(wait.blocked):
                self._unblock(wait, group)

    def _unblock(self, wait: _Wait, group: int) -> None:
        blocked = wait.blocked.get(group)
        if blocked is None or self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._send_unblock(wait, group, blocked))
        self._unblocking.add(task)
        task.add_done_callback(self._unblocking.discard)

    async def _send_unblock(
        self, wait: _Wait, group: int, blocked: tuple[Redis | RedisCluster, int]
    ) -> None:
        unblocker, client_id = blocked
        for _ in range(UNBLOCK_ATTEMPTS):
            if wait.blocked.get(group) != blocked:
                return  # the XREAD has replied
            try:
                if await execute(unblocker, "CLIENT", "UNBLOCK", client_id):
                    return
            except ResponseError as exc:
                # CLIENT disabled (some managed Redis): wait in short blocks instead
                if not self._unblock_refused:
                    log.warning(
                        "Redis at %s refused CLIENT UNBLOCK (%s): tail polls every %.0f ms",
                        redacted(self.url), exc, POLL_BLOCK * 1000,
                    )  # fmt: skip
                self._unblock_refused = True
                return
            except (RedisError, OSError) as exc:
                # the blocked read fails on its own, or ends at its timeout
                log.debug("CLIENT UNBLOCK on %s failed: %s", redacted(self.url), exc)
                return
            # Redis has not run the XREAD yet (it arrived on another connection)
            await asyncio.sleep(UNBLOCK_RETRY)

    # -- snapshots and sessions ----------------------------------------------------

    async def load(self, session: str) -> Loaded | None:
        keys = [self._key(session, "log"), self._key(session, "snap")]
        exists, after, snapshot, items = await self._run(f"load {keys[0]}", _LOAD, keys, [])
        if not exists:
            return None
        return Loaded(
            None if snapshot is None else bytes(snapshot),
            None if after is None else text(after),
            _flat_entries(items),
        )

    async def save_snapshot(
        self,
        session: str,
        after: EntryId,
        snapshot: bytes,
        *,
        version: int | None = None,
        journal: bytes = b"",
    ) -> None:
        keys = [self._key(session, k) for k in ("snap", "log", "trim")]
        args = [_canonical(after), snapshot, "1" if self.keep_history else "0"]
        packed = b""
        if self.keep_history and version is not None:
            packed = await asyncio.to_thread(zlib.compress, snapshot, 1)
        async with self._in_order(session):
            await self._run(f"save snapshot {keys[0]}", _SAVE_SNAPSHOT, keys, args)
            if packed:
                ms, msd = self._key(session, "ms"), self._key(session, "msd")
                try:
                    async with self._redis.pipeline(transaction=True) as pipe:
                        pipe.hsetnx(msd, str(version), packed)
                        pipe.hsetnx(ms, str(version), encode([_canonical(after), journal]))
                        await pipe.execute()
                except (RedisError, OSError) as exc:
                    raise self._unavailable(f"save milestone {ms}", exc) from exc
                if self.archive is not None and version is not None:
                    await self._move_to_archive(session, version)

    async def _move_to_archive(self, session: str, version: int) -> None:
        """Move the log up to the milestone before `version` (and the snapshots of the
        milestones before that one) into the archive, then out of Redis. Called in call
        order with the session's other writes; a failure leaves Redis as it was."""
        archive = self.archive
        assert archive is not None
        ms, msd = self._key(session, "ms"), self._key(session, "msd")
        log_key, trim_key = self._key(session, "log"), self._key(session, "trim")
        try:
            versions = sorted(int(text(f)) for f in await execute(self._redis, "HKEYS", ms))
            older = [v for v in versions if v < version]
            if not older:
                return
            previous = older[-1]
            meta = await execute(self._redis, "HGET", ms, str(previous))
            until = str(decode_record(bytes(meta))[0])
            items = await execute(self._redis, "XRANGE", log_key, "-", until)
            entries = [Entry(text(i), bytes(fields[b"d"])) for i, fields in items]
            if entries:
                await asyncio.to_thread(archive.write_segment, session, entries)
                await self._run(f"trim {log_key}", _TRIM_TO, [log_key, trim_key], [until])
            kept = {previous, version}
            for old in versions:
                if old in kept:
                    continue
                data = await execute(self._redis, "HGET", msd, str(old))
                if data is not None:
                    await asyncio.to_thread(archive.write_snapshot, session, old, bytes(data))
                    await execute(self._redis, "HDEL", msd, str(old))
        except (RedisError, OSError) as exc:
            log.warning("session %s: archiving old entries failed: %s", session, exc)

    async def milestone(self, session: str, version: int) -> Milestone | None:
        self._check_open()
        ms, msd = self._key(session, "ms"), self._key(session, "msd")
        try:
            fields = await execute(self._redis, "HKEYS", ms)
            found = [int(text(f)) for f in fields if int(text(f)) <= version]
            if not found:
                return None
            best = str(max(found))
            meta, data = await asyncio.gather(
                execute(self._redis, "HGET", ms, best), execute(self._redis, "HGET", msd, best)
            )
        except (RedisError, OSError) as exc:
            raise self._unavailable(f"read milestone {ms}", exc) from exc
        if data is None and meta is not None and self.archive is not None:
            data = await asyncio.to_thread(self.archive.snapshot, session, int(best))
        if meta is None or data is None:
            return None
        after, journal = decode_record(bytes(meta))
        snapshot = await asyncio.to_thread(zlib.decompress, bytes(data))
        return Milestone(int(best), str(after), snapshot, bytes(journal))

    async def milestones(self, session: str) -> list[Milestone]:
        self._check_open()
        ms = self._key(session, "ms")
        try:
            items = await execute(self._redis, "HGETALL", ms)
        except (RedisError, OSError) as exc:
            raise self._unavailable(f"read milestones {ms}", exc) from exc
        pairs = (
            items.items() if isinstance(items, dict) else zip(items[::2], items[1::2], strict=True)
        )
        out = []
        for version, meta in pairs:
            after, journal = decode_record(bytes(meta))
            out.append(Milestone(int(text(version)), str(after), None, bytes(journal)))
        return sorted(out, key=lambda m: m.version)

    async def add_chat(self, session: str, entry: dict[str, Any], keep: int) -> None:
        self._check_open()
        key = self._key(session, "chat")
        try:
            async with self._in_order(session):
                if keep <= 0:
                    await execute(self._redis, "DEL", key)
                    return
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.rpush(key, encode(entry))
                    pipe.ltrim(key, -keep, -1)
                    await pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._unavailable(f"add chat to {key}", exc) from exc

    async def chat_history(self, session: str, count: int) -> list[dict[str, Any]]:
        self._check_open()
        if count <= 0:
            return []
        key = self._key(session, "chat")
        try:
            items = await execute(self._redis, "LRANGE", key, -count, -1)
        except (RedisError, OSError) as exc:
            raise self._unavailable(f"read chat {key}", exc) from exc
        return [decode_record(item) for item in items]

    async def delete(self, session: str) -> None:
        """Remove every key of `session`, its chat history included."""
        self._check_open()
        keys = [self._key(session, kind) for kind in KINDS]
        try:
            async with self._in_order(session):
                await execute(self._redis, "DEL", *keys)
                if self.archive is not None:
                    await asyncio.to_thread(self.archive.delete, session)
        except (RedisError, OSError) as exc:
            raise self._unavailable(f"delete {session}", exc) from exc

    async def sessions(self) -> list[str]:
        """Every session with a log or a snapshot, sorted (SCAN: no long block of Redis)."""
        self._check_open()
        head = f"{self.prefix}:{{"
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", head) + "*"
        found: set[str] = set()
        try:
            for redis in await self._primaries():
                cursor = 0
                while True:
                    cursor, keys = await execute(
                        redis, "SCAN", cursor, "MATCH", pattern, "COUNT", 1000
                    )
                    for raw in keys:
                        key = text(raw)
                        for tail in ("}:log", "}:snap"):
                            if key.endswith(tail) and len(key) > len(head) + len(tail):
                                found.add(key[len(head) : -len(tail)])
                    if int(cursor) == 0:
                        break
        except (RedisError, OSError) as exc:
            raise self._unavailable("scan for sessions", exc) from exc
        return sorted(found)

    async def _primaries(self) -> list[Redis | RedisCluster]:
        """A client per primary: the one Redis, or each primary of the Cluster."""
        cluster = self._redis
        if not isinstance(cluster, RedisCluster):
            return [cluster]
        await cluster.initialize()
        return [self._pools.node((str(n.host), int(n.port))).redis for n in cluster.get_primaries()]

    # -- the server ----------------------------------------------------------------

    async def healthy(self) -> bool:
        """Whether Redis answers a PING within `HEALTH_TIMEOUT` seconds."""
        if self._closed:
            return False
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT):
                await execute(self._redis, "PING")
        except (RedisError, OSError, TimeoutError):
            return False
        return True

    async def persistence(self) -> dict[str, str]:
        """Redis's ``appendonly``, ``appendfsync`` and ``save`` settings.

        Where CONFIG is disabled (some managed Redis), reports ``appendonly`` from
        INFO persistence and leaves out what it cannot learn.
        """
        self._check_open()
        try:
            each = [await self._persistence(redis) for redis in await self._primaries()]
        except (RedisError, OSError) as exc:
            raise self._unavailable("read the persistence settings", exc) from exc
        # a Cluster's primaries should agree; where they do not, report every value
        return {
            name: "/".join(sorted({found[name] for found in each if name in found}))
            for name in sorted({name for found in each for name in found})
        }

    async def _persistence(self, redis: Redis | RedisCluster) -> dict[str, str]:
        settings: dict[str, str] = {}
        for name in ("appendonly", "appendfsync", "save"):
            try:
                reply = await execute(redis, "CONFIG", "GET", name)
            except ResponseError:
                break
            if not isinstance(reply, dict):
                reply = dict(zip(reply[::2], reply[1::2], strict=True))
            settings.update((text(k), text(v)) for k, v in reply.items())
        if "appendonly" not in settings:
            info = await execute(redis, "INFO", "persistence")
            if isinstance(info, dict) and "aof_enabled" in info:
                settings["appendonly"] = "yes" if int(info["aof_enabled"]) else "no"
        return settings

    async def close(self) -> None:
        """End every `tail` and close the connections; the store is unusable after."""
        if self._closed:
            return
        self.wake_tail()
        if self._unblocking:
            await asyncio.wait(set(self._unblocking), timeout=HEALTH_TIMEOUT)
        self._closed = True
        for task in list(self._unblocking):
            task.cancel()
        await asyncio.gather(*self._unblocking, return_exceptions=True)
        await self._pools.disconnect()
