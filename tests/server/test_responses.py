"""The HTTP answer builder and the `harden` hook on a websockets server in this process."""

from __future__ import annotations

import asyncio
import http

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Origin

from backline.server.http.responses import SECURITY_HEADERS, harden, method_not_allowed, response


def test_head_keeps_every_header_of_get_and_drops_the_body() -> None:
    get = response(http.HTTPStatus.OK, b"hello", "text/plain", (("X-Extra", "1"),))
    head = response(http.HTTPStatus.OK, b"hello", "text/plain", (("X-Extra", "1"),), head=True)
    assert (get.body, head.body) == (b"hello", b"")
    assert list(head.headers.raw_items()) == list(get.headers.raw_items())
    assert head.headers["Content-Length"] == "5"
    for name, value in SECURITY_HEADERS:
        assert get.headers[name] == value


def test_method_not_allowed_names_the_allowed_methods() -> None:
    refused = method_not_allowed()
    assert refused.status_code == 405
    assert refused.headers["Allow"] == "GET, HEAD"
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    assert refused.headers["Content-Length"] == str(len(refused.body))


async def raw_get(port: int, headers: dict[str, str]) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [
        "GET / HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    try:
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def test_harden_adds_the_headers_to_websockets_own_refusals_only() -> None:
    """websockets answers a refused Origin itself (403); the hook gives it our headers."""

    async def handler(ws: ServerConnection) -> None:
        await ws.send("hi")

    handshake = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        "Origin": "https://evil.example",
    }
    origins = [Origin("https://band.example")]
    async with serve(handler, "127.0.0.1", 0, origins=origins, process_response=harden) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        answer = await raw_get(port, handshake)
        head = answer.partition(b"\r\n\r\n")[0].decode()
        assert head.startswith("HTTP/1.1 403 ")
        for name, value in SECURITY_HEADERS:
            assert f"\r\n{name}: {value}" in head
        async with connect(f"ws://127.0.0.1:{port}", origin=origins[0]) as ws:
            assert await ws.recv() == "hi"  # the upgrade itself is untouched
            assert ws.response is not None
            assert "X-Content-Type-Options" not in ws.response.headers
