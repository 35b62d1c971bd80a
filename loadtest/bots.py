"""How close to the beat the metronome bot's clicks are mixed, through a real server.

    python -m loadtest.bots                      # 20 s at 120 BPM, mixed then forwarded
    python -m loadtest.bots --seconds 60 --tempo 150 --routes mixed

Runs `backline bot metronome` as a process and a listener in this one; plays
the transport and records the listener's mix with each frame's arrival time.
Two routes: *mixed* (the listener sets the bot's gain to 0.99, so the room
mixes it) and *forwarded* (a room of two at unity gain: the server passes
the bot's packets through). For every click it reports:

- *late*: when the room had the click's first sample (its arrival less the
  listener's known receive delay) minus the beat's server time. This is what
  the bot's send-latency compensation leaves, plus, when mixed, the room's
  adaptive playout delay for the bot's stream above one frame;
- *off*: how far the click lies from its exact sample, less whole room frames
  (see `backline.testing.audio.count_on_grid`): 0 when the bot renders
  sample-accurately and the stream only moves in whole frames;
- *delay steps*: how often the playout delay changed between two clicks.

Also prints the machine's load average, since the room's playout delay follows
the jitter of a loaded machine. Results go to loadtest/results/bots-<time>.json.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from backline.client import connect
from backline.client.audio import FRAME, SAMPLE_RATE
from backline.client.playback import codec_delay_samples
from backline.testing import BotProcess, ServerProcess
from backline.testing.audio import count_on_grid, onsets, receive_delay_us, record_mix

from .report import run, save

SESSION = "metronome"


@dataclass
class Result:
    route: str
    tempo: float
    seconds: float
    clicks: int
    beats: int
    late_p50_ms: float
    late_p99_ms: float
    late_min_ms: float
    late_max_ms: float
    off_p50_ms: float
    off_max_ms: float
    delay_steps: int
    send_estimate_ms: float
    receive_delay_ms: float
    load_average: float


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(server: ServerProcess, route: str, tempo: float, seconds: float) -> Result:
    session = f"{SESSION}-{route}"  # a fresh transport: the first click is beat 0
    token = server.token(session)
    async with (
        connect(server.url, session=session, token=token, name="ear") as ear,
        BotProcess(server, "metronome", session) as bot,
    ):
        await ear.audio.publish(None)
        line = await bot.wait_for("send latency")
        if route == "mixed":
            [metronome] = [c for c, peer in ear.peers.items() if peer["name"] == "metronome"]
            await ear.audio.set_gains({metronome: 0.99})
            await ear.synced()
        await record_mix(ear, 2.0)  # warm up: ICE, DTLS, the jitter buffers settle
        await ear.clock.wait_synced()
        await ear.set_tempo(tempo)
        await ear.play()
        timeline = ear.timeline.current
        heard = await record_mix(ear, seconds, forwarded=route == "forwarded")
        await ear.stop()
        await bot.stop()
    found = onsets(heard.samples, 0.1)
    counted = count_on_grid(heard, found, timeline.us_per_beat)
    late = [
        (heard.mix_time(i) - timeline.time_at(c.units)) / 1000
        for i, c in zip(found, counted, strict=True)
    ]
    steps = [b - a for a, b in itertools.pairwise(late)]
    frame_ms = FRAME * 1000 / SAMPLE_RATE
    offs = [abs(c.off_ms) for c in counted[1:]] or [0.0]
    estimate = float(line.rsplit("=", 1)[1].split()[0])
    return Result(
        route=route,
        tempo=tempo,
        seconds=seconds,
        clicks=len(found),
        beats=counted[-1].units + 1 if counted else 0,
        late_p50_ms=round(statistics.median(late), 2),
        late_p99_ms=round(_quantile(late, 0.99), 2),
        late_min_ms=round(min(late), 2),
        late_max_ms=round(max(late), 2),
        off_p50_ms=round(statistics.median(offs), 3),
        off_max_ms=round(max(offs), 3),
        delay_steps=sum(1 for d in steps if abs(d) > frame_ms / 2),
        send_estimate_ms=estimate,
        receive_delay_ms=round(receive_delay_us(route == "forwarded") / 1000, 2),
        load_average=os.getloadavg()[0],
    )


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bots", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--tempo", type=float, default=120.0)
    parser.add_argument(
        "--routes", nargs="+", choices=["mixed", "forwarded"], default=["mixed", "forwarded"]
    )
    args = parser.parse_args(argv)
    codec_delay_samples()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data", store="memory").start()
        try:
            for route in args.routes:
                print(
                    f"metronome {route}, {args.seconds:.0f} s at {args.tempo:g} BPM …",
                    file=sys.stderr,
                )
                results.append(await measure(server, route, args.tempo, args.seconds))
        finally:
            server.stop()
    for r in results:
        print(
            f"== {r.route}: clicks {r.clicks} of {r.beats} beats; load average {r.load_average:.1f}"
        )
        print(
            f"late (after the beat): p50 {r.late_p50_ms} ms, p99 {r.late_p99_ms} ms,"
            f" min {r.late_min_ms} ms, max {r.late_max_ms} ms"
        )
        print(f"off its sample (less whole frames): p50 {r.off_p50_ms} ms, max {r.off_max_ms} ms")
        print(f"playout delay changed {r.delay_steps} times between clicks")
        print(
            f"bot's send-latency estimate {r.send_estimate_ms} ms; listener receive delay"
            f" {r.receive_delay_ms} ms"
        )
    save("bots", results)


if __name__ == "__main__":
    run(main)
