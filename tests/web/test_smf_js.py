"""The browser's Export MIDI (web/ui/midi.js) writes the bytes protocol/smf.py writes."""

from __future__ import annotations

import random

from playwright.sync_api import Page
from test_arrangement_js import random_document  # tests/web is on the path

from backline.protocol.ops import apply
from backline.protocol.smf import project_midi

JS = """async ({ base, projects }) => {
  const { projectMidi } = await import(`${base}/ui/midi.js`);
  return projects.map((data) => Array.from(projectMidi(data)));
}"""


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
    page.goto(f"{web_server}/")
    got = page.evaluate(JS, {"base": web_server, "projects": [d.to_data() for d in docs]})
    for doc, js in zip(docs, got, strict=True):
        assert bytes(js) == project_midi(doc), doc.to_data()
    assert sum(len(js) for js in got) > 20_000  # the files hold notes, not just headers
