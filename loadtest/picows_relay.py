"""The floor of a faster stack: the minimal relay on `picows` (Cython) instead of `websockets`.

    python -m loadtest.picows_relay [--port P]      prints "listening PORT" once ready

Same contract as `minimal_server`: clients connect to ``ws://127.0.0.1:PORT/ROOM``
and every binary message one client sends goes, unchanged, to every client of
its room, the sender included. Same event loop (uvloop). picows parses frames
and calls `on_ws_frame` per message with no task, future or queue, and frames
what it sends in C: this target measures how far the websocket layer alone
could take a Python server (issue #22's lever), next to the `websockets`
relay and Node's `ws` in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import uvloop
from picows import (
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

rooms: dict[bytes, set[WSTransport]] = {}


class Relay(WSListener):
    """One client: its frames go to its room; a close frame is answered and ends it."""

    def __init__(self, room: bytes) -> None:
        self.room = room

    def on_ws_connected(self, transport: WSTransport) -> None:
        rooms.setdefault(self.room, set()).add(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.BINARY or kind is WSMsgType.TEXT:
            payload = frame.get_payload_as_memoryview()
            for peer in rooms.get(self.room, ()):
                peer.send(kind, payload)
        elif kind is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        room = rooms.get(self.room)
        if room is not None:
            room.discard(transport)
            if not room:
                del rooms[self.room]


def listener_for(request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
    """Accept every upgrade, echoing the first subprotocol asked for (as `minimal` does)."""
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    first = offered.split(",")[0].strip()
    headers = {"Sec-WebSocket-Protocol": first} if first else None
    response = WSUpgradeResponse.create_101_response(extra_headers=headers)
    return WSUpgradeResponseWithListener(response, Relay(bytes(request.path)))


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    server = await ws_create_server(
        listener_for, "127.0.0.1", port, max_frame_size=64 * 1024 * 1024
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"listening {bound}", flush=True)
    try:
        await stop
    finally:
        server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    uvloop.run(main(parser.parse_args().port))
