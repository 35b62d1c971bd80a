"""Testing helpers, public so that tests, benchmarks and users share them.

- `processes`: a real `backline serve` process (`ServerProcess`), a bundled
  bot as a process (`BotProcess`), a server's /healthz (`health`).
- `raw`: a raw protocol client (`RawClient`).
- `sessions`: an SDK session on its own thread (`SessionThread`), `random_edit`.
- `waiting`: `eventually`, for state that announces nothing.
- `redis`: a real `redis-server` on a free loopback port (`RedisServer`).
- `audio`: record a personal mix with timing, find onsets and tones.
- `delay_proxy`, `udp_proxy`: TCP and UDP relays that delay, drop and cut.
"""

from backline.testing.processes import BotProcess, ServerProcess, health
from backline.testing.raw import RawClient
from backline.testing.sessions import SessionThread, random_edit
from backline.testing.waiting import eventually

__all__ = [
    "BotProcess",
    "RawClient",
    "ServerProcess",
    "SessionThread",
    "eventually",
    "health",
    "random_edit",
]
