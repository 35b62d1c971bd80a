"""web/net.js: the browser's session connection, against a real server and SDK.

Frames, optimistic edits, acknowledgements and rebase are checked by their
outcome: the browser's mirror and the Python SDK's mirror end up equal. The
close policy is the protocol's (protocol/errors.py), code by code.
"""

from __future__ import annotations

from typing import Any

import msgpack
from playwright.sync_api import Page

from backline.protocol.errors import CLOSE_REASONS, FINAL_CLOSE_CODES, CloseCode
from backline.testing import ServerProcess, SessionThread

SESSION = "netjs"

JOIN_JS = """async ({ token, name }) => {
  const net = await import("/net.js");
  const s = new net.Session({ session: "netjs", token, name, color: "#3366ff" });
  window.s = s;
  window.rejected = [];
  s.on("rejected", (r) => window.rejected.push(r));
  await s.connect();
  return { client: s.clientId, role: s.role, version: s.version };
}"""


def join(page: Page, server: ServerProcess, name: str) -> dict[str, Any]:
    page.goto(server.http_url + "/")
    result: dict[str, Any] = page.evaluate(JOIN_JS, {"token": server.token(SESSION), "name": name})
    return result


def test_msgpack_matches_python(page: Page, server: ServerProcess) -> None:
    """Bytes written by msgpack.js are what Python's msgpack writes, and read back alike."""
    page.goto(server.http_url + "/")
    values: list[Any] = [
        0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**53 - 1,
        -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**53) + 1,
        0.5, -1.25, 1e300, "", "a" * 31, "b" * 32, "é♪" * 200, "x" * 70000,
        None, True, False, [], list(range(15)), list(range(16)), list(range(70000)),
        {}, {str(i): i for i in range(15)}, {str(i): i for i in range(16)},
        {"type": "op", "seq": 1, "ops": [{"op": "set", "id": "project", "field": "tempo", "value": 96.5}]},
    ]  # fmt: skip
    encoded = page.evaluate(
        """async (values) => {
            const m = await import("/msgpack.js");
            return values.map((v) => Array.from(m.encode(v)));
        }""",
        values,
    )
    for value, data in zip(values, encoded, strict=True):
        assert bytes(data) == msgpack.packb(value, use_bin_type=True), value
    decoded = page.evaluate(
        """async (blobs) => {
            const m = await import("/msgpack.js");
            return blobs.map((b) => m.decode(new Uint8Array(b)));
        }""",
        [list(msgpack.packb(v, use_bin_type=True)) for v in values],
    )
    assert decoded == values


def test_browser_and_sdk_mirrors_agree(page: Page, server: ServerProcess) -> None:
    """Edits from both sides, concurrent ones included, converge to one project."""
    with SessionThread(server.url, session=SESSION, token=server.token(SESSION), name="bot") as bot:
        joined = join(page, server, "alice")
        assert joined["role"] == "editor"
        track = page.evaluate(
            """async () => {
                const t = s.addTrack("Drums", "drums");
                const p = s.addPattern(t.id, { sounds: [36, 38, 42] });
                s.setStep(p.id, 0, 0, 110);
                s.setTempo(97.5);
                await p.done;
                return { track: t.id, pattern: p.id };
            }"""
        )
        bot.wait_until(lambda s: s.project.project["tempo"] == 97.5, what="the tempo")
        assert bot.session.project.patterns[track["pattern"]]["lanes"][0]["steps"][0] == 110
        note = bot.run(lambda s: s.add_note(track["track"], 60, 960, 480).id)
        # concurrent: both set the same field; the server's order decides for both
        page.evaluate("(t) => s.set(t, 'volume', 0.25)", track["track"])
        bot.run(lambda s: s.set(track["track"], "volume", 0.75))
        bot.run(lambda s: s.synced())
        page.wait_for_function(
            "([note]) => s.project.notes.has(note) && s.outbox.size === 0", arg=[note]
        )
        version = bot.run(lambda s: s.version)
        page.wait_for_function("(v) => s.version >= v", arg=version)
        latest = page.evaluate("s.version")
        bot.wait_until(lambda s: s.version >= latest, what="the last version")
        browser_doc = page.evaluate("s.project.toData()")
        assert browser_doc == bot.session.project.to_data()
        assert page.evaluate("s.replica.pending.length") == 0


