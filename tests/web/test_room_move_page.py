"""The page follows the audio room when its host process dies (kill -9).

Three server processes on one real Redis: a Python participant on the first
makes it the room's host, another Python participant is on the second, the
page on the third. Killing the host moves the room; the server tells the page
to offer again, and it does so without leaving the session (same client id,
the websocket never closed) and hears the Python participant again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page
from sound_page import client_id, join_page
from test_sound_room import BROWSER_HZ, PYTHON_HZ, audio_page, mix_is, second_after

from backline.client.audio import ToneTrack
from backline.testing import ServerProcess, SessionThread
from backline.testing.redis import RedisServer

SESSION = "moving"
HOST_HZ = 440.0
__all__ = ["audio_page"]  # the fixture, shared with test_sound_room

# every state the room panel passes through from now on, in window.roomStates
SEEN_STATES_JS = """() => {
  const room = window.backlineSound.room;
  const set = room._set.bind(room);
  window.roomStates = [];
  room._set = (state, detail) => { window.roomStates.push(state); set(state, detail); };
}"""


@pytest.fixture
def three_nodes(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    with RedisServer(tmp_path / "redis") as redis:
        nodes: list[ServerProcess] = []
        try:
            for i in range(3):
                args = ["--redis", redis.url, "--node-id", f"n{i}"]
                nodes.append(ServerProcess(tmp_path / f"n{i}", extra_args=args).start())
            yield nodes
        finally:
            for node in nodes:
                node.stop()


def test_the_page_offers_again_when_the_rooms_host_dies(
    audio_page: Page, three_nodes: list[ServerProcess]
) -> None:
    host, other, mine = three_nodes
    page = audio_page
    with (
        SessionThread(host.url, session=SESSION, token=host.token(SESSION), name="h") as h,
        SessionThread(other.url, session=SESSION, token=other.token(SESSION), name="py") as py,
    ):
        h.run(lambda s: s.audio.publish(ToneTrack(HOST_HZ)))  # the first offer: `host` hosts
        py.run(lambda s: s.audio.publish(ToneTrack(PYTHON_HZ)))
        errors = join_page(page, mine, SESSION, "web")
        browser_id = client_id(page)
        page.get_by_role("button", name="Join audio", exact=True).click()
        page.wait_for_function("window.backlineSound.room.state === 'connected'", timeout=30_000)
        heard = py.run(lambda s: second_after(s, BROWSER_HZ), timeout=40)
        assert float(np.sqrt(np.mean(heard**2))) > 0.1  # the page reaches the room on `host`

        page.evaluate(SEEN_STATES_JS)
        host.kill()
        # the page is told to offer again, reconnects its audio, and is in the room again
        page.wait_for_function("window.roomStates.includes('reconnecting')", timeout=20_000)
        page.wait_for_function("window.backlineSound.room.state === 'connected'", timeout=30_000)
        mix_is(page, f"m.level > -30 && Math.abs(m.peakHz - {PYTHON_HZ}) < 50", timeout=30_000)
        heard = py.run(lambda s: second_after(s, BROWSER_HZ), timeout=40)
        assert float(np.sqrt(np.mean(heard**2))) > 0.1
        # still the same member of the session: the websocket never dropped
        assert page.evaluate("window.backline.session.clientId") == browser_id
        assert page.evaluate("window.backline.session.state") == "connected"
        assert errors == []
