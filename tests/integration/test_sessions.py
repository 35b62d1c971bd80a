"""Sessions end to end: real server processes, real websocket connections, the SDK."""

from __future__ import annotations

import asyncio
import functools
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mido
import pytest

from backline.client import Edit, Rejected, RemoteEdit, connect
from backline.client.session import Session
from backline.protocol.codec import decode_record, encode
from backline.protocol.errors import BacklineError, ErrorCode, Forbidden, NothingToUndo
from backline.protocol.limits import DEFAULT_LIMITS
from backline.protocol.model import PROJECT_ID
from backline.testing import ServerProcess, random_edit

SESSION = "jam"


def canonical(s: Session) -> bytes:
    return encode(s.project.to_data())


async def test_three_clients_converge_after_1000_concurrent_edits(server: ServerProcess) -> None:
    """Three SDK clients editing at once end byte-identical to each other and to the server."""
    token = server.token(SESSION)
    rng = random.Random(7)
    async with (
        connect(server.url, session=SESSION, token=token, name="a") as a,
        connect(server.url, session=SESSION, token=token, name="b") as b,
        connect(server.url, session=SESSION, token=token, name="c") as c,
    ):
        clients = [a, b, c]
        tracks: list[str] = []
        sent = 0
        while sent < 1000:
            for s in clients:
                for _ in range(rng.randrange(1, 6)):
                    random_edit(s, rng, tracks)
                    sent += 1
            await asyncio.sleep(0)  # let frames flow both ways while editing
        for s in clients:
            await s.synced()
        final = max(s.version for s in clients)
        for s in clients:
            await s.wait_version(final)
        assert all(not s.replica.pending for s in clients)
        assert final > 500  # most edits were accepted, so this was a real storm
        async with connect(server.url, session=SESSION, token=token, name="late") as late:
            assert late.version == final
            assert canonical(a) == canonical(b) == canonical(c) == canonical(late)


async def test_late_joiner_gets_full_project(server: ServerProcess) -> None:
    """A client joining after edits sees the whole project, identical to the editor's."""
    token = server.token(SESSION)
    async with connect(server.url, session=SESSION, token=token, name="first") as s:
        drums = s.add_track("Drums", kind="drums")
        pattern = s.add_pattern(drums.id or "", sounds=[36, 38])
        s.set_step(pattern.id or "", 0, 0, 110)
        for i in range(50):
            s.add_note(drums.id or "", 36 + i % 12, i * 240)
        await s.set_tempo(93.5)
        async with connect(server.url, session=SESSION, token=token, name="late") as late:
            assert late.version == s.version
            assert canonical(late) == canonical(s)
            assert late.project.project["tempo"] == 93.5
            assert len(late.project.notes) == 50
            assert late.project.patterns[pattern.id or ""]["lanes"][0]["steps"][0] == 110


async def test_a_project_bigger_than_a_clients_frame_joins_and_stays_in_sync(
    server: ServerProcess,
) -> None:
    """10,000 notes sent as 40 batches without waiting: the server's round answers with
    one `ops` frame of about a megabyte, and a joiner's welcome is as big; both are
    server frames, never bounded by the limit on what a client may send (a bot used
    to resync, then fail every reconnect on the welcome)."""
    token = server.token(SESSION)
    async with connect(server.url, session=SESSION, token=token, name="a") as a:
        keys = a.add_track("Keys").id
        for b in range(40):
            a.edit([{"op": "insert", "kind": "note", "id": a.new_id(), "value": {
                "track": keys, "pitch": 60 + i % 12, "start": (b * 250 + i) * 240}}
                for i in range(250)])  # fmt: skip
        await asyncio.wait_for(a.synced(), 60)
        assert len(a.project.notes) == 10_000 and a.version == 41
        assert len(encode(a.project.to_data())) > DEFAULT_LIMITS.max_frame_bytes
        async with connect(server.url, session=SESSION, token=token, name="b") as b:
            assert b.project == a.project


