"""`backline serve --tls self-signed`: a certificate made once, printed, served and kept.

Real server processes on free ports: the fingerprint printed at start is the
SHA-256 of the certificate the port serves; a restart on the same data dir
serves the same one; the SDK joins over `wss://` trusting it; a certificate
and key that are not a pair stop the start with one sentence, and a kept pair
that is not one any more is replaced.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import socket
import ssl
import subprocess
import sys
from pathlib import Path

from cryptography import x509

from backline.client import connect
from backline.protocol.messages import Role
from backline.server.tls import certificate_names, self_signed
from backline.testing import ServerProcess

SESSION = "jam"
_FINGERPRINT = re.compile(r"^Certificate SHA-256 fingerprint: ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})$")


def printed_fingerprint(server: ServerProcess) -> str:
    found = [m.group(1) for line in server.start_lines if (m := _FINGERPRINT.match(line))]
    assert len(found) == 1, server.start_lines
    return found[0]


async def served_fingerprint(port: int) -> str:
    """SHA-256 of the certificate the server hands a TLS client on 127.0.0.1:`port`."""
    pem = await asyncio.to_thread(ssl.get_server_certificate, ("127.0.0.1", port), timeout=10)
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).digest().hex(":").upper()


async def test_the_certificate_is_printed_served_kept_and_trusted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = await ServerProcess(data, extra_args=["--tls", "self-signed"]).astart()
    try:
        assert server.url == f"wss://127.0.0.1:{server.port}"
        assert server.http_url == f"https://127.0.0.1:{server.port}"
        assert server.owner_link.startswith(f"https://127.0.0.1:{server.port}/#session=")
        first = printed_fingerprint(server)
        assert await served_fingerprint(server.port) == first
        guests = [line for line in server.start_lines if line.startswith("Guests: ")]
        assert guests == [
            f"Guests: open https://127.0.0.1:{server.port}/, the browser warns about a"
            " self-signed certificate; check that its SHA-256 fingerprint is the one above,"
            " then accept it"
        ]
        cert, key = data / "tls" / "cert.pem", data / "tls" / "key.pem"
        assert key.stat().st_mode & 0o777 == 0o600
        certificate = x509.load_pem_x509_certificate(cert.read_bytes())
        alt = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = {str(n) for n in alt.get_values_for_type(x509.IPAddress)}
        names |= set(alt.get_values_for_type(x509.DNSName))
        assert {"localhost", "127.0.0.1", "::1", socket.gethostname().lower()} <= names
        lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
        assert 820 <= lifetime.days <= 825

        # the SDK over wss://, trusting that certificate (and only because of it)
        trusting = ssl.create_default_context(cafile=str(cert))
        async with connect(
            server.url,
            session=SESSION,
            token=server.token(SESSION, Role.OWNER),
            name="a",
            ssl=trusting,
        ) as s:
            await s.set_tempo(101)
            assert s.version == 1

        # the same data dir: the same certificate, nothing made again
        assert await server.astop() == 0
        await server.astart()
        assert printed_fingerprint(server) == first
        assert await served_fingerprint(server.port) == first
        async with connect(
            server.url,
            session=SESSION,
            token=server.token(SESSION, Role.OWNER),
            name="b",
            ssl=trusting,
        ) as s:
            assert s.project.project["tempo"] == 101.0
        assert server.log_path.read_text().count("made a self-signed certificate") == 1

        # a name the kept certificate lacks: a new certificate, and the log says why
        assert await server.astop() == 0
        server.extra_args = ["--tls", "self-signed", "--tls-names", "band.lan"]
        await server.astart()
        renewed = printed_fingerprint(server)
        assert renewed != first and await served_fingerprint(server.port) == renewed
        assert "does not name band.lan" in server.log_path.read_text()
    finally:
        await server.astop()


def start_failing(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backline.server", "--port", "0", "--secret", "s", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_a_certificate_and_a_key_that_are_no_pair_are_refused_at_start(
    tmp_path: Path,
) -> None:
    names = certificate_names("127.0.0.1")
    cert, _ = self_signed(tmp_path / "one", names)
    _, other_key = self_signed(tmp_path / "two", names)
    result = await asyncio.to_thread(
        start_failing,
        "--data-dir", str(tmp_path / "data"),
        "--certfile", str(cert), "--keyfile", str(other_key),
    )  # fmt: skip
    assert result.returncode == 1
    assert "Backline listening" not in result.stdout and "Traceback" not in result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error == (
        f"backline serve: error: --certfile {cert} / --keyfile {other_key}: the key does not"
        " match the certificate (give the key the certificate was made with)"
    )
    # the same refusal when --tls self-signed is also given: --certfile wins
    again = await asyncio.to_thread(
        start_failing,
        "--data-dir", str(tmp_path / "data"), "--tls", "self-signed",
        "--certfile", str(cert), "--keyfile", str(other_key),
    )  # fmt: skip
    assert again.returncode == 1 and again.stderr.strip().splitlines()[-1] == error
    assert not (tmp_path / "data" / "tls").exists()


async def test_a_kept_pair_that_no_longer_matches_is_made_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    kept, _ = self_signed(data, certificate_names("127.0.0.1"))
    old = kept.read_bytes()
    _, stranger = self_signed(tmp_path / "other", certificate_names("127.0.0.1"))
    shutil.copyfile(stranger, data / "tls" / "key.pem")  # someone copied a key over it
    server = await ServerProcess(data, extra_args=["--tls", "self-signed"]).astart()
    try:
        assert "does not match the kept key" in server.log_path.read_text()
        assert kept.read_bytes() != old
        assert await served_fingerprint(server.port) == printed_fingerprint(server)
        trusting = ssl.create_default_context(cafile=str(kept))
        async with connect(
            server.url, session=SESSION, token=server.token(SESSION, Role.OWNER), ssl=trusting
        ) as s:
            assert s.connected
    finally:
        await server.astop()
