"""Operating a server among hostile inputs: /metrics, allowed origins, no tokens in logs, TLS."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from backline.client import connect
from backline.client.audio import ToneTrack
from backline.protocol.errors import Unavailable
from backline.protocol.tokens import mint
from backline.testing import RawClient, ServerProcess

SESSION = "jam"


def fetch(url: str, context: ssl.SSLContext | None = None) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10, context=context) as response:
        return response.status, response.headers["Content-Type"], response.read()


async def scrape(server: ServerProcess) -> dict[str, float]:
    """Every sample of /metrics as ``name{label="value",...}`` -> value."""
    status, content_type, body = await asyncio.to_thread(fetch, server.http_url + "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def op(seq: int, *ops: dict[str, Any]) -> dict[str, Any]:
    return {"type": "op", "seq": seq, "ops": list(ops)}


async def next_reject(client: RawClient) -> dict[str, Any]:
    """The next reject, past the edits of others that this client sees."""
    while True:
        message = await client.recv()
        if message["type"] == "reject":
            return message
        assert message["type"] in ("ops", "presence", "chat"), message


async def test_metrics_count_edits_rejects_and_live_gauges(server: ServerProcess) -> None:
    before = await scrape(server)
    assert before["backline_ops_accepted_total"] == 0
    assert before["backline_connections"] == 0 and before["backline_sessions_loaded"] == 0
    editor = await RawClient.open(server.url)
    viewer = await RawClient.open(server.url)
    try:
        await editor.hello(SESSION, server.token(SESSION, "editor"), name="ed")
        await viewer.hello(SESSION, server.token(SESSION, "viewer"), name="view")
        edits = [
            {"op": "insert", "kind": "track", "id": "t1", "value": {}},
            {"op": "set", "id": "t1", "field": "name", "value": "Drums"},
            {"op": "set", "id": "t1", "field": "volume", "value": 0.5},
        ]
        for seq, edit in enumerate(edits, 1):
            await editor.send(op(seq, edit))
            ack = await editor.recv_type("ops")
            assert ack["batches"][0]["seq"] == seq
        await editor.send(op(4, {"op": "delete", "id": "ghost"}))  # decided by the session
        assert (await editor.recv_type("reject"))["code"] == "not_found"
        await viewer.send(op(1, {"op": "delete", "id": "t1"}))  # refused at the boundary
        assert (await next_reject(viewer))["code"] == "forbidden"

        m = await scrape(server)
        assert m["backline_ops_accepted_total"] == 3
        rejected = {k: v for k, v in m.items() if k.startswith("backline_ops_rejected_total")}
        assert rejected == {
            'backline_ops_rejected_total{code="not_found"}': 1,
            'backline_ops_rejected_total{code="forbidden"}': 1,
        }
        assert m["backline_connections"] == 2
        assert m["backline_sessions_loaded"] == 1
        assert m["backline_slow_consumers_closed_total"] == 0
        # one append per edit that reached the store (the forbidden one never did)
        assert m["backline_store_append_seconds_count"] == 4
        assert m["backline_store_append_seconds_sum"] > 0
        assert m["backline_apply_seconds_count"] >= 4
        assert m['backline_apply_seconds_bucket{le="+Inf"}'] == m["backline_apply_seconds_count"]
        assert m["backline_audio_tick_seconds_count"] == 0  # no audio room yet
        assert m["backline_gc_pause_seconds_count"] >= 0  # exposed (collections are rare)

        # /healthz keeps its JSON shape and agrees with /metrics
        status, _, body = await asyncio.to_thread(fetch, server.http_url + "/healthz")
        health = json.loads(body)
        assert status == 200
        assert {"status", "store", "counters", "sessions", "connections"} <= health.keys()
        assert (health["sessions"], health["connections"]) == (1, 2)
        assert health["counters"]["ops_accepted"] == 3
        assert health["counters"]["ops_rejected{code=forbidden}"] == 1
    finally:
        await editor.ws.close()
        await viewer.ws.close()


async def test_metrics_time_the_audio_mixer_tick(server: ServerProcess) -> None:
    token = server.token(SESSION)
    async with connect(server.url, session=SESSION, token=token, name="singer") as s:
        await s.audio.publish(ToneTrack(440.0))
        frames = 0
        async for _ in s.audio.mix():  # the room ticks while it sends us our mix
            frames += 1
            if frames == 10:
                break
        m = await scrape(server)
    assert m["backline_audio_tick_seconds_count"] >= 10
    assert 0 < m["backline_audio_tick_seconds_sum"] < m["backline_audio_tick_seconds_count"] * 0.02


async def refused_status(url: str, origin: str) -> int:
    with pytest.raises(InvalidStatus) as info:
        await RawClient.open(url, origin=Origin(origin))
    return info.value.response.status_code


async def joins(server: ServerProcess, origin: str | None) -> None:
    extra = {} if origin is None else {"origin": Origin(origin)}
    client = await RawClient.open(server.url, **extra)
    try:
        welcome = await client.hello(SESSION, server.token(SESSION))
        assert welcome["session"] == SESSION
    finally:
        await client.ws.close()


async def test_allowed_origins_refuse_other_browser_pages(tmp_path: Path) -> None:
    args = ["--allowed-origin", "https://band.example", "--allowed-origin", "http://127.0.0.1:3000"]
    server = await ServerProcess(tmp_path / "flags", extra_args=args).astart()
    try:
        assert await refused_status(server.url, "https://evil.example") == 403
        assert await refused_status(server.url, "https://band.example.evil.example") == 403
        await joins(server, "https://band.example")
        await joins(server, "http://127.0.0.1:3000")
        await joins(server, None)  # bots and the SDK send no Origin
    finally:
        await server.astop()
    env = {"BACKLINE_ALLOWED_ORIGINS": "https://a.example, https://b.example"}
    server = await ServerProcess(tmp_path / "env", env=env).astart()
    try:
        assert await refused_status(server.url, "https://c.example") == 403
        await joins(server, "https://a.example")
        await joins(server, "https://b.example")
    finally:
        await server.astop()


async def test_any_origin_by_default(server: ServerProcess) -> None:
    await joins(server, "https://anywhere.example")


async def test_tokens_never_reach_the_log(tmp_path: Path) -> None:
    server = await ServerProcess(tmp_path / "data", extra_args=["--log-level", "DEBUG"]).astart()
    good = server.token(SESSION, "editor")
    forged = mint(b"not this server's secret", SESSION, "owner")
    try:
        async with connect(server.url, session=SESSION, token=good, name="a") as s:
            await s.set_tempo(97)
        # a careless client that also puts its token in the URL and sends it as text
        careless = await RawClient.open(f"{server.url}/?token={good}")
        await careless.send(json.dumps({"type": "hello", "session": SESSION, "token": good}))
        assert (await careless.recv())["code"] == "bad_frame"
        await careless.hello(SESSION, good)
        await careless.ws.close()
        refused = await RawClient.open(server.url)
        await refused.send({"type": "hello", "session": SESSION, "token": forged, "name": "x"})
        assert (await refused.recv())["code"] == "unauthorized"
        await refused.ws.close()
    finally:
        assert await server.astop() == 0
    log = server.log_path.read_text()
    assert "refused for session jam" in log  # the refusal is logged, without the token
    assert "< GET /?token=*** HTTP/1.1" in log  # the DEBUG wire trace ran and was redacted
    assert good not in log and forged not in log
    for part in (good.split(".")[2], forged.split(".")[2]):  # not even the signatures
        assert part not in log


def self_signed(directory: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the TLS test needs the openssl CLI: apt-get install -y openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_serves_wss_and_https(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server = await ServerProcess(
        tmp_path / "data", extra_args=["--certfile", str(cert), "--keyfile", str(key)]
    ).astart()
    try:
        assert server.url.startswith("wss://127.0.0.1:")
        assert server.http_url == f"https://127.0.0.1:{server.port}"
        assert server.owner_link.startswith(f"https://127.0.0.1:{server.port}/#session=")
        trusting = ssl.create_default_context(cafile=str(cert))
        token = server.token(SESSION)
        async with connect(server.url, session=SESSION, token=token, name="a", ssl=trusting) as s:
            await s.set_tempo(123)
            assert s.version == 1
        status, _, body = await asyncio.to_thread(fetch, server.http_url + "/healthz", trusting)
        assert status == 200 and json.loads(body)["status"] == "ok"
        # the certificate is really checked: the system trust store does not know it
        with pytest.raises(Unavailable, match="CERTIFICATE_VERIFY_FAILED"):
            async with connect(server.url, session=SESSION, token=token, reconnect=False):
                pass
        # and plain websockets are not served on the TLS port
        with pytest.raises(Unavailable):
            plain = "ws://" + server.url.removeprefix("wss://")
            async with connect(plain, session=SESSION, token=token, reconnect=False):
                pass
    finally:
        assert await server.astop() == 0
