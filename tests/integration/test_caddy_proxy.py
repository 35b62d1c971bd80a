"""Backline behind Caddy, the internet recipe of deploy/Caddyfile, with real processes.

A real `caddy run` ends TLS in front of a real `backline serve` that listens
on loopback in plain HTTP and knows its public address (`--public-url`).
Caddy's `tls internal` (its own local CA, under tmp_path) stands in for Let's
Encrypt, so no internet is needed; the test trusts that CA's root and nothing
else. Caddy itself comes from Debian (`apt-get install -y caddy`; the test
bootstrap in scripts/bootstrap.sh installs it).

The site is `band.test` (the public name: the page is fetched the way a browser
at that name asks for it, connecting to 127.0.0.1) and `localhost`, which the
SDK can reach without DNS: it resolves the URL's name itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin, Subprotocol

from backline.client import connect
from backline.protocol.codec import SUBPROTOCOL
from backline.protocol.messages import Role
from backline.testing import ServerProcess, eventually

SESSION = "gig"
NAME = "band.test"
DEPLOY_CADDYFILE = Path(__file__).resolve().parents[2] / "deploy" / "Caddyfile"


def caddy() -> str:
    found = shutil.which("caddy")
    if found is None:  # fail, not skip: a skipped proxy test looks green while testing nothing
        pytest.fail(
            "caddy not found: this test needs Debian's caddy (`apt-get install -y caddy` as"
            " root, or `bash scripts/test`, which installs it)",
            pytrace=False,
        )
    return found


def free_ports(count: int) -> list[int]:
    """`count` different loopback ports nobody listens on (held open until all are found)."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            s = held.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(int(s.getsockname()[1]))
        return ports


def caddyfile(storage: Path, https_port: int, http_port: int, backend: int) -> str:
    """deploy/Caddyfile's site for the test names, on loopback, with Caddy's own CA."""
    return f"""{{
	admin off
	skip_install_trust
	auto_https disable_redirects
	http_port {http_port}
	https_port {https_port}
	storage file_system {storage}
}}

https://{NAME}:{https_port}, https://localhost:{https_port} {{
	bind 127.0.0.1
	tls internal
	reverse_proxy 127.0.0.1:{backend} {{
		flush_interval -1
	}}
}}
"""


@contextlib.contextmanager
def running_caddy(directory: Path, config: str) -> Iterator[subprocess.Popen[bytes]]:
    """`caddy run` on `config`, its home and config dirs in `directory`; stopped by PID."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "Caddyfile"
    path.write_text(config)
    home = {"HOME": str(directory), "XDG_CONFIG_HOME": str(directory / "config"),
            "XDG_DATA_HOME": str(directory / "data")}  # fmt: skip
    with (directory / "caddy.log").open("wb") as log:
        proc = subprocess.Popen(
            [caddy(), "run", "--config", str(path), "--adapter", "caddyfile"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **home},
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, 15)  # SIGTERM: Caddy stops gracefully
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def trusting(root: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(root))


def https_get(root: Path, port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET `path` from https://band.test:`port` as a browser would, connecting to 127.0.0.1."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        trusting(root).wrap_socket(raw, server_hostname=NAME) as tls,
    ):
        request = f"GET {path} HTTP/1.1\r\nHost: {NAME}:{port}\r\nConnection: close\r\n\r\n"
        tls.sendall(request.encode())
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
    return int(status_line.split()[1]), headers, body


def tls_answers(root: Path, port: int) -> bool:
    """One connection attempt: does Caddy finish a verified handshake for `NAME`?"""
    if not root.exists():  # Caddy writes its CA when it provisions `tls internal`
        return False
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
            trusting(root).wrap_socket(raw, server_hostname=NAME),
        ):
            return True
    except (OSError, ssl.SSLError):
        return False


def test_the_deploy_caddyfile_is_valid_and_proxies_to_backline() -> None:
    adapted = subprocess.run(
        [caddy(), "adapt", "--config", str(DEPLOY_CADDYFILE), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "not formatted" not in adapted.stderr  # `caddy fmt` leaves it as it is
    server = json.loads(adapted.stdout)["apps"]["http"]["servers"]["srv0"]
    route = server["routes"][0]
    assert route["match"] == [{"host": ["band.example.com"]}]
    assert '"dial":"127.0.0.1:8765"' in json.dumps(route, separators=(",", ":"))


async def test_through_caddy_the_page_and_the_websocket_use_the_public_https_url(
    tmp_path: Path,
) -> None:
    https_port, http_port, backend_port = free_ports(3)
    public = f"https://{NAME}:{https_port}"
    backend = ServerProcess(
        tmp_path / "data", extra_args=["--public-url", public, "--allowed-origins", public]
    )
    backend.port = backend_port  # known before it starts: Caddy's upstream
    storage = tmp_path / "caddy" / "storage"
    root = storage / "pki" / "authorities" / "local" / "root.crt"
    config = caddyfile(storage, https_port, http_port, backend_port)
    await backend.astart()
    try:
        # the printed addresses are the public ones
        assert backend.http_url == public and backend.url == f"wss://{NAME}:{https_port}"
        assert backend.owner_link.startswith(f"{public}/#session=")
        with running_caddy(tmp_path / "caddy", config) as proxy:

            async def ready() -> bool:
                assert proxy.poll() is None, (tmp_path / "caddy" / "caddy.log").read_text()
                return await asyncio.to_thread(tls_answers, root, https_port)

            await eventually(ready, timeout=30, what="caddy serving https")

            # the page, over https through Caddy, with Backline's own headers
            status, headers, body = await asyncio.to_thread(https_get, root, https_port, "/")
            assert status == 200 and b"<title>Backline</title>" in body
            assert headers["x-frame-options"] == "DENY"
            assert "h3=" in headers["alt-svc"]  # Caddy's: it offers HTTP/3 as well
            status, _, body = await asyncio.to_thread(https_get, root, https_port, "/healthz")
            assert status == 200 and json.loads(body)["status"] == "ok"

            # an edit through Caddy over wss://, seen by a client connected directly
            owner = backend.token(SESSION, Role.OWNER)
            direct_url = f"ws://127.0.0.1:{backend_port}"
            proxied_url = f"wss://localhost:{https_port}"
            async with (
                connect(direct_url, session=SESSION, token=owner, name="direct") as direct,
                connect(
                    proxied_url, session=SESSION, token=owner, name="guest", ssl=trusting(root)
                ) as guest,
            ):
                version = await guest.set_tempo(133)
                await direct.wait_version(version)
                assert direct.project.project["tempo"] == 133.0
                # an invite made on the server's own machine still links to the public page
                made = await direct.invite("editor", name="guest")
                assert made["link"].startswith(f"{public}/#session={SESSION}&token=")

            # Caddy passes Origin on: the public page's is let in, another page's is not
            protocols = [Subprotocol(SUBPROTOCOL)]
            async with ws_connect(
                proxied_url, ssl=trusting(root), origin=Origin(public), subprotocols=protocols
            ) as ws:
                assert ws.subprotocol == SUBPROTOCOL
            with pytest.raises(InvalidStatus) as refused:
                async with ws_connect(
                    proxied_url,
                    ssl=trusting(root),
                    origin=Origin("https://elsewhere.example"),
                    subprotocols=protocols,
                ):
                    pass
            assert refused.value.response.status_code == 403
    finally:
        await backend.astop()
