"""Take the README's screenshot of the invite dialog and the access list (docs/people.png).

    .venv/bin/python scripts/people_screenshot.py [--out docs]

A real server process and Debian's Chromium (as in tests/web). An owner bot
("Bo") makes personal invites with the SDK: one for Bob (who joins with it and
stays), one for a band of five (Cleo came and went), one for Max (who came,
left, and was revoked), and an old link that was revoked. The page joins as
the owner Ada, opens the invite dialog and creates an editor invite for Dana:
its link shows, selected, above the session's invites and the people who hold
access.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from shots import join, studio  # scripts/ is on the path of a script run from it

from backline.client.session import Session
from backline.testing import SessionThread

SESSION = "jam"
DAY = 86400


async def build(s: Session) -> None:
    await s.synced()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with studio(SESSION, build) as st:
        url = st.server.url

        def invite(role: str, name: str, uses: int = 1, ttl: int = 7 * DAY) -> dict[str, Any]:
            made: dict[str, Any] = st.bot.run(
                lambda s: s.invite(role, name=name, expires_in=ttl, uses=uses)
            )
            return made

        old = invite("viewer", "", uses=10, ttl=30 * DAY)
        st.bot.run(lambda s: s.revoke(invite=old["invite"]))
        band = invite("viewer", "Band", uses=5, ttl=DAY)
        with SessionThread(url, session=SESSION, token=band["token"], name="Cleo"):
            pass  # came and went: offline
        with SessionThread(
            url, session=SESSION, token=invite("editor", "Max")["token"], name="Max"
        ) as max_:
            gone = max_.session.client_id
        st.bot.run(lambda s: s.revoke(client=gone))
        bob = invite("editor", "Bob")
        with SessionThread(url, session=SESSION, token=bob["token"], name="Bob") as guest:
            guest.run(lambda s: s.set_presence(color="#ff9f1c"))
            page = st.page
            join(page, st.server, SESSION, "Ada", role="owner")
            page.get_by_role("button", name="Invite…").click()
            dialog = page.locator("dialog.invite-dialog")
            dialog.get_by_role("textbox", name="For", exact=True).fill("Dana")
            dialog.get_by_role("button", name="Create").click()
            page.locator(".invite-link").wait_for()
            page.wait_for_function(
                "() => document.querySelectorAll('.access-invites li[data-invite]').length === 5"
                " && document.querySelectorAll('.access-people li[data-client]').length === 4"
            )
            dialog.screenshot(path=str(args.out / "people.png"))
    print(f"wrote {args.out / 'people.png'}")


if __name__ == "__main__":
    main()
