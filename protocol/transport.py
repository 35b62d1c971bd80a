"""Transport intents: `play`, `stop` and `seek` ops, turned into plain edits by the server.

A client cannot know the exact moment the music starts: that depends on the
server's clock and on every participant's round trip. So it sends an intent::

    {"op": "play"}                 # from where the transport stands, a lead time ahead
    {"op": "play", "beat": B, "count_in": N}   # from beat B, after N bars of count-in
    {"op": "stop"}                 # where the music is now
    {"op": "stop", "back": true}   # back where this play began
    {"op": "seek", "beat": B}      # move; while playing, continue from B

and the server, when it sequences the edit, replaces each intent by a plain
``set`` of the project's ``transport`` field computed from its clock. Tempo and
meter changes while playing get a re-anchoring ``set`` in front, so the
position never jumps. What is stored and broadcast is the plain form, so
replaying the log needs no clock and every replica applies the same thing.
Intents in order resolve against the state left by the ops before them, which
is what makes concurrent play/stop/tempo requests deterministic in server order.

Clients never set ``transport`` directly: only through these intents.
"""

from __future__ import annotations

from typing import Any

from .errors import BadField
from .model import BEAT, PROJECT_ID, SCHEMAS, Document, boolean, int_in
from .ops import Op
from .timeline import MAX_COUNT_IN_BARS, Timeline

__all__ = [
    "INTENTS",
    "INTENT_KEYS",
    "REANCHOR_FIELDS",
    "is_transport_set",
    "resolve",
    "without_transport",
]

INTENTS = ("play", "stop", "seek")
# each intent's (required keys, optional keys)
INTENT_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "play": ({"op"}, {"beat", "count_in"}),
    "stop": ({"op"}, {"back"}),
    "seek": ({"op", "beat"}, set()),
}
REANCHOR_FIELDS = ("tempo", "meter", "loop")  # set while playing: the transport re-anchors first
COUNT_IN = int_in(0, MAX_COUNT_IN_BARS)  # bars of count-in a play may ask for


def _set_transport(value: dict[str, Any]) -> Op:
    return {"op": "set", "id": PROJECT_ID, "field": "transport", "value": value}


def is_transport_set(op: Any) -> bool:
    return (
        type(op) is dict
        and op.get("op") == "set"
        and op.get("id") == PROJECT_ID
        and op.get("field") == "transport"
    )


def resolve(doc: Document, ops: list[Any], now: int, lead_us: int) -> list[Any]:
    """The plain ops that carry out ``ops`` at server time ``now``.

    Raises `BadField` for a malformed intent or a direct transport edit; every
    other op passes through untouched (the op engine validates it next).
    """
    if type(ops) is not list:
        return ops
    project = dict(doc.project)
    out: list[Any] = []
    for op in ops:
        if type(op) is dict and op.get("op") == "batch" and type(op.get("ops")) is list:
            inner: list[Any] = []
            for child in op["ops"]:
                inner.extend(_resolve_one(project, child, now, lead_us, doc))
            out.append({**op, "ops": inner})
        else:
            out.extend(_resolve_one(project, op, now, lead_us, doc))
    return out


def _resolve_one(
    project: dict[str, Any], op: Any, now: int, lead_us: int, doc: Document
) -> list[Any]:
    if type(op) is not dict:
        return [op]
    kind = op.get("op")
    if type(kind) is str and kind in INTENT_KEYS:
        keys = set(op)
        required, optional = INTENT_KEYS[kind]
        if not required <= keys or keys - required - optional:
            extra = ", ".join(sorted(map(str, keys - required - optional)))
            missing = ", ".join(sorted(required - keys))
            raise BadField(
                f"{kind} op " + (f"has unknown key(s) {extra}" if extra else f"needs {missing}")
            )
        timeline = Timeline.of(project)
        limits = doc.limits
        if kind == "play":
            beat = BEAT("play beat", op["beat"], limits) if "beat" in op else None
            count_in = COUNT_IN("count_in", op["count_in"], limits) if "count_in" in op else 0
            value = timeline.started(now, lead_us, beat, count_in)
        elif kind == "stop":
            back = boolean("stop back", op["back"], limits) if "back" in op else False
            value = timeline.stopped(now, back)
        else:
            beat = BEAT("seek beat", op["beat"], limits)
            value = timeline.sought(beat, now, lead_us)
        project["transport"] = value
        return [_set_transport(value)]
    if kind == "set" and op.get("id") == PROJECT_ID:
        field = op.get("field")
        if field == "transport":
            raise BadField("transport changes only through play, stop and seek ops")
        if field in REANCHOR_FIELDS and "value" in op:
            value = SCHEMAS["project"][field].check(field, op["value"], doc.limits)
            out: list[Any] = []
            timeline = Timeline.of(project)
            if timeline.playing:
                anchored = timeline.anchored_at(now)
                project["transport"] = anchored
                out.append(_set_transport(anchored))
            project[field] = value
            out.append(op)
            return out
    return [op]


def without_transport(inverse: Op) -> Op | None:
    """An inverse minus its transport sets: undo never moves the playhead."""
    if inverse.get("op") == "batch":
        kept = [op for op in inverse["ops"] if not is_transport_set(op)]
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else {"op": "batch", "ops": kept}
    return None if is_transport_set(inverse) else inverse
