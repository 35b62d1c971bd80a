"""Invites, redemptions and revocations decided by the sequencer: the same on every replay."""

from __future__ import annotations

import pytest

from backline.protocol import access as access_module
from backline.protocol.access import Access
from backline.protocol.entry import EntryKind, LogEntry
from backline.protocol.errors import (
    Forbidden,
    InviteUsed,
    LimitExceeded,
    NotFound,
    Revoked,
    TokenExpired,
)
from backline.protocol.messages import Role
from backline.protocol.sequencer import Sequencer

NOW_US = 1_700_000_000 * 1_000_000


def owner(kind: EntryKind, seq: int, **fields: object) -> LogEntry:
    return LogEntry(kind, "boss", seq, now=NOW_US, token_role=Role.OWNER, token_id="t-boss",
                    **fields)  # type: ignore[arg-type]  # fmt: skip


def invite(seq: int, invite_id: str, uses: int = 1, expires: int | None = None) -> LogEntry:
    return owner(EntryKind.INVITE, seq, target=invite_id, role=Role.EDITOR, name="Bob",
                 expires=expires, uses=uses)  # fmt: skip


def redeem(client: str, invite_id: str, now: int = NOW_US, token: str = "t-inv") -> LogEntry:
    return LogEntry(EntryKind.REDEEM, client, 0, now=now, token_role=Role.EDITOR,
                    token_id=token, invite=invite_id, name=client)  # fmt: skip


def test_an_invite_lets_in_as_many_people_as_it_allows() -> None:
    seq = Sequencer()
    seq.apply(invite(1, "i1", uses=2))
    seq.apply(redeem("ann", "i1"))
    seq.apply(redeem("bob", "i1"))
    with pytest.raises(InviteUsed, match="2 times"):
        seq.apply(redeem("cat", "i1"))
    assert seq.access.invites["i1"].used == 2
    assert set(seq.access.people) == {"ann", "bob"}
    assert not seq.access.needs_redeem("ann", "i1") and seq.access.needs_redeem("cat", "i1")
    assert seq.version == 0  # access changes no version of the project


def test_only_owners_invite_or_revoke() -> None:
    seq = Sequencer()
    for kind, fields in ((EntryKind.INVITE, {"target": "i1", "role": Role.EDITOR, "uses": 1}),
                         (EntryKind.REVOKE, {"target": "ann"})):  # fmt: skip
        entry = LogEntry(kind, "ed", 1, token_role=Role.EDITOR, **fields)  # type: ignore[arg-type]
        with pytest.raises(Forbidden):
            seq.apply(entry)
    assert seq.access.invites == {} and seq.access.revoked_clients == set()


def test_an_expired_or_revoked_or_unknown_invite_is_refused() -> None:
    seq = Sequencer()
    seq.apply(invite(1, "i1", expires=NOW_US // 1_000_000 + 10))
    with pytest.raises(TokenExpired):
        seq.apply(redeem("ann", "i1", now=NOW_US + 10_000_000))
    seq.apply(owner(EntryKind.REVOKE, 2, invite="i1"))
    with pytest.raises(Revoked):
        seq.apply(redeem("ann", "i1"))
    with pytest.raises(Revoked):
        seq.apply(redeem("ann", "nope"))
    with pytest.raises(NotFound):
        seq.apply(owner(EntryKind.REVOKE, 3, invite="nope"))


def test_revoking_a_person_an_invite_or_a_token() -> None:
    seq = Sequencer()
    seq.apply(invite(1, "i1", uses=3))
    seq.apply(redeem("ann", "i1"))
    seq.apply(redeem("bob", "i1"))
    access = seq.access
    # a person who came with a shared invite: their identity, not the invite's token
    seq.apply(owner(EntryKind.REVOKE, 2, target="ann", target_token="t-inv"))
    assert isinstance(access.refusal("ann", "t-inv", "i1"), Revoked)
    assert access.refusal("bob", "t-inv", "i1") is None
    assert "t-inv" not in access.revoked_tokens
    # a person with a personal token: the token too (no new identity gets back in)
    seq.apply(owner(EntryKind.REVOKE, 3, target="old-owner", target_token="t-old"))
    assert isinstance(access.refusal("someone-new", "t-old", None), Revoked)
    # a token id alone (an old owner link)
    seq.apply(owner(EntryKind.REVOKE, 4, target_token="t-link"))
    assert isinstance(access.refusal("x", "t-link", None), Revoked)
    # the invite: everyone who came with it
    seq.apply(owner(EntryKind.REVOKE, 5, invite="i1"))
    assert isinstance(access.refusal("bob", "t-inv", "i1"), Revoked)
    assert access.refusal("boss", "t-boss", None) is None


def test_access_survives_a_snapshot_and_replays_alike() -> None:
    entries = [
        invite(1, "i1", uses=1),
        redeem("ann", "i1"),
        invite(2, "i2", uses=5),
        redeem("bob", "i2"),
        owner(EntryKind.REVOKE, 3, target="bob"),
        owner(EntryKind.REVOKE, 4, target_token="t-link"),
    ]
    whole = Sequencer()
    for entry in entries:
        whole.apply(entry)
    half = Sequencer()
    for entry in entries[:3]:
        half.apply(entry)
    restored = Sequencer()
    restored.restore(half.snapshot())
    for entry in entries[3:]:
        restored.apply(entry)
    assert restored.access.to_data() == whole.access.to_data()
    assert restored.snapshot()["access"] == whole.snapshot()["access"]
    with pytest.raises(InviteUsed):
        restored.apply(redeem("cat", "i1"))
    assert Access.from_data(None).to_data() == Access().to_data()  # an older snapshot


def test_invites_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(access_module, "MAX_INVITES", 3)
    seq = Sequencer()
    for n in range(3):
        seq.apply(invite(n + 1, f"i{n}"))
    with pytest.raises(LimitExceeded):
        seq.apply(invite(9, "i9"))
    assert len(seq.access.invites) == 3
