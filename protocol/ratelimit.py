"""Token buckets: how many messages a connection may send, and how fast.

Pure: the caller passes the time (seconds, any monotonic origin). The server
keeps one bucket per connection and kind of message (edits, presence, chat),
plus one that counts refusals to spot abuse; the SDK runs the same buckets
with the limits the server announced, so a well-behaved client paces itself
and never hears `rate_limited`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Rate", "TokenBucket"]


@dataclass(frozen=True, slots=True)
class Rate:
    """`per_second` tokens flow in, at most `burst` are kept; `per_second == 0` is no limit."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_second < 0 or self.burst < 1:
            raise ValueError("a rate needs per_second >= 0 and burst >= 1")

    @property
    def unlimited(self) -> bool:
        return self.per_second == 0

    def to_wire(self) -> list[float]:
        return [self.per_second, self.burst]


class TokenBucket:
    """Starts full (a client may send `burst` messages at once), refills continuously."""

    __slots__ = ("_at", "_tokens", "rate")

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self._tokens = float(rate.burst)
        self._at = now

    def _refill(self, now: float) -> None:
        if now > self._at:  # a clock that steps back refills nothing, takes nothing away
            burst = self.rate.burst
            self._tokens = min(float(burst), self._tokens + (now - self._at) * self.rate.per_second)
            self._at = now

    def take(self, now: float, n: int = 1) -> bool:
        """Spend `n` tokens if there are that many; False (and nothing spent) otherwise."""
        if self.rate.unlimited:
            return True
        self._refill(now)
        if self._tokens >= n:
            self._tokens -= n
            return True
        return False

    def wait(self, now: float, n: int = 1) -> float:
        """Seconds until `take(n)` would succeed (0 when it would now); inf if it never can."""
        if self.rate.unlimited:
            return 0.0
        if n > self.rate.burst:
            return float("inf")
        self._refill(now)
        missing = n - self._tokens
        return 0.0 if missing <= 0 else missing / self.rate.per_second

    def tokens(self, now: float) -> float:
        """What is in the bucket at `now`."""
        if self.rate.unlimited:
            return float("inf")
        self._refill(now)
        return self._tokens
