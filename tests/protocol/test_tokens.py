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
from backline.protocol.tokens import (
    ANY_SESSION,
    Claims,
    Keyring,
    check_resume,
    key_id,
    mint,
    resume_key,
    token_id,
    verify,
)

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
    assert token.startswith(f"v2.{key_id(SECRET)}.")
    assert token.count(".") == 3
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
    prefix, kid, _payload, signature = mint(SECRET, "jam", Role.VIEWER).split(".")
    for claims in (
        {"s": "jam", "r": "owner", "e": None},
        {"s": "*", "r": "viewer", "e": None},
        {"s": "jam", "r": "viewer", "e": NOW + 10**6},
    ):
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        refused(f"{prefix}.{kid}.{payload}.{signature}", BadToken)


def test_tampered_signature_is_bad_token() -> None:
    token = mint(SECRET, "jam", Role.EDITOR)
    prefix, kid, payload, signature = token.split(".")
    for bad in (
        signature[:-1],
        signature + "A",
        signature[::-1],
        ("B" if signature[0] == "A" else "A") + signature[1:],
        "",
        signature.upper() if signature.upper() != signature else signature.lower(),
    ):
        refused(f"{prefix}.{kid}.{payload}.{bad}", BadToken)


def test_signed_but_malformed_claims_are_bad_token() -> None:
    """Even with a valid signature, claims that do not parse are refused, not crashed on."""

    def signed(payload: str) -> str:
        head = f"v2.{key_id(SECRET)}.{payload}"
        sig = hmac.new(SECRET, head.encode(), hashlib.sha256).digest()
        return f"{head}.{_b64(sig)}"

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


def _v1(secret: bytes, claims: dict[str, object]) -> str:
    """A token in the format minted before key ids (still accepted)."""
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret, f"v1.{payload}".encode(), hashlib.sha256).digest()
    return f"v1.{payload}.{_b64(sig)}"


def test_v1_tokens_still_verify_under_any_key_of_the_ring() -> None:
    old = _v1(SECRET, {"s": "jam", "r": "editor", "e": None, "n": "ab"})
    assert verify(SECRET, old, "jam", NOW).role is Role.EDITOR
    ring = Keyring(b"the new secret", (SECRET,))
    assert verify(ring, old, "jam", NOW).role is Role.EDITOR
    refused(old, BadToken, secret=b"the new secret")


def test_rotation_keeps_old_tokens_and_resume_keys_until_the_old_key_is_dropped() -> None:
    before = mint(SECRET, "jam", Role.EDITOR, nonce="x1")
    resume = resume_key(SECRET, "jam", "c1")
    ring = Keyring(b"the new secret", (SECRET,))
    assert verify(ring, before, "jam", NOW).role is Role.EDITOR
    assert check_resume(ring, "jam", "c1", resume)
    after = mint(ring, "jam", Role.VIEWER, nonce="x2")
    assert after.split(".")[1] == key_id(b"the new secret")
    assert verify(ring, after, "jam", NOW).role is Role.VIEWER
    assert resume_key(ring, "jam", "c1") == resume_key(b"the new secret", "jam", "c1")
    # the old key dropped: its tokens and resume keys are refused, with a reason
    with pytest.raises(BadToken, match="key this server does not hold"):
        verify(b"the new secret", before, "jam", NOW)
    assert not check_resume(b"the new secret", "jam", "c1", resume)


def test_each_minted_token_has_its_own_id_and_invite_and_create_claims() -> None:
    a = mint(SECRET, "jam", Role.EDITOR, NOW + 60, nonce="a", invite="inv1")
    b = mint(SECRET, "jam", Role.EDITOR, NOW + 60, nonce="b", may_create=True)
    ca, cb = verify(SECRET, a, "jam", NOW), verify(SECRET, b, "jam", NOW)
    assert ca.id != cb.id and ca.id == token_id(a) and cb.id == token_id(b)
    assert ca.invite == "inv1" and not ca.creates
    assert cb.invite is None and cb.creates
    assert not verify(SECRET, mint(SECRET, "jam", Role.OWNER), "jam", NOW).creates  # only if told
    assert token_id(a) not in a  # the id reveals nothing of the signature


def test_a_forged_key_id_is_bad_token() -> None:
    _, _, payload, signature = mint(SECRET, "jam", Role.EDITOR).split(".")
    refused(f"v2.{key_id(b'other')}.{payload}.{signature}", BadToken)
    refused(f"v2.AAAAAAAA.{payload}.{signature}", BadToken)
