"""The bus over Redis pub/sub: presence and chat between server processes.

Each session has a channel, ``bl:{session}:bus``. Messages are msgpack maps
(`backline.protocol.codec.encode`) carrying the publishing node in ``"o"``; a
node drops its own echoes. (Chat history is the store's: `redis.RedisStore`.)

One connection per node subscribes to every session the node follows, and one
reader task dispatches what arrives to the handlers. When the connection fails
(Redis restarts, the network drops), the reader logs one WARNING, reconnects
with exponential backoff and subscribes to every session again; messages
published meanwhile are lost, as pub/sub promises nothing more.

On a Redis Cluster (a ``redis+cluster://`` URL) the bus uses sharded pub/sub:
``SPUBLISH`` goes to the node serving the channel's slot (the session's, as the
channel carries its hash tag), and there is one subscriber connection per node
serving a followed session, with one ``SSUBSCRIBE`` per session (a multi-channel
one must keep to one slot). When a slot moves (a failover: Redis then ends the
subscriptions with ``sunsubscribe``) or a node's connection fails, the bus asks
the slot map again and subscribes on the new owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError

from backline.protocol.codec import decode_record, encode
from backline.server.storage.bus import BusUnavailable, Handler
from backline.server.storage.redis_client import (
    COMMAND_TIMEOUT,
    CONNECT_TIMEOUT,
    CallOrder,
    RedisPools,
    Script,
    check_prefix,
    checkout,
    execute,
    redacted,
    session_key,
)

__all__ = ["RedisBus"]

log = logging.getLogger("backline.bus")

HEALTH_TIMEOUT = 1.0  # seconds a PING may take before `healthy()` says no
RETRY_FIRST = 0.05  # seconds before the first reconnection attempt ...
RETRY_MAX = 2.0  # ... doubling up to this

# KEYS: the lease; ARGV: node, ttl in ms. Takes or renews it when free or ours; returns the holder.
_CLAIM = Script(
    """
