"""The browser's Export MIDI (web/ui/midi.js) writes the bytes protocol/smf.py writes."""

from __future__ import annotations

import random

from playwright.sync_api import Page
from test_arrangement_js import random_document  # tests/web is on the path

from backline.protocol.ops import apply
from backline.protocol.smf import project_midi

JS = """async ({ base, projects }) => {
  const { projectMidi } = await import(`${base}/ui/midi.js`);
  return projects.map((data, i) => Array.from(projectMidi(data, i % 2 === 1)));
}"""
QUALITIES = ["maj", "min", "7", "maj7", "m7b5", "9", "sus4", "dim7"]
ROOTS = ["C", "F#", "Bb", "E", "Ab", "D"]


def test_browser_midi_is_byte_for_byte_the_python_file(page: Page, web_server: str) -> None:
    rng = random.Random(11)
    docs = [random_document(rng) for _ in range(40)]
    for i, doc in enumerate(docs):  # names, tempi, mixes and programs that round or encode
        apply(doc, {"op": "set", "id": "project", "field": "name", "value": f"Jam ♪ {i}"})
        apply(doc, {"op": "set", "id": "project", "field": "tempo", "value": rng.uniform(20, 300)})
        for track in doc.track_order:
            for field, value in (("volume", rng.choice([0.125, 0.005, 1.3, 2.0])),
                                 ("pan", rng.choice([-1.0, -0.0078125, 0.5, 1.0])),
                                 ("instrument", rng.randint(0, 127)), ("name", "Trąck")):  # fmt: skip
                apply(doc, {"op": "set", "id": track, "field": field, "value": value})
        for n in range(rng.randint(0, 6)):  # a chord track: markers, and notes every other file
            quality = rng.choice(QUALITIES)
            value = {"start": n * 3840, "length": rng.choice([960, 3840]), "root": rng.choice(ROOTS),
                     "quality": quality, "inversion": rng.randint(0, 2),
                     "bass": rng.choice([None, None, "G", "Eb"])}  # fmt: skip
            apply(doc, {"op": "insert", "kind": "chord", "id": f"h{n}", "value": value})
    page.goto(f"{web_server}/")
    got = page.evaluate(JS, {"base": web_server, "projects": [d.to_data() for d in docs]})
    for i, (doc, js) in enumerate(zip(docs, got, strict=True)):
        assert bytes(js) == project_midi(doc, chord_notes=i % 2 == 1), doc.to_data()
    assert any(doc.chords for doc in docs)
    assert sum(len(js) for js in got) > 20_000  # the files hold notes, not just headers
