"""The audio core is pure: numpy and the standard library's pure parts, no I/O, clocks or aiortc.

The core lives in two places: the media layer shared by server and SDK
(`backline.media`: frames, frame timing, jitter buffering, packets, the
real-time master limiter) and the room's own numpy (`backline.server.audio`:
metering, mixing, stems). The aiortc adapters beside them (`media.rtc`,
`server.audio.peer`, the room) may do I/O; these modules may not, so they can
be tested (and reasoned about) without an event loop or a network.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import backline.media
import backline.server.audio

PACKAGES = {
    "backline.media": ["__init__", "clock", "frames", "jitter", "packets", "stream_limiter"],
    "backline.server.audio": ["__init__", "meter", "mixer", "stems"],
}
PURE = [f"{package}.{name}" for package, names in PACKAGES.items() for name in names]
DIRS = {
    "backline.media": Path(backline.media.__file__).parent,
    "backline.server.audio": Path(backline.server.audio.__file__).parent,
}
PURE_MODULES = {m.removesuffix(".__init__") for m in PURE} | {
    "backline.protocol",  # `from backline.protocol import dsp`
    "backline.protocol.audio",
    "backline.protocol.dsp",  # the signal chain's definitions: pure, no numpy
    "backline.protocol.mixer",
}
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
    package, module = name.rsplit(".", 1)
    path = DIRS[package] / f"{module}.py"
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("name", PURE)
def test_imports_only_numpy_and_pure_stdlib(name: str) -> None:
    for node in ast.walk(_source(name)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] in ALLOWED_TOP_LEVEL, f"{name}: {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            where = f"{name}:{node.lineno} imports {'.' * node.level}{module}"
            assert not node.level, f"{where}: use absolute imports"
            if module.startswith("backline."):
                # only among the pure modules (never media.rtc, server.audio.room or .peer)
                assert module in PURE_MODULES, where
            else:
                assert module.split(".")[0] in ALLOWED_TOP_LEVEL, where


@pytest.mark.parametrize("name", PURE)
def test_no_io_builtins(name: str) -> None:
    for node in ast.walk(_source(name)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS, f"{name}.py:{node.lineno}"


PROBE = """
import json, sys
for name in {pure!r}:
    __import__(name.removesuffix(".__init__"))
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
    assert "backline.media.jitter" in loaded
    # Not `time`: numpy itself imports it. The AST check above keeps it out of our code.
    unwanted = {"asyncio", "aiortc", "av", "socket", "threading", "logging", "random"}
    assert sorted(loaded & unwanted) == []
