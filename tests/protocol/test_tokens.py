"""HMAC access tokens: mint and verify, each refusal typed and carrying its close code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backline.protocol.errors import (
    BadToken,
    CloseCode,
    ErrorCode,
    TokenExpired,
    Unauthorized,
    WrongSession,
)
from backline.protocol.messages import Role
from backline.protocol.tokens import ANY_SESSION, Claims, mint, verify

SECRET = b"s3cret-key-for-tests"
NOW = 1_700_000_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def refused(
    token: str, kind: type[Unauthorized], *, session: str = "jam", secret: bytes = SECRET
) -> None:
    with pytest.raises(Unauthorized) as info:
        verify(secret, token, session, NOW)
    assert type(info.value) is kind
    assert info.value.code is ErrorCode.UNAUTHORIZED
    assert (
        info.value.close_code
        is {
            BadToken: CloseCode.BAD_TOKEN,
            TokenExpired: CloseCode.TOKEN_EXPIRED,
            WrongSession: CloseCode.WRONG_SESSION,
        }[kind]
    )


def test_close_codes_of_token_errors() -> None:
    assert BadToken.close_code == 4401
    assert TokenExpired.close_code == 4402
    assert WrongSession.close_code == 4403
    assert Unauthorized.close_code == CloseCode.BAD_TOKEN


@pytest.mark.parametrize("role", list(Role))
def test_mint_verify_roundtrip(role: Role) -> None:
    token = mint(SECRET, "jam", role, expires=NOW + 60)
    assert token.startswith("v1.")
    assert token.count(".") == 2
    assert token.isascii()
    claims = verify(SECRET, token, "jam", NOW)
    assert claims == Claims("jam", role, NOW + 60)
    assert type(claims.role) is Role


def test_role_may_be_given_as_a_string() -> None:
    assert verify(SECRET, mint(SECRET, "jam", "viewer"), "jam", NOW).role is Role.VIEWER


def test_mint_refuses_unknown_roles() -> None:
    with pytest.raises(ValueError):
        mint(SECRET, "jam", "admin")


def test_no_expiry_never_expires() -> None:
    claims = verify(SECRET, mint(SECRET, "jam", Role.EDITOR), "jam", 2**40)
    assert claims.expires is None


def test_any_session_token_opens_every_session() -> None:
    token = mint(SECRET, ANY_SESSION, Role.OWNER)
    assert ANY_SESSION == "*"
    for session in ("jam", "other", "x:1"):
        assert verify(SECRET, token, session, NOW).session == ANY_SESSION


def test_wrong_session() -> None:
    refused(mint(SECRET, "other", Role.EDITOR), WrongSession)


def test_session_must_match_exactly() -> None:
    refused(mint(SECRET, "jam", Role.EDITOR), WrongSession, session="jam2")
    refused(mint(SECRET, "jam", Role.EDITOR), WrongSession, session="Jam")


@pytest.mark.parametrize(("expires", "ok"), [(NOW + 1, True), (NOW, False), (NOW - 1, False)])
def test_expiry_is_exclusive(expires: int, ok: bool) -> None:
    """A token is valid strictly before `expires` (unix seconds)."""
    token = mint(SECRET, "jam", Role.EDITOR, expires=expires)
    if ok:
        assert verify(SECRET, token, "jam", NOW).expires == expires
    else:
        refused(token, TokenExpired)


def test_fractional_now_is_compared_exactly() -> None:
    token = mint(SECRET, "jam", Role.EDITOR, expires=NOW)
    assert verify(SECRET, token, "jam", NOW - 0.001).expires == NOW
    with pytest.raises(TokenExpired):
        verify(SECRET, token, "jam", NOW + 0.001)


def test_expiry_is_checked_before_session() -> None:
    """An expired token for another session says expired (the fix is a new token)."""
    refused(mint(SECRET, "other", Role.EDITOR, expires=NOW - 1), TokenExpired)


def test_wrong_secret_is_bad_token() -> None:
    refused(mint(b"another secret", "jam", Role.OWNER), BadToken)


def test_tampered_claims_are_bad_token() -> None:
    """Upgrading the role (or session, or expiry) in the payload breaks the signature."""
    prefix, _payload, signature = mint(SECRET, "jam", Role.VIEWER).split(".")
    for claims in (
        {"s": "jam", "r": "owner", "e": None},
        {"s": "*", "r": "viewer", "e": None},
        {"s": "jam", "r": "viewer", "e": NOW + 10**6},
    ):
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        refused(f"{prefix}.{payload}.{signature}", BadToken)


def test_tampered_signature_is_bad_token() -> None:
    token = mint(SECRET, "jam", Role.EDITOR)
    prefix, payload, signature = token.split(".")
    for bad in (
        signature[:-1],
        signature + "A",
        signature[::-1],
        ("B" if signature[0] == "A" else "A") + signature[1:],
        "",
        signature.upper() if signature.upper() != signature else signature.lower(),
    ):
        refused(f"{prefix}.{payload}.{bad}", BadToken)


def test_signed_but_malformed_claims_are_bad_token() -> None:
    """Even with a valid signature, claims that do not parse are refused, not crashed on."""

    def signed(payload: str) -> str:
        sig = hmac.new(SECRET, f"v1.{payload}".encode(), hashlib.sha256).digest()
        return f"v1.{payload}.{_b64(sig)}"

    for payload in (
        _b64(b"not json"),
        _b64(b"[1, 2]"),
        _b64(b'"jam"'),
        _b64(b"7"),
        _b64(json.dumps({"s": "jam", "r": "admin", "e": None}).encode()),
        _b64(json.dumps({"s": "jam", "r": "owner"}).encode()),
        _b64(b"\xff\xfe"),
        "!!!",
        "",
    ):
        refused(signed(payload), BadToken)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "v1",
        "v1.",
        "v1..",
        "v1.a.b.c",
        "v2.abc.def",
        "abc.def.ghi",
        "Bearer v1.abc.def",
        "v1.abc.d\u00e9f",  # non-ASCII: compare_digest would raise TypeError
        "v1.\u00e9.\u00e9",
        "v1.abc.\U0001f3b5",
        "\x00" * 10,
    ],
)
def test_garbage_is_bad_token(token: str) -> None:
    refused(token, BadToken)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_random_strings_are_bad_token(token: str) -> None:
    """Without the secret, no string gets further than BadToken."""
    refused(token, BadToken)


@settings(max_examples=100, deadline=None)
@given(
    st.text(min_size=1, max_size=20),
    st.sampled_from(list(Role)),
    st.one_of(st.none(), st.integers(NOW + 1, 2**53)),
)
def test_any_claims_roundtrip(session: str, role: Role, expires: int | None) -> None:
    token = mint(SECRET, session, role, expires)
    assert token.isascii()
    assert verify(SECRET, token, session, NOW) == Claims(session, role, expires)
