"""MIDI clock out from a real session: the messages, their times, a server that goes away.

The messages go to `MemoryOut`, the same `MidiOut` interface a real port has:
this machine has no ALSA sequencer (no /dev/snd/seq in a container), which the
last test shows by the refusal a user gets.
"""

from __future__ import annotations

import asyncio
import os
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from backline.client import connect
from backline.client.midi_sync import SEQUENCER, MemoryOut, MidiClock, MidiUnavailable, open_port
from backline.client.session import ConnectionState, Session
from backline.protocol.midi_clock import ClockKind
from backline.testing import ServerProcess, eventually

SESSION = "clocked"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose plays and seeks sound 2 s after the request, not 200 ms.

    A clock that first sees a play after its downbeat has passed joins mid-song
    (Position, then Continue): right for a device, but not what these tests
    check. On a loaded machine the edit's round trip and the clock task's wake-up
    can take longer than the default lead; 2 s leaves no race.
    """
    proc = ServerProcess(tmp_path / "data", extra_args=["--lead-ms", "2000"]).start()
    try:
        yield proc
    finally:
        proc.stop()


def kinds(clock: MidiClock) -> list[ClockKind]:
    return [e.kind for e in clock.sent]


async def running(s: Session, out: MemoryOut) -> tuple[MidiClock, asyncio.Task[None]]:
    await s.clock.wait_synced()
    clock = MidiClock(s.timeline, out, connected=lambda: s.state is ConnectionState.CONNECTED)
    return clock, asyncio.ensure_future(clock.run())


async def test_play_seek_and_stop_become_clock_messages_on_time(server: ServerProcess) -> None:
    token = server.token(SESSION, "owner")
    out = MemoryOut()
    async with connect(server.url, session=SESSION, token=token, name="daw") as s:
        clock, task = await running(s, out)
        try:
            await s.set_tempo(150)
            await s.play()
            await eventually(lambda: kinds(clock).count(ClockKind.CLOCK) >= 96, timeout=30)
            first = kinds(clock)
            go = first.index(ClockKind.START)  # after the position the stopped song was at
            assert first[go - 1] is ClockKind.POSITION and clock.sent[go - 1].position == 0
            assert out.sent[go - 1][1] == b"\xf2\x00\x00" and out.sent[go][1] == b"\xfa"
            assert ClockKind.CLOCK not in first[:go]  # no pulse before Start
            ticks = [e for e in clock.sent if e.kind is ClockKind.CLOCK]
            timeline = s.timeline.current
            for n, event in enumerate(ticks):
                assert event.beat == n / 24  # every pulse, none skipped, from beat 0
                assert event.time == timeline.time_at(event.linear)  # from the anchor
            # when each left against when it was due (this client's clock): reported
            late = sorted(clock.errors_us[: len(ticks)])
            p99 = late[int(len(late) * 0.99) - 1]
            print(f"MIDI clock: {len(late)} pulses, median {statistics.median(late):.0f} µs "
                  f"late, p99 {p99:.0f} µs")  # fmt: skip
            assert min(late) >= -1  # never early

            before = len(clock.sent)
            await s.seek(16.0)  # bar 5: Stop, the position, Continue
            await eventually(lambda: ClockKind.CONTINUE in kinds(clock)[before:], timeout=30)
            after = clock.sent[before:]
            # Stop, then the new position (told again if the server's anchor differs from
            # the one this client applied at once), then Continue; no pulse in between
            told = [e.kind for e in after]
            stop, go = told.index(ClockKind.STOP), told.index(ClockKind.CONTINUE)
            assert stop < go and told.count(ClockKind.STOP) == 1
            assert set(told[stop + 1 : go]) == {ClockKind.POSITION}
            assert after[go - 1].position == 64 and after[go].beat == 16.0
            await eventually(lambda: clock.sent[-1].kind is ClockKind.CLOCK, timeout=30)
            assert clock.sent[-1].beat >= 16.0

            before = len(clock.sent)
            await s.stop()
            await eventually(lambda: ClockKind.STOP in kinds(clock)[before:], timeout=30)
            stopped = clock.sent[before:]
            assert stopped[-2].kind is ClockKind.STOP and stopped[-1].kind is ClockKind.POSITION
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_a_server_that_goes_away_stops_the_clock_and_it_resumes_in_place(
    server: ServerProcess,
) -> None:
    token = server.token(SESSION, "owner")
    out = MemoryOut()
    async with connect(server.url, session=SESSION, token=token, name="daw") as s:
        clock, task = await running(s, out)
        try:
            await s.play()
            await eventually(lambda: kinds(clock).count(ClockKind.CLOCK) >= 24, timeout=30)
            server.kill()
            await eventually(lambda: clock.sent[-1].kind is ClockKind.STOP, timeout=30)
            assert s.state is not ConnectionState.CONNECTED
            stopped = len(clock.sent)
            server.start()  # same port and data dir: the SDK reconnects
            await eventually(lambda: ClockKind.CONTINUE in kinds(clock)[stopped:], timeout=60)
            resumed = clock.sent[stopped:]
            assert resumed[0].kind is ClockKind.POSITION and resumed[1].kind is ClockKind.CONTINUE
            now_beat = s.timeline.beat_at()
            assert abs(resumed[1].beat - now_beat) < 2  # where the song is, not from the top
            await eventually(lambda: clock.sent[-1].kind is ClockKind.CLOCK, timeout=30)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert out.sent[-1][1] == b"\xfc"  # cancelled: the device is told Stop last


def test_without_an_alsa_sequencer_the_port_is_refused_with_what_to_do(tmp_path: Path) -> None:
    if os.path.exists(SEQUENCER):  # a desktop: a virtual port opens
        port = open_port("Backline test clock")
        port.send(b"\xf8")
        port.close()
        return
    print(f"no ALSA sequencer here ({SEQUENCER} is missing): the port's refusal is what runs")
    with pytest.raises(MidiUnavailable) as refused:
        open_port()
    assert SEQUENCER in refused.value.message and "snd-seq" in refused.value.message


def test_the_command_says_what_is_missing_and_changes_nothing(server: ServerProcess) -> None:
    import subprocess
    import sys

    if os.path.exists(SEQUENCER):
        return  # a port can open here: the refusal cannot be shown
    result = subprocess.run(
        [sys.executable, "-m", "backline.cli", "sync", "midi", server.url, "--session", SESSION,
         "--token", server.token(SESSION)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "backline sync midi: cannot open a MIDI port" in result.stderr
    assert SEQUENCER in result.stderr and "Traceback" not in result.stderr


async def test_the_latency_offset_sends_everything_that_much_early(server: ServerProcess) -> None:
    token = server.token(SESSION, "owner")
    out = MemoryOut()
    async with connect(server.url, session=SESSION, token=token, name="daw") as s:
        await s.clock.wait_synced()
        clock = MidiClock(s.timeline, out, offset_ms=80.0)
        task = asyncio.ensure_future(clock.run())
        try:
            await s.play()
            await eventually(lambda: kinds(clock).count(ClockKind.CLOCK) >= 48, timeout=30)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        sent = [(t, e) for (t, _), e in zip(out.sent, clock.sent, strict=False)]
        early = [s.clock.to_local(e.time) - t for t, e in sent if e.kind is ClockKind.CLOCK]
    # each pulse left about 80 ms before its beat's time (less the loop's lateness)
    assert len(early) >= 48
    assert statistics.median(early) > 70_000 and max(early) < 80_001


async def test_incoming_midi_clock_sets_the_tempo_and_the_transport(server: ServerProcess) -> None:
    from backline.client.midi_sync import MidiClockIn

    token = server.token(SESSION, "editor")
    async with connect(server.url, session=SESSION, token=token, name="box") as s:
        follower = MidiClockIn(s)
        interval = 60e6 / 128 / 24  # a drum machine at 128 bpm, a little jitter
        at = 1_000_000.0
        follower.receive(b"\xfa", at)  # Start: from the top
        for k in range(24 * 8):  # two bars of pulses
            follower.receive(b"\xf8", at + k * interval + (37 * k % 11 - 5))
        await eventually(lambda: abs(s.project.project["tempo"] - 128) < 0.05, timeout=30)
        assert s.timeline.current.playing and follower.edits == 1  # one edit, not one per pulse
        follower.receive(b"\xfc", at + 24 * 8 * interval)
        await eventually(lambda: not s.timeline.current.playing, timeout=30)
        # a steady tempo already set makes no edit; garbage changes nothing
        for k in range(24 * 4):  # a box's clock runs on while stopped
            follower.receive(b"\xf8", at + (24 * 8 + k) * interval)
        follower.receive(b"", at)
        follower.receive(b"\x90\x40\x40", at)
        assert follower.edits == 1
