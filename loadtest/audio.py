"""Mouth-to-ear latency of the audio room, against stock aiortc in the same run.

    python -m loadtest.audio                     # rooms of 2, 4, 8 and 16 (+ 4 impaired)
    python -m loadtest.audio --sizes 4 --seconds 20 --impaired-sizes 2 4
    chrt -f 10 python -m loadtest.audio          # on a busy machine: real-time priority

A click (a 1 ms burst at the start of a 10 ms frame, every 120 ms) leaves one
participant; another listens to its personal mix and finds the click's onset.
Mouth time is when the sending track hands the frame over (a real capture
would hand it over at the same point: once the frame is complete); ear time
is when the listener receives the frame holding the onset, plus the onset's
offset inside it (played on arrival). Every other participant sends
silence, so the server decodes, mixes and encodes for the whole room; a
room of two takes the pass-through path.

Impaired runs route the mouth's and the ear's media through their own
`UdpProxy` (1% loss and ±5 ms jitter each way by default), so the click
crosses four impaired hops' worth of network: two into the server, two out.

Baseline in the same run: two stock aiortc peers connected directly (no
server, aiortc's default 4-frame receive prefetch and 20 ms frames), the
same click.

Reports p50/p99 mouth-to-ear, the server's CPU per participant, the room size
one core would carry at that cost, and this process's CPU (all the
participants' peers: when it nears 100% of a core, the latency of big rooms
is the load generator's). On a machine shared with other work, run it under
`chrt -f 10` (root) so that scheduling delays of unrelated processes do not
count as network jitter. Results go to loadtest/results/audio-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import deque
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection

from backline.client import connect
from backline.client.audio import FRAME, SAMPLE_RATE, ArrayTrack, Samples
from backline.client.session import Session
from backline.testing import ServerProcess
from backline.testing.udp_proxy import Impairment, UdpProxy

from .report import run, save

CLICK_EVERY = 12  # frames: a click every 240 ms
THRESHOLD = 0.2


@dataclass
class Result:
    path: str
    participants: int
    clicks: int
    p50_ms: float
    p99_ms: float
    server_cpu_percent: float
    clients_cpu_percent: float  # this process: every participant's aiortc peer (the load)
    cpu_percent_per_participant: float
    participants_per_core: float


class Clicker(ArrayTrack):
    """Sends a click every `CLICK_EVERY` frames and remembers when each left."""

    def __init__(self) -> None:
        self.sent: deque[float] = deque(maxlen=200)

        def produce(k: int) -> Samples:
            frame = np.zeros(FRAME, dtype=np.float32)
            if k % CLICK_EVERY == 0:
                frame[:48] = 0.8
                self.sent.append(time.monotonic())
            return frame

        super().__init__(produce)


def silence() -> ArrayTrack:
    return ArrayTrack(lambda k: np.zeros(FRAME, dtype=np.float32))


class Ear:
    """Finds click onsets in a stream of frames and matches them to sent clicks."""

    def __init__(self, clicker: Clicker) -> None:
        self.clicker = clicker
        self.latencies: list[float] = []
        self._quiet = True

    def hear(self, frame: Samples, arrived: float) -> None:
        loud = np.flatnonzero(np.abs(frame) > THRESHOLD)
        if len(loud) == 0:
            self._quiet = True
            return
        if not self._quiet:
            return
        self._quiet = False
        onset = arrived + loud[0] / SAMPLE_RATE
        sent = [t for t in self.clicker.sent if t < onset]
        if sent:
            latency = onset - sent[-1]
            if latency < CLICK_EVERY * FRAME / SAMPLE_RATE:  # matched to the right click
                self.latencies.append(latency)


def _cpu(pid: int) -> float:
    import os

    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _summary(
    path: str, n: int, latencies: list[float], cpu: float, clients_cpu: float = 0.0
) -> Result:
    ordered = sorted(latencies) or [float("nan")]
    per = cpu / n if n else 0.0
    return Result(
        path=path,
        participants=n,
        clicks=len(latencies),
        p50_ms=round(statistics.median(ordered) * 1000, 2),
        p99_ms=round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 2),
        server_cpu_percent=round(cpu, 1),
        clients_cpu_percent=round(clients_cpu, 1),
        cpu_percent_per_participant=round(per, 2),
        participants_per_core=round(100 / per) if per > 0 else 0,
    )


async def through_server(
    server: ServerProcess, n: int, seconds: float, impairment: Impairment | None = None
) -> Result:
    token = server.token(f"audio-{n}")
    clicker = Clicker()
    ear = Ear(clicker)
    proxies: list[UdpProxy] = []

    async def publish(s: Session, track: MediaStreamTrack, impaired: bool) -> None:
        """Join the room; an impaired participant's media crosses its own lossy relay."""
        if impairment is None or not impaired:
            await s.audio.publish(track)
            return
        proxy = await UdpProxy(impairment, seed=len(proxies) + 1).start()
        proxies.append(proxy)
        await s.audio.publish(track, edit_offer=proxy.route_offer, edit_answer=proxy.route)

    async with AsyncExitStack() as stack:
        members: list[Session] = []
        for i in range(n):
            s = await stack.enter_async_context(
                connect(server.url, session=f"audio-{n}", token=token, name=f"p{i}")
            )
            members.append(s)
        for i, s in enumerate(members):
            await publish(s, clicker if i == 0 else silence(), impaired=i < 2)  # mouth and ear

        async def listen() -> None:
            async for frame in members[1].audio.mix():
                ear.hear(frame, time.monotonic())

        listener = asyncio.create_task(listen())
        await asyncio.sleep(2.0)  # warm up: ICE, DTLS, the jitter buffers settle
        ear.latencies.clear()
        cpu0, own0 = _cpu(server.pid), time.process_time()
        await asyncio.sleep(seconds)  # measuring period
        cpu = 100 * (_cpu(server.pid) - cpu0) / seconds
        clients_cpu = 100 * (time.process_time() - own0) / seconds
        listener.cancel()
    for proxy in proxies:
        print(
            f"  relay: {proxy.forwarded} packets forwarded, {proxy.dropped} dropped",
            file=sys.stderr,
        )
        proxy.close()
    label = "server" if impairment is None else "server, impaired"
    return _summary(label, n, ear.latencies, cpu, clients_cpu)


