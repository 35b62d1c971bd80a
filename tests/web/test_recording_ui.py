"""Recording the audio room from the page: an owner starts and stops it, everyone in
the session sees that it runs and who started it, and the owner downloads the take.

Real Chromium pages and a real server; the audio room's member is an SDK
participant sending a tone over a real aiortc peer (on its own thread).
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, expect
from studio_page import join

from backline.client.audio import ToneTrack
from backline.testing import ServerProcess, SessionThread

SESSION = "takes"


@pytest.fixture
def singer(server: ServerProcess) -> Iterator[SessionThread]:
    token = server.token(SESSION, "editor")
    with SessionThread(server.url, session=SESSION, token=token, name="singer") as b:

        async def sing(s):  # type: ignore[no-untyped-def]
            await s.audio.publish(ToneTrack(440.0, 0.3))

        b.run(sing)
        yield b


def test_an_owner_records_from_the_page_everyone_sees_it_and_the_take_downloads(
    context: BrowserContext, server: ServerProcess, singer: SessionThread
) -> None:
    owner = join(context, server, SESSION, "Olga", role="owner")
    guest = join(context, server, SESSION, "Gus")
    record = owner.get_by_role("button", name="● Record", exact=True)
    expect(record).to_be_visible()
    expect(guest.locator("[data-sound=record]")).to_be_hidden()  # editors cannot record
    record.click()
    for page, who in ((owner, "you"), (guest, "Olga")):
        banner = page.locator("[data-sound=recording]")
        expect(banner).to_be_visible(timeout=20_000)
        expect(banner).to_contain_text(f"Recording the audio room — started by {who}")
    singer.wait_until(lambda s: s.recording is not None, what="the recording")
    expect(owner.locator("[data-sound=recording]")).to_contain_text(
        "0:02", timeout=20_000
    )  # it counts
    owner.get_by_role("button", name="■ Stop recording").click()
    for page in (owner, guest):
        expect(page.locator("[data-sound=recording]")).to_be_hidden(timeout=20_000)
    owner.get_by_role("button", name="Recordings").click()
    take = owner.locator(".sound-recordings li[data-recording]")
    expect(take).to_have_count(1, timeout=20_000)
    expect(take).to_contain_text("1 participant")
    with owner.expect_download() as download:
        take.get_by_role("button", name="mix.wav").click()
    data = download.value.path().read_bytes()
    with wave.open(io.BytesIO(data)) as mix:
        assert (mix.getframerate(), mix.getnchannels()) == (48_000, 1)
        assert mix.getnframes() > 48_000  # more than a second of the singer


def test_recording_with_nobody_in_the_audio_room_is_refused_with_its_reason(
    context: BrowserContext, server: ServerProcess
) -> None:
    owner = join(context, server, SESSION, "Olga", role="owner")
    owner.get_by_role("button", name="● Record", exact=True).click()
    expect(owner.locator(".toast")).to_contain_text("nobody is in the audio room", timeout=10_000)
    expect(owner.locator("[data-sound=recording]")).to_be_hidden()
