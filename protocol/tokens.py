"""HMAC-signed access tokens: session, role and expiry, checked without a database.

Format: ``v1.<base64url(json claims)>.<base64url(hmac-sha256)>``. Pure
functions; the caller passes the secret and the current time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from .errors import BadToken, TokenExpired, WrongSession
from .messages import Role

__all__ = ["ANY_SESSION", "Claims", "mint", "verify"]

ANY_SESSION = "*"  # a token for every session on the server
_PREFIX = "v1"


@dataclass(frozen=True, slots=True)
class Claims:
    session: str
    role: Role
    expires: int | None  # unix seconds; None = never


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, f"{_PREFIX}.{payload}".encode(), hashlib.sha256).digest())


def mint(secret: bytes, session: str, role: Role | str, expires: int | None = None) -> str:
    """A token granting `role` in `session` (or every session with ``"*"``)."""
    claims = {"s": session, "r": Role(role).value, "e": expires}
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
        claims = Claims(str(raw["s"]), Role(raw["r"]), raw["e"])
    except (ValueError, KeyError, TypeError):
        raise BadToken("token claims are malformed") from None
    if claims.expires is not None and (type(claims.expires) is not int or now >= claims.expires):
        raise TokenExpired("token has expired")
    if claims.session not in (ANY_SESSION, session):
        raise WrongSession(f"token is for session {claims.session!r}, not {session!r}")
    return claims