async def direct_stock(seconds: float) -> Result:
    """Two stock aiortc peers, no server: what aiortc gives out of the box."""
    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    clicker = Clicker()
    ear = Ear(clicker)
    sender.addTrack(clicker)
    got: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
    receiver.on("track", lambda track: got.set_result(track))
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)
    track = await asyncio.wait_for(got, 20)

    async def listen() -> None:
        while True:
            frame = await track.recv()
            assert isinstance(frame, av.AudioFrame)
            data = frame.to_ndarray().reshape(-1, len(frame.layout.channels))
            ear.hear(data.astype(np.float32).mean(axis=1) / 32768.0, time.monotonic())

    listener = asyncio.create_task(listen())
    await asyncio.sleep(2.0)  # warm up
    ear.latencies.clear()
    await asyncio.sleep(seconds)  # measuring period
    listener.cancel()
    await sender.close()
    await receiver.close()
    return _summary("direct stock aiortc", 2, ear.latencies, 0.0)


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.audio", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[2, 4, 8, 16])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--loss", type=float, default=0.01, help="packet loss of the impaired run (0.01)"
    )
    parser.add_argument(
        "--jitter-ms", type=float, default=5.0, help="± jitter of the impaired run (5 ms)"
    )
    parser.add_argument(
        "--impaired-sizes",
        type=int,
        nargs="*",
        default=[4],
        help="rooms also measured with the mouth's and ear's media through a lossy relay",
    )
    args = parser.parse_args(argv)
    impairment = Impairment(loss=args.loss, jitter_ms=args.jitter_ms)
    results = [await direct_stock(args.seconds)]
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data", store="memory").start()
        try:
            for n in args.sizes:
                print(f"room of {n} for {args.seconds:.0f} s …", file=sys.stderr, flush=True)
                results.append(await through_server(server, max(2, n), args.seconds))
            for n in args.impaired_sizes:
                print(
                    f"room of {n}, {args.loss:.0%} loss ±{args.jitter_ms:g} ms jitter,"
                    f" for {args.seconds:.0f} s …",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(await through_server(server, max(2, n), args.seconds, impairment))
        finally:
            server.stop()
    print(
        f"{'path':>20} {'n':>3} {'clicks':>6} {'p50 ms':>7} {'p99 ms':>7} {'cpu %/p':>8} {'p/core':>7}"
        f" {'clients %':>9}"
    )
    for r in results:
        print(
            f"{r.path:>20} {r.participants:>3} {r.clicks:>6} {r.p50_ms:>7} {r.p99_ms:>7}"
            f" {r.cpu_percent_per_participant:>8} {r.participants_per_core:>7}"
            f" {r.clients_cpu_percent:>9}"
        )
    base = results[0]
    for r in results[1:]:
        if base.p50_ms == base.p50_ms and base.p50_ms:
            print(f"room of {r.participants}: p50 {r.p50_ms / base.p50_ms:.2f}x stock direct")
    save("audio", results)


if __name__ == "__main__":
    run(main)
