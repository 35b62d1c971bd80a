"""The browser's musical time (web/timeline.js) computes what the protocol's does.

Both implementations are run on every vector of ``protocol/timeline_vectors.json``
(the JS in a real headless Chromium), and the vectors are regenerated in memory
to catch a file left stale by a change to ``protocol/timeline.py``.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from playwright.sync_api import Page

from backline.protocol import timeline as py_timeline

ROOT = Path(__file__).resolve().parents[2]
VECTORS_PATH = ROOT / "protocol" / "timeline_vectors.json"
GENERATOR_PATH = ROOT / "tests" / "protocol_vectors" / "generate.py"

# Runs every case in the page. It only computes: the comparison, with the
# file's tolerances, happens in Python for both implementations alike.
RUN_CASES_JS = """
async ({ url, cases, names }) => {
  const m = await import(url);
  const plain = (value) => {
    if (value instanceof m.BarBeat) {
      return { bar: value.bar, beat: value.beat, fraction: value.fraction };
    }
    if (value instanceof m.Timeline) {
      const { tempo, meter, playing, beat, time, start, loop } = value;
      return { tempo, meter: [...meter], playing, beat, time, start, loop: loop && [...loop] };
    }
    return value;
  };
  const resolve = (c) => {
    const name = names[c.fn];
    if (name === undefined) return null;
    if (name.startsWith("Timeline#")) {
      const { tempo, meter, playing, beat, time, start, loop } = c.timeline;
      const timeline = new m.Timeline(tempo, meter, playing, beat, time, start, loop);
      const key = name.slice("Timeline#".length);
      if (!(key in timeline)) return null;
      const member = timeline[key];
      if (typeof member !== "function") return () => member;
      return () => member.apply(timeline, c.args ?? []);
    }
    if (name === "Timeline.of") return () => m.Timeline.of(...(c.args ?? []));
    if (!(name in m)) return null;
    const value = m[name];
    return typeof value === "function" ? () => value(...(c.args ?? [])) : () => value;
  };
  return cases.map((c) => {
    // A missing export must not pass as an expected error, so it is reported apart.
    let run;
    try {
      run = resolve(c);
    } catch (error) {
      run = () => { throw error; };  // a property getter that throws, e.g. on tempo 0
    }
    if (run === null) return { missing: names[c.fn] ?? c.fn };
    try {
      return { value: plain(run()) };
    } catch (error) {
      return { error: `${error.name}: ${error.message}` };
    }
  });
}
"""


def load_generator() -> ModuleType:
    """tests/protocol_vectors/generate.py, imported by path (tests/ is no package)."""
    spec = importlib.util.spec_from_file_location("timeline_vectors_generate", GENERATOR_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    return document


def close_enough(expected: Any, actual: Any, kind: str, tolerance: dict[str, Any]) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if expected is None or actual is None:
        return expected is actual
    if isinstance(expected, list):
        return isinstance(actual, list) and expected == actual
    if not isinstance(actual, int | float):
        return False
    limit = tolerance[kind]
    return math.isclose(actual, expected, rel_tol=limit.get("rel", 0.0), abs_tol=limit["abs"])


def mismatch(case: dict[str, Any], outcome: dict[str, Any], vectors: dict[str, Any]) -> str | None:
    """Why ``outcome`` ({value}, {error} or {missing}) does not satisfy ``case``; None if it does."""
    if "missing" in outcome:
        return f"no such function or property: {outcome['missing']}"
    if "raises" in case:
        if "error" in outcome:
            return None
        return f"expected {case['raises']}, got {outcome['value']!r}"
    if "error" in outcome:
        return f"expected {case['expect']!r}, raised {outcome['error']}"
    expected, actual = case["expect"], outcome["value"]
    kinds = vectors["compare"][case["fn"]]
    tolerance = vectors["tolerance"]
    if isinstance(kinds, str):
        good = close_enough(expected, actual, kinds, tolerance)
    else:
        good = isinstance(actual, dict) and set(actual) == set(expected)
        good = good and all(
            close_enough(expected[key], actual[key], kinds[key], tolerance) for key in expected
        )
    return None if good else f"expected {expected!r}, got {actual!r}"


def report(vectors: dict[str, Any], outcomes: list[dict[str, Any]]) -> list[str]:
    problems = []
    for index, (case, outcome) in enumerate(zip(vectors["cases"], outcomes, strict=True)):
        problem = mismatch(case, outcome, vectors)
        if problem is not None:
            problems.append(f"case {index} {json.dumps(case)}: {problem}")
    return problems


def run_python(case: dict[str, Any]) -> dict[str, Any]:
    """One case on backline.protocol.timeline, as an outcome like the page's."""
    fn: str = case["fn"]
    args = case.get("args", [])
    try:
        if fn.startswith("Timeline.") and fn != "Timeline.of":
            spec = case["timeline"]
            numerator, denominator = spec["meter"]
            loop = spec.get("loop")
            timeline = py_timeline.Timeline(
                spec["tempo"],
                (numerator, denominator),
                spec["playing"],
                spec["beat"],
                spec["time"],
                spec.get("start"),
                None if loop is None else (loop[0], loop[1]),
            )
            name = fn.removeprefix("Timeline.")
            if not hasattr(py_timeline.Timeline, name):
                return {"missing": fn}
            member = getattr(timeline, name)
            value = member(*args) if callable(member) else member
        elif fn == "Timeline.of":
            value = py_timeline.Timeline.of(*args)
        elif fn in py_timeline.__all__:
            member = getattr(py_timeline, fn)
            if fn in ("bar_length", "next_bar_line"):
                args = [*args[:-1], tuple(args[-1])]  # the meter, as Python passes it
            value = member(*args) if callable(member) else member
        else:
            return {"missing": fn}
    except (ValueError, ZeroDivisionError, KeyError) as exc:
        return {"error": type(exc).__name__}
    if isinstance(value, py_timeline.BarBeat):
        value = {"bar": value.bar, "beat": value.beat, "fraction": value.fraction}
    elif isinstance(value, py_timeline.Timeline):
        value = {
            "tempo": value.tempo,
            "meter": list(value.meter),
            "playing": value.playing,
            "beat": value.beat,
            "time": value.time,
            "start": value.start,
            "loop": None if value.loop is None else list(value.loop),
        }
    elif isinstance(value, list):
        value = [list(item) for item in value]
    return {"value": value}