def test_reject_rolls_back(page: Page, server: ServerProcess) -> None:
    """An edit valid here but refused by the server is rolled back and reported with its code."""
    with SessionThread(server.url, session=SESSION, token=server.token(SESSION), name="bot") as bot:
        join(page, server, "alice")
        track = bot.run(lambda s: s.add_track("Keys").id)
        bot.run(lambda s: s.synced())
        page.wait_for_function("(t) => s.project.tracks.has(t)", arg=track)
        # hold the browser's incoming frames: it edits a stale copy, as over a slow link
        page.evaluate("() => { window.held = []; s.handle = (m) => window.held.push(m); }")
        bot.run(lambda s: s.remove(track))  # awaited: stored and broadcast
        note = page.evaluate("(t) => s.addNote(t, 64, 0).id", track)
        assert page.evaluate("(n) => s.project.notes.has(n)", note) is True  # optimistic
        page.wait_for_function("() => held.some((m) => m.type === 'reject')")
        page.evaluate(
            "() => { s.handle = Object.getPrototypeOf(s).handle; held.forEach((m) => s.handle(m)); }"
        )
        assert page.evaluate("(n) => s.project.notes.has(n)", note) is False
        assert page.evaluate("(t) => s.project.tracks.has(t)", track) is False
        assert page.evaluate("s.replica.pending.length + s.outbox.size") == 0
        rejected = page.evaluate("window.rejected")
        assert [r["code"] for r in rejected] == ["not_found"]
        assert "not an existing track" in rejected[0]["message"]
        assert page.evaluate("s.project.toData()") == bot.session.project.to_data()


CLOSE_JS = """async (codes) => {
  const net = await import("/net.js");
  const sockets = [];
  class FakeSocket {  // opens nothing: the test closes it with the code under test
    static OPEN = 1;
    constructor(url, protocol) {
      this.protocol = protocol;
      this.readyState = 0;
      sockets.push(this);
    }
    send() {}
    close() {}
  }
  const real = globalThis.WebSocket;
  globalThis.WebSocket = FakeSocket;
  const out = [];
  try {
    for (const code of codes) {
      const s = new net.Session({ url: "ws://127.0.0.1:9/", session: "s", token: "t", name: "n" });
      let refused = null;
      s.connect().catch((error) => { refused = error.code; });
      const before = sockets.length;
      sockets.at(-1).onclose({ code, reason: "why" });
      const state = s.state;
      const reason = s.closeReason;
      const deadline = performance.now() + 2000;  // a reconnect comes after its backoff
      while (state !== "closed" && sockets.length === before && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await new Promise((resolve) => setTimeout(resolve, 0));
      out.push({ code, state, reason, refused, reopened: sockets.length > before });
      s.close();
    }
  } finally {
    globalThis.WebSocket = real;
  }
  return out;
}"""


def test_close_policy_is_the_protocols(page: Page, web_server: str) -> None:
    """On a close in FINAL_CLOSE_CODES the page gives up with CLOSE_REASONS' explanation
    (the join is refused); on every other close, explained or not, it reconnects."""
    page.goto(f"{web_server}/")
    codes = sorted({*map(int, CLOSE_REASONS), 1001, 1005, 1006, 4999, 4500})
    outcomes = page.evaluate(CLOSE_JS, codes)
    assert [o["code"] for o in outcomes] == codes
    for o in outcomes:
        code = o["code"]
        if code in FINAL_CLOSE_CODES:
            assert o["state"] == "closed", o
            assert o["reason"] == f"{CLOSE_REASONS[code]} ({code} why)", o
            assert o["refused"] == "unavailable" and not o["reopened"], o
        else:
            assert o["state"] == "reconnecting", o
            assert o["reason"] == f"connection lost ({code} why)", o
            assert o["refused"] is None and o["reopened"], o
    assert {o["code"] for o in outcomes if o["state"] == "closed"} == set(FINAL_CLOSE_CODES)


def test_a_final_close_from_the_server_is_explained(page: Page, server: ServerProcess) -> None:
    """A token for another session: the server closes 4403, the page stops there and says why."""
    page.goto(server.http_url + "/")
    result = page.evaluate(
        """async ({ token }) => {
            const net = await import("/net.js");
            const s = new net.Session({ session: "netjs", token, name: "eve" });
            try {
                await s.connect();
                return { joined: true };
            } catch (error) {
                return { code: error.code, state: s.state, reason: s.closeReason };
            }
        }""",
        {"token": server.token("elsewhere")},
    )
    code = CloseCode.WRONG_SESSION
    assert result["code"] == "unavailable" and result["state"] == "closed", result
    assert result["reason"].startswith(f"{CLOSE_REASONS[code]} ({code.value}"), result
