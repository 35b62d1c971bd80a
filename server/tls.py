"""The self-signed certificate of `backline serve --tls self-signed`, kept in the data dir.

Why: browsers give a page the microphone only in a *secure context* (`https://`,
or `localhost` on the same machine), so a guest on another machine of a LAN needs
`https://`, and a LAN has no domain a public CA would sign. The server makes its
own certificate once and keeps it in `<data-dir>/tls/` (`cert.pem`, and
`key.pem` with mode 0600): the same one at every start, so a guest accepts it
once. The browser warns about it; the guest checks that the SHA-256
fingerprint it shows is the one the server printed (`fingerprint`), then
accepts it.

The certificate (EC P-256, valid 825 days: the longest Apple's platforms
accept) names `localhost`, `127.0.0.1`, `::1`, this machine's host name, the
`--host` when it is one name or address, and the `--tls-names`
(`certificate_names`). `self_signed` makes it again, and logs why, when the
kept one does not name all of those, expires within 30 days, or is not a pair
with the kept key.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CERT_FILE",
    "KEY_FILE",
    "RENEW_WITHIN",
    "TLS_DIR",
    "VALID_FOR",
    "certificate_names",
    "fingerprint",
    "self_signed",
]

log = logging.getLogger("backline.server")

TLS_DIR = "tls"  # inside the data dir
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"  # mode 0600
VALID_FOR = datetime.timedelta(days=825)
RENEW_WITHIN = datetime.timedelta(days=30)

_ANY_ADDRESS = ("", "0.0.0.0", "::", "*")

Name = ipaddress.IPv4Address | ipaddress.IPv6Address | str


def certificate_names(host: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """What the certificate must name: loopback, this machine, `host` if it is one
    address or name (not every interface), then `extra`; each once, in that order."""
    wanted = ["localhost", "127.0.0.1", "::1"]
    machine = socket.gethostname()
    if machine.isascii() and machine.strip():  # a certificate names hosts in ASCII
        wanted.append(machine)
    if host not in _ANY_ADDRESS:
        wanted.append(host)
    wanted.extend(extra)
    names: dict[Name, str] = {}
    for text in wanted:
        name = _name(text)
        if name not in names:
            names[name] = str(name)
    return tuple(names.values())


def fingerprint(pem: bytes) -> str:
    """The SHA-256 fingerprint of the first certificate in `pem`, as browsers show it:
    colon-separated pairs of upper-case hex digits."""
    certificate = x509.load_pem_x509_certificates(pem)[0]
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def self_signed(
    data_dir: Path, names: Sequence[str], now: datetime.datetime | None = None
) -> tuple[Path, Path]:
    """The kept certificate and key files, made (again) when there is no usable pair.

    Usable: both files load, the key is the certificate's, the certificate names
    every one of `names` and is valid for more than `RENEW_WITHIN` from `now`.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    directory = Path(data_dir) / TLS_DIR
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    problem = _problem(cert_path, key_path, names, now)
    if problem is None:
        return cert_path, key_path
    cert_pem, key_pem = _make(names, now)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write(key_path, key_pem, 0o600)
    _write(cert_path, cert_pem, 0o644)
    if problem == "none kept":
        log.info("tls: made a self-signed certificate in %s", directory)
    else:
        log.warning(
            "tls: the kept self-signed certificate %s; made a new one in %s (guests accept"
            " it again: its fingerprint changed)",
            problem,
            directory,
        )
    log.info("tls: the certificate names %s", ", ".join(names))
    return cert_path, key_path


def _problem(
    cert_path: Path, key_path: Path, names: Sequence[str], now: datetime.datetime
) -> str | None:
    """Why the kept pair cannot be served (a phrase for the log), or None when it can."""
    if not cert_path.exists() and not key_path.exists():
        return "none kept"
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return f"or its key cannot be read ({exc})"
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if key.public_key().public_bytes(encoding, public) != certificate.public_key().public_bytes(
        encoding, public
    ):
        return "does not match the kept key"
    try:
        named = set(_names_of(certificate))
    except x509.ExtensionNotFound:
        named = set()
    missing = [text for text in names if _name(text) not in named]
    if missing:
        return f"does not name {', '.join(missing)}"
    ends = certificate.not_valid_after_utc
    if ends <= now:
        return f"expired on {ends:%Y-%m-%d}"
    if ends - now < RENEW_WITHIN:
        return f"expires on {ends:%Y-%m-%d} (within {RENEW_WITHIN.days} days)"
    if certificate.not_valid_before_utc > now:
        return f"is valid only from {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    return None


def _names_of(certificate: x509.Certificate) -> Iterable[Name]:
    alt = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    for ip in alt.get_values_for_type(x509.IPAddress):
        if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):  # not a network
            yield ip
    for dns in alt.get_values_for_type(x509.DNSName):
        yield dns.lower()


def _name(text: str) -> Name:
    """An address, or a host name in lower case (a name is case-insensitive)."""
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return text.lower().rstrip(".")


def _make(names: Sequence[str], now: datetime.datetime) -> tuple[bytes, bytes]:
    """A new P-256 key and a certificate for `names` it signs itself, both in PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"Backline on {socket.gethostname()}"[:64])]
    )
    alt: list[x509.GeneralName] = []
    for text in names:
        name = _name(text)
        alt.append(x509.DNSName(name) if isinstance(name, str) else x509.IPAddress(name))
    identifier = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    begins = now - datetime.timedelta(hours=1)  # a guest's clock a little behind ours
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(begins)
        .not_valid_after(begins + VALID_FOR)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(identifier, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(identifier),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def _write(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` with `data` at once (a reader sees the old file or the new one)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.new")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(partial, mode)  # a file left from an earlier try keeps its mode otherwise
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
