"""The floor of the stack: a minimal Python `websockets` broadcast server.

    python -m loadtest.minimal_server [--port P]      prints "listening PORT" once ready

Clients connect to ``ws://127.0.0.1:PORT/ROOM``. Every binary message one
client sends goes, unchanged, to every client of its room, the sender
included (its acknowledgement), through `websockets.broadcast`: the frame's
payload is built once and framed per connection, with no validation, no
storage and no batching. Same library, same event loop (uvloop) and same
options as the Backline server, so Backline / minimal is what the real
protocol costs on top of the bare stack.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.typing import Subprotocol

from backline.protocol.codec import SUBPROTOCOL

rooms: dict[str, set[ServerConnection]] = {}


async def relay(ws: ServerConnection) -> None:
    name = ws.request.path if ws.request is not None else "/"
    room = rooms.setdefault(name, set())
    room.add(ws)
    try:
        async for message in ws:
            broadcast(room, message)
    finally:
        room.discard(ws)
        if not room:
            rooms.pop(name, None)


async def main(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(
        relay,
        "127.0.0.1",
        port,
        subprotocols=[Subprotocol(SUBPROTOCOL)],
        compression=None,
        max_size=None,
    ) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        print(f"listening {bound}", flush=True)
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    uvloop.run(main(parser.parse_args().port))
