"""The web client's page joined to a session, for the sound tests (not a test module).

The sound panel is the one the page mounts (web/app.js calls
`mountSoundPanel` after joining); the panel leaves a handle at
`window.backlineSound`, the page its session at `window.backline`.
"""

from __future__ import annotations

from playwright.sync_api import ConsoleMessage, Page

from backline.testing import ServerProcess


def join_page(
    page: Page, server: ServerProcess, session: str, name: str, base: str | None = None
) -> list[str]:
    """Open the join link (on `base`, default the server's own URL), join as `name`,
    wait for the sound panel.

    Returns a list that collects page errors and the server's `error` frames
    (net.js logs them) from now on.
    """
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if "server error" in message.text:
            errors.append(message.text)

    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", console)
    page.goto(f"{base or server.http_url}/#session={session}&token={server.token(session)}")
    page.fill("input[name=name]", name)
    page.click("button[type=submit]")
    page.wait_for_function("() => window.backline && window.backline.state() === 'connected'")
    page.wait_for_function("() => window.backlineSound !== undefined")
    return errors


def client_id(page: Page) -> str:
    client: str = page.evaluate("window.backline.clientId()")
    return client
