"""web/editing.js makes exactly the ops protocol/editing.py makes.

Random selections (free notes and notes in clips at odd starts), random grids
(straight and triplet), strengths, transpositions, offsets and paste targets:
every command run through Python and through the JS module in headless
Chromium, the ops (or the error code) compared exactly.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page

from backline.protocol import editing
from backline.protocol.errors import BacklineError
from backline.protocol.model import PPQ

JS = """async ({ base, cases }) => {
  const editing = await import(`${base}/editing.js`);
  const run = (fn) => {
    try {
      return { ops: fn() };
    } catch (error) {
      return { error: error.code ?? String(error) };
    }
  };
  const commands = {
    quantize: (c) => editing.quantize(c.notes, c.grid, c.strength, c.origins),
    transpose: (c) => editing.transpose(c.notes, c.semitones, c.origins),
    move: (c) => editing.move(c.notes, c.ticks, c.semitones, c.origins),
    resize: (c) => editing.resize(c.notes, c.ticks, c.origins),
    velocity: (c) => editing.setVelocity(c.notes, c.vel, c.origins),
    duplicate: (c) => editing.duplicate(c.notes, c.ids, c.grid, c.origins),
    paste: (c) => editing.paste(c.notes, c.at, c.track, c.clip, c.ids),
    delete: (c) => editing.delete(c.notes, c.origins),
    fit: (c) => editing.fitToScale(c.notes, c.key, c.origins),
    moveInScale: (c) => editing.moveInScale(c.notes, c.ticks, c.semitones, c.key, c.origins),
    stamp: (c) => editing.stamp(c.pitches, c.at, c.dur, c.track, c.clip, c.ids.slice(0, c.pitches.length), c.vel),
  };
  return cases.map((c) => run(() => commands[c.command](c)));
}"""

PY: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
    "quantize": lambda c: editing.quantize(c["notes"], c["grid"], c["strength"], c["origins"]),
    "transpose": lambda c: editing.transpose(c["notes"], c["semitones"], c["origins"]),
    "move": lambda c: editing.move(c["notes"], c["ticks"], c["semitones"], c["origins"]),
    "resize": lambda c: editing.resize(c["notes"], c["ticks"], c["origins"]),
    "velocity": lambda c: editing.set_velocity(c["notes"], c["vel"], c["origins"]),
    "duplicate": lambda c: editing.duplicate(c["notes"], c["ids"], c["grid"], c["origins"]),
    "paste": lambda c: editing.paste(c["notes"], c["at"], c["track"], c["clip"], c["ids"]),
    "delete": lambda c: editing.delete(c["notes"], c["origins"]),
    "fit": lambda c: editing.fit_to_scale(c["notes"], c["key"], c["origins"]),
    "moveInScale": lambda c: editing.move_in_scale(
        c["notes"], c["ticks"], c["semitones"], c["key"], c["origins"]
    ),
    "stamp": lambda c: editing.stamp(
        c["pitches"],
        c["at"],
        c["dur"],
        c["track"],
        c["clip"],
        c["ids"][: len(c["pitches"])],
        c["vel"],
    ),
}
KEYS = ["C major", "A minor", "F# dorian", "Bb lydian", "E phrygian", "Db locrian"]

GRIDS = [960, 480, 240, 120, 60, 640, 320, 160, 80, 7]


def random_case(rng: random.Random, command: str) -> dict[str, Any]:
    origins = {"c1": rng.randrange(0, 8 * PPQ, 10), "c2": rng.randrange(0, 64 * PPQ)}
    size = 0 if rng.random() < 0.05 else rng.randint(1, 40)
    notes = []
    for i in range(size):
        clip = rng.choice([None, None, "c1", "c2"])
        notes.append({
            "id": f"{rng.choice('abc')}:{rng.randrange(1000)}x{i}",
            "track": "t", "clip": clip, "pitch": rng.randint(0, 127),
            "start": rng.choice([rng.randrange(0, 16 * PPQ), rng.randrange(0, 8) * 240]),
            "dur": rng.randint(1, 4 * PPQ), "vel": rng.randint(1, 127),
        })  # fmt: skip
    if notes and rng.random() < 0.2:  # equal starts: the pitch and id break the tie
        for n in notes[: len(notes) // 2]:
            n["start"] = 480
    return {
        "command": command,
        "notes": notes,
        "origins": origins,
        "grid": rng.choice(GRIDS),
        "strength": rng.choice([1.0, 0.0, 0.5, 0.25, 0.75, rng.random(), 1.5]),
        "semitones": rng.choice([1, -1, 12, -12, rng.randint(-40, 40)]),
        "ticks": rng.choice([0, 240, -240, rng.randint(-2000, 2000)]),
        "vel": rng.choice([1, 64, 127, rng.randint(0, 130)]),
        "ids": [f"new:{i}" for i in range(len(notes))],
        "at": rng.choice([0, 960, rng.randint(-10, 20000)]),
        "track": "u",
        "clip": rng.choice([None, "c1"]),
        "key": rng.choice(KEYS),
        "pitches": rng.choice(
            [
                [],
                [60, 64, 67],
                [57, 60, 64, 67],
                [rng.randint(-5, 130)],
                sorted(rng.sample(range(0, 128), 4)),
            ]
        ),
        "dur": rng.choice([240, 960, 0, rng.randint(1, 5000)]),
    }


def python(case: dict[str, Any]) -> dict[str, Any]:
    try:
        return {"ops": PY[case["command"]](case)}
    except BacklineError as error:
        return {"error": error.code.value}


def test_the_browser_edits_as_python_edits(page: Page, web_server: str) -> None:
    rng = random.Random(20261215)
    cases = [random_case(rng, command) for command in PY for _ in range(40)]
    page.goto(f"{web_server}/")
    got = page.evaluate(JS, {"base": web_server, "cases": cases})
    outcomes = {"ops": 0, "error": 0}
    for case, js in zip(cases, got, strict=True):
        expected = python(case)
        assert js == expected, case
        outcomes["ops" if "ops" in expected else "error"] += 1
    codes = {python(c).get("error") for c in cases}
    assert {"nothing_selected", "out_of_range"} <= codes, codes
    assert outcomes["ops"] > 200, outcomes
