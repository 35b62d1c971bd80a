"""Dependencies point one way: protocol <- media <- server / SDK <- the `backline` command.

Checked twice: statically, every import statement of every module (also the
ones inside functions), and by importing each layer in a fresh interpreter
and looking at what got loaded.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS = {  # folder -> the backline packages its modules may import
    "protocol": {"backline.protocol"},
    "media": {"backline.protocol", "backline.media"},
    "server": {"backline.protocol", "backline.media", "backline.server", "backline.web"},
    "client": {"backline.protocol", "backline.media", "backline.client"},
    "cli": {
        "backline.protocol",
        "backline.media",
        "backline.server",
        "backline.client",
        "backline.cli",
    },
    "testing": {"backline.protocol", "backline.media", "backline.client", "backline.testing"},
}


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("folder", sorted(LAYERS))
def test_every_import_points_down(folder: str) -> None:
    allowed = LAYERS[folder]
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line, module in _imports(path)
        if module.startswith("backline") and _package(module) not in allowed
    ]
    assert wrong == []


PROBE = """
import importlib, json, pkgutil, sys
package = importlib.import_module({package!r})
for info in pkgutil.walk_packages(package.__path__, {package!r} + "."):
    if not info.name.endswith(".__main__"):  # that one runs the program
        importlib.import_module(info.name)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("backline"))))
"""


@pytest.mark.parametrize(
    ("package", "never"),
    [
        ("backline.client", {"backline.server", "backline.cli", "backline.testing"}),
        ("backline.media", {"backline.server", "backline.client", "backline.cli"}),
        ("backline.server", {"backline.client", "backline.cli", "backline.testing"}),
    ],
)
def test_importing_a_layer_loads_nothing_above_it(package: str, never: set[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-I", "-c", PROBE.format(package=package)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded = {_package(m) for m in json.loads(result.stdout)}
    assert package in loaded
    assert sorted(loaded & never) == []
