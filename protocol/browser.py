"""The protocol's definitions as an ES module for the browser client.

The server answers ``GET /protocol.js`` with `protocol_module()`: message
types, roles, error and close codes with the close policy, limits, entity
schemas with their ranges and defaults (`described.describe_schemas`, also the
ranges inside structured fields), op and intent shapes, musical-time and
audio constants, PPQ. Everything is read from the Python definitions, never
retyped. The browser imports these instead of keeping its own copy, so the two
cannot drift; a test loads the module in Chromium and compares it with the
Python definitions and validators.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from .audio import FRAME_MS, MAX_GAIN, SAMPLE_RATE
from .codec import SUBPROTOCOL
from .described import describe, describe_schemas
from .dsp import (
    BLOCK,
    DRUM_BANK,
    DRUM_HOLD_S,
    LAYERS,
    LEVEL_FLOOR_DB,
    LIMITER_DELAY,
    LIMITER_MARGIN_DB,
    LIMITER_RELEASE_MS,
    MIN_DELAY_SAMPLES,
    NOTE_HOLD_S,
    RATE,
    RELEASE_END_S,
    RELEASE_S,
    SAMPLE_TAIL_S,
    TRUE_PEAK_PHASES,
    TRUE_PEAK_TAPS,
    true_peak_kernel,
)
from .errors import CLOSE_REASONS, FINAL_CLOSE_CODES, CloseCode, ErrorCode
from .harmony import NOTE_NAMES, QUALITIES, SCALE_INTERVALS
from .limits import DEFAULT_LIMITS, Limits
from .messages import (
    MAX_GAINS,
    MAX_RTT_US,
    MAX_SDP_LEN,
    MAX_SELECTION,
    MAX_TOKEN_LEN,
    PEOPLE_COLORS,
    PRESENCE_FIELDS,
    ClientType,
    Role,
    ServerType,
)
from .model import (
    BEAT,
    ID_RE,
    KINDS,
    METER_DENOMINATORS,
    MODES,
    PPQ,
    PROJECT_ID,
    TRACK_KINDS,
)
from .ops import OP_KEYS, OP_TYPES
from .timeline import BEAT_EPSILON, DEFAULT_LEAD_US, MAX_LEAD_RTT_US, US_PER_MINUTE
from .transport import COUNT_IN, INTENT_KEYS, INTENTS, REANCHOR_FIELDS

__all__ = ["protocol_constants", "protocol_module"]


def _members(enum: Any) -> dict[str, Any]:
    return {member.name: member.value for member in enum}


def _presence_limits() -> dict[str, Any]:
    """Sizes `messages.check_presence` allows (for what the browser sends)."""
    return {"max_selection": MAX_SELECTION}


def _shapes(keys: dict[str, tuple[set[str], set[str]]]) -> dict[str, dict[str, list[str]]]:
    return {
        kind: {"required": sorted(required), "optional": sorted(optional)}
        for kind, (required, optional) in keys.items()
    }


def protocol_constants(limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Every constant the browser needs, by the name it is exported under."""
    return {
        "SUBPROTOCOL": SUBPROTOCOL,
        "CLIENT_TYPES": _members(ClientType),
        "SERVER_TYPES": _members(ServerType),
        "ROLES": _members(Role),
        "ERROR_CODES": _members(ErrorCode),
        "CLOSE_CODES": _members(CloseCode),
        # the close policy: why each close happened, and after which the client gives up
        "CLOSE_REASONS": {str(int(code)): reason for code, reason in sorted(CLOSE_REASONS.items())},
        "FINAL_CLOSE_CODES": sorted(int(code) for code in FINAL_CLOSE_CODES),
        "LIMITS": asdict(limits),
        "MESSAGE_LIMITS": {
            "max_token_len": MAX_TOKEN_LEN,
            "max_sdp_len": MAX_SDP_LEN,
            "max_gain": MAX_GAIN,
            "max_gains": MAX_GAINS,
            "max_rtt_us": MAX_RTT_US,
        },
        "PRESENCE_FIELDS": list(PRESENCE_FIELDS),
        "PRESENCE_LIMITS": _presence_limits(),
        "PEOPLE_COLORS": list(PEOPLE_COLORS),
        "PPQ": PPQ,
        "PROJECT_ID": PROJECT_ID,
        "ID_PATTERN": ID_RE.pattern,
        "KINDS": list(KINDS),
        "TRACK_KINDS": list(TRACK_KINDS),
        "METER_DENOMINATORS": list(METER_DENOMINATORS),
        "MODES": list(MODES),
        "HARMONY": {
            "NOTE_NAMES": list(NOTE_NAMES),
            "QUALITIES": {
                name: [suffix, list(steps)] for name, (suffix, steps) in QUALITIES.items()
            },
            # their order (a preference when detecting): a JS object puts "6", "7", "9" first
            "QUALITY_ORDER": list(QUALITIES),
            "SCALE_INTERVALS": {mode: list(steps) for mode, steps in SCALE_INTERVALS.items()},
        },
        "OP_TYPES": list(OP_TYPES),
        "OP_KEYS": _shapes(OP_KEYS),
        "INTENTS": list(INTENTS),
        "INTENT_KEYS": _shapes(INTENT_KEYS),
        "REANCHOR_FIELDS": list(REANCHOR_FIELDS),
        "SEEK_BEAT": describe(BEAT, limits),
        "COUNT_IN": describe(COUNT_IN, limits),
        "DEFAULT_LEAD_US": DEFAULT_LEAD_US,
        "MAX_LEAD_RTT_US": MAX_LEAD_RTT_US,
        "US_PER_MINUTE": US_PER_MINUTE,
        "BEAT_EPSILON": BEAT_EPSILON,
        "SAMPLE_RATE": SAMPLE_RATE,
        "FRAME_MS": FRAME_MS,
        "SCHEMAS": describe_schemas(limits),
        "DSP": _dsp_constants(),
    }


