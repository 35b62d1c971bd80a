"""The server's ICE settings and the TURN credentials it hands to clients.

`IceSettings` gathers the `--rtc-*`, `--public-ip` and `--turn*` settings in one
object that the hub hands down to each audio room (`server/audio/peer.py`
turns it into the server's own `Gathering`). `ice_servers(name)` is the
`ice_servers` field of a welcome: the STUN/TURN servers a client's peer
connection is made with (the browser's `RTCPeerConnection`, the SDK's).

TURN credentials, preferred: coturn's REST-API scheme (`use-auth-secret` with
`static-auth-secret`): each client gets its own username `<expiry>:<name>`
(unix seconds) and the password base64(HMAC-SHA1(secret, username)), so the
shared secret never leaves the server and a credential stops working after
`--turn-ttl`. A static `--turn-username`/`--turn-password` (long-term
credentials) is handed out as it is, to every client.

No aiortc here: sessions import this to fill in welcomes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from backline.protocol import frames

if TYPE_CHECKING:
    from backline.server.config import Settings

__all__ = [
    "IceSettings",
    "check_interfaces",
    "parse_addresses",
    "parse_interfaces",
    "parse_ip",
    "parse_port_range",
    "parse_turn_urls",
    "turn_credentials",
]

T = TypeVar("T")
_URL = re.compile(r"(stun|stuns|turn|turns):[^\s?:]+(:[0-9]{1,5})?(\?transport=(udp|tcp))?")
_INTERFACE = re.compile(r"[A-Za-z0-9_.:@-]{1,64}")


def _named(name: str) -> Callable[[Callable[[str], T]], Callable[[str], T]]:
    def rename(parse: Callable[[str], T]) -> Callable[[str], T]:
        parse.__name__ = name  # what argparse calls the value in its error
        return parse

    return rename


@_named("IP addresses (comma-separated)")
def parse_addresses(text: str) -> tuple[str, ...]:
    return tuple(str(ipaddress.ip_address(a.strip())) for a in text.split(",") if a.strip())


@_named("IP address")
def parse_ip(text: str) -> str | None:
    return str(ipaddress.ip_address(text.strip())) if text.strip() else None


@_named("interface names (comma-separated)")
def parse_interfaces(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        if not _INTERFACE.fullmatch(name):
            raise ValueError(text)
    return names


@_named("UDP port range (FIRST-LAST)")
def parse_port_range(text: str) -> tuple[int, int] | None:
    if not text.strip():
        return None
    first_text, dash, last_text = text.strip().partition("-")
    first, last = int(first_text), int(last_text if dash else first_text)
    if not 1024 <= first <= last <= 65535:
        raise ValueError(text)
    return first, last


@_named("STUN/TURN URLs (comma-separated)")
def parse_turn_urls(text: str) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in text.split(",") if u.strip())
    for url in urls:
        if not _URL.fullmatch(url):
            raise ValueError(text)
    return urls


def check_interfaces(names: tuple[str, ...]) -> None:
    """Refuse `--rtc-interface` names this machine has no interface of (at start)."""
    if not names:
        return
    import ifaddr  # aioice's dependency; only when interfaces are named

    from backline.server.config import ConfigError

    known = {a.nice_name for a in ifaddr.get_adapters()} | {
        str(a.name) for a in ifaddr.get_adapters()
    }
    missing = [n for n in names if n not in known]
    if missing:
        raise ConfigError(
            f"--rtc-interface: no network interface named {', '.join(missing)}"
            f" (this machine has {', '.join(sorted(known))})"
        )


def turn_credentials(secret: str, name: str, expires: int) -> tuple[str, str]:
    """coturn's REST-API credentials for `name` valid until `expires` (unix s)."""
    username = f"{expires}:{name}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


@dataclass(frozen=True, slots=True)
class IceSettings:
    """How the server's peers gather candidates, and what clients are told."""

    hosts: tuple[str, ...] = ()
    interfaces: tuple[str, ...] = ()
    public_ip: str | None = None
    ports: tuple[int, int] | None = None
    turn: tuple[str, ...] = ()
    turn_username: str | None = None
    turn_password: str | None = field(default=None, repr=False)
    turn_secret: str | None = field(default=None, repr=False)
    turn_ttl: float = 12 * 3600.0
    relay_only: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> IceSettings:
        return cls(
            hosts=settings.rtc_host,
            interfaces=settings.rtc_interface,
            public_ip=settings.public_ip,
            ports=settings.rtc_ports,
            turn=settings.turn,
            turn_username=settings.turn_username,
            turn_password=settings.turn_password,
            turn_secret=settings.turn_secret,
            turn_ttl=settings.turn_ttl,
            relay_only=settings.rtc_relay_only,
        )

    @property
    def configured(self) -> bool:
        """Whether any ICE setting was given (else aiortc's defaults stand)."""
        return self != IceSettings(turn_ttl=self.turn_ttl)

    def ice_servers(self, name: str, now: float | None = None) -> list[dict[str, Any]]:
        """The `ice_servers` a welcome hands to client `name` (fresh credentials)."""
        stun = [u for u in self.turn if u.startswith("stun")]
        turn = [u for u in self.turn if u.startswith("turn")]
        servers = [frames.ice_server(stun)] if stun else []
        if turn:
            if self.turn_secret is not None:
                expires = int((time.time() if now is None else now) + self.turn_ttl)
                username, credential = turn_credentials(self.turn_secret, name, expires)
                servers.append(frames.ice_server(turn, username, credential))
            else:
                servers.append(frames.ice_server(turn, self.turn_username, self.turn_password))
        return servers
