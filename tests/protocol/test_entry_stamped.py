"""`LogEntry.stamped` spells the constructor out for speed: it must equal `replace`."""

from __future__ import annotations

import dataclasses

from backline.protocol.entry import LogEntry
from backline.protocol.messages import Role


def test_stamped_equals_replace_for_every_field() -> None:
    values: dict[str, object] = {}
    for number, spec in enumerate(dataclasses.fields(LogEntry)):
        values[spec.name] = f"v{number}"  # a distinct value per field: a swap shows
    entry = LogEntry(**values)  # type: ignore[arg-type]
    stamp = {
        "now": 11,
        "lead": 22,
        "origin": "node-1",
        "proposal": 33,
        "token_role": Role.EDITOR,
        "token_id": "tok",
        "wall": 44,
        "name": "Ada",
    }
    assert entry.stamped(**stamp) == dataclasses.replace(entry, **stamp)  # type: ignore[arg-type]