def _dsp_constants() -> dict[str, Any]:
    """The signal chain's constants (`dsp.py`): web/dsp.js computes with these."""
    return {
        "BLOCK": BLOCK,
        "DRUM_BANK": DRUM_BANK,
        "DRUM_HOLD_S": DRUM_HOLD_S,
        "LAYERS": LAYERS,
        "LEVEL_FLOOR_DB": LEVEL_FLOOR_DB,
        "LIMITER_DELAY": LIMITER_DELAY,
        "LIMITER_MARGIN_DB": LIMITER_MARGIN_DB,
        "LIMITER_RELEASE_MS": LIMITER_RELEASE_MS,
        "MIN_DELAY_SAMPLES": MIN_DELAY_SAMPLES,
        "NOTE_HOLD_S": NOTE_HOLD_S,
        "RATE": RATE,
        "RELEASE_END_S": RELEASE_END_S,
        "RELEASE_S": RELEASE_S,
        "SAMPLE_TAIL_S": SAMPLE_TAIL_S,
        "TRUE_PEAK_PHASES": TRUE_PEAK_PHASES,
        "TRUE_PEAK_TAPS": TRUE_PEAK_TAPS,
        "TRUE_PEAK_KERNEL": true_peak_kernel(),
    }


_HEADER = """\
// Generated by the server from backline.protocol (protocol/browser.py) on each start.
// Do not edit or copy: import it, so the browser never drifts from the server.
const deepFreeze = (value) => {
  if (value !== null && typeof value === "object") {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
};
"""


def protocol_module(limits: Limits = DEFAULT_LIMITS) -> str:
    """The ES module text: one frozen ``export const`` per constant.

    Keys keep their Python order: the browser validates fields in schema order, so the
    first error it reports for a bad op is the one the server reports.
    """
    lines = [_HEADER]
    for name, value in protocol_constants(limits).items():
        lines.append(f"export const {name} = deepFreeze({json.dumps(value)});")
    return "\n".join(lines) + "\n"
