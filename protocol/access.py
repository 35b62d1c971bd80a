"""Who may come into a session: owners' invites, who redeemed them, and what was revoked.

A session's access is decided in its log like everything else (`Sequencer`),
so every process agrees on it and it survives restarts:

- an owner's ``invite`` entry creates an `Invite` (id, role, optional name,
  expiry and use count); the server hands the owner a token carrying the
  invite id (`tokens.mint(..., invite=...)`), to send as a link;
- the first join of a new identity with that token is a ``redeem`` entry: it
  spends one use, and records the `Person` (client id, name, invite), so the
  owner sees who came in with which invite;
- a ``revoke`` entry revokes one person (their identity, and the token they
  joined with unless it is a shared invite's), one invite (and everyone who
  joined with it), or one token id (e.g. a rotated owner link).

`refusal` is what a join and every process's members are checked against.
Memory is bounded (`MAX_INVITES`, `MAX_PEOPLE`, `MAX_REVOKED`); past a bound
the owner's request is refused, nothing is forgotten silently.

Pure: times come from the log entries (the proposing process's clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InviteUsed, LimitExceeded, NotFound, Revoked, TokenExpired
from .messages import Role

__all__ = [
    "MAX_INVITES",
    "MAX_INVITE_USES",
    "MAX_PEOPLE",
    "MAX_REVOKED",
    "Access",
    "Invite",
    "Person",
]

MAX_INVITES = 1000  # invites one session keeps (revoked and used up ones included)
MAX_INVITE_USES = 1000  # people one invite may let in
MAX_PEOPLE = 10_000  # identities that came in with an invite
MAX_REVOKED = 10_000  # revoked identities plus revoked token ids


@dataclass(slots=True)
class Invite:
    id: str
    role: Role
    name: str  # whom it is for ("" = not said)
    by: str  # the owner's client id
    created: int  # µs, the proposing server's clock
    expires: int | None  # unix seconds (also in its token)
    uses: int  # people it may let in
    used: int = 0
    revoked: bool = False

    def to_data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role.value,
            "name": self.name,
            "by": self.by,
            "created": self.created,
            "expires": self.expires,
            "uses": self.uses,
            "used": self.used,
            "revoked": self.revoked,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Invite:
        return cls(
            str(data["id"]),
            Role(data["role"]),
            str(data["name"]),
            str(data["by"]),
            int(data["created"]),
            data["expires"],
            int(data["uses"]),
            int(data["used"]),
            bool(data["revoked"]),
        )


@dataclass(slots=True)
class Person:
    """An identity that joined with an invite."""

    client: str
    name: str
    invite: str
    token: str  # the invite token's id
    joined: int  # µs

    def to_data(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "name": self.name,
            "invite": self.invite,
            "token": self.token,
            "joined": self.joined,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Person:
        return cls(
            str(data["client"]),
            str(data["name"]),
            str(data["invite"]),
            str(data["token"]),
            int(data["joined"]),
        )


class Access:
    def __init__(self) -> None:
        self.invites: dict[str, Invite] = {}
        self.people: dict[str, Person] = {}
        self.revoked_clients: set[str] = set()
        self.revoked_tokens: set[str] = set()

    # -- checks ------------------------------------------------------------------

    def refusal(self, client: str, token: str | None, invite: str | None) -> Revoked | None:
        """Why identity `client` holding token `token` (made for `invite`) may not be in
        the session any more, or None."""
        if client in self.revoked_clients:
            return Revoked("an owner revoked your access to this session")
        if token and token in self.revoked_tokens:
            return Revoked("an owner revoked this token")
        person = self.people.get(client)
        for used in {invite, None if person is None else person.invite} - {None}:
            found = self.invites.get(str(used))
            if found is None:
                return Revoked("this invite does not exist in this session (any more)")
            if found.revoked:
                return Revoked("an owner revoked the invite you joined with")
        return None

    def needs_redeem(self, client: str, invite: str | None) -> bool:
        """Whether a join of `client` with a token for `invite` spends one of its uses."""
        if invite is None:
            return False
        person = self.people.get(client)
        return person is None or person.invite != invite

    # -- decisions (from log entries) ------------------------------------------------

    def invite(self, invite: Invite) -> None:
        if invite.id in self.invites:
            raise NotFound(f"invite {invite.id} exists already")  # ids are random: a replay
        if len(self.invites) >= MAX_INVITES:
            raise LimitExceeded(
                f"this session holds its maximum of {MAX_INVITES} invites; revoke some"
            )
        self.invites[invite.id] = invite

    def redeem(self, client: str, invite_id: str, token: str, name: str, now_us: int) -> Person:
        invite = self.invites.get(invite_id)
        if invite is None:
            raise Revoked("this invite does not exist in this session (any more)")
        if invite.revoked:
            raise Revoked("an owner revoked this invite")
        if invite.expires is not None and now_us >= invite.expires * 1_000_000:
            raise TokenExpired("this invite has expired")
        if client in self.revoked_clients:
            raise Revoked("an owner revoked your access to this session")
        if invite.used >= invite.uses:
            uses = "once" if invite.uses == 1 else f"{invite.uses} times"
            raise InviteUsed(f"this invite was already used {uses}: ask the owner for another")
        if len(self.people) >= MAX_PEOPLE:
            raise LimitExceeded(f"this session keeps at most {MAX_PEOPLE} invited people")
        invite.used += 1
        person = self.people[client] = Person(client, name, invite_id, token, now_us)
        return person

    def revoke(self, client: str | None, invite: str | None, token: str | None) -> None:
        """Revoke a person (with the token they hold, unless it is an invite's), an invite
        or a token id; each is idempotent."""
        if len(self.revoked_clients) + len(self.revoked_tokens) >= MAX_REVOKED:
            raise LimitExceeded(f"this session keeps at most {MAX_REVOKED} revocations")
        if invite is not None:
            found = self.invites.get(invite)
            if found is None:
                raise NotFound(f"no invite {invite} in this session")
            found.revoked = True
        if client is not None:
            self.revoked_clients.add(client)
            if token and client not in self.people:  # a personal token: no one else holds it
                self.revoked_tokens.add(token)
        elif token is not None:
            self.revoked_tokens.add(token)

    # -- state ---------------------------------------------------------------------

    def to_data(self) -> dict[str, Any]:
        return {
            "invites": [i.to_data() for i in self.invites.values()],
            "people": [p.to_data() for p in self.people.values()],
            "revoked_clients": sorted(self.revoked_clients),
            "revoked_tokens": sorted(self.revoked_tokens),
        }

    @classmethod
    def from_data(cls, data: dict[str, Any] | None) -> Access:
        access = cls()
        if not data:
            return access
        access.invites = {i["id"]: Invite.from_data(i) for i in data.get("invites", [])}
        access.people = {p["client"]: Person.from_data(p) for p in data.get("people", [])}
        access.revoked_clients = set(data.get("revoked_clients", []))
        access.revoked_tokens = set(data.get("revoked_tokens", []))
        return access
