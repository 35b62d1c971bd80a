"""What `RedisStore` and `RedisBus` share: connection settings, key names, error text.

Every key of a session carries the session id as its Redis Cluster hash tag
(``bl:{session}:log``, ``bl:{session}:snap``, ...), so one session's keys live in
one slot and a Lua script or a MULTI may touch them all.

Concurrent calls run on different pooled connections, so Redis may see them in
any order; `CallOrder` makes the calls for one session go out one after the
other, in the order they were made (as the memory and SQLite stores do).

Connections never retry a command by themselves (``retries=0``): a retried
append whose reply was lost would be appended twice. A pooled connection that
Redis closed (a restart) is noticed and replaced when it is taken from the
pool, before anything is sent on it; the callers retry whatever failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import ConnectionError, MovedError, NoScriptError, RedisError

__all__ = [
    "COMMAND_TIMEOUT",
    "CONNECT_TIMEOUT",
    "KINDS",
    "CallOrder",
    "RedisPools",
    "Script",
    "check_prefix",
    "checkout",
    "execute",
    "is_cluster",
    "node_url",
    "open_pool",
    "redacted",
    "session_key",
    "text",
]

CONNECT_TIMEOUT = 2.0  # seconds to open a TCP connection to Redis
COMMAND_TIMEOUT = 5.0  # seconds to wait for the reply to an ordinary command
POOL_SIZE = 64  # connections per pool; more commands at once wait for one
NODE_WAITING_SIZE = 4096  # blocking connections per Cluster node (one per followed slot)

KINDS = ("log", "snap", "trim", "chat", "ms", "msd", "fence")
"""The suffixes of a session's keys: entry stream, snapshot, trim point, chat history,
milestones (version -> [after, journal]), their snapshots (version -> zlib data) and
the tail's replication fence (on a Cluster; expires by itself)."""


def check_prefix(prefix: str) -> str:
    if not prefix or any(c in prefix for c in "{}"):
        raise ValueError(f"a Redis key prefix must be non-empty and brace-free, not {prefix!r}")
    return prefix


def session_key(prefix: str, session: str, kind: str) -> str:
    """The key of one of `session`'s values; `kind` is one of `KINDS` (or ``bus``)."""
    if not session:
        # "{}" is not a hash tag: the session's keys would scatter over the slots
        raise ValueError("a session id must not be empty")
    return f"{prefix}:{{{session}}}:{kind}"


CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def is_cluster(url: str) -> bool:
    """Whether `url` names a Redis Cluster (``redis+cluster://``)."""
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def plain_url(url: str) -> str:
    """`url` with a cluster scheme replaced by the plain one (``redis://``)."""
    parts = urlsplit(url)
    scheme = CLUSTER_SCHEMES.get(parts.scheme, parts.scheme)
    return urlunsplit(parts._replace(scheme=scheme))


def node_url(url: str, host: str, port: int) -> str:
    """The plain URL of the node ``host:port`` of the Cluster `url` names (same
    credentials, same options)."""
    parts = urlsplit(plain_url(url))
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{port}"
    if parts.username is not None or parts.password is not None:
        netloc = f"{parts.username or ''}:{parts.password or ''}@{netloc}"
    return urlunsplit(parts._replace(netloc=netloc, path=""))