local holder = redis.call('GET', KEYS[1])
if (not holder) or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return holder
"""
)

# KEYS: the lease; ARGV: node. Deletes it when it is ours.
_RELEASE = Script(
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
)


class _Subscriber:
    """One subscriber connection and its reader: to the one Redis, or to one Cluster node."""

    __slots__ = ("address", "conn", "pool", "reader", "wanted")

    def __init__(self, pool: ConnectionPool, address: tuple[str, int] | None) -> None:
        self.pool = pool
        self.address = address  # None: not a Cluster
        self.conn: AbstractConnection | None = None  # while it works
        self.reader: asyncio.Task[None] | None = None
        self.wanted = asyncio.Event()  # set while it has subscriptions


class RedisBus:
    """A `Bus` through the Redis at `url`.

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]``.
        node: this server process's name, put in every message as ``"o"``.
        prefix: the first part of every channel and key (the same as the store's).
        keepalive: seconds between PINGs on the subscriber connection; a
            connection silent for twice as long is considered dead.
        confirm_timeout: seconds `subscribe` waits for Redis to confirm.
        command_timeout: seconds to wait for Redis's reply to a command.
    """

    def __init__(
        self,
        url: str,
        *,
        node: str,
        prefix: str = "bl",
        keepalive: float = 15.0,
        confirm_timeout: float = 5.0,
        command_timeout: float = COMMAND_TIMEOUT,
    ) -> None:
        self.url = url
        self.node = node
        self.prefix = check_prefix(prefix)
        self.keepalive = keepalive
        self.confirm_timeout = confirm_timeout
        self.command_timeout = command_timeout
        # the subscriber waits for messages without end on `waiting`; `_listen` bounds each wait
        self._pools = RedisPools(
            url,
            names=(f"backline-bus-{node}", f"backline-sub-{node}"),
            command_timeout=command_timeout,
        )
        self._redis = self._pools.redis
        self._cluster = self._pools.cluster
        self._in_order = CallOrder()  # a session's messages and chat leave in call order
        self._handlers: dict[str, Handler] = {}
        self._confirmed: set[str] = set()  # subscriptions Redis confirmed
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        # the one subscriber, or on a Cluster one per node (and which node has a session)
        self._subs: dict[tuple[str, int] | None, _Subscriber] = {}
        self._owners: dict[str, tuple[str, int] | None] = {}
        self._placing: set[asyncio.Task[None]] = set()
        self._closed = False

    def __repr__(self) -> str:
        return f"RedisBus({redacted(self.url)!r}, node={self.node!r}, prefix={self.prefix!r})"

    def _channel(self, session: str) -> str:
        return session_key(self.prefix, session, "bus")

    def _session(self, channel: bytes) -> str:
        return channel.decode()[len(self.prefix) + 2 : -len("}:bus")]

    def _unavailable(self, what: str, exc: BaseException) -> BusUnavailable:
        detail = str(exc) or type(exc).__name__
        return BusUnavailable(f"Redis at {redacted(self.url)}: {what} failed: {detail}")

    def _check_open(self) -> None:
        if self._closed:
            raise BusUnavailable(f"Redis bus for {redacted(self.url)} is closed")

    # -- publishing -------------------------------------------------------

    async def publish(self, session: str, message: dict[str, Any]) -> None:
        self._check_open()
        payload = encode({**message, "o": self.node})
        try:
            async with self._in_order(session):
                publish = "SPUBLISH" if self._cluster else "PUBLISH"
                await execute(self._redis, publish, self._channel(session), payload)
        except (RedisError, OSError) as exc:
            raise self._unavailable(f"publish to {session}", exc) from exc

    # -- subscriptions -------------------------------------------------------------

    async def subscribe(self, session: str, handler: Handler) -> None:
        """Deliver `session`'s messages from other nodes to `handler`.

        Returns once Redis confirmed the subscription, so anything published
        afterwards arrives. Raises `BusUnavailable` when Redis does not confirm
        within `confirm_timeout`; the subscription stays, and is made as soon as
        Redis is back (`unsubscribe` drops it).
        """
        self._check_open()
        self._handlers[session] = handler
        if session in self._confirmed:
            return  # only the handler changed
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(session, []).append(waiter)
        try:
            async with asyncio.timeout(self.confirm_timeout):
                await self._place(session)
                await waiter
        except TimeoutError:
            raise BusUnavailable(
                f"Redis at {redacted(self.url)} did not confirm the subscription to "
                f"{session} within {self.confirm_timeout} s; it is made when Redis is back"
            ) from None
        finally:
            waiters = self._waiters.get(session, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._waiters.pop(session, None)

    async def unsubscribe(self, session: str) -> None:
        """Stop delivering `session`'s messages, at once (even while Redis is down)."""
        if self._handlers.pop(session, None) is None:
            return
        self._confirmed.discard(session)
        sub = self._subs.get(self._owners.pop(session, None))
        if sub is not None:
            command = "SUNSUBSCRIBE" if self._cluster else "UNSUBSCRIBE"
            await self._send_on_subscriber(sub, command, self._channel(session))

    async def _owner(self, session: str) -> tuple[str, int] | None:
        if not self._cluster:
            return None
        return await self._pools.owner(self._channel(session))

    def _subscriber(self, address: tuple[str, int] | None) -> _Subscriber:
        sub = self._subs.get(address)
        if sub is None:
            pool = self._pools.waiting if address is None else self._pools.node(address).waiting
            assert pool is not None
            sub = self._subs[address] = _Subscriber(pool, address)
        return sub

    async def _place(self, session: str) -> None:
        """Subscribe to `session` on the subscriber of the node serving it (the one
        subscriber when not on a Cluster); if that one has no working connection,
        it subscribes to everything on connecting."""
        try:
            address = await self._owner(session)
        except (RedisError, OSError) as exc:
            self._pools.moved(exc)
            raise self._unavailable(f"finding the node of {session}", exc) from exc
        if session not in self._handlers:
            return  # unsubscribed meanwhile
        self._owners[session] = address
        sub = self._subscriber(address)
        sub.wanted.set()
        if sub.reader is None:
            name = f"redis-bus-{self.node}" + ("" if address is None else f"-{address[1]}")
            sub.reader = asyncio.create_task(self._run(sub), name=name)
        command = "SSUBSCRIBE" if self._cluster else "SUBSCRIBE"
        await self._send_on_subscriber(sub, command, self._channel(session))

    def _sessions_of(self, sub: _Subscriber) -> list[str]:
        return [s for s in self._handlers if self._owners.get(s) == sub.address]

    def _replace(self, sessions: list[str]) -> None:
        """Place `sessions` again, on whichever node serves them now (a Cluster's slot moved)."""
        for session in sessions:
            self._confirmed.discard(session)
            self._owners.pop(session, None)
            task = asyncio.get_running_loop().create_task(self._place_quietly(session))
            self._placing.add(task)
            task.add_done_callback(self._placing.discard)

    async def _place_quietly(self, session: str) -> None:
        delay = RETRY_FIRST
        while session in self._handlers and session not in self._owners and not self._closed:
            try:
                await self._place(session)
                return
            except BusUnavailable as exc:
                log.debug("bus: placing %s failed: %s", session, exc)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, RETRY_MAX)

    async def _send_on_subscriber(self, sub: _Subscriber, *command: str) -> None:
        conn = sub.conn
        # never on a broken connection: sending would reconnect it behind the reader's back
        if conn is None or not conn.is_connected:
            return
        try:
            await conn.send_packed_command(conn.pack_command(*command), check_health=False)
        except (RedisError, OSError) as exc:
            # the connection is closed now; the reader reconnects and subscribes again
            log.debug("bus: %s on %s failed: %s", command[0], redacted(self.url), exc)

    # -- the reader ------------------------------------------------------------------

    async def _run(self, sub: _Subscriber) -> None:
        """Keep one subscriber connection with every subscription, reconnecting forever."""
        delay = RETRY_FIRST
        lost_at: float | None = None
        loop = asyncio.get_running_loop()
        while not self._closed:
            if not self._sessions_of(sub):
                sub.wanted.clear()
                await sub.wanted.wait()
                continue
            conn: AbstractConnection | None = None
            failure: BaseException | None = None
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT + self.command_timeout):
                    conn = await checkout(sub.pool)
                sub.conn = conn
                sessions = self._sessions_of(sub)
                if sessions and self._cluster:
                    # one SSUBSCRIBE per session: a multi-channel one must keep to one slot
                    await conn.send_packed_command(
                        conn.pack_commands([("SSUBSCRIBE", self._channel(s)) for s in sessions]),
                        check_health=False,
                    )
                elif sessions:
                    await conn.send_packed_command(
                        conn.pack_command("SUBSCRIBE", *map(self._channel, sessions)),
                        check_health=False,
                    )
                if lost_at is not None:
                    log.info(
                        "bus: Redis at %s is back after %.1f s; subscribing to %d sessions again",
                        redacted(self.url), loop.time() - lost_at, len(sessions),
                    )  # fmt: skip
                    lost_at, delay = None, RETRY_FIRST
                await self._listen(sub, conn)
            except (RedisError, OSError, TimeoutError) as exc:
                failure = exc
            except Exception as exc:  # a bug here must not end the node's presence and chat
                log.exception("bus: the subscriber failed on a reply from %s", redacted(self.url))
                failure = exc
            finally:
                sub.conn = None
                lost = self._sessions_of(sub)
                self._confirmed.difference_update(lost)
                if conn is not None:
                    await conn.disconnect(nowait=True)
                    await sub.pool.release(conn)
            if self._closed:
                return
            if sub.address is not None and failure is not None:
                # the node may be gone for good (failed over): ask where its sessions are
                self._pools.moved(failure)
                self._replace(lost)
            if lost_at is None:
                lost_at = loop.time()
                log.warning(
                    "bus: lost the subscriber connection to Redis at %s (%s); "
                    "presence and chat from other nodes stop until it is back",
                    redacted(self.url), str(failure) or type(failure).__name__,
                )  # fmt: skip
            else:
                log.debug("bus: reconnecting to %s failed: %s", redacted(self.url), failure)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, RETRY_MAX)

    async def _listen(self, sub: _Subscriber, conn: AbstractConnection) -> None:
        """Dispatch replies until the connection fails (then raise)."""
        pinger = asyncio.create_task(self._ping(conn))
        try:
            while True:
                # a PING goes out every `keepalive` s: a longer silence is a dead link
                async with asyncio.timeout(2 * self.keepalive + self.command_timeout):
                    reply = await conn.read_response()
                self._dispatch(sub, reply)
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger

    async def _ping(self, conn: AbstractConnection) -> None:
        while conn.is_connected:
            await asyncio.sleep(self.keepalive)
            if not conn.is_connected:
                return
            try:
                await conn.send_packed_command(conn.pack_command("PING"), check_health=False)
            except (RedisError, OSError) as exc:
                log.debug("bus: keepalive PING to %s failed: %s", redacted(self.url), exc)
                return  # the reader sees the failure too

    def _dispatch(self, sub: _Subscriber, reply: Any) -> None:
        if not isinstance(reply, list) or len(reply) < 3:
            return  # a PONG
        kind, channel, payload = reply[0], reply[1], reply[2]
        session = self._session(channel)
        if kind in (b"subscribe", b"ssubscribe"):
            if session in self._handlers and self._owners.get(session) == sub.address:
                self._confirmed.add(session)
            for waiter in self._waiters.pop(session, []):
                if not waiter.done():
                    waiter.set_result(None)
        elif kind == b"unsubscribe":
            if session not in self._handlers:
                self._confirmed.discard(session)
        elif kind == b"sunsubscribe":
            if session in self._handlers and self._owners.get(session) == sub.address:
                # not asked for: the slot moved to another node (a failover)
                self._pools.moved(ConnectionError("slot moved"))
                self._replace([session])
        elif kind in (b"message", b"smessage"):
            self._deliver(session, payload)

    def _deliver(self, session: str, payload: bytes) -> None:
        handler = self._handlers.get(session)
        if handler is None:
            return  # unsubscribed while it travelled
        try:
            message = decode_record(payload)
        except Exception as exc:  # msgpack raises many unrelated types for bad input
            log.warning("bus: dropped an undecodable message on %s: %r", session, exc)
            return
        if not isinstance(message, dict):
            log.warning("bus: dropped a message on %s that is not a map", session)
            return
        if message.get("o") == self.node:
            return  # our own echo
        try:
            handler(message)
        except Exception:
            log.exception("bus: the handler of session %s failed", session)

    # -- leases ---------------------------------------------------------------------

    def _lease(self, session: str, name: str) -> str:
        # ``lease-room``: in the session's slot, beside its other keys
        return session_key(self.prefix, session, f"lease-{name}")

    async def claim(self, session: str, name: str, ttl: float) -> str:
        self._check_open()
        try:
            holder = await _CLAIM(
                self._redis, [self._lease(session, name)], [self.node, max(1, round(ttl * 1000))]
            )
        except (RedisError, OSError) as exc:
            raise self._unavailable(f"the {name} lease of {session}", exc) from exc
        return holder.decode() if isinstance(holder, bytes) else str(holder)

    async def release(self, session: str, name: str) -> None:
        self._check_open()
        try:
            await _RELEASE(self._redis, [self._lease(session, name)], [self.node])
        except (RedisError, OSError) as exc:
            raise self._unavailable(f"releasing the {name} lease of {session}", exc) from exc

    async def holder(self, session: str, name: str) -> str | None:
        self._check_open()
        try:
            value = await execute(self._redis, "GET", self._lease(session, name))
        except (RedisError, OSError) as exc:
            raise self._unavailable(f"reading the {name} lease of {session}", exc) from exc
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    # -- the server --------------------------------------------------------------------

    async def healthy(self) -> bool:
        """Redis answers a PING, and the subscriber is connected if it is needed."""
        if self._closed:
            return False
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT):
                await execute(self._redis, "PING")
        except (RedisError, OSError, TimeoutError):
            return False
        return all(
            sub.conn is not None for sub in self._subs.values() if self._sessions_of(sub)
        ) and all(session in self._owners for session in self._handlers)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._handlers.clear()
        for task in list(self._placing):
            task.cancel()
        for sub in self._subs.values():
            sub.wanted.set()
            if sub.reader is not None:
                sub.reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sub.reader
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.cancel()
        await self._pools.disconnect()