async def test_viewer_cannot_edit(server: ServerProcess) -> None:
    """A viewer's edit is rejected with `forbidden` and nobody's project changes."""
    async with (
        connect(server.url, session=SESSION, token=server.token(SESSION), name="ed") as editor,
        connect(
            server.url, session=SESSION, token=server.token(SESSION, "viewer"), name="v"
        ) as viewer,
    ):
        await editor.set_tempo(100)
        await viewer.wait_version(editor.version)
        before = canonical(editor)
        with pytest.raises(Forbidden):
            await viewer.set_tempo(150)
        assert viewer.project.project["tempo"] == 100  # the optimistic edit was rolled back
        await editor.set_swing(0.2)  # a later edit arrives; nothing from the viewer came first
        await viewer.wait_version(editor.version)
        assert editor.version == 2
        assert canonical(viewer) == canonical(editor) != before


async def test_rejected_edit_rolls_back_and_raises_event(server: ServerProcess) -> None:
    """A server-side reject (note on a track deleted meanwhile) rolls back and is an event."""
    token = server.token(SESSION)
    async with (
        connect(server.url, session=SESSION, token=token, name="a") as a,
        connect(server.url, session=SESSION, token=token, name="b") as b,
    ):
        # a's delete and b's note race over two sockets; on a loaded machine b's
        # note can reach the server first (then it is accepted): try again
        for _ in range(20):
            track = a.add_track("Keys")
            await track
            await b.wait_version(a.version)
            events = b.events()
            deleted = a.remove(track.id or "")
            note = b.add_note(track.id or "", 60, 0)  # valid for b's view, not for the server
            await deleted
            try:
                await note
            except BacklineError as exc:
                assert exc.code in (ErrorCode.NOT_FOUND,)
                break
        else:
            raise AssertionError("b's note always reached the server before a's delete")
        seen_reject = False
        async for event in events:
            if isinstance(event, Rejected):
                assert event.seq == note.seq and event.code == "not_found"
                seen_reject = True
                break
        assert seen_reject
        assert note.id not in b.project.notes
        await b.synced()
        assert canonical(a) == canonical(b)


async def test_undo_redo_are_per_user(server: ServerProcess) -> None:
    """Undo reverts only my last edit, even after someone else edited; redo re-applies it."""
    token = server.token(SESSION)
    async with (
        connect(server.url, session=SESSION, token=token, name="a") as a,
        connect(server.url, session=SESSION, token=token, name="b") as b,
    ):
        await a.set_tempo(100)
        await b.wait_version(a.version)
        await b.set_swing(0.3)
        await a.wait_version(b.version)
        await a.undo()  # undoes a's tempo, not b's swing
        assert a.project.project["tempo"] == 120.0
        assert a.project.project["swing"] == 0.3
        await a.redo()
        assert a.project.project["tempo"] == 100.0
        await b.wait_version(a.version)
        assert canonical(a) == canonical(b)
        await a.undo()
        with pytest.raises(NothingToUndo):
            await a.undo()


async def test_undo_skipped_when_inverse_no_longer_applies(server: ServerProcess) -> None:
    """Undoing an edit to a note someone deleted is skipped with a clear `conflict`."""
    token = server.token(SESSION)
    async with (
        connect(server.url, session=SESSION, token=token, name="a") as a,
        connect(server.url, session=SESSION, token=token, name="b") as b,
    ):
        track = a.add_track("Bass")
        note = a.add_note(track.id or "", 40, 0)
        await note
        await a.set(note.id or "", "pitch", 41)
        await b.wait_version(a.version)
        await b.remove(note.id or "")
        await a.wait_version(b.version)
        with pytest.raises(BacklineError) as info:
            await a.undo()
        assert info.value.code == ErrorCode.CONFLICT
        assert "skipped" in info.value.message
        with pytest.raises(BacklineError) as info:
            await a.undo()  # the note's insert: deleting it again cannot apply either
        assert info.value.code == ErrorCode.CONFLICT
        version = await a.undo()  # the next entry, the track insert, is undone
        assert version == a.version
        assert track.id not in a.project.tracks
        await b.wait_version(version)
        assert canonical(a) == canonical(b)


