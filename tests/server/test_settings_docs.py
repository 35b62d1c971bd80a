"""The docs say what the settings table says: OPERATIONS.md is generated, the README checked."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from backline.server.config import SETTINGS
from backline.server.settings_docs import (
    DOCS_BEGIN,
    DOCS_END,
    settings_markdown,
    with_settings_table,
)

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"
README = ROOT / "README.md"


def test_the_operations_table_is_the_generated_one() -> None:
    """Regenerate with `python -m backline.server.settings_docs --write docs/OPERATIONS.md`."""
    document = OPERATIONS.read_text()
    assert document.count(DOCS_BEGIN) == 1 and document.count(DOCS_END) == 1
    assert with_settings_table(document) == document, (
        "docs/OPERATIONS.md's settings table is stale: run "
        ".venv/bin/python -m backline.server.settings_docs --write docs/OPERATIONS.md"
    )


def test_the_generated_table_has_one_row_per_setting_with_its_names_and_default() -> None:
    rows = settings_markdown().splitlines()[2:]
    assert len(rows) == len(SETTINGS)
    for row, setting in zip(rows, SETTINGS, strict=True):
        flag, env, default = (c.strip() for c in re.split(r"(?<!\\)\|", row)[1:4])
        assert flag.startswith(f"`{setting.flag} ") and env.startswith(f"`{setting.env}`")
        assert all(f"`{old}`" in flag for old in setting.old_flags)
        assert all(f"`{old}`" in env for old in setting.old_envs)
        assert default == setting.shown_default()


def test_a_missing_row_or_a_wrong_default_is_noticed() -> None:
    """The check is not vacuous: a table missing a row, or with a wrong default, differs."""
    document = OPERATIONS.read_text()
    port = next(line for line in document.splitlines() if line.startswith("| `--port "))
    for broken in (
        document.replace(port + "\n", ""),
        document.replace(port, port.replace("`8765`", "`8766`")),
        document.replace(port, port.replace("`BACKLINE_PORT`", "`BACKLINE_PORT_NUMBER`")),
    ):
        assert broken != document
        assert with_settings_table(broken) == document


def test_the_regenerate_command_checks_and_writes(tmp_path: Path) -> None:
    stale = tmp_path / "OPERATIONS.md"
    stale.write_text(f"# Ops\n\n{DOCS_BEGIN}\n| old |\n{DOCS_END}\n\nafter\n")
    command = [sys.executable, "-m", "backline.server.settings_docs"]
    check = subprocess.run([*command, "--check", str(stale)], capture_output=True, text=True)
    assert check.returncode == 1 and "--write docs/OPERATIONS.md" in check.stderr
    subprocess.run([*command, "--write", str(stale)], check=True)
    text = stale.read_text()
    assert text.startswith("# Ops\n\n") and text.endswith(f"{DOCS_END}\n\nafter\n")
    assert settings_markdown() in text and "| old |" not in text
    assert subprocess.run([*command, "--check", str(stale)]).returncode == 0


def _readme_rows() -> list[tuple[list[str], list[str]]]:
    """(flags, defaults) of each row of the README's "Server configuration" table."""
    section = README.read_text().split("## Server configuration", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| `--"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            flags = re.findall(r"`(--[a-z][a-z-]*)`", cells[0])
            rows.append((flags, [d.strip() for d in cells[1].split(" / ")]))
    return rows


def _readme_problems(rows: list[tuple[list[str], list[str]]]) -> list[str]:
    """What is wrong with those rows: unknown or old flags, defaults not the table's."""
    by_flag = {flag: s for s in SETTINGS for flag in s.flags}
    problems = []
    for flags, defaults in rows:
        if len(defaults) not in (1, len(flags)):
            problems.append(f"{flags}: {len(defaults)} defaults")
            continue
        if len(defaults) == 1:  # one default for all: `--certfile` / `--keyfile` | none
            defaults = defaults * len(flags)
        for flag, default in zip(flags, defaults, strict=True):
            setting = by_flag.get(flag)
            if setting is None:
                problems.append(f"{flag}: no such flag")
            elif flag != setting.flag:
                problems.append(f"{flag}: the old name of {setting.flag}")
            elif default.startswith("`"):  # a value: the table's, without its unit
                if default != "`" + setting.shown_default(markdown=False).split()[0] + "`":
                    problems.append(f"{flag}: default {default}, not {setting.shown_default()}")
            elif setting.default not in (None, ()):  # prose ("none", "random"): no value
                problems.append(f"{flag}: default {default}, not {setting.shown_default()}")
    return problems


def test_every_flag_the_readme_lists_exists_with_that_default() -> None:
    rows = _readme_rows()
    assert len(rows) >= 15
    assert _readme_problems(rows) == []


def test_the_readme_check_sees_a_wrong_row() -> None:
    assert _readme_problems(
        [
            (["--port"], ["`8766`"]),
            (["--lead"], ["`200`"]),
            (["--nonsense"], ["none"]),
            (["--host"], ["none"]),
            (["--max-sessions", "--max-clients"], ["`1000`", "`100`", "`7`"]),
        ]
    ) == [
        "--port: default `8766`, not `8765`",
        "--lead: the old name of --lead-ms",
        "--nonsense: no such flag",
        "--host: default none, not `127.0.0.1`",
        "['--max-sessions', '--max-clients']: 3 defaults",
    ]
