"""The audio core is pure: numpy and the standard library's pure parts, no I/O, clocks or aiortc.

The aiortc adapter in the same package may do all of that; these modules may not,
so they can be tested (and reasoned about) without an event loop or a network.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import backline.server.audio

PACKAGE_DIR = Path(backline.server.audio.__file__).parent
PURE = ["__init__", "clock", "frames", "jitter", "meter", "mixer", "packets", "stems"]
ALLOWED_TOP_LEVEL = {
    "__future__",
    "collections",
    "dataclasses",
    "enum",
    "math",
    "numpy",
    "typing",
}
FORBIDDEN_CALLS = {"open", "print", "input", "exec", "eval", "__import__", "breakpoint"}


def _source(name: str) -> ast.Module:
    path = PACKAGE_DIR / f"{name}.py"
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("name", PURE)
def test_imports_only_numpy_and_pure_stdlib(name: str) -> None:
    for node in ast.walk(_source(name)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] in ALLOWED_TOP_LEVEL, f"{name}: {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            where = f"{name}.py:{node.lineno} imports {'.' * node.level}{node.module}"
            if node.level:
                # Relative imports stay among the pure modules (never .rtc or .room).
                assert node.level == 1 and (node.module or "") in PURE, where
            else:
                assert (node.module or "").split(".")[0] in ALLOWED_TOP_LEVEL, where


@pytest.mark.parametrize("name", PURE)
def test_no_io_builtins(name: str) -> None:
    for node in ast.walk(_source(name)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS, f"{name}.py:{node.lineno}"


PROBE = """
import json, sys
import backline.server.audio
for name in {pure!r}:
    __import__(f"backline.server.audio.{{name}}" if name != "__init__" else "backline.server.audio")
print(json.dumps(sorted(sys.modules)))
"""


def test_importing_the_core_loads_no_event_loop_or_webrtc() -> None:
    """A fresh interpreter importing the pure modules never loads asyncio, aiortc or av."""
    result = subprocess.run(
        [sys.executable, "-I", "-c", PROBE.format(pure=PURE)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = set(json.loads(result.stdout))
    assert "backline.server.audio.jitter" in loaded
    # Not `time`: numpy itself imports it. The AST check above keeps it out of our code.
    unwanted = {"asyncio", "aiortc", "av", "socket", "threading", "logging", "random"}
    assert sorted(loaded & unwanted) == []