async def test_reconnect_resumes_without_loss_or_duplicates(server: ServerProcess) -> None:
    """A client whose connection drops mid-stream reconnects, catches up and resends."""
    token = server.token(SESSION)
    async with (
        connect(server.url, session=SESSION, token=token, name="flaky") as flaky,
        connect(server.url, session=SESSION, token=token, name="steady") as steady,
    ):
        track = flaky.add_track("Lead")
        await track
        await steady.wait_version(flaky.version)
        edits = []
        for i in range(300):
            edits.append(flaky.add_note(track.id or "", 60, i * 10))
            if i % 7 == 0:
                steady.add_note(track.id or "", 50, i * 10)
            if i in (100, 200):
                assert flaky._ws is not None
                flaky._ws.transport.abort()  # the network drops, frames in flight are lost
            await asyncio.sleep(0)
        versions = await asyncio.gather(*edits)
        assert len(set(versions)) == 300  # every edit acknowledged exactly once
        await steady.synced()
        final = max(flaky.version, steady.version)
        await flaky.wait_version(final)
        await steady.wait_version(final)
        notes = [n for n in steady.project.notes.values() if n["pitch"] == 60]
        assert len(notes) == 300  # nothing lost, nothing duplicated
        assert canonical(flaky) == canonical(steady)


async def test_kill_9_loses_no_acknowledged_edit(server: ServerProcess, tmp_path: Path) -> None:
    """kill -9 during an edit storm: after restart every acked op is there, versions gap-free."""
    token = server.token(SESSION)
    acked: dict[str, int] = {}
    async with connect(
        server.url, session=SESSION, token=token, name="storm", reconnect=False
    ) as s:
        track = s.add_track("Storm")
        await track

        enough = asyncio.Event()

        def record(edit: Edit, future: asyncio.Future[int]) -> None:
            if not future.cancelled() and future.exception() is None:
                acked[edit.id or ""] = future.result()
                if len(acked) >= 300:
                    enough.set()

        async def storm() -> None:
            # at most 450 edits: the kill comes after 300 acks while the rest are in
            # flight, and the log stays below --snapshot-every (500), checked below
            for i in range(450):
                edit = s.add_note(track.id or "", i % 128, i)
                edit._future.add_done_callback(functools.partial(record, edit))
                if i % 20 == 19:
                    await asyncio.sleep(0)  # let acks in while the storm goes on
            await asyncio.Future()  # until cancelled

        task = asyncio.create_task(storm())
        await asyncio.wait_for(enough.wait(), 60)
        server.kill()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(acked) >= 300
    server.start()
    async with connect(server.url, session=SESSION, token=token, name="after") as after:
        missing = [nid for nid in acked if nid not in after.project.notes]
        assert missing == []
        assert after.version >= max(acked.values())
    server.stop()
    # the stored log, decided again from scratch: versions gap-free, every acked edit at
    # exactly the version its author was told
    from backline.protocol.sequencer import Sequencer
    from backline.server.storage.sqlite import SQLiteStore

    store = SQLiteStore(server.data_dir)
    try:
        loaded = await store.load(SESSION)
        assert loaded is not None and loaded.snapshot is None  # below --snapshot-every
        sequencer = Sequencer(catch_up=1_000_000)  # keep every batch to inspect
        versions = []
        first, *rest = loaded.entries
        assert decode_record(first.data)["k"] == "create"  # the session's first entry
        sequencer.apply_entry(decode_record(first.data))
        for entry in rest:
            versions.append(sequencer.apply_entry(decode_record(entry.data)).version)
        assert versions == list(range(1, len(versions) + 1))
        at_version = {
            op["id"]: batch.version
            for batch in sequencer.recent
            for op in batch.ops
            if op["op"] == "insert"
        }
        assert all(at_version[nid] == version for nid, version in acked.items())
    finally:
        await store.close()


