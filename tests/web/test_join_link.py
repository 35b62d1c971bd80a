"""The page's own defences, in Chromium: join secrets from the fragment only, and no framing.

- A token in the query string (``/?token=…``) reaches servers, proxies and their
  logs; the page must not take one from there, only from the fragment
  (``#session=…&token=…``), which browsers never send.
- The server's ``X-Frame-Options: DENY`` and ``Content-Security-Policy:
  frame-ancestors 'none'`` must make Chromium refuse to show the page in a frame
  (clickjacking the owners' controls), while the page itself still joins.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect

from backline.testing import ServerProcess

SESSION = "linkjam"


def test_session_and_token_come_from_the_fragment_only(page: Page, server: ServerProcess) -> None:
    token = server.token(SESSION)
    page.goto(f"{server.http_url}/?session={SESSION}&token={token}")
    expect(page.locator("input[name=token]")).to_have_value("")
    expect(page.locator("input[name=session]")).to_have_value("")
    page.goto(f"{server.http_url}/#session={SESSION}&token={token}")
    expect(page.locator("input[name=token]")).to_have_value(token)
    expect(page.locator("input[name=session]")).to_have_value(SESSION)
    page.fill("input[name=name]", "linked")
    page.click("button[type=submit]")  # the headers leave the page working
    page.wait_for_function("() => window.backline && window.backline.state() === 'connected'")


def test_no_page_may_frame_the_client(page: Page, server: ServerProcess) -> None:
    # set_content returns after the load event, which waits for the frame (or its error page)
    page.set_content(f'<iframe src="{server.http_url}/#session={SESSION}"></iframe>')
    [frame] = page.main_frame.child_frames
    assert frame.url == "chrome-error://chromewebdata/"  # refused: Chromium's error page
    expect(page.frame_locator("iframe").locator("input[name=session]")).to_have_count(0)
