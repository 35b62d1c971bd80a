"""The musical helpers (`backline.client.editing`): the ops they build, valid on a document."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from backline.client.editing import Editing
from backline.client.mirror import Edit
from backline.protocol.model import PPQ, PROJECT_ID, Document
from backline.protocol.ops import Op, apply_all


class Recorder(Editing):
    """Applies each edit to a document and remembers its ops."""

    def __init__(self, *, apply: bool = True) -> None:
        self.apply = apply
        self.doc = Document()
        self.ops: list[list[Op]] = []
        self._ids = itertools.count(1)

    def edit(self, ops: list[Op], entity_id: str | None = None) -> Edit:
        if self.apply:
            apply_all(self.doc, ops)
        self.ops.append(ops)
        return Edit(len(self.ops), asyncio.get_running_loop().create_future(), entity_id)

    def new_id(self) -> str:
        return f"me:{next(self._ids)}"


def test_the_base_class_needs_edit_and_new_id() -> None:
    with pytest.raises(TypeError):
        Editing()  # type: ignore[abstract]


async def test_inserts_carry_fresh_ids_and_build_a_playable_project() -> None:
    r = Recorder()
    drums = r.add_track("Drums", kind="drums", volume=0.5)
    bass = r.add_track("Bass", index=0)
    assert (drums.id, bass.id) == ("me:1", "me:2")
    assert (
        r.doc.track_order == [bass.id, drums.id] and r.doc.tracks[drums.id or ""]["volume"] == 0.5
    )
    beat = r.add_pattern(drums.id or "", sounds=[36, 38], length=8)
    assert [lane["steps"] for lane in r.doc.patterns[beat.id or ""]["lanes"]] == [[0] * 8] * 2
    r.set_step(beat.id or "", lane=1, step=4, velocity=90)
    assert r.doc.patterns[beat.id or ""]["lanes"][1]["steps"][4] == 90
    note = r.add_note(bass.id or "", pitch=36, start=0)
    assert r.doc.notes[note.id or ""]["dur"] == PPQ // 4
    clip = r.add_clip(drums.id or "", beat.id or "", start=4 * PPQ)
    assert "length" not in r.ops[-1][0]["value"]
    r.add_clip(drums.id or "", beat.id or "", start=0, length=PPQ)
    r.move_track(drums.id or "", 0)
    assert r.doc.track_order[0] == drums.id
    r.remove(clip.id or "")
    assert clip.id not in r.doc.clips


async def test_project_helpers_set_the_project_fields() -> None:
    r = Recorder()
    r.set_tempo(96)
    r.set_meter(3, 4)
    r.set_swing(0.25)
    r.set_key("C minor")
    r.set_loop(0, 4 * PPQ)
    project = r.doc.project
    assert project["tempo"] == 96.0 and project["meter"] == [3, 4] and project["swing"] == 0.25
    assert project["key"] == "C minor"
    assert project["loop"] == {"start": 0, "end": 4 * PPQ, "on": True}
    assert r.set(PROJECT_ID, "tempo", 120).seq == 6 and project["tempo"] == 120


async def test_transport_helpers_send_intents_the_server_resolves() -> None:
    r = Recorder(apply=False)  # a bare play/stop/seek gets its times from the server
    r.play()
    r.seek(8)
    r.stop()
    assert r.ops == [[{"op": "play"}], [{"op": "seek", "beat": 8.0}], [{"op": "stop"}]]


class NoteRecorder(Recorder):
    """A Recorder whose note commands read the selected notes from its document."""

    @property
    def project(self) -> Document:
        return self.doc


async def test_note_commands_send_one_edit_each_built_by_the_protocol() -> None:
    from backline.protocol import editing as note_editing
    from backline.protocol.errors import NotFound, NothingSelected, OutOfRange

    r = NoteRecorder()
    keys = r.add_track("Keys").id or ""
    clip = r.add_clip(keys, None, start=4 * PPQ, length=4 * PPQ).id or ""
    a = r.add_note(keys, 60, 10).id or ""
    b = r.add_note(keys, 64, 250, clip=clip).id or ""  # sounds at 4 * PPQ + 250
    sent = len(r.ops)
    r.quantize([a, b], grid=PPQ // 4)
    assert len(r.ops) == sent + 1  # one edit
    assert (r.doc.notes[a]["start"], r.doc.notes[b]["start"]) == (0, 240)
    assert r.quantize([a, b]) is None  # nothing moves: nothing sent
    expected = note_editing.transpose([r.doc.notes[a], r.doc.notes[b]], 12, {clip: 4 * PPQ})
    r.transpose([a, b], 12)
    assert r.ops[-1] == expected
    assert [r.doc.notes[a]["pitch"], r.doc.notes[b]["pitch"]] == [72, 76]
    with pytest.raises(OutOfRange):
        r.transpose([a], 60)
    assert r.doc.notes[a]["pitch"] == 72
    r.move_notes([a], ticks=PPQ, semitones=-1)
    r.resize_notes([a], PPQ)
    r.set_velocity([a, b], 90)
    assert (r.doc.notes[a]["start"], r.doc.notes[a]["pitch"], r.doc.notes[a]["dur"]) == (
        PPQ,
        71,
        PPQ + PPQ // 4,
    )
    assert {n["vel"] for n in r.doc.notes.values()} == {90}
    before = set(r.doc.notes)
    r.duplicate_notes([a, b])
    copies = [r.doc.notes[i] for i in set(r.doc.notes) - before]
    assert len(copies) == 2 and len(r.ops[-1]) == 2
    r.paste_notes([r.doc.notes[a]], 8 * PPQ, keys)
    assert any(n["start"] == 8 * PPQ and n["clip"] is None for n in r.doc.notes.values())
    r.delete_notes(list(r.doc.notes))
    assert r.doc.notes == {}
    with pytest.raises(NothingSelected):
        r.delete_notes([])
    with pytest.raises(NotFound):
        r.transpose(["nope"], 1)
