"""The sound panel mounted on net.js in a page, for the sound tests (not a test module)."""

from __future__ import annotations

from playwright.sync_api import Page

from backline.client.testing import ServerProcess

# The panel on webapp's session connection (net.js), with the ctx the page gives it.
MOUNT_JS = """async ({ session, token, name }) => {
  const net = await import("/net.js");
  const { mountSoundPanel } = await import("/sound/panel.js");
  const s = new net.Session({ session, token, name });
  window.errors = [];
  s.on("error", (e) => window.errors.push(e));
  await s.connect();
  const element = document.createElement("section");
  document.body.append(element);
  window.panel = mountSoundPanel(element, {
    send: (m) => s.send(m),
    serverNow: () => s.serverNow(),
    timeline: () => s.timeline(),
    project: () => s.project.toData(),
    me: () => s.peerList()[0],
    peers: () => s.peerList(),
    on: (type, fn) => s.on(type, fn),
    onChange: (fn) => s.on("change", fn),
  });
  window.session = s;
  return s.clientId;
}"""


def mount_panel(page: Page, server: ServerProcess, session: str, name: str) -> str:
    """Open the server's page, join `session` with net.js, mount the panel; my client id."""
    page.goto(server.http_url + "/")
    token = server.token(session)
    client: str = page.evaluate(MOUNT_JS, {"session": session, "token": token, "name": name})
    return client
