"""The recording writer (thread, WAV files, sidecar) and the recordings' disk layout."""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from backline.client.synth import drum
from backline.media import chain
from backline.protocol.errors import BadField, OutOfRange
from backline.protocol.messages import Record, check_presence, parse_client
from backline.server.audio.recording import Recording, WavWriter, new_recording_id, wav_header
from backline.server.http.recordings import find_file, list_recordings, recording_dir_name

N = 480


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 48_000)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


def test_wav_header_is_standard_pcm(tmp_path: Path) -> None:
    assert len(wav_header(0)) == 44
    writer = WavWriter(tmp_path / "a.wav")
    writer.write(np.arange(100, dtype=np.int16))
    writer.flush()  # readable while still open
    assert read_wav(tmp_path / "a.wav").tolist() == list(range(100))
    writer.write_silence(50_000)
    writer.close()
    data = read_wav(tmp_path / "a.wav")
    assert len(data) == 50_100 and not data[100:].any()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


async def test_a_recording_writes_aligned_stems_a_mix_and_a_sidecar(tmp_path: Path) -> None:
    clock = FakeClock()
    names = {"c1": "Ann Lee", "c2": "../bob"}
    info = {"session": "jam", "tempo": 96.0, "meter": [3, 4], "start_beat": 8.0}
    rec = Recording(tmp_path / "r", new_recording_id(), 1_000_000, info, names, clock)
    click = np.zeros(N, dtype=np.float32)
    click[10] = 0.5
    for k in range(100):
        frame = click if k == 60 else np.zeros(N, dtype=np.float32)
        arrival = 1_000_000 + (k + 1) * 10_000
        rec.frame("c1", frame, 5_000 + k * N, arrival + 500)
        rec.frame("c2", frame, 900 + k * N, arrival + 500 + (k * 37) % 9_000)
        clock.now = arrival
    sidecar = await rec.stop(2_100_000)
    assert rec.error is None
    files = {p["client"]: p["file"] for p in sidecar["participants"]}
    assert files == {"c1": "01-Ann-Lee.wav", "c2": "02-bob.wav"}
    assert (sidecar["tempo"], sidecar["meter"], sidecar["start_beat"]) == (96.0, [3, 4], 8.0)
    assert sidecar["start_time_us"] == 1_000_000 and sidecar["end_time_us"] == 2_100_000
    on_disk = json.loads((tmp_path / "r" / "recording.json").read_text())
    assert on_disk == sidecar
    one, two = read_wav(tmp_path / "r" / files["c1"]), read_wav(tmp_path / "r" / files["c2"])
    mix = read_wav(tmp_path / "r" / "mix.wav")
    assert len(one) == len(two) == len(mix) == sidecar["samples"] == 1_100 * 48
    onset = 60 * N + 10 + 24  # 0.5 ms of transit on the fastest path
    assert int(np.argmax(one)) == int(np.argmax(two)) == int(np.argmax(mix)) == onset


def full_volume_drums(seconds: float) -> np.ndarray:
    """A drummer at full scale, 120 BPM: hats on the eighths, kick on 1 and 3, snare on 2 and 4."""
    out = np.zeros(round(seconds * 48_000), dtype=np.float32)
    for k, at in enumerate(range(0, len(out), 12_000)):
        names = ["closed_hat"] + ([] if k % 2 else ["snare" if k % 4 else "kick"])
        for name in names:
            hit = drum(name)[: len(out) - at]
            out[at : at + len(hit)] += hit / np.abs(hit).max()
    return np.clip(out, -1.0, 1.0)  # what a full-volume sender can send


