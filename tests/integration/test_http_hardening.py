"""The server's HTTP side and its log among hostile clients, against real server processes.

- control characters a client sends (display name, request line, headers) are
  escaped in the log, so no client forges a log line;
- a token percent-encoded in a query is accepted only under the exact name
  ``token``, and never reaches the log in any form;
- the recordings listing follows no symlink a download refuses;
- every HTTP answer carries the security headers, HEAD answers like GET without
  a body, and any other method is 405 and changes nothing.

HTTP requests are written byte by byte on a raw socket (``http_request``) so
that the tests see exactly what the server sends: the server closes the
connection after every HTTP answer, so reading to EOF is the whole response.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from backline.server.audio.recording import wav_header
from backline.server.http.web import WEB_ROOT
from backline.testing import RawClient, ServerProcess

SESSION = "jam"
Headers = dict[str, str]


async def http_request(
    server: ServerProcess, method: str, target: str, headers: Headers | None = None
) -> tuple[int, Headers, bytes]:
    """One request on a fresh connection: status, headers (lower-case names), raw body bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed: Headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        assert name.lower() not in parsed, f"{name} twice"
        parsed[name.lower()] = value.strip()
    return int(status_line.split(" ")[1]), parsed, body


def percent_encoded(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode())


def log_of(server: ServerProcess) -> str:
    return server.log_path.read_text(encoding="utf-8", errors="replace")


# -- 8: control characters in the log ----------------------------------------------------

FORGED = "2026-12-02 12:00:00,000 INFO backline.session: forged"


async def test_control_characters_a_client_sends_are_escaped_in_the_log(tmp_path: Path) -> None:
    server = await ServerProcess(tmp_path / "data", extra_args=["--log-level", "DEBUG"]).astart()
    names = {
        f"eve\n{FORGED}": f"eve\\n{FORGED}",
        f"mal\r\x1b[2J\x85\u2028{FORGED}": f"mal\\r\\x1b[2J\\x85\\u2028{FORGED}",
    }
    try:
        for name in names:
            client = await RawClient.open(server.url)
            await client.hello(SESSION, server.token(SESSION), name=name)
            await client.send({"type": "chat", "text": f"hi\n{FORGED}"})
            await client.ws.close()
        # the request line and headers, which websockets logs at DEBUG
        status, _, _ = await http_request(
            server, "GET", "/x\x1b[2J\x7f", {"User-Agent": f"ua\x85{FORGED}"}
        )
        assert status == 404
    finally:
        assert await server.astop() == 0
    log = log_of(server)
    lines = log.split("\n")
    assert not [line for line in lines if line.startswith(FORGED)]
    for raw, escaped in names.items():
        assert raw not in log and escaped in log  # the join line, at least
    assert "< GET /x\\x1b[2J\\x7f HTTP/1.1" in log
    assert f"< User-Agent: ua\\x85{FORGED}" in log
    assert not re.search("[\r\x1b\x7f\x85\u2028]", log)


# -- 9: percent-encoded tokens ------------------------------------------------------------


async def test_percent_encoded_tokens_are_refused_by_name_and_never_logged(
    tmp_path: Path,
) -> None:
    server = await ServerProcess(tmp_path / "data", extra_args=["--log-level", "DEBUG"]).astart()
    token = server.token(SESSION, "owner")
    signature = token.split(".")[2]
    dots = token.replace(".", "%2E")
    cases = [
        (f"tok%65n={dots}", 401),  # the name percent-encoded: not the token parameter
        (f"%74oken={token}", 401),
        (f"token={token.replace('.', '%252E')}", 401),  # the value is decoded once only
        (f"token={token}&token={token}", 401),  # twice: refused, not guessed at
        (f"token={dots}", 200),
        (f"token={percent_encoded(token)}", 200),
        (f"x=1&token={dots}&y=2", 200),
    ]
    try:
        for query, expected in cases:
            status, _, _ = await http_request(server, "GET", f"/recordings/{SESSION}?{query}")
            assert status == expected, query
    finally:
        assert await server.astop() == 0
    log = log_of(server)
    assert f"< GET /recordings/{SESSION}?tok%65n=*** HTTP/1.1" in log  # the trace ran, redacted
    for secret in (token, signature, dots, percent_encoded(token), percent_encoded(signature)):
        assert secret.lower() not in log.lower(), secret