async def test_restart_restores_session_exactly(server: ServerProcess) -> None:
    """After a graceful restart (SIGTERM, exit 0) the project and version are identical."""
    token = server.token(SESSION)
    async with connect(server.url, session=SESSION, token=token, name="a", reconnect=False) as a:
        track = a.add_track("Pad")
        for i in range(700):  # more than one snapshot interval
            a.add_note(track.id or "", 30 + i % 50, i * 60)
        await a.set_key("F# minor")
        before, version = canonical(a), a.version
    assert await server.astop() == 0
    await server.astart()
    async with connect(server.url, session=SESSION, token=token, name="b") as b:
        assert b.version == version
        assert canonical(b) == before


async def test_presence_and_chat(server: ServerProcess) -> None:
    """Presence updates reach others coalesced; chat is broadcast and kept for late joiners."""
    token = server.token(SESSION)
    async with (
        connect(server.url, session=SESSION, token=token, name="ann", color="#112233") as ann,
        connect(server.url, session=SESSION, token=token, name="bob") as bob,
    ):
        events = bob.events()
        for x in range(50):  # a burst: coalesced into a few frames
            ann.set_presence(cursor={"view": "grid", "x": x})
        frames = 0
        async for event in events:
            from backline.client import PresenceChanged

            if isinstance(event, PresenceChanged):
                frames += 1
                peer = bob.peers.get(ann.client_id)
                if peer and peer.get("cursor", {}).get("x") == 49:
                    break
        assert frames < 10
        assert bob.peers[ann.client_id]["name"] == "ann"
        assert bob.peers[ann.client_id]["color"] == "#112233"
        await ann.chat("hello band")
        async for event in events:
            from backline.client import ChatMessage

            if isinstance(event, ChatMessage):
                assert (event.name, event.text) == ("ann", "hello band")
                break
        async with connect(server.url, session=SESSION, token=token, name="cy") as cy:
            assert [c.text for c in cy.chat_history] == ["hello band"]
            assert {p["name"] for p in cy.peers.values()} == {"ann", "bob"}


async def test_bot_keeps_hihat_lane_filled(server: ServerProcess) -> None:
    """The bundled hi-hat bot answers a new drum pattern by filling a hi-hat lane."""
    from backline.client.bots.hihat import CLOSED_HIHAT, HiHatBot

    token = server.token(SESSION)
    bot_task = asyncio.create_task(HiHatBot().run(server.url, session=SESSION, token=token))
    try:
        async with connect(server.url, session=SESSION, token=token, name="drummer") as s:
            async with s.events() as joins:  # the bot must be in before the pattern

                def bot_here() -> bool:
                    return any(p.get("name") == "hi-hat bot" for p in s.peers.values())

                if not bot_here():
                    async for _ in joins:
                        if bot_here():
                            break
            drums = s.add_track("Drums", kind="drums")
            pattern = s.add_pattern(drums.id or "", sounds=[36], length=16)
            await pattern
            events = s.events()
            async for event in events:
                if isinstance(event, RemoteEdit) and not event.mine:
                    break
            lanes = s.project.patterns[pattern.id or ""]["lanes"]
            hat = next(lane for lane in lanes if lane["sound"] == CLOSED_HIHAT)
            assert [i for i, v in enumerate(hat["steps"]) if v] == list(range(0, 16, 2))
            # remove one hi-hat step: the bot puts it back
            index = lanes.index(hat)
            await s.set_step(pattern.id or "", index, 4, 0)
            async for event in events:
                if isinstance(event, RemoteEdit) and not event.mine:
                    break
            assert s.project.patterns[pattern.id or ""]["lanes"][index]["steps"][4] > 0
    finally:
        bot_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await bot_task


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backline.cli", *args],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip


async def test_cli_token_and_state(server: ServerProcess, tmp_path: Path) -> None:
    """`backline token` mints a working token; `backline state` prints the project as JSON,
    or writes it as MIDI (`--midi`), the SDK's `export_midi()` bytes."""
    minted = await asyncio.to_thread(
        _cli,
        "token",
        "--session",
        SESSION,
        "--role",
        "editor",
        "--create",
        "--secret",
        server.secret,
    )
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    async with connect(server.url, session=SESSION, token=token, name="a") as a:
        await a.add_track("From CLI token")
    state = await asyncio.to_thread(
        _cli, "state", server.url, "--session", SESSION, "--secret", server.secret
    )
    assert state.returncode == 0, state.stderr
    data = json.loads(state.stdout)
    assert [t["name"] for t in data["tracks"]] == ["From CLI token"]
    assert data["version"] == 1
    async with connect(server.url, session=SESSION, token=token, name="a") as a:
        drums = a.add_track("Beat", kind="drums").id
        riff = a.add_clip(drums, None, 2 * 3840, 3840).id
        await a.add_note(drums, 38, 960, 240, 90, clip=riff)
        midi_of_sdk = a.export_midi()
    out = tmp_path / "jam.mid"
    wrote = await asyncio.to_thread(
        _cli, "state", server.url, "--session", SESSION, "--secret", server.secret,
        "--midi", str(out),
    )  # fmt: skip
    assert wrote.returncode == 0, wrote.stderr
    assert out.read_bytes() == midi_of_sdk and "jam.mid" in wrote.stdout
    at, snare = 0, []
    for m in mido.MidiFile(out).tracks[2]:
        at += m.time
        if m.type == "note_on" and m.velocity:
            snare.append((at, m.note, m.velocity, m.channel))
    assert snare == [(2 * 3840 + 960, 38, 90, 9)]  # the clip's note at bar 3, beat 2
    # the chord track: markers always, a track of its notes with --chord-notes
    async with connect(server.url, session=SESSION, token=token, name="a") as a:
        await a.add_chord("Dm7", 0)
        with_chords = a.export_midi(chord_notes=True)
    wrote = await asyncio.to_thread(
        _cli, "state", server.url, "--session", SESSION, "--secret", server.secret,
        "--midi", str(out), "--chord-notes",
    )  # fmt: skip
    assert wrote.returncode == 0, wrote.stderr
    assert out.read_bytes() == with_chords
    file = mido.MidiFile(out)
    assert [m.text for m in file.tracks[0] if m.type == "marker"] == ["Dm7"]
    assert file.tracks[-1].name == "Chords"
    assert sorted(m.note for m in file.tracks[-1] if m.type == "note_on" and m.velocity) == [
        50, 53, 57, 60,
    ]  # fmt: skip
    refused = await asyncio.to_thread(
        _cli, "state", server.url, "--session", SESSION, "--token", "v1.bad.token"
    )
    assert refused.returncode != 0
    assert "unauthorized" in refused.stderr


async def test_healthz(server: ServerProcess) -> None:
    """GET /healthz answers JSON with the store's health and live counts."""
    import urllib.request

    def fetch() -> dict[str, Any]:
        with urllib.request.urlopen(server.http_url + "/healthz", timeout=10) as response:
            assert response.status == 200
            return json.loads(response.read())  # type: ignore[no-any-return]

    body = await asyncio.to_thread(fetch)
    assert body["status"] == "ok" and body["store"] is True


async def test_sigterm_closes_clients_with_shutdown_code(server: ServerProcess) -> None:
    """SIGTERM drains sessions, tells clients with close code 4000 and exits 0."""
    token = server.token(SESSION)
    async with connect(server.url, session=SESSION, token=token, name="a", reconnect=False) as a:
        events = a.events()
        await a.set_tempo(101)
        started = time.monotonic()
        assert await server.astop() == 0
        async for event in events:
            from backline.client import ConnectionChanged

            if isinstance(event, ConnectionChanged) and event.state == "closed":
                assert "4000" in event.reason
                break
        assert time.monotonic() - started < 15
    _ = PROJECT_ID