def redacted(url: str) -> str:
    """`url` without its password, for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def open_pool(
    url: str,
    *,
    name: str,
    command_timeout: float | None = COMMAND_TIMEOUT,
    max_connections: int = POOL_SIZE,
) -> ConnectionPool:
    """A pool of RESP2 connections to `url` that never retry a command by themselves.

    `command_timeout` None leaves reads unbounded: for connections that block
    on purpose (XREAD BLOCK, SUBSCRIBE), whose callers bound each wait themselves.
    At most `POOL_SIZE` connections; a command beyond that waits for a free one
    (bounded like a connect) instead of failing: a thousand sessions appending in
    the same instant got "Too many connections" from redis-py's default pool.
    """
    return BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=CONNECT_TIMEOUT + (command_timeout or 0.0),
        protocol=2,
        socket_timeout=command_timeout,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_keepalive=True,
        retry=Retry(NoBackoff(), 0),
        client_name=name,
    )


class RedisPools:
    """The two pools a Redis-backed component of one process needs.

    `commands` (with `redis` over it) for ordinary commands, bounded by
    `command_timeout`; `waiting` for the connections that block on purpose
    (XREAD BLOCK, SUBSCRIBE), whose callers bound each wait themselves.

    For a Cluster URL, `redis` is redis-py's cluster client, `commands` and
    `waiting` are None, and `node` gives the plain pools of one node; `owner`
    says which node serves a key's slot (from ``CLUSTER SLOTS``, asked again
    after `moved` reported a failure).
    """

    def __init__(
        self,
        url: str,
        *,
        names: tuple[str, str],
        command_timeout: float = COMMAND_TIMEOUT,
        waiting_size: int = POOL_SIZE,
    ) -> None:
        self.cluster = is_cluster(url)
        self.url = url
        self.names = names
        self.command_timeout = command_timeout
        self._nodes: dict[tuple[str, int], RedisPools] = {}
        self._slots: dict[int, tuple[str, int]] = {}  # slot -> node, for `owner`
        self.redis: Redis | RedisCluster
        if self.cluster:
            self.redis = RedisCluster.from_url(
                plain_url(url),
                max_connections=POOL_SIZE,
                protocol=2,
                socket_timeout=command_timeout,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_keepalive=True,
                retry=Retry(NoBackoff(), 0),
                client_name=names[0],
            )
            # the Cluster has no single node to block on: see `node`
            self.commands: ConnectionPool | None = None
            self.waiting: ConnectionPool | None = None
        else:
            self.commands = open_pool(url, name=names[0], command_timeout=command_timeout)
            self.redis = Redis(connection_pool=self.commands)
            self.waiting = open_pool(
                url, name=names[1], command_timeout=None, max_connections=waiting_size
            )

    async def owner(self, key: str) -> tuple[str, int]:
        """The ``(host, port)`` of the Cluster node serving `key`'s slot, as far as
        this process knows (`moved` corrects it)."""
        assert isinstance(self.redis, RedisCluster)
        cluster = self.redis
        slot = key_slot(key.encode())
        address = self._slots.get(slot)
        if address is not None:
            return address
        if not self._slots:
            await cluster.initialize()
            # ask the nodes themselves: after a failover the client's map may be old
            known = [(str(n.host), int(n.port)) for n in cluster.get_nodes()]
            failure: BaseException | None = None
            for candidate in dict.fromkeys([*self._nodes, *known]):
                try:
                    reply = await execute(self.node(candidate).redis, "CLUSTER", "SLOTS")
                except (RedisError, OSError) as exc:
                    failure = exc
                    continue
                for first, last, primary, *_ in reply:
                    owner = (text(primary[0]) or candidate[0], int(primary[1]))
                    for each in range(int(first), int(last) + 1):
                        self._slots[each] = owner
                break
            else:
                raise ConnectionError(f"no node of the Redis Cluster answered: {failure}")
        address = self._slots.get(slot)
        if address is None:
            raise ConnectionError(f"no node of the Redis Cluster serves slot {slot}")
        return address

    def moved(self, exc: BaseException) -> None:
        """Learn from a failure on a node: a ``MOVED`` names the slot's new owner; any
        other error forgets every owner (asked for again from the slot map)."""
        if isinstance(exc, MovedError):
            self._slots[int(exc.slot_id)] = (str(exc.host), int(exc.port))
        else:
            self._slots.clear()

    def node(self, address: tuple[str, int]) -> RedisPools:
        """The plain pools of one Cluster node (made on first use, kept until `disconnect`)."""
        pools = self._nodes.get(address)
        if pools is None:
            pools = RedisPools(
                node_url(self.url, *address),
                names=self.names,
                command_timeout=self.command_timeout,
                waiting_size=NODE_WAITING_SIZE,
            )
            self._nodes[address] = pools
        return pools

    async def disconnect(self) -> None:
        if isinstance(self.redis, RedisCluster):
            await self.redis.aclose()
        if self.commands is not None:
            await self.commands.disconnect()
        if self.waiting is not None:
            await self.waiting.disconnect()
        nodes, self._nodes = list(self._nodes.values()), {}
        for pools in nodes:
            await pools.disconnect()


async def execute(redis: Redis | RedisCluster, *args: Any) -> Any:
    """``redis.execute_command(*args)``: the raw reply (redis-py leaves it untyped)."""
    run: Callable[..., Awaitable[Any]] = redis.execute_command
    return await run(*args)


async def checkout(pool: ConnectionPool) -> AbstractConnection:
    """A connected connection of `pool`, for the caller alone until released."""
    get: Callable[[], Awaitable[AbstractConnection]] = pool.get_connection
    return await get()


def text(value: Any) -> str:
    """A reply that Redis sends as a bulk string, as `str`."""
    return value.decode() if isinstance(value, bytes) else str(value)


class Script:
    """A Lua script run by EVALSHA, loaded again (EVAL) when Redis forgot it (a restart)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(
        self, redis: Redis | RedisCluster, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        try:
            return await execute(redis, "EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await execute(redis, "EVAL", self.source, len(keys), *keys, *args)


class CallOrder:
    """Runs the calls made for one session one after another, in call order.

    Calls for different sessions still run concurrently.
    """

    def __init__(self) -> None:
        self._last: dict[str, asyncio.Future[None]] = {}  # the newest call per session

    @contextlib.asynccontextmanager
    async def __call__(self, session: str) -> AsyncIterator[None]:
        previous = self._last.get(session)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last[session] = mine
        try:
            if previous is not None:
                await asyncio.wait([previous])  # unlike `await previous`, never cancels it
            yield
        finally:
            mine.set_result(None)
            if self._last.get(session) is mine:
                del self._last[session]
