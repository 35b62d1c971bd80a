"""What every benchmark shares: where results go, and how it runs."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from backline.server.runtime import run_loop

__all__ = ["RESULTS", "run", "save"]

RESULTS = Path(__file__).parent / "results"


def save(name: str, rows: Sequence[Any]) -> Path:
    """Write dataclass `rows` to loadtest/results/<name>-<time>.json and say where."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    print(f"wrote {out}", file=sys.stderr)
    return out


def publish(name: str, rows: Sequence[Any], text: str) -> None:
    """`save` the rows, write `text` (the Markdown report) beside them, and print it."""
    md = save(name, rows).with_suffix(".md")
    md.write_text(text)
    print(text)
    print(f"wrote {md}", file=sys.stderr)


def run(main: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    """Run a benchmark on the server's event loop (uvloop when installed)."""
    run_loop(main())
