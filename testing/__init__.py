"""Testing helpers, public so that tests, benchmarks and users share them.

- `servers`: a real `backline serve` process (`ServerProcess`), a bundled bot
  as a process (`BotProcess`), a raw protocol client (`RawClient`), an SDK
  session on its own thread (`SessionThread`), `eventually` and `health`.
- `redis`: a real `redis-server` on a free loopback port (`RedisServer`).
- `audio`: record a personal mix with timing, find onsets and tones.
- `delay_proxy`, `udp_proxy`: TCP and UDP relays that delay, drop and cut.
"""

from backline.testing.servers import (
    BotProcess,
    RawClient,
    ServerProcess,
    SessionThread,
    eventually,
    health,
    random_edit,
)

__all__ = [
    "BotProcess",
    "RawClient",
    "ServerProcess",
    "SessionThread",
    "eventually",
    "health",
    "random_edit",
]
