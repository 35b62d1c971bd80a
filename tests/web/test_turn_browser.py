"""The page makes its audio peer connection with the TURN server its welcome named,
and reaches a relay-only server through a real coturn (testing/turn.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CHROMIUM_ARGS
from playwright.sync_api import Browser, Page
from sound_page import client_id, join_page

from backline.testing import ServerProcess
from backline.testing.turn import TurnServer

SESSION = "jam"
AUDIO_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]

# the page's peer connection: its configured servers and the candidate pair in use
PAIR_JS = """async () => {
  const pc = window.backlineSound.room.pc;
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  if (pair === null) stats.forEach((s) => { if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s; });
  const local = pair && stats.get(pair.localCandidateId);
  const remote = pair && stats.get(pair.remoteCandidateId);
  return { servers: pc.getConfiguration().iceServers,
           local: local ? local.candidateType : null, remote: remote ? remote.candidateType : null };
}"""


@pytest.fixture
def page(browser: Browser, chromium_path: str) -> Iterator[Page]:
    own = browser.browser_type.launch(
        executable_path=chromium_path, headless=True, args=[*CHROMIUM_ARGS, *AUDIO_ARGS]
    )
    try:
        yield own.new_context().new_page()
    finally:
        own.close()


def test_the_page_reaches_a_relay_only_server_through_turn(page: Page, tmp_path: Path) -> None:
    with TurnServer(tmp_path / "turn") as turn:
        server = ServerProcess(
            tmp_path / "data",
            extra_args=[
                "--turn", turn.url, "--turn-secret", turn.secret, "--rtc-relay-only", "on",
            ],
        ).start()  # fmt: skip
        try:
            errors = join_page(page, server, SESSION, "web")
            me = client_id(page)
            page.get_by_role("button", name="Join audio", exact=True).click()
            page.wait_for_function(
                "window.backlineSound.room.state === 'connected'", timeout=30_000
            )
            seen = page.evaluate(PAIR_JS)
            (entry,) = seen["servers"]
            assert entry["urls"] == [turn.url] or entry["urls"] == turn.url
            assert entry["username"].endswith(f":{me}") and entry["credential"]
            assert seen["remote"] == "relay"  # the server offered nothing else
            # coturn allocated for the page and for the server's peer (its log, polled:
            # coturn writes it on its own schedule)
            deadline = time.monotonic() + 20
            while not {me, "backline-server"} <= {u.split(":", 1)[1] for u in turn.allocations()}:
                assert time.monotonic() < deadline, turn.allocations()
                time.sleep(0.05)
            assert errors == []
        finally:
            server.stop()
