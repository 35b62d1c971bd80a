"""The entity schemas described as plain data, for clients in other languages.

The browser validates with these descriptions (through the generated
``/protocol.js``) instead of a hand-written copy of the ranges, so the two can
never drift apart. Each validator factory of `model` records what it accepts;
this module turns a schema into type, range, default, reference and
requiredness.
"""

from __future__ import annotations

from typing import Any

from .limits import DEFAULT_LIMITS, Limits
from .model import (
    _COLOR_RE,
    _DESCRIBED,
    _KEY_RE,
    _OPTIONAL,
    BEAT,
    METER_DENOMINATORS,
    METER_NUMERATOR,
    MIDI_NUMBER,
    SCHEMAS,
    STEP_VELOCITY,
    TICK,
    TIME_US,
    Validator,
    _copy,
    boolean,
    color,
    key_signature,
    lanes,
    loop_region,
    meter,
    reference,
    text,
    transport,
)

__all__ = ["describe", "describe_schemas"]

_NAMED: dict[Validator, dict[str, Any]] = {
    boolean: {"type": "bool"},
    text: {"type": "text"},
    reference: {"type": "id"},
    color: {"type": "color", "pattern": _COLOR_RE.pattern},
    meter: {
        "type": "meter",
        "numerator": [_DESCRIBED[METER_NUMERATOR]["min"], _DESCRIBED[METER_NUMERATOR]["max"]],
        "denominators": list(METER_DENOMINATORS),
    },
    key_signature: {"type": "key", "pattern": _KEY_RE.pattern},
    loop_region: {"type": "loop"},
    transport: {"type": "transport"},
    lanes: {"type": "lanes"},
}


def describe(check: Validator, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """What one validator accepts, as plain data (bounds that depend on limits resolved)."""
    check = _OPTIONAL.get(check, check)  # an optional field is described by its check
    desc = dict(_DESCRIBED.get(check) or _NAMED[check])
    for bound in ("min", "max"):
        if callable(desc.get(bound)):
            desc[bound] = desc[bound](limits)
    return desc


def _nested(check: Validator, limits: Limits) -> dict[str, Any]:
    """The ranges inside a structured field (its own validators, described)."""
    if check is loop_region:
        return {"tick": describe(TICK, limits)}
    if check is transport:
        return {"beat": describe(BEAT, limits), "time": describe(TIME_US, limits)}
    if check is lanes:
        return {
            "sound": describe(MIDI_NUMBER, limits),
            "step": describe(STEP_VELOCITY, limits),
            "max_lanes": limits.max_lanes,
            "max_steps": limits.max_steps,
        }
    return {}


def describe_schemas(limits: Limits = DEFAULT_LIMITS) -> dict[str, dict[str, dict[str, Any]]]:
    """Every entity's fields as plain data: type, range, default, reference, and the
    ranges inside structured fields (a loop's ticks, a transport's beat and time, a
    lane's sound and steps).

    A client in another language (the browser) validates with this instead of
    a hand-written copy of the ranges, so the two can never drift apart.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for kind, schema in SCHEMAS.items():
        fields: dict[str, dict[str, Any]] = {}
        for name, spec in schema.items():
            desc = describe(spec.check, limits)
            if desc["type"] == "text":
                desc["max_len"] = limits.max_name_len
            desc.update(_nested(spec.check, limits))
            desc["default"] = _copy(spec.default)
            desc["required"] = spec.required
            desc["optional"] = spec.optional
            desc["ref"] = spec.ref
            fields[name] = desc
        out[kind] = fields
    return out
