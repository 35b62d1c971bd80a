"""HMAC-signed access tokens and resume keys, checked without a database.

Token format (v2): ``v2.<kid>.<base64url(json claims)>.<base64url(hmac-sha256)>``.
`kid` names the signing key (a short hash of it), so a server that rotated its
secret finds the right key among the current one and the old ones it still
accepts (`Keyring`): tokens minted before a rotation keep working until the old
secret is dropped. The signature covers ``v2.<kid>.<payload>``.

The claims limit what a leaked token grants, and for how long:

- ``s`` the one session (or ``"*"``), ``r`` the role, ``e`` the expiry (unix
  seconds; None = never, which the server itself never mints for people);
- ``n`` a random nonce: every minted token is distinct, so each has its own
  id (`Claims.id`, a fingerprint of the signature) that an owner can revoke;
- ``i`` the invite id, for a token made by an owner's invite: the session's
  log knows the invite's use count and whether it was revoked;
- ``c`` may create the session when it does not exist yet.

Revocation is not in the token: the session's log records revoked invites,
token ids and identities (`protocol/access.py`), so it holds on every process.

v1 tokens (``v1.<payload>.<signature>``, no kid) are still accepted, checked
against every key of the ring.

A *resume key* binds a session identity (the client id a welcome hands out)
to the one connection that received it: ``HMAC(secret, session, client)``.
Client ids are public (presence, batch authors); only the resume key lets a
later hello take that identity back, with its undo history, op ids and the
role an owner gave it. Being derived, it needs no storage and every server
process sharing the secret checks it.

Pure functions; the caller passes the secret, the current time and any
randomness.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field

from .errors import BadToken, TokenExpired, WrongSession
from .messages import Role

__all__ = [
    "ANY_SESSION",
    "Claims",
    "Keyring",
    "Secret",
    "check_resume",
    "key_id",
    "mint",
    "resume_key",
    "token_id",
    "verify",
]

ANY_SESSION = "*"  # a token for every session on the server
_V1 = "v1"
_V2 = "v2"


@dataclass(frozen=True, slots=True)
class Keyring:
    """The key tokens are signed with now, and the old ones still accepted."""

    current: bytes
    old: tuple[bytes, ...] = ()

    @property
    def keys(self) -> tuple[bytes, ...]:
        return (self.current, *self.old)


Secret = bytes | Keyring
"""A single secret (it is the ring's only key) or a whole `Keyring`."""


def _ring(secret: Secret) -> Keyring:
    return secret if isinstance(secret, Keyring) else Keyring(secret)


def key_id(key: bytes) -> str:
    """A key's public name in v2 tokens: 8 characters of its hash (reveals nothing usable)."""
    return _b64(hashlib.sha256(b"backline-kid\0" + key).digest())[:8]


@dataclass(frozen=True, slots=True)
class Claims:
    session: str
    role: Role
    expires: int | None  # unix seconds; None = never
    id: str = field(default="", compare=False)  # the token's fingerprint (module docstring)
    invite: str | None = field(default=None, compare=False)  # the invite it was made for
    may_create: bool = field(default=False, compare=False)  # may create the session

    @property
    def creates(self) -> bool:
        """Whether joining a session that does not exist makes it. Only tokens minted to
        (the owner link printed at start, `backline token --create`, bots started from the
        server's secret): an owner's typo in a session name must not make a new one."""
        return self.may_create


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, signed: str) -> str:
    return _b64(hmac.new(key, signed.encode(), hashlib.sha256).digest())


def mint(
    secret: Secret,
    session: str,
    role: Role | str,
    expires: int | None = None,
    nonce: str | None = None,
    *,
    invite: str | None = None,
    may_create: bool = False,
) -> str:
    """A token granting `role` in `session` (or every session with ``"*"``), signed with
    the ring's current key.

    Give a random `nonce` (the server and `backline token` do) to make the token
    distinct from every other minted with the same claims; without one, tokens of
    equal claims are byte-identical (one id: revoking one revokes all of them).
    """
    claims: dict[str, object] = {"s": session, "r": Role(role).value, "e": expires}
    if nonce is not None:
        claims["n"] = nonce
    if invite is not None:
        claims["i"] = invite
    if may_create:
        claims["c"] = 1
    key = _ring(secret).current
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    head = f"{_V2}.{key_id(key)}.{payload}"
    return f"{head}.{_sign(key, head)}"


def _signed_payload(ring: Keyring, token: str) -> tuple[str, str]:
    """The payload and signature of a well-signed token; raises `BadToken` otherwise."""
    parts = token.split(".")
    # Tokens are ASCII; compare_digest raises TypeError on non-ASCII strings.
    if not token.isascii() or not parts:
        raise BadToken("token is malformed")
    if parts[0] == _V2 and len(parts) == 4:
        kid, payload, signature = parts[1], parts[2], parts[3]
        key = next((k for k in ring.keys if key_id(k) == kid), None)
        if key is None:
            raise BadToken("token is signed with a key this server does not hold (or no longer)")
        if not hmac.compare_digest(_sign(key, f"{_V2}.{kid}.{payload}"), signature):
            raise BadToken("token signature does not match this server's secret")
        return payload, signature
    if parts[0] == _V1 and len(parts) == 3:
        payload, signature = parts[1], parts[2]
        if not any(
            hmac.compare_digest(_sign(key, f"{_V1}.{payload}"), signature) for key in ring.keys
        ):
            raise BadToken("token signature does not match this server's secret")
        return payload, signature
    raise BadToken("token is malformed")


def verify(secret: Secret, token: str, session: str, now: float) -> Claims:
    """Check signature, expiry and session; raise a typed `Unauthorized` otherwise."""
    payload, signature = _signed_payload(_ring(secret), token)
    try:
        raw = json.loads(_unb64(payload))
        invite = raw.get("i")
        if invite is not None and type(invite) is not str:
            raise TypeError("invite")
        claims = Claims(
            str(raw["s"]),
            Role(raw["r"]),
            raw["e"],
            _fingerprint(signature),
            invite,
            bool(raw.get("c")),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BadToken("token claims are malformed") from None
    if claims.expires is not None and (type(claims.expires) is not int or now >= claims.expires):
        raise TokenExpired("token has expired")
    if claims.session not in (ANY_SESSION, session):
        raise WrongSession(f"token is for session {claims.session!r}, not {session!r}")
    return claims


def token_id(token: str) -> str:
    """A token's id (`Claims.id`) without checking it: what an owner revokes."""
    return _fingerprint(token.rsplit(".", 1)[-1])


def _fingerprint(signature: str) -> str:
    """A short public id of a token: its signature hashed (never the signature itself)."""
    return _b64(hashlib.sha256(signature.encode()).digest()[:12])


def resume_key(secret: Secret, session: str, client: str) -> str:
    """The key that lets a later hello resume identity `client` of `session`."""
    return _resume(_ring(secret).current, session, client)


def _resume(key: bytes, session: str, client: str) -> str:
    message = b"\0".join((b"resume", session.encode(), client.encode()))
    return _b64(hmac.new(key, message, hashlib.sha256).digest())


def check_resume(secret: Secret, session: str, client: str, key: str) -> bool:
    """Whether `key` is identity `client`'s resume key in `session` (under any key of the
    ring: a rotation does not make everyone a stranger)."""
    if not key.isascii():  # compare_digest refuses non-ASCII strings
        return False
    return any(hmac.compare_digest(_resume(k, session, client), key) for k in _ring(secret).keys)
