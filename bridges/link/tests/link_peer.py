"""A Link peer standing in for a DAW, for the bridge's tests (a process of its own).

Prints one JSON line per report: ``{"t": monotonic µs, "beat", "phase", "tempo",
"playing", "peers"}``, every 20 ms; reads commands on stdin: ``tempo BPM``,
``play``, ``stop``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from aalink import Link


async def main() -> None:
    link = Link(100.0)
    link.quantum = 4
    link.enabled = True
    link.start_stop_sync_enabled = True
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def commands() -> None:
        while line := (await reader.readline()).decode().split():
            if line[0] == "tempo":
                link.tempo = float(line[1])
            elif line[0] in ("play", "stop"):
                link.playing = line[0] == "play"

    listening = asyncio.ensure_future(commands())  # kept: a task nobody holds may vanish
    while not listening.done():
        # the beat and phase now, and when now is on the monotonic clock (Link's own clock
        # on Linux is CLOCK_MONOTONIC_RAW, which runs apart from it)
        before = time.monotonic_ns()
        beat, phase = link.beat, link.phase
        after = time.monotonic_ns()
        report = {
            "t": (before + after) / 2000,
            "read_us": (after - before) / 1000,
            "beat": beat,
            "phase": phase,
            "quantum": link.quantum,
            "tempo": link.tempo,
            "playing": link.playing,
            "peers": link.num_peers,
        }
        print(json.dumps(report), flush=True)
        await asyncio.sleep(0.02)


asyncio.run(main())
