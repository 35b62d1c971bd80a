"""The web client's page in a session, for the transport and page tests (not a test module).

Pages join a real server through the join form, as a person does; helpers read
the page's state through `window.backline` and place the mouse on the ruler by
beat (the ruler publishes its scale as `data-px-per-beat`).
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import BrowserContext, Page

from backline.testing import ServerProcess, SessionThread

CONNECTED = "() => window.backline && window.backline.state() === 'connected'"

# Counts every sound the page starts: the Web Audio nodes that make sound are
# AudioScheduledSourceNodes (oscillators, buffer sources: the instruments'
# samples), each started once, in the page's live AudioContext (an
# OfflineAudioContext's, such as the one measuring the delay loop, is no sound).
COUNT_STARTS = """
window.__starts = 0;
for (const proto of [AudioScheduledSourceNode.prototype, AudioBufferSourceNode.prototype]) {
  const start = proto.start;
  proto.start = function (...args) {
    if (!(this.context instanceof OfflineAudioContext)) window.__starts += 1;
    return start.apply(this, args);
  };
}
"""

# Records the ops of every edit the page sends, as sent.
RECORD_EDITS = """() => {
  const s = window.backline.session;
  window.__sent = [];
  const edit = s.edit.bind(s);
  s.edit = (ops, id) => { window.__sent.push(structuredClone(ops)); return edit(ops, id); };
}"""


def open_join_link(
    context: BrowserContext, server: ServerProcess, session: str, role: str = "editor"
) -> Page:
    page = context.new_page()
    page.goto(f"{server.http_url}/#session={session}&token={server.token(session, role)}")
    return page


def join(
    context: BrowserContext,
    server: ServerProcess,
    session: str,
    name: str,
    role: str = "editor",
) -> Page:
    """A new page that opens an invite and joins as `name`; returns once connected."""
    page = open_join_link(context, server, session, role)
    page.fill("input[name=name]", name)
    page.click("button[type=submit]")
    page.wait_for_function(CONNECTED)
    page.wait_for_selector(".ruler")
    return page


def settled(page: Page, bot: SessionThread) -> None:
    """Wait until the page has no unacknowledged edit and the bot has seen its version."""
    page.wait_for_function("() => window.backline.pending() === 0")
    version = page.evaluate("window.backline.version()")
    bot.wait_until(lambda s: s.version >= version, what=f"version {version}")


def same_version(page: Page, bot: SessionThread) -> None:
    """Wait until the page has caught up with everything the bot has seen."""
    latest = bot.run(lambda s: s.version)
    page.wait_for_function("(v) => window.backline.version() >= v", arg=latest)


def ruler_x(page: Page, beat: float) -> tuple[float, float]:
    """Viewport coordinates on the ruler at `beat` (its vertical middle)."""
    point: dict[str, float] = page.evaluate(
        """(beat) => {
          const r = document.querySelector('.ruler');
          const box = r.getBoundingClientRect();
          const x = box.left + r.clientLeft + beat * Number(r.dataset.pxPerBeat) - r.scrollLeft;
          return { x, y: box.top + box.height / 2 };
        }""",
        beat,
    )
    return point["x"], point["y"]


def click_ruler(page: Page, beat: float) -> None:
    x, y = ruler_x(page, beat)
    page.mouse.click(x, y)


def drag_ruler(page: Page, start: float, end: float) -> None:
    x0, y = ruler_x(page, start)
    x1, _ = ruler_x(page, end)
    page.mouse.move(x0, y)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, y, steps=3)
    page.mouse.move(x1, y, steps=3)
    page.mouse.up()


def project(page: Page) -> dict[str, Any]:
    data: dict[str, Any] = page.evaluate("window.backline.project().project")
    return data


def sent(page: Page) -> list[list[dict[str, Any]]]:
    ops: list[list[dict[str, Any]]] = page.evaluate("window.__sent")
    return ops
