"""The kept self-signed certificate (server/tls.py): what it names, when it is made again."""

from __future__ import annotations

import datetime
import socket
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from backline.server.tls import RENEW_WITHIN, VALID_FOR, certificate_names, fingerprint, self_signed

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)


def named(cert: Path) -> set[str]:
    certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    alt = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(ip) for ip in alt.get_values_for_type(x509.IPAddress)}
    return ips | set(alt.get_values_for_type(x509.DNSName))


def test_the_names_are_loopback_this_machine_the_host_and_the_extra_ones() -> None:
    me = socket.gethostname().lower()
    assert certificate_names("0.0.0.0") == ("localhost", "127.0.0.1", "::1", me)
    assert certificate_names("::") == certificate_names("0.0.0.0")  # every interface: no name
    assert certificate_names("192.168.1.20", ["Band.LAN", "band.lan.", "[::1]", "10.0.0.2"]) == (
        "localhost", "127.0.0.1", "::1", me, "192.168.1.20", "band.lan", "10.0.0.2",
    )  # fmt: skip
    assert certificate_names("0:0::1") == certificate_names("::")  # the same address once


def test_made_once_then_kept(tmp_path: Path) -> None:
    names = certificate_names("127.0.0.1", ["band.lan", "192.168.1.20"])
    cert, key = self_signed(tmp_path, names, NOW)
    assert (cert, key) == (tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem")
    assert key.stat().st_mode & 0o777 == 0o600
    assert named(cert) == set(names)
    certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == VALID_FOR
    assert certificate.not_valid_before_utc <= NOW
    public = certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    shown = fingerprint(cert.read_bytes())
    assert shown == certificate.fingerprint(hashes.SHA256()).hex(":").upper()
    assert len(shown) == 32 * 3 - 1 and shown.count(":") == 31
    pem = cert.read_bytes()
    # kept: fewer names, the names in another spelling, much later
    assert self_signed(tmp_path, names[:3], NOW) == (cert, key) and cert.read_bytes() == pem
    assert self_signed(tmp_path, ["LOCALHOST", "0:0::1"], NOW + VALID_FOR / 2)
    assert cert.read_bytes() == pem


@pytest.mark.parametrize(
    ("names", "later", "why"),
    [
        (["localhost", "jam.lan"], datetime.timedelta(0), "does not name jam.lan"),
        (["localhost", "10.1.1.1"], datetime.timedelta(0), "does not name 10.1.1.1"),
        (["localhost"], VALID_FOR - RENEW_WITHIN, "within 30 days"),
        (["localhost"], VALID_FOR * 2, "expired on"),
        (["localhost"], -datetime.timedelta(days=1), "is valid only from"),
    ],
)
def test_made_again_when_it_no_longer_fits(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    names: list[str],
    later: datetime.timedelta,
    why: str,
) -> None:
    cert, _ = self_signed(tmp_path, ["localhost", "127.0.0.1"], NOW)
    old = cert.read_bytes()
    self_signed(tmp_path, names, NOW + later)
    assert cert.read_bytes() != old
    assert why in caplog.text and "made a new one" in caplog.text
    assert set(names) <= named(cert)


def test_made_again_when_the_key_is_not_the_certificates_or_a_file_is_gone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = self_signed(tmp_path / "a", ["localhost"], NOW)
    _, other = self_signed(tmp_path / "b", ["localhost"], NOW)
    key.write_bytes(other.read_bytes())
    old = cert.read_bytes()
    self_signed(tmp_path / "a", ["localhost"], NOW)
    assert "does not match the kept key" in caplog.text and cert.read_bytes() != old
    key.unlink()
    self_signed(tmp_path / "a", ["localhost"], NOW)
    assert "cannot be read" in caplog.text and key.exists()
    cert.write_text("not a certificate\n")
    self_signed(tmp_path / "a", ["localhost"], NOW)
    assert "cannot be read" in caplog.text and named(cert) == {"localhost"}
