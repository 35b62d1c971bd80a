"""`backline invite`, `access` and `revoke`: an owner's access control from a terminal."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import urllib.parse

import pytest

from backline.client import connect
from backline.protocol.errors import Revoked
from backline.testing import ServerProcess

SESSION = "desk"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backline.cli", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def one_line_failure(result: subprocess.CompletedProcess[str], starts: str) -> None:
    assert result.returncode != 0, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(starts), result.stderr


async def test_invite_list_and_revoke_from_the_command_line(server: ServerProcess) -> None:
    secret = ["--secret", server.secret or ""]
    async with connect(server.url, session=SESSION, token=server.token(SESSION), name="made"):
        pass
    made = await asyncio.to_thread(
        cli, "invite", server.http_url, "--session", SESSION, "--name", "Ann", "--uses", "2",
        "--ttl", "3600", *secret,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    link = made.stdout.strip()
    assert link.startswith(f"{server.http_url}/#session={SESSION}&token=v2."), link
    note = re.fullmatch(
        r"invite (i[0-9a-f]{16}) for 'Ann': editor, lets 2 people in, valid until "
        r"\d{4}-\d\d-\d\d \d\d:\d\d UTC; take it back with `backline revoke … --invite \1`\n",
        made.stderr,
    )
    assert note is not None, made.stderr
    invite = note.group(1)
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).fragment)["token"][0]

    async with connect(server.url, session=SESSION, token=token, name="Ann") as ann:
        listed = await asyncio.to_thread(cli, "access", server.url, "--session", SESSION, *secret)
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[0] == "invites:"
        assert re.fullmatch(
            rf"  {invite}  editor 'Ann'  1/2 used, until \d{{4}}-\d\d-\d\d \d\d:\d\d UTC", lines[1]
        ), lines
        assert lines[2] == "people:"
        assert lines[3] == f"  {ann.client_id}  Ann  editor  online  invite {invite}", lines
        events = ann.events()
        revoked = await asyncio.to_thread(
            cli, "revoke", server.url, "--session", SESSION, "--invite", invite, *secret
        )
        assert revoked.returncode == 0, revoked.stderr
        assert revoked.stdout == f"revoked invite {invite} in session '{SESSION}'\n"
        async for event in events:
            if getattr(event, "state", None) == "closed":
                break
        with pytest.raises(Revoked):
            ann.set_tempo(100)
    again = await asyncio.to_thread(cli, "access", server.url, "--session", SESSION, *secret)
    assert f"  {invite}  editor 'Ann'  revoked, until " in again.stdout


async def test_access_mistakes_are_one_line(server: ServerProcess) -> None:
    secret = ["--secret", server.secret or ""]
    async with connect(server.url, session=SESSION, token=server.token(SESSION), name="made"):
        pass
    one_line_failure(
        await asyncio.to_thread(cli, "revoke", server.url, "--session", SESSION, *secret),
        "backline revoke: give exactly one of --person, --invite or --token-id",
    )
    one_line_failure(
        await asyncio.to_thread(
            cli,
            "revoke",
            server.url,
            "--session",
            SESSION,
            "--invite",
            "a",
            "--person",
            "b",
            *secret,
        ),
        "backline revoke: give exactly one",
    )
    one_line_failure(
        await asyncio.to_thread(
            cli, "revoke", server.url, "--session", SESSION, "--invite", "i-nope", *secret
        ),
        "backline: not_found: no invite i-nope in this session",
    )
    one_line_failure(
        await asyncio.to_thread(
            cli, "invite", server.url, "--session", SESSION, "--ttl", "-5", *secret
        ),
        "backline invite: --ttl must be a positive number of seconds, not -5",
    )
    one_line_failure(
        await asyncio.to_thread(
            cli, "invite", server.url, "--session", SESSION, "--uses", "0", *secret
        ),
        "backline invite: --uses must be at least 1, not 0",
    )
    one_line_failure(
        await asyncio.to_thread(cli, "invite", server.url, "--session", "dsek", *secret),
        "backline: not_found: there is no session 'dsek'",  # a typo makes no session
    )
    editor = server.token(SESSION, "editor")
    one_line_failure(
        await asyncio.to_thread(cli, "invite", server.url, "--session", SESSION, "--token", editor),
        "backline: forbidden: only an owner may do that; you are an editor",
    )
    empty = await asyncio.to_thread(cli, "access", server.url, "--session", SESSION, *secret)
    assert empty.returncode == 0
    assert empty.stdout == (
        f"no invites in session '{SESSION}'\nnobody else holds access to session '{SESSION}'\n"
    )
