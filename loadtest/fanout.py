"""Edit fan-out benchmark: deliveries per second and edit round trip, per backend.

    python -m loadtest.fanout                  # all configs and backends, 8 s each
    python -m loadtest.fanout --config 1x50 --seconds 20 --backend sqlite

Backends, all measured with the same clients in the same run:
``memory`` (one process, nothing stored: the baseline), ``sqlite`` (one
process, the embedded durable store), ``redis`` (one process on a real
redis-server with AOF ``appendfsync always``) and ``redis2`` (two processes on
that Redis; each session's members are spread over both).

Server processes and redis-server are pinned to CPU 0 and this process (uvloop,
raw websocket clients speaking the real protocol) to CPU 1 when there are two
or more cores. Every sending client keeps a fixed window of unacknowledged
edits; every accepted edit is delivered to every member of its session. It
reports:

- deliveries/s: edits delivered to clients (one edit seen by 50 members = 50);
- round trip p50/p99: from sending an edit to receiving its acknowledgement,
  which is only sent once the edit is stored;
- server CPU (server processes plus redis-server, from /proc);
- ratios against the memory baseline, and what Redis adds per edit over SQLite.

Results go to loadtest/results/fanout-<time>.json and are printed as a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from backline.client.testing import ServerProcess
from backline.client.testing_redis import RedisServer
from backline.protocol.codec import SUBPROTOCOL, encode
from backline.protocol.limits import Limits

from .report import run, save

_UNLIMITED = Limits(max_frame_bytes=1 << 30)


@dataclass
class Result:
    config: str
    store: str
    sessions: int
    clients_per_session: int
    window: int
    seconds: float
    edits_acked: int
    deliveries: int
    deliveries_per_s: float
    edits_per_s: float
    rtt_p50_ms: float
    rtt_p99_ms: float
    server_cpu_percent: float
    redis_cpu_percent: float
    redis_cpu_us_per_edit: float
    deliveries_per_server_cpu_s: float


class Client:
    """One raw protocol client: sends edits, counts deliveries, times its acks."""

    def __init__(self, ws: ClientConnection, sends: bool) -> None:
        self.ws = ws
        self.sends = sends
        self.client = ""
        self.seq = 0
        self.sent_at: dict[int, float] = {}
        self.rtts: list[float] = []
        self.deliveries = 0
        self.acked = 0
        self.window_free = asyncio.Event()
        self.window_free.set()

    async def hello(self, session: str, token: str, name: str) -> None:
        await self.ws.send(
            encode({"type": "hello", "session": session, "token": token, "name": name})
        )
        while True:
            message = _decode(await self.ws.recv())
            if message["type"] == "welcome":
                self.client = message["client"]
                return

    async def read(self, measuring: list[bool]) -> None:
        async for raw in self.ws:
            message = _decode(raw)
            if message["type"] != "ops":
                continue
            now = time.perf_counter()
            for batch in message["batches"]:
                if measuring[0]:
                    self.deliveries += 1
                if batch["by"] == self.client:
                    sent = self.sent_at.pop(batch["seq"], None)
                    if sent is not None and measuring[0]:
                        self.rtts.append(now - sent)
                        self.acked += 1
                    self.window_free.set()

    async def write(self, window: int, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if len(self.sent_at) >= window:
                self.window_free.clear()
                await self.window_free.wait()
                continue
            self.seq += 1
            tempo = 60.0 + (self.seq % 100)
            frame = encode(
                {
                    "type": "op",
                    "seq": self.seq,
                    "ops": [{"op": "set", "id": "project", "field": "tempo", "value": tempo}],
                }
            )
            self.sent_at[self.seq] = time.perf_counter()
            await self.ws.send(frame)


def _decode(raw: Any) -> dict[str, Any]:
    import msgpack

    return msgpack.unpackb(raw, raw=False)  # type: ignore[no-any-return]


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_config(
    servers: list[ServerProcess],
    backend: str,
    sessions: int,
    per_session: int,
    seconds: float,
    window: int,
    senders: int,
    extra_pids: list[int],
) -> Result:
    clients: list[Client] = []
    for index in range(sessions):
        name = f"bench-{sessions}x{per_session}-{index}"
        token = servers[0].token(name)
        for c in range(per_session):
            # with several processes, the members of one session are spread over them
            ws = await connect(
                servers[c % len(servers)].url,
                subprotocols=[Subprotocol(SUBPROTOCOL)],
                compression=None,
                max_size=None,
            )
            client = Client(ws, sends=c < senders)
            await client.hello(name, token, f"c{c}")
            clients.append(client)
    measuring = [False]
    stop = asyncio.Event()
    readers = [asyncio.create_task(c.read(measuring)) for c in clients]
    writers = [asyncio.create_task(c.write(window, stop)) for c in clients if c.sends]
    await asyncio.sleep(1.0)  # warm up
    measuring[0] = True
    pids = [s.pid for s in servers]
    cpu0, t0 = sum(_cpu_seconds(p) for p in pids), time.perf_counter()
    rcpu0 = sum(_cpu_seconds(p) for p in extra_pids)
    await asyncio.sleep(seconds)
    measuring[0] = False
    cpu1, t1 = sum(_cpu_seconds(p) for p in pids), time.perf_counter()
    rcpu1 = sum(_cpu_seconds(p) for p in extra_pids)
    stop.set()
    for client in clients:
        client.window_free.set()
    await asyncio.gather(*writers, return_exceptions=True)
    for client in clients:
        await client.ws.close()
    await asyncio.gather(*readers, return_exceptions=True)
    elapsed = t1 - t0
    rtts = sorted(r for c in clients for r in c.rtts)
    deliveries = sum(c.deliveries for c in clients)
    acked = sum(c.acked for c in clients)
    cpu = cpu1 - cpu0
    return Result(
        config=f"{sessions}x{per_session}",
        store=backend,
        sessions=sessions,
        clients_per_session=per_session,
        window=window,
        seconds=round(elapsed, 2),
        edits_acked=acked,
        deliveries=deliveries,
        deliveries_per_s=round(deliveries / elapsed),
        edits_per_s=round(acked / elapsed),
        rtt_p50_ms=round(statistics.median(rtts) * 1000, 2) if rtts else float("nan"),
        rtt_p99_ms=round(rtts[int(len(rtts) * 0.99) - 1] * 1000, 2) if rtts else float("nan"),
        server_cpu_percent=round(100 * cpu / elapsed, 1),
        redis_cpu_percent=round(100 * (rcpu1 - rcpu0) / elapsed, 1),
        redis_cpu_us_per_edit=round(1e6 * (rcpu1 - rcpu0) / max(1, acked), 1),
        deliveries_per_server_cpu_s=round(deliveries / cpu) if cpu > 0 else 0,
    )


CONFIGS = {"1x50": (1, 50), "50x4": (50, 4)}
BACKENDS = ("memory", "sqlite", "redis", "redis2")


def _start_backend(
    backend: str, tmp: Path, stack: contextlib.ExitStack, cpu: int | None
) -> tuple[list[ServerProcess], list[int]]:
    """The server processes for `backend`, and other pids whose CPU counts (redis-server)."""
    # a benchmark measures throughput: no per-connection edit rate limit
    unlimited = ["--edit-rate", "0"]
    if backend in ("memory", "sqlite"):
        server = ServerProcess(tmp / "data", store=backend, extra_args=unlimited, cpu=cpu).start()
        stack.callback(server.stop)
        return [server], []
    redis = RedisServer(tmp / "redis").start()
    stack.callback(redis.stop)
    servers = []
    for i in range(2 if backend == "redis2" else 1):
        server = ServerProcess(
            tmp / f"node{i}",
            extra_args=["--redis", redis.url, "--node-id", f"n{i}", *unlimited],
            cpu=cpu,
        ).start()
        stack.callback(server.stop)
        servers.append(server)
    assert redis.proc is not None
    if cpu is not None:
        os.sched_setaffinity(redis.proc.pid, {cpu})
    return servers, [redis.proc.pid]


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.fanout", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--config", choices=sorted(CONFIGS), action="append", help="default: all")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        action="append",
        help="default: memory (the no-durability baseline), sqlite, redis, redis2",
    )
    parser.add_argument("--window", type=int, default=4, help="unacknowledged edits per sender")
    parser.add_argument("--senders", type=int, default=4, help="clients per session that send")
    args = parser.parse_args(argv)
    pin = (os.cpu_count() or 1) >= 2
    if pin:
        os.sched_setaffinity(0, {1})
    results = []
    for backend in args.backend or list(BACKENDS):
        with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
            servers, extra_pids = _start_backend(backend, Path(tmp), stack, cpu=0 if pin else None)
            for name in args.config or sorted(CONFIGS):
                sessions, per_session = CONFIGS[name]
                print(
                    f"running {name} on {backend} for {args.seconds:.0f} s …",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(
                    await run_config(
                        servers,
                        backend,
                        sessions,
                        per_session,
                        args.seconds,
                        args.window,
                        args.senders,
                        extra_pids,
                    )
                )
    header = f"{'config':>6} {'backend':>7} {'deliv/s':>9} {'edits/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'srv cpu':>8} {'deliv/cpu-s':>11} {'redis cpu':>9} {'µs/edit':>8}"
    print(header)
    for r in results:
        print(
            f"{r.config:>6} {r.store:>7} {r.deliveries_per_s:>9} {r.edits_per_s:>8} {r.rtt_p50_ms:>7} "
            f"{r.rtt_p99_ms:>7} {r.server_cpu_percent:>7}% {r.deliveries_per_server_cpu_s:>11}"
            f" {r.redis_cpu_percent:>8}% {r.redis_cpu_us_per_edit:>8}"
        )
    baseline = {r.config: r for r in results if r.store == "memory"}
    sqlite = {r.config: r for r in results if r.store == "sqlite"}
    for r in results:
        base = sqlite.get(r.config)
        if r.store.startswith("redis") and base is not None and base.rtt_p50_ms:
            print(
                f"{r.config}: {r.store} adds {r.rtt_p50_ms - base.rtt_p50_ms:+.2f} ms p50 and "
                f"{r.rtt_p99_ms - base.rtt_p99_ms:+.2f} ms p99 per edit over sqlite"
            )
    for r in results:
        base = baseline.get(r.config)
        if r.store != "memory" and base is not None and base.deliveries_per_s:
            print(
                f"{r.config}: {r.store} delivers {r.deliveries_per_s / base.deliveries_per_s:.2f}x"
                f" the in-memory baseline; p50 {r.rtt_p50_ms / base.rtt_p50_ms:.2f}x"
            )
    save("fanout", results)


if __name__ == "__main__":
    run(main)
