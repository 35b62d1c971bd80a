"""protocol/ is the sans-I/O core: no event loop, sockets, files, threads, clocks or randomness."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import backline.protocol

PACKAGE_DIR = Path(backline.protocol.__file__).parent
SOURCES = sorted(PACKAGE_DIR.glob("*.py"))

# Modules that do I/O, run concurrently, read clocks or draw randomness. The caller
# passes `now`, secrets and bytes in; the core hands results and bytes back.
FORBIDDEN = {
    "asyncio",
    "concurrent",
    "ctypes",
    "glob",
    "http",
    "importlib",
    "io",
    "logging",
    "multiprocessing",
    "os",
    "pathlib",
    "random",
    "redis",
    "aiortc",
    "secrets",
    "select",
    "selectors",
    "shutil",
    "signal",
    "socket",
    "sqlite3",
    "ssl",
    "subprocess",
    "tempfile",
    "threading",
    "time",
    "urllib",
    "uvloop",
    "websockets",
}
FORBIDDEN_CALLS = {"open", "print", "input", "exec", "eval", "__import__", "breakpoint"}


def test_sources_are_found() -> None:
    names = {p.stem for p in SOURCES}
    assert {
        "__init__",
        "codec",
        "errors",
        "limits",
        "messages",
        "model",
        "ops",
        "replica",
        "tokens",
    } <= names


def _imports(tree: ast.AST) -> list[tuple[int, str, int]]:
    """(line, module, relative level) of every import, wherever it appears."""
    found: list[tuple[int, str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, node.module or "", node.level))
    return found


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_no_io_imports(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    siblings = {p.stem for p in SOURCES}
    for line, module, level in _imports(tree):
        where = f"{path.name}:{line} imports {'.' * level}{module}"
        if level:
            # Relative imports stay inside protocol/ (never ..server or ..client).
            assert level == 1, where
            assert module.split(".")[0] in siblings, where
        else:
            top = module.split(".")[0]
            assert top not in FORBIDDEN, where
            assert top != "backline", f"{where}: use a relative import"


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_no_io_builtins(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS, f"{path.name}:{node.lineno}"


def test_the_checker_sees_forbidden_imports() -> None:
    tree = ast.parse("import os.path\nfrom asyncio import sleep\nfrom ..server import hub\n")
    assert _imports(tree) == [(1, "os.path", 0), (2, "asyncio", 0), (3, "server", 2)]


PROBE = """
import json, pkgutil, sys
import backline.protocol as package
for info in pkgutil.iter_modules(package.__path__):
    __import__(f"backline.protocol.{info.name}")
print(json.dumps(sorted(sys.modules)))
"""

# Not loaded by a bare interpreter, so their presence would come from protocol/.
NOT_LOADED = [
    "asyncio",
    "socket",
    "sqlite3",
    "websockets",
    "threading",
    "selectors",
    "subprocess",
    "ssl",
    "multiprocessing",
    "concurrent.futures",
    "uvloop",
    "logging",
    "random",
    "backline.server",
    "backline.client",
]


def test_importing_the_core_loads_no_io_modules() -> None:
    """A fresh interpreter importing every protocol module never loads asyncio and friends."""
    result = subprocess.run(
        [sys.executable, "-I", "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(result.stdout))
    assert "backline.protocol.ops" in loaded
    assert "backline.protocol.replica" in loaded
    assert sorted(loaded & set(NOT_LOADED)) == []


def test_validating_registers_no_validator() -> None:
    """Validators are built once: checking values (the server's hot path) never grows
    the table of descriptions (a check built per call used to add one each time)."""
    from backline.protocol import model
    from backline.protocol.model import Document
    from backline.protocol.ops import apply

    before = len(model._DESCRIBED)
    doc = Document()
    apply(doc, {"op": "set", "id": "project", "field": "meter", "value": [3, 4]})
    apply(
        doc,
        {
            "op": "set",
            "id": "project",
            "field": "loop",
            "value": {"start": 0, "end": 960, "on": True},
        },
    )
    apply(doc, {"op": "insert", "kind": "track", "id": "t", "value": {"kind": "drums"}})
    lanes = [{"sound": 36, "steps": [100] * 16}]
    apply(
        doc, {"op": "insert", "kind": "pattern", "id": "p", "value": {"track": "t", "lanes": lanes}}
    )
    assert len(model._DESCRIBED) == before
