"""Who is in a session: its members here and on other processes, and their presence.

Presence is ephemeral (never in the log). A member's presence is rebuilt once
when it changes (`changed`), kept for every welcome (a join storm reuses it),
and sent to everyone at most once per `presence_interval` with the others
that changed meanwhile. Other processes hear of this process's members over
the bus (`BusKind.PRESENCE` on a change, `BusKind.HEARTBEAT` every
`HEARTBEAT` seconds, an answer to `BusKind.SYNC`) and forget a remote member
not re-announced for `PEER_TIMEOUT`. The same messages carry each member's
token id (never sent to clients), so that an owner on any process can bind a
demotion to the demoted member's token.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from dataclasses import dataclass
from typing import Any

from backline.protocol import frames
from backline.protocol.codec import encode
from backline.protocol.messages import PEOPLE_COLORS
from backline.server.sessions.context import BusKind, SessionContext
from backline.server.sessions.member import Member
from backline.server.wire.fanout import broadcast, send

__all__ = ["HEARTBEAT", "KNOWN_TOKENS", "PEER_TIMEOUT", "Roster"]

log = logging.getLogger("backline.session")

HEARTBEAT = 5.0  # seconds between re-announcements of this node's members to other nodes
PEER_TIMEOUT = 15.0  # a remote member not re-announced for this long is gone
KNOWN_TOKENS = 4096  # identities whose token this process remembers (for demotions)


@dataclass(slots=True)
class _RemotePeer:
    presence: dict[str, Any]
    node: str
    seen: float


class Roster:
    """The session's members (here and elsewhere) and the presence everyone sees."""

    def __init__(self, context: SessionContext, presence_interval: float) -> None:
        self._context = context
        self._interval = presence_interval
        self.members: dict[str, Member] = {}  # joined here, by client id
        self._remote: dict[str, _RemotePeer] = {}  # joined on other processes
        self._tokens: dict[str, str] = {}  # client -> token id, least recently seen first
        self._dirty: dict[str, dict[str, Any]] = {}  # changed since the last flush
        # each local member's presence as last changed (what welcomes list; built once
        # per change instead of once per member per join: a 500-client join storm)
        self._now: dict[str, dict[str, Any]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._closing = False
        self._heartbeat = asyncio.get_running_loop().create_task(
            self._heartbeat_loop(), name=f"heartbeat {context.name}"
        )

    # -- members here ---------------------------------------------------------------

    def add(self, member: Member) -> None:
        self.members[member.client] = member
        if member.token_id:
            self._learn_token(member.client, member.token_id)
        self.changed(member)

    def remove(self, member: Member) -> bool:
        """Take `member` out (if it is still the member of that id); whether it was."""
        if self.members.get(member.client) is not member:
            return False
        del self.members[member.client]
        self._dirty[member.client] = member.presence(online=False)
        self._now.pop(member.client, None)
        self._schedule()
        return True

    def changed(self, member: Member) -> None:
        """`member`'s presence changed: show it to everyone at the next flush."""
        self._dirty[member.client] = self._now[member.client] = member.presence()
        self._schedule()

    def send_all(self, frame: bytes) -> None:
        """One frame to every member here (each checked against its own budget)."""
        for member in list(self.members.values()):
            send(member.peer, frame)

    def broadcast(self, frame: bytes) -> None:
        """One frame to every member here, framed once (`fanout.broadcast`)."""
        broadcast([m.peer for m in self.members.values()], frame)

    # -- everyone -------------------------------------------------------------------

    def online(self, client: str) -> bool:
        """Whether `client` is connected to this session, here or on another process."""
        if client in self.members:
            return True
        remote = self._remote.get(client)
        return remote is not None and bool(remote.presence.get("online", True))

    def others(self, client: str) -> int:
        """How many participants besides `client` are connected, on every process."""
        remote = sum(
            1
            for other, r in self._remote.items()
            if other != client and r.presence.get("online", True)
        )
        return len(self.members) - (client in self.members) + remote

    def presence_of(self, client: str) -> dict[str, Any] | None:
        """`client`'s presence as this process knows it (here or on another process)."""
        member = self.members.get(client)
        if member is not None:
            return member.presence()
        remote = self._remote.get(client)
        return None if remote is None else remote.presence

    def audio_elsewhere(self) -> bool:
        """Whether a member on another process is in the audio room (its presence says)."""
        return any(
            r.presence.get("audio") is True and r.presence.get("online", True)
            for r in self._remote.values()
        )

    def names(self) -> dict[str, str]:
        """Everyone's display name, on every process (a recording names its stems)."""
        names = {c: str(r.presence.get("name", c)) for c, r in self._remote.items()}
        names.update({c: m.name for c, m in self.members.items()})
        return names

    def peers(self, exclude: str) -> list[dict[str, Any]]:
        """Everyone's presence but `exclude`'s (what a welcome lists)."""
        local = [p for client, p in self._now.items() if client != exclude]
        known = {p["client"] for p in local} | {exclude}
        remote = [
            r.presence
            for client, r in self._remote.items()
            if client not in known and r.presence.get("online", True)
        ]
        return local + remote

    def free_color(self, client: str) -> str:
        """A colour for `client` that nobody else online wears: the first free one of
        `PEOPLE_COLORS` from a place its id picks (so a rejoin tends to get its colour back);
        when all are taken, the least worn."""
        worn: dict[str, int] = {}
        for presence in self.peers(exclude=client):
            color = str(presence.get("color", "")).lower()
            worn[color] = worn.get(color, 0) + 1
        first = zlib.crc32(client.encode()) % len(PEOPLE_COLORS)
        order = PEOPLE_COLORS[first:] + PEOPLE_COLORS[:first]
        return min(order, key=lambda c: worn.get(c, 0))

    def token_id_of(self, client: str) -> str | None:
        """The token `client` joined with, if this process saw it join (or heard of it)."""
        return self._tokens.get(client) or None

    def _learn_token(self, client: str, token_id: str) -> None:
        """Remember which token `client` joined with (here or on another process), so that
        an owner's demotion binds to that token even after they left; bounded."""
        tokens = self._tokens
        tokens.pop(client, None)
        tokens[client] = token_id
        if len(tokens) > KNOWN_TOKENS:
            del tokens[next(iter(tokens))]

    # -- sending presence -----------------------------------------------------------

    def _schedule(self) -> None:
        if self._timer is None and not self._closing:
            self._timer = asyncio.get_running_loop().call_later(self._interval, self._flush)

    def _flush(self) -> None:
        self._timer = None
        if not self._dirty:
            return
        peers, self._dirty = list(self._dirty.values()), {}
        self._send(peers)
        self._context.background(
            self._context.publish(BusKind.PRESENCE, peers=peers, tids=self._tids())
        )

    def _send(self, peers: list[dict[str, Any]]) -> None:
        self.broadcast(encode(frames.presence(peers)))

    def _tids(self) -> dict[str, str]:
        """Each local member's token id, for the other processes (a demotion binds to it)."""
        return {client: m.token_id for client, m in self.members.items() if m.token_id}

    # -- other processes --------------------------------------------------------------

    def on_bus(self, kind: str, node: str, message: dict[str, Any]) -> None:
        """Another process's presence, heartbeat or sync request."""
        if kind == BusKind.SYNC:  # a process just loaded this session: tell it who is here
            if self.members:
                self._context.background(self._announce_members())
            return
        changed = []
        now = time.monotonic()
        tids = message.get("tids") or {}
        for peer in message["peers"]:
            client = peer["client"]
            if client in self.members:
                continue  # that client is connected here now
            known = self._remote.get(client)
            if not peer.get("online", True):
                if known is not None and known.node == node:
                    del self._remote[client]
                    changed.append(peer)
                continue
            if known is None or known.presence != peer or kind == BusKind.PRESENCE:
                changed.append(peer)
            self._remote[client] = _RemotePeer(peer, node, now)
            if type(tids.get(client)) is str:
                self._learn_token(client, tids[client])
        if changed:
            self._send(changed)

    async def _announce_members(self) -> None:
        peers = [m.presence() for m in self.members.values()]
        await self._context.publish(BusKind.HEARTBEAT, peers=peers, tids=self._tids())

    async def _heartbeat_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(HEARTBEAT)  # a period, not a synchronisation
            if self._closing:
                return
            if self.members:
                await self._announce_members()
            cutoff = time.monotonic() - PEER_TIMEOUT
            gone = [c for c, r in self._remote.items() if r.seen < cutoff]
            if gone:
                self._send([{**self._remote.pop(c).presence, "online": False} for c in gone])

    async def close(self) -> None:
        """Stop the heartbeat and pending flushes (bounded: a bus call may swallow a cancel)."""
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._heartbeat.cancel()
        _, running = await asyncio.wait([self._heartbeat], timeout=1.0)
        if running:  # a cancellation swallowed inside a bus call: ask again
            self._heartbeat.cancel()
            await asyncio.wait(running, timeout=10.0)

    @property
    def heartbeat(self) -> asyncio.Task[None]:
        return self._heartbeat