async def test_two_full_volume_drum_tracks_record_a_mix_that_never_clips(tmp_path: Path) -> None:
    """The room's recorded mix goes through the master limiter: the sum of two drummers
    at full scale (twice full scale where they hit together) has no sample at full scale,
    no peak between samples over -1 dBTP, and stays aligned with the stems."""
    clock = FakeClock()
    rec = Recording(tmp_path / "r", new_recording_id(), 0, {}, {}, clock)
    kit = full_volume_drums(2.0)
    for k in range(len(kit) // N):
        arrival = (k + 1) * 10_000
        rec.frame("c1", kit[k * N : (k + 1) * N], k * N, arrival + 500)
        rec.frame("c2", kit[k * N : (k + 1) * N], 7 + k * N, arrival + 500 + (k * 37) % 3_000)
        clock.now = arrival
    sidecar = await rec.stop(2_100_000)
    assert rec.error is None
    one, two = (read_wav(tmp_path / "r" / p["file"]) for p in sidecar["participants"])
    mix = read_wav(tmp_path / "r" / "mix.wav")
    assert len(mix) == len(one) == len(two) == sidecar["samples"]
    assert one.max() == 32767 and (one.astype(np.int32) + two).max() > 60_000  # hot stems
    assert np.abs(mix.astype(np.int32)).max() < 32767  # never full scale (nor -32768)
    assert chain.true_peak_db((mix[None, :] / 32768).astype(np.float32)) <= -1.0 + 0.5
    # the limiter's delay is taken out: the mix's onsets are the stems' onsets
    first = int(np.flatnonzero(np.abs(one) > 3_000)[0])
    assert int(np.flatnonzero(np.abs(mix) > 3_000)[0]) == first == 24  # 0.5 ms transit
    assert int(np.argmax(np.abs(mix[: first + N]))) == int(np.argmax(np.abs(one[: first + N])))


async def test_stop_without_frames_leaves_a_valid_empty_mix(tmp_path: Path) -> None:
    rec = Recording(tmp_path / "r", new_recording_id(), 0, {}, {}, FakeClock())
    sidecar = await rec.stop(48_000 // 48 * 10)  # 10 ms
    assert sidecar["participants"] == [] and sidecar["stopped"] == "stopped"
    assert len(read_wav(tmp_path / "r" / "mix.wav")) == 480
    again = await asyncio.wait_for(rec.stop(0), 5)  # idempotent
    assert again == sidecar


def test_layout_refuses_anything_that_is_not_a_recording_file(tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    rid = "20260101-120000-abcd"
    (root / "jam" / rid).mkdir(parents=True)
    (root / "jam" / rid / "mix.wav").write_bytes(b"RIFF")
    (root / "jam" / rid / "recording.json").write_text(json.dumps({"id": rid}))
    (tmp_path / "secret").write_text("s")
    assert find_file(root, "jam", rid, "mix.wav") == (root / "jam" / rid / "mix.wav").resolve()
    for recording, name in [
        (rid, "../../../secret"),
        ("..", "secret"),
        (rid, "mix.wav/.."),
        (rid, ".mix.wav"),
        ("20260101-120000-abcd/..", "mix.wav"),
        (rid, "missing.wav"),
    ]:
        assert find_file(root, "jam", recording, name) is None
    assert find_file(root, "..", rid, "mix.wav") is None
    assert recording_dir_name("..") == "%2E%2E" and recording_dir_name("a.b") == "a.b"
    listed = list_recordings(root, "jam")
    assert [r["id"] for r in listed] == [rid]
    assert {f["name"] for f in listed[0]["files"]} == {"mix.wav", "recording.json"}
    assert list_recordings(root, "other") == []


def test_record_message_is_checked_at_the_boundary() -> None:
    assert parse_client({"type": "record", "action": "start"}) == Record("start")
    with pytest.raises(OutOfRange):
        parse_client({"type": "record", "action": "pause"})
    with pytest.raises(BadField):
        parse_client({"type": "record", "action": 1})
    with pytest.raises(BadField):
        parse_client({"type": "record"})
    with pytest.raises(BadField):
        parse_client({"type": "record", "action": "stop", "id": "x"})


def test_presence_binds_to_a_track_id_or_nothing() -> None:
    assert check_presence({"track": "c1:1"}) == {"track": "c1:1"}
    assert check_presence({"track": None}) == {"track": None}
    with pytest.raises(BadField):
        check_presence({"track": 5})


async def test_grid_changes_become_markers(tmp_path: Path) -> None:
    rec = Recording(tmp_path / "r", new_recording_id(), 1_000_000, {}, {}, FakeClock())
    stopped = {"playing": False, "beat": 0.0, "time": 900_000}
    rec.note_grid(120.0, [4, 4], stopped, 1_000_000, 0.0)  # the start: no marker
    rec.note_grid(120.0, [4, 4], stopped, 1_100_000, 0.0)  # unchanged: none
    rec.note_grid(120.0, [4, 4], {"playing": True, "beat": 4.0, "time": 1_500_000}, 1_500_000, 4.0)
    rec.note_grid(90, [3, 4], {"playing": True, "beat": 6.0, "time": 2_000_000}, 2_000_000, 6.0)
    sidecar = await rec.stop(2_500_000)
    assert sidecar["markers"] == [
        {"time_us": 1_500_000, "sample": 24_000, "tempo": 120.0, "meter": [4, 4],
         "playing": True, "beat": 4.0},
        {"time_us": 2_000_000, "sample": 48_000, "tempo": 90.0, "meter": [3, 4],
         "playing": True, "beat": 6.0},
    ]  # fmt: skip
