"""HMAC-signed access tokens and resume keys, checked without a database.

Token format: ``v1.<base64url(json claims)>.<base64url(hmac-sha256)>``. The
claims are session, role, expiry and, for tokens minted since identities were
bound, a random nonce that makes every minted token distinct (so that an
owner's demotion can bind to one token's holder). A token's `Claims.id` is a
fingerprint of its signature: stable, public-safe (it reveals nothing that
forges a token), and what the log records about who holds which token.

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

__all__ = ["ANY_SESSION", "Claims", "check_resume", "mint", "resume_key", "verify"]

ANY_SESSION = "*"  # a token for every session on the server
_PREFIX = "v1"


@dataclass(frozen=True, slots=True)
class Claims:
    session: str
    role: Role
    expires: int | None  # unix seconds; None = never
    id: str = field(default="", compare=False)  # the token's fingerprint (module docstring)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, f"{_PREFIX}.{payload}".encode(), hashlib.sha256).digest())


def mint(
    secret: bytes,
    session: str,
    role: Role | str,
    expires: int | None = None,
    nonce: str | None = None,
) -> str:
    """A token granting `role` in `session` (or every session with ``"*"``).

    Give a random `nonce` (the server and `backline token` do) to make the token
    distinct from every other minted with the same claims; without one, tokens of
    equal claims are byte-identical and an owner's demotion of one holder applies
    to all of them.
    """
    claims: dict[str, object] = {"s": session, "r": Role(role).value, "e": expires}
    if nonce is not None:
        claims["n"] = nonce
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{_PREFIX}.{payload}.{_sign(secret, payload)}"


def verify(secret: bytes, token: str, session: str, now: float) -> Claims:
    """Check signature, expiry and session; raise a typed `Unauthorized` otherwise."""
    parts = token.split(".")
    # Tokens are ASCII; compare_digest raises TypeError on non-ASCII strings.
    if not token.isascii() or len(parts) != 3 or parts[0] != _PREFIX:
        raise BadToken("token is malformed")
    payload, signature = parts[1], parts[2]
    if not hmac.compare_digest(_sign(secret, payload), signature):
        raise BadToken("token signature does not match this server's secret")
    try:
        raw = json.loads(_unb64(payload))
        claims = Claims(str(raw["s"]), Role(raw["r"]), raw["e"], _fingerprint(signature))
    except (ValueError, KeyError, TypeError):
        raise BadToken("token claims are malformed") from None
    if claims.expires is not None and (type(claims.expires) is not int or now >= claims.expires):
        raise TokenExpired("token has expired")
    if claims.session not in (ANY_SESSION, session):
        raise WrongSession(f"token is for session {claims.session!r}, not {session!r}")
    return claims


def _fingerprint(signature: str) -> str:
    """A short public id of a token: its signature hashed (never the signature itself)."""
    return _b64(hashlib.sha256(signature.encode()).digest()[:12])


def resume_key(secret: bytes, session: str, client: str) -> str:
    """The key that lets a later hello resume identity `client` of `session`."""
    message = b"\0".join((b"resume", session.encode(), client.encode()))
    return _b64(hmac.new(secret, message, hashlib.sha256).digest())


def check_resume(secret: bytes, session: str, client: str, key: str) -> bool:
    """Whether `key` is identity `client`'s resume key in `session`."""
    if not key.isascii():  # compare_digest refuses non-ASCII strings
        return False
    return hmac.compare_digest(resume_key(secret, session, client), key)