def test_vectors_cover_every_function(vectors: dict[str, Any]) -> None:
    assert vectors["version"] == 1
    assert len(vectors["cases"]) >= 200
    used = {case["fn"] for case in vectors["cases"]}
    assert used == set(vectors["compare"]) == set(vectors["js_names"])
    public = {name for name in py_timeline.__all__ if name != "BarBeat"} - {"Timeline"}
    methods = {
        f"Timeline.{name}"
        for name in vars(py_timeline.Timeline)
        if not name.startswith("_") and name not in py_timeline.Timeline.__dataclass_fields__
    }
    assert public | methods == used


def test_vectors_file_is_current(vectors: dict[str, Any]) -> None:
    generator = load_generator()
    fresh = generator.build()
    assert fresh == vectors, (
        "protocol/timeline_vectors.json is stale: run "
        "`.venv/bin/python tests/protocol_vectors/generate.py`"
    )
    assert generator.dumps(fresh) == VECTORS_PATH.read_text(encoding="utf-8")


def test_python_matches_vectors(vectors: dict[str, Any]) -> None:
    outcomes = [run_python(case) for case in vectors["cases"]]
    problems = report(vectors, outcomes)
    assert not problems, "\n".join(problems)


def test_javascript_matches_vectors(page: Page, web_server: str, vectors: dict[str, Any]) -> None:
    page.goto(f"{web_server}/")
    outcomes = page.evaluate(
        RUN_CASES_JS,
        {
            "url": f"{web_server}/timeline.js",
            "cases": vectors["cases"],
            "names": vectors["js_names"],
        },
    )
    problems = report(vectors, outcomes)
    assert not problems, f"{len(problems)} of {len(outcomes)} cases differ:\n" + "\n".join(problems)


def test_javascript_module_shape(page: Page, web_server: str) -> None:
    page.goto(f"{web_server}/")
    shape = page.evaluate(
        """async (url) => {
            const m = await import(url);
            const timeline = m.Timeline.of({
                tempo: 120, meter: [6, 8], transport: { playing: true, beat: 0, time: 0 },
            });
            return {
                exports: Object.keys(m).sort(),
                frozen: Object.isFrozen(timeline) && Object.isFrozen(timeline.meter),
                text: String(timeline.barBeatAt(1_250_000)),
                methods: Object.getOwnPropertyNames(m.Timeline.prototype).sort(),
            };
        }""",
        f"{web_server}/timeline.js",
    )
    assert shape["exports"] == sorted(
        [
            "BarBeat",
            "DEFAULT_LEAD_US",
            "Timeline",
            "US_PER_MINUTE",
            "barLength",
            "leadFor",
            "nextBarLine",
            "swingUnwarp",
            "swingWarp",
        ]
    )
    assert shape["frozen"] is True
    assert shape["text"] == str(
        py_timeline.Timeline(120.0, (6, 8), True, 0.0, 0).bar_beat_at(1_250_000)
    )
    assert set(shape["methods"]) >= {
        "beatAt",
        "timeAt",
        "rolling",
        "barBeatAt",
        "barBeatOf",
        "nextBar",
        "anchoredAt",
        "started",
        "stopped",
        "sought",
        "transport",
        "usPerBeat",
        "barLength",
    }
