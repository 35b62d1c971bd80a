"""History over real sockets: every version kept and rebuildable, blame, labels, restore as
one undoable version for everyone, forks with credit, project files in, and bad requests.

Real server processes (SQLite; milestones every 5 versions so that rebuilding
crosses them), the real SDK, and kill -9 during an edit storm.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backline.client import connect
from backline.protocol.errors import (
    BadImport,
    Forbidden,
    NotFound,
    NothingToUndo,
    SessionExists,
    TooLarge,
)
from backline.protocol.messages import Role
from backline.testing import ServerProcess

SESSION = "song"
PROJECT = "project"
EVERY = ["--snapshot-every", "5"]


@pytest.fixture
def server(tmp_path: Path) -> Any:
    process = ServerProcess(tmp_path / "srv", extra_args=EVERY).start()
    try:
        yield process
    finally:
        process.stop()


def join(server: ServerProcess, name: str, role: Role = Role.EDITOR, session: str = SESSION) -> Any:
    return connect(server.url, session=session, token=server.token(session, role), name=name)


async def test_three_authors_versions_blame_and_at(server: ServerProcess) -> None:
    """Every version is listed with its author; `at(v)` is the project each client saw at v;
    blame names who made and who last changed each entity."""
    seen: dict[int, dict[str, Any]] = {}
    ann_, bob_, cy_ = join(server, "Ann", Role.OWNER), join(server, "Bob"), join(server, "Cy")
    async with ann_ as ann, bob_ as bob, cy_ as cy:
        drums = ann.add_track("Drums", kind="drums")
        await drums
        assert drums.id is not None
        seen[await drums] = ann.project.to_data()
        await bob.wait_version(await drums)
        bass = bob.add_track("Bass")
        seen[await bass] = bob.project.to_data()
        assert bass.id is not None
        await cy.wait_version(await bass)
        note = cy.add_note(bass.id, 40, 0)
        seen[await note] = cy.project.to_data()
        assert note.id is not None
        made = await note
        await asyncio.gather(*(s.wait_version(made) for s in (ann, bob)))
        for n in range(8):  # across milestones (every 5 versions)
            who = (ann, bob, cy)[n % 3]
            edit = who.set(bass.id, "volume", 0.1 * (n + 1))
            version = await edit
            await asyncio.gather(*(s.wait_version(version) for s in (ann, bob, cy)))
            seen[version] = ann.project.to_data()
        rename = bob.set(drums.id, "name", "Kit")
        seen[await rename] = bob.project.to_data()
        await ann.wait_version(await rename)

        rows = await ann.history.versions()
        assert [r.version for r in rows] == sorted(seen)
        authors = {r.version: r.name for r in rows}
        assert authors[1] == "Ann" and authors[2] == "Bob" and authors[3] == "Cy"
        assert all(r.at > 0 for r in rows) and [r.at for r in rows] == sorted(r.at for r in rows)
        for version, expected in seen.items():
            past = await cy.history.at(version)
            assert past.version == version
            assert past.project.to_data()["tracks"] == expected["tracks"]
            assert past.project.to_data()["notes"] == expected["notes"]
        by_time = await bob.history.at(rows[2].time or rows[2].at / 1000)
        assert by_time.version >= 3

        blame = await bob.history.blame()
        assert blame[drums.id].made_by == ann.client_id
        assert blame[drums.id].changed_by == bob.client_id
        assert blame[bass.id].made_by == bob.client_id
        assert blame[bass.id].changed_by in {ann.client_id, bob.client_id, cy.client_id}
        assert blame[note.id].made_by == blame[note.id].changed_by == cy.client_id
        credits = {c["name"]: c["edits"] for c in ann.history.credits}
        assert set(credits) == {"Ann", "Bob", "Cy"} and sum(credits.values()) == len(seen)

        diff = await ann.history.diff(1, 3)
        kinds = {(c["kind"], c["change"]) for c in diff["changes"]}
        assert kinds == {("track", "added"), ("note", "added")}
        assert set(diff["authors"]) == {bob.client_id, cy.client_id}
        by_id = {c["id"]: c for c in diff["changes"]}
        assert by_id[note.id]["by"] == cy.client_id

        with pytest.raises(NotFound):
            await ann.history.at(10_000)


async def test_restore_is_one_version_for_everyone_and_one_undo(server: ServerProcess) -> None:
    async with join(server, "Ann", Role.OWNER) as ann, join(server, "Bob") as bob:
        track = ann.add_track("Keys")
        early = await track
        assert track.id is not None
        old = ann.project.to_data()
        await bob.wait_version(early)
        for pitch in range(60, 67):
            await bob.add_note(track.id, pitch, 0)
        await ann.set_tempo(90.0)
        latest = await bob.set(track.id, "name", "Rhodes")
        await ann.wait_version(latest)
        label = await ann.history.label("before the restore")
        assert label == latest
        restored = await ann.history.restore(early)
        assert restored == latest + 1  # one version, for everyone
        await bob.wait_version(restored)
        assert bob.version == restored
        for s in (ann, bob):
            data = s.project.to_data()
            assert data["tracks"] == old["tracks"] and data["notes"] == []
            assert data["project"]["tempo"] == old["project"]["tempo"]
        rows = await bob.history.versions()
        assert rows[-1].source == f"v{early}" and rows[-1].version == restored
        assert bob.history.labels[-1]["name"] == "before the restore"
        assert bob.history.labels[-1]["version"] == latest
        undone = await ann.undo()  # one step back to before the restore
        await bob.wait_version(undone)
        assert len(bob.project.notes) == 7 and bob.project.project["tempo"] == 90.0
        assert bob.project.tracks[track.id]["name"] == "Rhodes"
        with pytest.raises(NotFound):
            await ann.history.restore(10_000)


async def test_fork_keeps_its_parent_and_credits(server: ServerProcess) -> None:
    async with join(server, "Ann", Role.OWNER) as ann, join(server, "Bob") as bob:
        track = ann.add_track("Lead")
        await track
        assert track.id is not None
        await bob.wait_version(await track)
        at = await bob.add_note(track.id, 72, 0)
        await bob.add_note(track.id, 74, 960)  # after the fork's version
        fork = await bob.fork("song-b", version=at)
        assert fork["session"] == "song-b" and fork["version"] == at and fork["token"]
        with pytest.raises(SessionExists):
            await ann.fork("song-b")
        with pytest.raises(SessionExists):
            await ann.fork(SESSION)
        await ann.history.versions()
        assert ann.history.forks[-1]["session"] == "song-b"
        assert ann.history.forks[-1]["by"] == bob.client_id
        async with connect(server.url, session="song-b", token=fork["token"], name="Bob") as b2:
            await b2.synced()
            assert b2.role is Role.OWNER
            assert [n["pitch"] for n in b2.project.notes.values()] == [72]
            assert b2.project.tracks[track.id]["name"] == "Lead"
            await b2.history.versions()
            parent = b2.history.parent
            assert parent is not None
            assert (parent["session"], parent["version"], parent["name"]) == (SESSION, at, "Bob")
            assert {c["name"] for c in parent["credits"]} == {"Ann", "Bob"}
            with pytest.raises(NothingToUndo):
                await b2.undo()  # the copy is where the fork starts, not an edit to undo


async def test_a_project_file_comes_back_identical(server: ServerProcess, tmp_path: Path) -> None:
    async with join(server, "Ann", Role.OWNER) as ann:
        kit = ann.add_track("Kit", kind="drums")
        await kit
        assert kit.id is not None
        pattern = ann.add_pattern(kit.id, sounds=[36, 38])
        await pattern
        assert pattern.id is not None
        await ann.set_step(pattern.id, 0, 0, 110)
        await ann.add_clip(kit.id, pattern.id, 0)
        await ann.add_section("Verse", start=0, length=7680)
        await ann.set_tempo(97.5)
    exported = subprocess.run(
        [
            sys.executable, "-m", "backline.cli", "state", server.url, "--session", SESSION,
            "--secret", server.secret or "",
        ],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    path = tmp_path / "song.json"
    path.write_text(exported)
    expected = json.loads(exported)
    async with join(server, "Ann", Role.OWNER, session="other") as other:
        await other.add_track("something to replace")
        version = await other.import_project(path)
        data = other.project.to_data()
        for key in ("tracks", "patterns", "clips", "sections", "notes", "chords"):
            assert data[key] == expected[key], key
        assert {k: v for k, v in data["project"].items() if k != "transport"} == {
            k: v for k, v in expected["project"].items() if k != "transport"
        }
        rows = await other.history.versions()
        assert rows[-1].version == version and rows[-1].source == "json"
        with pytest.raises(BadImport):
            await other.import_project({"project": {"tempo": "fast"}})
        with pytest.raises(BadImport):
            await other.import_project({"tracks": [{"name": "no id"}], "project": {}})
        assert other.version == version  # nothing imported half-way


async def test_viewers_do_not_browse_or_write_history(server: ServerProcess) -> None:
    async with join(server, "Ann", Role.OWNER) as ann, join(server, "Vi", Role.VIEWER) as vi:
        await ann.add_track("x")
        with pytest.raises(Forbidden):
            await vi.history.versions()
        with pytest.raises(Forbidden):
            await vi.history.label("mine")
        with pytest.raises(Forbidden):
            await vi.fork("vi-copy")


async def test_kill_9_in_an_edit_storm_loses_no_version(tmp_path: Path) -> None:
    """Every acknowledged version is rebuildable after kill -9: at v, exactly the notes whose
    edits were acknowledged with versions up to v (one author: the log's order is hers)."""
    server = ServerProcess(tmp_path / "srv", extra_args=EVERY).start()
    acked: dict[str, int] = {}  # note id -> the version its edit got
    try:
        async with join(server, "Ann", Role.OWNER) as ann:
            track = ann.add_track("Storm")
            first = await track
            assert track.id is not None
            edits = [ann.add_note(track.id, 30 + (n % 90), n * 120) for n in range(120)]
            for edit in edits[:60]:
                assert edit.id is not None
                acked[edit.id] = await edit
            server.kill()  # while the other 60 are in flight
        server.start()
        async with join(server, "Ann", Role.OWNER) as again:
            await again.synced()
            latest = again.version
            assert latest >= max(acked.values())
            for version in sorted({first, *acked.values()}):
                past = await again.history.at(version)
                notes = set(past.project.notes)
                assert {n for n, v in acked.items() if v <= version} <= notes, version
                assert len(notes) == version - first, version
            rows = await again.history.versions(count=1000)
            assert [r.version for r in rows] == list(range(1, latest + 1))
    finally:
        server.stop()


CORPUS = Path("/usr/share/games/openttd/baseset/openmsx")


async def test_midi_import_is_one_undoable_version(server: ServerProcess) -> None:
    """A project's own MIDI export comes back with the same notes, tempo and meter; a real
    file nobody here wrote imports every note mido reads; a corrupt one changes nothing."""
    from backline.media.midi_import import read_midi
    from backline.protocol.smf import project_midi

    async with join(server, "Ann", Role.OWNER, session="source") as src:
        bass = src.add_track("Bass", instrument=33)
        await bass
        assert bass.id is not None
        for n, pitch in enumerate((40, 43, 45, 47)):
            await src.add_note(bass.id, pitch, n * 480, 480, 90 + n)
        await src.set_tempo(93.0)
        await src.set(PROJECT, "meter", [7, 8])
        exported = project_midi(src.project)
        expected = sorted(
            (n["pitch"], n["start"], n["dur"], n["vel"]) for n in src.project.notes.values()
        )
    async with join(server, "Ann", Role.OWNER) as ann:
        before = ann.version
        version = await ann.import_midi(exported, name="bass.mid")
        assert version == before + 1
        await ann.wait_version(version)
        got = sorted(
            (n["pitch"], n["start"], n["dur"], n["vel"]) for n in ann.project.notes.values()
        )
        assert got == expected
        assert ann.project.project["tempo"] == 93.0 and ann.project.project["meter"] == [7, 8]
        [track] = ann.project.tracks.values()
        assert (track["name"], track["instrument"]) == ("Bass", 33)
        rows = await ann.history.versions()
        assert rows[-1].source == "midi"
        undone = await ann.undo()  # the whole import, one step
        await ann.wait_version(undone)
        assert not ann.project.notes and not ann.project.tracks

        real = sorted(CORPUS.glob("*.mid"))
        assert real, f"no MIDI files in {CORPUS}: apt-get install -y openttd-openmsx"
        small = min(real, key=lambda p: p.stat().st_size)
        version = await ann.import_midi(small)
        await ann.wait_version(version)
        assert len(ann.project.notes) == read_midi(small.read_bytes()).note_count > 0

        at = ann.version
        with pytest.raises(BadImport):
            await ann.import_midi(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff")
        with pytest.raises(BadImport):
            await ann.import_midi(bytes(range(256)) * 8)
        with pytest.raises(TooLarge):  # refused before sending: the server would not read it
            ann.import_midi(b"MThd" + bytes(600_000))
        await ann.synced()
        assert ann.version == at  # nothing imported half-way


async def test_command_line_history_fork_import(server: ServerProcess, tmp_path: Path) -> None:
    async with join(server, "Ann", Role.OWNER) as ann:
        track = ann.add_track("Pad")
        first = await track
        assert track.id is not None
        await ann.add_note(track.id, 60, 0)
        await ann.history.label("sketch")
        await ann.set(track.id, "name", "Strings")

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "backline.cli", *args, "--secret", server.secret or ""],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    at_first = json.loads(cli("state", server.url, "--session", SESSION, "--at", str(first)))
    assert at_first["version"] == first and at_first["notes"] == []
    assert at_first["tracks"][0]["name"] == "Pad"
    blamed = json.loads(cli("state", server.url, "--session", SESSION, "--blame"))
    assert blamed["blame"][track.id]["made_by_name"] == "Ann"
    assert blamed["blame"][track.id]["changed_at"] is not None
    listing = cli("history", server.url, "--session", SESSION)
    assert "[sketch]" in listing and "Ann" in listing and listing.count("\nv") >= 2
    link = cli("fork", server.url, "--session", SESSION, "copy", "--at", str(first)).strip()
    assert "session=copy" in link
    forked = json.loads(cli("state", server.url, "--session", "copy"))
    assert forked["tracks"][0]["name"] == "Pad" and forked["notes"] == []
    path = tmp_path / "song.json"
    path.write_text(cli("state", server.url, "--session", SESSION))
    out = cli("import", server.url, "--session", "copy", str(path))
    assert "imported song.json" in out
    again = json.loads(cli("state", server.url, "--session", "copy"))
    assert again["tracks"] == json.loads(path.read_text())["tracks"]
    refused = subprocess.run(
        [sys.executable, "-m", "backline.cli", "state", server.url, "--session", SESSION,
         "--at", "99999", "--secret", server.secret or ""],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode != 0 and "no version 99999" in refused.stderr


async def test_http_history_for_owners_and_editors(server: ServerProcess) -> None:
    import urllib.error
    import urllib.request

    async with join(server, "Ann", Role.OWNER) as ann:
        track = ann.add_track("Keys")
        first = await track
        await ann.set_tempo(100.0)

    def get(path: str, role: Role = Role.EDITOR, session: str = SESSION) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"{server.http_url}{path}",
            headers={"Authorization": f"Bearer {server.token(session, role)}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    status, body = get(f"/history/{SESSION}")
    assert status == 200 and [v["version"] for v in body["versions"]] == [1, 2]
    assert body["versions"][0]["name"] == "Ann" and body["versions"][0]["at"].endswith("+00:00")
    status, body = get(f"/history/{SESSION}/at?version={first}")
    assert status == 200 and body["version"] == first and body["project"]["tempo"] == 120.0
    status, body = get(f"/history/{SESSION}/at?time=2000-01-01T00:00:00Z")
    assert status == 200 and body["version"] == 0 and body["tracks"] == []
    status, body = get(f"/history/{SESSION}/blame")
    assert status == 200 and body["blame"][track.id]["made_by_name"] == "Ann"
    assert get(f"/history/{SESSION}", Role.VIEWER)[0] == 403
    assert get(f"/history/{SESSION}/at?version=77")[1]["code"] == "not_found"
    assert get(f"/history/{SESSION}/at?version=x")[0] == 400
    assert get(f"/history/{SESSION}/at")[0] == 400
    assert get(f"/history/{SESSION}?bogus=1")[0] == 400
    assert get("/history/nosuch/at?version=1", session="nosuch")[0] == 404
    assert get("/history/nosuch/at?version=1")[0] == 403  # a token of another session


async def test_command_line_midi_import_says_what_it_could_not_keep(
    server: ServerProcess, tmp_path: Path
) -> None:
    """A tempo change after bar 1 has no place in the project (one tempo): the import
    keeps the first tempo and says so on stderr."""
    import mido

    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=500_000, time=0))
    track.append(mido.Message("note_on", note=60, velocity=90, time=0))
    track.append(mido.Message("note_off", note=60, time=480))
    track.append(mido.MetaMessage("set_tempo", tempo=400_000, time=480))
    track.append(mido.Message("note_on", note=62, velocity=90, time=0))
    track.append(mido.Message("note_off", note=62, time=480))
    midi.tracks.append(track)
    path = tmp_path / "two-tempos.mid"
    midi.save(path)
    async with join(server, "Ann", Role.OWNER, session="mid"):
        pass  # the session exists now (the command's token may not create one)
    done = subprocess.run(
        [sys.executable, "-m", "backline.cli", "import", server.url, "--session", "mid",
         str(path), "--secret", server.secret or ""],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "+1 tracks, +2 notes" in done.stdout
    assert "note:" in done.stderr and "tempo" in done.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "backline.cli", "state", server.url, "--session", "mid",
         "--secret", server.secret or ""],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(shown.stdout)["project"]["tempo"] == 120.0
