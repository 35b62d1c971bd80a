"""Keeps a closed hi-hat going: every drum pattern gets a lane of eighth notes.

Reacts to other people's edits: when a pattern on a drums track is added or
changed and its hi-hat lane is missing or has gaps on the eighth-note grid,
the bot fills it in one atomic batch. Idempotent, so two such bots agree.
"""

from __future__ import annotations

import logging
from typing import Any

from backline.client.bot import Bot
from backline.client.session import RemoteEdit, Session
from backline.protocol.errors import BacklineError
from backline.protocol.ops import Op

__all__ = ["CLOSED_HIHAT", "HiHatBot", "hihat_ops"]

CLOSED_HIHAT = 42  # General MIDI drum map
VELOCITY = 80
log = logging.getLogger("backline.bots.hihat")


def hihat_ops(pattern: dict[str, Any], sound: int = CLOSED_HIHAT) -> list[Op]:
    """The ops that give `pattern` a full eighth-note hi-hat lane (empty if it has one)."""
    every = max(1, pattern["steps_per_beat"] // 2)
    wanted = range(0, pattern["length"], every)
    lanes = pattern["lanes"]
    index = next((i for i, lane in enumerate(lanes) if lane["sound"] == sound), None)
    pid = pattern["id"]
    if index is None:
        steps = [VELOCITY if i % every == 0 else 0 for i in range(pattern["length"])]
        new_lanes = [*lanes, {"sound": sound, "steps": steps}]
        return [{"op": "set", "id": pid, "field": "lanes", "value": new_lanes}]
    steps = lanes[index]["steps"]
    return [
        {"op": "set", "id": pid, "field": "steps", "at": [index, i], "value": VELOCITY}
        for i in wanted
        if steps[i] == 0
    ]


class HiHatBot(Bot):
    name = "hi-hat bot"
    color = "#46f0f0"

    async def on_start(self, s: Session) -> None:
        for pattern in list(s.project.patterns.values()):
            self._fill(s, pattern["id"])

    async def on_edit(self, s: Session, event: RemoteEdit) -> None:
        if event.mine:
            return
        for op in event.batch.ops:
            if s.project.kind_of.get(op.get("id", "")) == "pattern":
                self._fill(s, op["id"])

    def _fill(self, s: Session, pattern_id: str) -> None:
        pattern = s.project.patterns.get(pattern_id)
        if pattern is None or s.project.tracks[pattern["track"]]["kind"] != "drums":
            return
        ops = hihat_ops(pattern)
        if not ops:
            return
        try:
            s.edit(ops)
        except BacklineError as exc:  # e.g. the pattern already has the most lanes allowed
            log.info("cannot add a hi-hat to %s: %s", pattern_id, exc.message)
