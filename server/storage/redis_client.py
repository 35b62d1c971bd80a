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
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError

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
    "open_pool",
    "redacted",
    "session_key",
    "text",
]

CONNECT_TIMEOUT = 2.0  # seconds to open a TCP connection to Redis
COMMAND_TIMEOUT = 5.0  # seconds to wait for the reply to an ordinary command
POOL_SIZE = 64  # connections per pool; more commands at once wait for one

KINDS = ("log", "snap", "trim", "chat", "ms", "msd")
"""The suffixes of a session's keys: entry stream, snapshot, trim point, chat history,
milestones (version -> [after, journal]) and their snapshots (version -> zlib data)."""


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
    url: str, *, name: str, command_timeout: float | None = COMMAND_TIMEOUT
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
        max_connections=POOL_SIZE,
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
    """

    def __init__(
        self, url: str, *, names: tuple[str, str], command_timeout: float = COMMAND_TIMEOUT
    ) -> None:
        self.commands: ConnectionPool = open_pool(
            url, name=names[0], command_timeout=command_timeout
        )
        self.redis = Redis(connection_pool=self.commands)
        self.waiting: ConnectionPool = open_pool(url, name=names[1], command_timeout=None)

    async def disconnect(self) -> None:
        await self.commands.disconnect()
        await self.waiting.disconnect()


async def execute(redis: Redis, *args: Any) -> Any:
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

    async def __call__(self, redis: Redis, keys: Sequence[str], args: Sequence[Any]) -> Any:
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
