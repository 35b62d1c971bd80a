"""One joined connection of a session, as the session sees it."""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from backline.protocol.messages import Role
from backline.protocol.timeline import MAX_LEAD_RTT_US
from backline.server.wire.fanout import Peer

__all__ = ["RTT_REPORTS", "Member"]

RTT_REPORTS = 5  # recent round-trip reports per member, of which the median counts


@dataclass(eq=False, slots=True)
class Member:
    """One joined connection: who it is, what its token grants, what others see of it."""

    peer: Peer
    client: str
    name: str
    color: str
    role: Role  # in effect now: the token's, unless an owner changed it for this session
    token_role: Role = Role.VIEWER  # what the token granted (log entries carry it)
    token_id: str = ""  # the token's fingerprint (log entries carry it; demotions bind to it)
    resume: str = ""  # this identity's resume key, handed out in the welcome
    invite: str | None = None  # the invite its token was made for (protocol/access.py)
    auto_color: bool = False  # no colour asked for: the session picks a free one at join
    state: dict[str, Any] = field(default_factory=dict)  # presence beyond name/colour
    # round trips the client reported with its last pings (µs), for the lead of a play
    rtts: deque[float] = field(default_factory=lambda: deque(maxlen=RTT_REPORTS))

    def report_rtt(self, rtt_us: float) -> None:
        self.rtts.append(min(rtt_us, MAX_LEAD_RTT_US))

    @property
    def rtt_us(self) -> float:
        """The median of its recent reports: one odd report moves nothing."""
        return statistics.median(self.rtts) if self.rtts else 0.0

    def presence(self, online: bool = True) -> dict[str, Any]:
        entry: dict[str, Any] = {"client": self.client, "name": self.name, "color": self.color}
        entry.update(self.state)
        entry["role"] = self.role.value
        entry["online"] = online
        return entry