# -- 10: symlinks in the recordings directory ---------------------------------------------

MARKER = "s3cret-marker-4711"


def sidecar(recording: str) -> dict[str, object]:
    """A sidecar shaped like the one `server.audio.recording.Recording` writes."""
    return {
        "format": "backline.recording.v1",
        "id": recording,
        "session": SESSION,
        "tempo": 120.0,
        "sample_rate": 48_000,
        "channels": 1,
        "bits": 16,
        "start_time_us": 1_000_000,
        "end_time_us": 2_000_000,
        "samples": 0,
        "stopped": "stopped",
        "mix": "mix.wav",
        "participants": [{"client": "c1", "name": "eve", "file": "01-eve.wav"}],
        "markers": [],
    }


def plant_symlinks(server: ServerProcess, outside: Path) -> dict[str, str]:
    """Recordings whose sidecar, stem or directory is a symlink out of the data dir."""
    outside.mkdir()
    (outside / "secret.json").write_text(json.dumps({"id": "x", "secret": MARKER}))
    (outside / "secret.wav").write_bytes(wav_header(0) + MARKER.encode())
    (outside / "dir").mkdir()
    (outside / "dir" / "recording.json").write_text(json.dumps({"secret": MARKER}))
    base = server.data_dir / "recordings" / SESSION
    ids = {
        "sidecar": "20260101-000000-aaaa",
        "stem": "20260101-000000-bbbb",
        "directory": "20260101-000000-cccc",
        "inner": "20260101-000000-dddd",
    }
    (base / ids["sidecar"]).mkdir(parents=True)
    (base / ids["sidecar"] / "recording.json").symlink_to(outside / "secret.json")
    (base / ids["sidecar"] / "mix.wav").write_bytes(wav_header(0))
    stem = base / ids["stem"]
    stem.mkdir()
    (stem / "recording.json").write_text(json.dumps(sidecar(ids["stem"])))
    (stem / "mix.wav").write_bytes(wav_header(0))
    (stem / "01-eve.wav").symlink_to(outside / "secret.wav")
    (stem / "02-bob.wav").symlink_to(stem / "mix.wav")  # even inside: a symlink is refused
    (base / ids["directory"]).symlink_to(outside / "dir")
    (base / ids["inner"]).symlink_to(stem)  # another recording, through a symlink
    return ids


async def test_the_recordings_listing_follows_no_symlink(
    server: ServerProcess, tmp_path: Path
) -> None:
    ids = plant_symlinks(server, tmp_path / "outside")
    auth = {"Authorization": f"Bearer {server.token(SESSION, 'owner')}"}
    status, _, body = await http_request(server, "GET", f"/recordings/{SESSION}", auth)
    assert status == 200
    assert MARKER.encode() not in body
    listed = json.loads(body)["recordings"]
    assert [r["id"] for r in listed] == [ids["stem"]]
    assert [f["name"] for f in listed[0]["files"]] == ["mix.wav", "recording.json"]
    refused = [
        (ids["sidecar"], "recording.json"),
        (ids["stem"], "01-eve.wav"),
        (ids["stem"], "02-bob.wav"),
        (ids["directory"], "recording.json"),
        (ids["inner"], "mix.wav"),
    ]
    for recording, name in refused:
        target = f"/recordings/{SESSION}/{recording}/{name}"
        status, _, body = await http_request(server, "GET", target, auth)
        assert (status, MARKER.encode() in body) == (404, False), target
    for name in ("mix.wav", "recording.json"):  # what is listed downloads
        target = f"/recordings/{SESSION}/{ids['stem']}/{name}"
        assert (await http_request(server, "GET", target, auth))[0] == 200


# -- 11: headers and methods --------------------------------------------------------------

SECURITY = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
}
RECORDING = "20260101-000000-abcd"


