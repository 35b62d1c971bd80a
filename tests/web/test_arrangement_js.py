"""web/arrangement.js plays exactly what protocol/arrangement.py plays.

Random projects built through the op engine (free notes, notes clips with
notes past their end, pattern clips, unplaced patterns, sections, swing, odd
meters), random windows: the same sounds in the same order, and the same song
end, from both.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

from playwright.sync_api import Page

from backline.protocol.arrangement import song_end, sounds_between
from backline.protocol.errors import BacklineError
from backline.protocol.model import PPQ, Document
from backline.protocol.ops import apply

BAR = 4 * PPQ

JS = """async ({ base, projects, windows }) => {
  const { Arrangement } = await import(`${base}/arrangement.js`);
  return projects.map((data) => {
    const arrangement = new Arrangement(data);
    return {
      end: arrangement.songEnd(),
      windows: windows.map(([lo, hi]) => arrangement.soundsBetween(lo, hi)
        .map((s) => [s.beat, s.beats, s.track, s.pitch, s.velocity])),
    };
  });
}"""


def random_document(rng: random.Random) -> Document:
    doc = Document()

    def attempt(op: dict[str, Any]) -> None:
        with contextlib.suppress(BacklineError):  # an overlap or a bad pick: skip it
            apply(doc, op)

    tracks = [f"t{i}" for i in range(rng.randint(1, 3))]
    for t in tracks:
        attempt({"op": "insert", "kind": "track", "id": t,
                 "value": {"kind": rng.choice(["drums", "instrument"])}})  # fmt: skip
    for i in range(rng.randint(0, 4)):
        length = rng.choice([3, 4, 8, 16])
        lanes = [{"sound": rng.randint(35, 50), "steps": [rng.choice([0, 0, 64, 127]) for _ in range(length)]}
                 for _ in range(rng.randint(0, 3))]  # fmt: skip
        attempt({"op": "insert", "kind": "pattern", "id": f"p{i}", "value": {
            "track": rng.choice(tracks), "length": length,
            "steps_per_beat": rng.choice([1, 2, 3, 4, 6]), "lanes": lanes}})  # fmt: skip
    for i in range(rng.randint(0, 6)):
        value: dict[str, Any] = {
            "track": rng.choice(tracks),
            "start": rng.randrange(0, 8 * BAR, 240),
        }
        if doc.patterns and rng.random() < 0.5:
            pattern = rng.choice(sorted(doc.patterns))
            value = {**value, "pattern": pattern, "track": doc.patterns[pattern]["track"]}
            if rng.random() < 0.5:
                value["length"] = rng.randrange(120, 3 * BAR, 120)
        else:
            value["length"] = rng.randrange(240, 2 * BAR, 120)
        attempt({"op": "insert", "kind": "clip", "id": f"c{i}", "value": value})
    notes_clips = [c for c in doc.clips.values() if c["pattern"] is None]
    for i in range(rng.randint(0, 25)):
        value = {"track": rng.choice(tracks), "pitch": rng.randint(36, 80),
                 "start": rng.randrange(0, 4 * BAR, 60), "dur": rng.randrange(30, 3 * PPQ, 30),
                 "vel": rng.randint(1, 127)}  # fmt: skip
        if notes_clips and rng.random() < 0.6:
            clip = rng.choice(notes_clips)
            value = {**value, "clip": clip["id"], "track": clip["track"],
                     "start": rng.randrange(0, clip["length"] + PPQ, 60)}  # fmt: skip
        attempt({"op": "insert", "kind": "note", "id": f"n{i}", "value": value})
    for i in range(rng.randint(0, 3)):
        attempt({"op": "insert", "kind": "section", "id": f"s{i}",
                 "value": {"start": rng.randrange(0, 12 * BAR, BAR)}})  # fmt: skip
    attempt({"op": "set", "id": "project", "field": "swing",
             "value": rng.choice([0.0, 0.0, 0.35, 1.0])})  # fmt: skip
    attempt({"op": "set", "id": "project", "field": "meter",
             "value": rng.choice([[4, 4], [3, 4], [6, 8], [7, 8]])})  # fmt: skip
    return doc


def test_the_browser_plays_what_python_plays(page: Page, web_server: str) -> None:
    rng = random.Random(20261203)
    docs = [random_document(rng) for _ in range(60)]
    windows = [(0.0, 40.0), (3.3, 7.1), (4.0, 4.25), (8.49, 9.2), (11.75, 16.5)]
    page.goto(f"{web_server}/")
    got = page.evaluate(
        JS, {"base": web_server, "projects": [d.to_data() for d in docs], "windows": windows}
    )
    heard = 0
    for doc, js in zip(docs, got, strict=True):
        assert js["end"] == song_end(doc), doc.to_data()
        for (lo, hi), sounds in zip(windows, js["windows"], strict=True):
            python = [
                [s.beat, s.beats, s.track, s.pitch, s.velocity] for s in sounds_between(doc, lo, hi)
            ]
            assert sounds == python, (doc.to_data(), lo, hi)
            heard += len(python)
    in_clips = sum(n["clip"] is not None for d in docs for n in d.notes.values())
    swung = sum(d.project["swing"] > 0 for d in docs)
    assert heard > 500 and in_clips > 50 and swung > 10, (heard, in_clips, swung)
