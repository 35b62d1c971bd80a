"""The settings table of docs/OPERATIONS.md, rendered from `config.SETTINGS`.

The document holds the table between two markers; tests/server/test_settings_docs.py
fails when it differs from `settings_markdown()`. After adding or changing a
setting in server/config.py, regenerate it:

    .venv/bin/python -m backline.server.settings_docs --write docs/OPERATIONS.md

(without `--write`: print the table; `--check FILE`: exit 1 if FILE is stale).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from backline.server.config import SETTINGS

__all__ = ["DOCS_BEGIN", "DOCS_END", "settings_markdown", "with_settings_table"]

REGENERATE = ".venv/bin/python -m backline.server.settings_docs --write docs/OPERATIONS.md"
DOCS_BEGIN = f"<!-- generated from server/config.py by `{REGENERATE}`: edit the settings there -->"
DOCS_END = "<!-- end of the generated settings table -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def settings_markdown() -> str:
    """The flags table: one row per setting, in the order of `backline serve --help`."""
    lines = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
    for row in SETTINGS:
        flag = f"`{row.flag} {row.shown_metavar}`"
        env = f"`{row.env}`"
        if row.repeatable:
            flag += " (repeatable)"
            env += " (comma-separated)"
        flag += "".join(f"; old name `{old}`" for old in row.old_flags)
        env += "".join(f"; old name `{old}`" for old in row.old_envs)
        cells = (flag, env, row.shown_default(), row.help)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def with_settings_table(document: str) -> str:
    """`document` with whatever lies between the table's markers replaced by the table."""
    head, begin, rest = document.partition(DOCS_BEGIN)
    _, end, tail = rest.partition(DOCS_END)
    if not begin or not end:
        raise ValueError(f"the settings table's markers are missing: {DOCS_BEGIN} … {DOCS_END}")
    return f"{head}{DOCS_BEGIN}\n{settings_markdown()}{DOCS_END}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backline.server.settings_docs",
        description="Print the settings table (markdown), or put it in a document.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", metavar="FILE", help="replace the table in FILE")
    action.add_argument("--check", metavar="FILE", help="exit 1 if FILE's table is stale")
    args = parser.parse_args(argv)
    if args.write is None and args.check is None:
        sys.stdout.write(settings_markdown())
        return 0
    path = Path(args.write or args.check)
    document = path.read_text()
    wanted = with_settings_table(document)
    if args.check is not None:
        if wanted != document:
            print(f"{path}: the settings table is stale; run {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    path.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