def web_paths() -> list[str]:
    """Every file of the web client as the server serves it, and its index and protocol."""
    files = sorted(p.relative_to(WEB_ROOT).as_posix() for p in WEB_ROOT.rglob("*") if p.is_file())
    served = [f"/{name}" for name in files if Path(name).suffix in (".html", ".js", ".css", ".svg")]
    return ["/", "/protocol.js", *served]


def plant_recording(server: ServerProcess) -> Path:
    directory = server.data_dir / "recordings" / SESSION / RECORDING
    directory.mkdir(parents=True)
    (directory / "recording.json").write_text(json.dumps(sidecar(RECORDING)))
    (directory / "mix.wav").write_bytes(wav_header(0))
    return directory


async def test_every_answer_carries_the_security_headers_and_head_is_get_without_body(
    server: ServerProcess,
) -> None:
    plant_recording(server)
    owner = {"Authorization": f"Bearer {server.token(SESSION, 'owner')}"}
    routes: list[tuple[str, Headers, int]] = [
        ("/healthz", {}, 200),
        ("/metrics", {}, 200),
        (f"/recordings/{SESSION}", owner, 200),
        (f"/recordings/{SESSION}", {}, 401),
        (f"/recordings/{SESSION}/{RECORDING}/mix.wav", owner, 200),
        (f"/recordings/{SESSION}/{RECORDING}/none.wav", owner, 404),
        ("/missing.js", {}, 404),
        ("/../secret", {}, 404),
        *((path, {}, 200) for path in web_paths()),
    ]
    assert len(routes) > 20
    for path, headers, expected in routes:
        status, got, body = await http_request(server, "GET", path, headers)
        assert status == expected, path
        assert SECURITY.items() <= got.items(), path
        assert int(got["content-length"]) == len(body) > 0, path
        head_status, head_headers, head_body = await http_request(server, "HEAD", path, headers)
        assert (head_status, head_body) == (status, b""), path
        if path in ("/healthz", "/metrics"):  # live figures: the same headers, other lengths
            assert head_headers.keys() == got.keys() and int(head_headers["content-length"]) > 0
        else:
            assert head_headers == got, path
    _, page, _ = await http_request(server, "GET", "/")
    assert page["content-type"] == "text/html; charset=utf-8"


async def test_other_methods_are_refused_with_405_and_change_nothing(
    server: ServerProcess,
) -> None:
    directory = plant_recording(server)
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    owner = {"Authorization": f"Bearer {server.token(SESSION, 'owner')}"}
    upgrade = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Protocol": "backline.v1",
    }
    targets: list[tuple[str, Headers]] = [
        (f"/recordings/{SESSION}/{RECORDING}/mix.wav", owner),
        (f"/recordings/{SESSION}/{RECORDING}/recording.json", owner),
        (f"/recordings/{SESSION}", owner),
        ("/healthz", {}),
        ("/", {}),
        ("/", upgrade),  # not a websocket handshake either
        ("/missing", {}),
    ]
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"):
        for target, headers in targets:
            status, got, body = await http_request(server, method, target, headers)
            assert status == 405, (method, target)
            assert got["allow"] == "GET, HEAD"
            assert SECURITY.items() <= got.items()
            assert int(got["content-length"]) == len(body)
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before
    status, _, _ = await http_request(server, "GET", f"/recordings/{SESSION}", owner)
    assert status == 200  # still served


async def test_websockets_own_refusals_carry_the_security_headers(tmp_path: Path) -> None:
    server = await ServerProcess(
        tmp_path / "data", extra_args=["--allowed-origin", "https://band.example"]
    ).astart()
    handshake = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Protocol": "backline.v1",
    }
    try:
        evil = {**handshake, "Origin": "https://evil.example"}
        status, got, _ = await http_request(server, "GET", "/", evil)
        assert status == 403
        assert SECURITY.items() <= got.items()
        no_version = {k: v for k, v in handshake.items() if k != "Sec-WebSocket-Version"}
        status, got, _ = await http_request(server, "GET", "/", no_version)
        assert status == 400
        assert SECURITY.items() <= got.items()
    finally:
        assert await server.astop() == 0
