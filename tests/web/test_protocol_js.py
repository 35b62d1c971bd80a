"""The browser's protocol constants (GET /protocol.js) equal the Python definitions.

The module is loaded in a real Chromium from a real server and every export is
compared with backline.protocol; every range it advertises (also those inside
a loop, a transport and a pattern's lanes, a seek and a presence selection)
is checked against the Python validators at and just past its bounds, and the
close policy against protocol/errors.py. The modules that validate (ops.js,
replica.js) are checked to hold no number of their own.
"""

from __future__ import annotations

import json
import math
import re
import urllib.request
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pytest
from playwright.sync_api import Page

from backline.protocol import audio, messages, model, ops, timeline, transport
from backline.protocol import described as schema_descriptions
from backline.protocol.browser import protocol_constants
from backline.protocol.codec import SUBPROTOCOL
from backline.protocol.errors import (
    CLOSE_REASONS,
    FINAL_CLOSE_CODES,
    BacklineError,
    CloseCode,
    ErrorCode,
)
from backline.protocol.limits import DEFAULT_LIMITS
from backline.protocol.ops import OP_TYPES
from backline.protocol.timeline import DEFAULT_LEAD_US
from backline.protocol.transport import INTENTS
from backline.server.http.web import WEB_ROOT
from backline.testing import ServerProcess

LOAD_JS = """async () => {
  const m = await import("/protocol.js");
  return JSON.parse(JSON.stringify({...m, frozen: Object.isFrozen(m.SCHEMAS.note.pitch)}));
}"""


@pytest.fixture
def exported(page: Page, server: ServerProcess) -> dict[str, Any]:
    page.goto(server.http_url + "/")
    value: dict[str, Any] = page.evaluate(LOAD_JS)
    return value


def members(enum: Any) -> dict[str, Any]:
    return {m.name: m.value for m in enum}


def test_constants_equal_python(exported: dict[str, Any]) -> None:
    """Message types, codes, limits and constants are the protocol's own."""
    assert exported["SUBPROTOCOL"] == SUBPROTOCOL
    assert exported["CLIENT_TYPES"] == members(messages.ClientType)
    assert exported["SERVER_TYPES"] == members(messages.ServerType)
    assert exported["ROLES"] == members(messages.Role)
    assert exported["ERROR_CODES"] == members(ErrorCode)
    assert exported["CLOSE_CODES"] == members(CloseCode)
    assert exported["LIMITS"] == asdict(DEFAULT_LIMITS)
    assert exported["MESSAGE_LIMITS"] == {
        "max_token_len": messages.MAX_TOKEN_LEN,
        "max_sdp_len": messages.MAX_SDP_LEN,
        "max_gain": messages.MAX_GAIN,
        "max_gains": messages.MAX_GAINS,
        "max_rtt_us": messages.MAX_RTT_US,
    }
    assert exported["PRESENCE_FIELDS"] == list(messages.PRESENCE_FIELDS)
    assert exported["PPQ"] == model.PPQ == 960
    assert exported["PROJECT_ID"] == model.PROJECT_ID
    assert exported["KINDS"] == list(model.KINDS)
    assert exported["TRACK_KINDS"] == list(model.TRACK_KINDS)
    assert exported["MODES"] == list(model.MODES)
    assert exported["METER_DENOMINATORS"] == list(model.METER_DENOMINATORS)
    assert exported["OP_TYPES"] == list(OP_TYPES)
    assert exported["INTENTS"] == list(INTENTS)
    assert exported["DEFAULT_LEAD_US"] == DEFAULT_LEAD_US
    assert exported["frozen"] is True


def test_schemas_equal_python(exported: dict[str, Any]) -> None:
    """Same entities, fields, defaults and references as protocol/model.py."""
    schemas = exported["SCHEMAS"]
    assert set(schemas) == set(model.SCHEMAS)
    for kind, fields in model.SCHEMAS.items():
        assert set(schemas[kind]) == set(fields), kind
        for name, spec in fields.items():
            described = schemas[kind][name]
            assert described["default"] == spec.default, (kind, name)
            assert described["ref"] == spec.ref, (kind, name)


def rejects(check: Any, value: Any) -> bool:
    try:
        check("f", value, DEFAULT_LIMITS)
    except BacklineError:
        return True
    return False


def test_ranges_are_the_validators_ranges(exported: dict[str, Any]) -> None:
    """Each advertised range is exactly what the Python validator accepts."""
    checked = 0
    for kind, fields in exported["SCHEMAS"].items():
        for name, described in fields.items():
            check = model.SCHEMAS[kind][name].check
            kind_of = described["type"]
            if kind_of == "int":
                lo, hi = described["min"], described["max"]
                assert not rejects(check, lo) and not rejects(check, hi), (kind, name)
                assert rejects(check, lo - 1) and rejects(check, hi + 1), (kind, name)
                assert rejects(check, float(lo)), (kind, name)  # a float is not an int
            elif kind_of == "number":
                lo, hi = described["min"], described["max"]
                assert not rejects(check, lo) and not rejects(check, hi), (kind, name)
                assert rejects(check, lo - 1e-6) and rejects(check, hi + 1e-6), (kind, name)
            elif kind_of == "choice":
                for choice in described["choices"]:
                    assert not rejects(check, choice), (kind, name)
                assert rejects(check, "nope"), (kind, name)
            elif kind_of == "text":
                assert not rejects(check, "x" * described["max_len"])
                assert rejects(check, "x" * (described["max_len"] + 1))
            elif kind_of == "meter":
                lo, hi = described["numerator"]
                for den in described["denominators"]:
                    assert not rejects(check, [lo, den]) and not rejects(check, [hi, den])
                assert rejects(check, [hi + 1, 4]) and rejects(check, [4, 3])
            elif kind_of == "key":
                assert described["pattern"] == model._KEY_RE.pattern
            checked += 1
    assert checked == sum(len(f) for f in model.SCHEMAS.values())


def test_http_routes(server: ServerProcess) -> None:
    """/ is the web client, files and /protocol.js are typed, /healthz still answers."""

    def get(path: str) -> tuple[int, str, bytes]:
        try:
            with urllib.request.urlopen(server.http_url + path, timeout=10) as response:
                return response.status, response.headers["Content-Type"], response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers["Content-Type"], exc.read()

    status, content_type, body = get("/")
    assert status == 200 and content_type.startswith("text/html") and b"<html" in body
    status, content_type, body = get("/protocol.js")
    assert status == 200 and content_type.startswith("text/javascript")
    status, content_type, body = get("/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert get("/../pyproject.toml")[0] == 404
    assert get("/%2e%2e/pyproject.toml")[0] == 404
    assert get("/nothing.js")[0] == 404
    # the owner link opens the page with the session and token in the fragment
    assert server.owner_link.startswith(server.http_url + "/#session=")
    assert "&token=" in server.owner_link


# -- the close policy, the other constants, and the ranges inside structured fields ------


def exact(value: Any) -> Any:
    """Numbers as JSON carries them to and from the page: integers past 2**53 as doubles."""
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [exact(v) for v in value]
    if type(value) is int and abs(value) > 2**53:
        return float(value)
    return value


def test_close_policy_equals_python(exported: dict[str, Any]) -> None:
    """Why each close happened and which closes are final: protocol/errors.py's, code by code."""
    reasons = exported["CLOSE_REASONS"]
    assert reasons == {str(int(code)): text for code, text in CLOSE_REASONS.items()}
    assert exported["FINAL_CLOSE_CODES"] == sorted(int(code) for code in FINAL_CLOSE_CODES)
    assert {str(code.value) for code in CloseCode} <= reasons.keys()
    assert {str(code) for code in exported["FINAL_CLOSE_CODES"]} <= reasons.keys()
    assert CloseCode.PROTOCOL_VIOLATION in exported["FINAL_CLOSE_CODES"]  # the SDK's view (4002)
    assert CloseCode.SERVER_SHUTDOWN not in exported["FINAL_CLOSE_CODES"]


def test_time_audio_and_shapes_equal_python(exported: dict[str, Any]) -> None:
    """Musical time, the audio room's constants, op and intent shapes: the Python ones."""
    assert exported["US_PER_MINUTE"] == timeline.US_PER_MINUTE
    assert exported["MAX_LEAD_RTT_US"] == timeline.MAX_LEAD_RTT_US
    assert exported["BEAT_EPSILON"] == timeline.BEAT_EPSILON
    assert exported["SAMPLE_RATE"] == audio.SAMPLE_RATE
    assert exported["FRAME_MS"] == audio.FRAME_MS
    assert exported["MESSAGE_LIMITS"]["max_gain"] == audio.MAX_GAIN
    assert {
        kind: (set(shape["required"]), set(shape["optional"]))
        for kind, shape in exported["OP_KEYS"].items()
    } == ops.OP_KEYS
    assert set(exported["OP_KEYS"]) == set(OP_TYPES)
    assert {
        kind: (set(shape["required"]), set(shape["optional"]))
        for kind, shape in exported["INTENT_KEYS"].items()
    } == transport.INTENT_KEYS
    assert exported["REANCHOR_FIELDS"] == list(transport.REANCHOR_FIELDS)


def test_every_field_is_described_as_python(exported: dict[str, Any]) -> None:
    """For every entity kind and field of protocol/model.py: the type, range, choices,
    length, default, reference and requiredness `describe_schemas` gives, unchanged."""
    python = schema_descriptions.describe_schemas(DEFAULT_LIMITS)
    for kind, fields in model.SCHEMAS.items():
        for name in fields:
            described = exported["SCHEMAS"][kind][name]
            for key, value in python[kind][name].items():
                assert exact(described[key]) == exact(value), (kind, name, key)


def next_out(value: float, direction: float) -> float:
    """The first value past a bound that a page can tell apart from it."""
    if type(value) is int and abs(value) < 2**53:
        return value + (1 if direction > 0 else -1)
    step = math.nextafter(float(value), direction)
    return int(step) if type(value) is int else step


def refuses(check: Callable[[Any], Any], value: Any) -> bool:
    try:
        check(value)
    except BacklineError:
        return True
    return False


def test_ranges_inside_structured_fields_are_the_validators(exported: dict[str, Any]) -> None:
    """Each range ops.js and replica.js read from inside loop, transport and lanes (and a
    step set with `at`, a seek, a presence selection) is what Python accepts, to the value."""
    limits = DEFAULT_LIMITS
    project, lanes = model.SCHEMAS["project"], model.SCHEMAS["pattern"]["lanes"]
    # the page's copy is the generated one (integers past 2**53 travel as doubles) ...
    generated = protocol_constants(limits)
    for name in ("SCHEMAS", "SEEK_BEAT", "PRESENCE_LIMITS"):
        assert exact(exported[name]) == exact(generated[name]), name
    # ... and the generated one is exact: it is checked against the validators
    schemas = generated["SCHEMAS"]

    def loop(**fields: Any) -> Callable[[Any], Any]:
        return lambda v: project["loop"].check("loop", {"on": False, **fields, **v}, limits)

    def anchor(name: str) -> Callable[[Any], Any]:
        base = {"playing": False, "beat": 0.0, "time": 0}
        return lambda v: project["transport"].check("transport", {**base, name: v}, limits)

    def lane(name: str) -> Callable[[Any], Any]:
        if name == "sound":
            return lambda v: lanes.check("lanes", [{"sound": v, "steps": []}], limits)
        return lambda v: lanes.check("lanes", [{"sound": 0, "steps": [v]}], limits)

    def step_at(v: Any) -> Any:
        doc = model.Document(limits)
        ops.apply(doc, {"op": "insert", "kind": "track", "id": "t", "value": {}})
        lane = {"sound": 36, "steps": [0] * 4}
        value = {"track": "t", "length": 4, "lanes": [lane]}
        ops.apply(doc, {"op": "insert", "kind": "pattern", "id": "p", "value": value})
        return ops.apply(doc, {"op": "set", "id": "p", "field": "steps", "at": [0, 0], "value": v})

    def seek(v: Any) -> Any:
        return transport.resolve(model.Document(limits), [{"op": "seek", "beat": v}], 0, 0)

    tick = schemas["project"]["loop"]["tick"]
    lo, hi = tick["min"], tick["max"]
    assert tick["type"] == "int"
    # start and end share one range: each end of it, on both of them
    assert not refuses(loop(end=lo + 1), {"start": lo})
    assert refuses(loop(end=lo + 1), {"start": next_out(lo, -math.inf)})
    assert not refuses(loop(start=lo), {"end": hi})
    assert refuses(loop(start=lo), {"end": next_out(hi, math.inf)})
    assert refuses(loop(end=hi), {"start": next_out(hi, math.inf)})
    assert refuses(loop(start=lo), {"end": next_out(lo, -math.inf)})
    checked = {("project", "loop", "tick")}

    ranges: dict[tuple[str, str, str], Callable[[Any], Any]] = {
        ("project", "transport", "beat"): anchor("beat"),
        ("project", "transport", "time"): anchor("time"),
        ("pattern", "lanes", "sound"): lane("sound"),
        ("pattern", "lanes", "step"): lane("step"),
    }
    for (kind, field, part), check in ranges.items():
        described = schemas[kind][field][part]
        lo, hi = described["min"], described["max"]
        assert not refuses(check, lo) and not refuses(check, hi), part
        assert refuses(check, next_out(lo, -math.inf)), part
        assert refuses(check, next_out(hi, math.inf)), part
        if described["type"] == "int":
            assert refuses(check, lo + 0.5), part
        checked.add((kind, field, part))

    step = schemas["pattern"]["lanes"]["step"]  # a step set with `at` takes the same range
    assert not refuses(step_at, step["min"]) and not refuses(step_at, step["max"])
    assert refuses(step_at, step["min"] - 1) and refuses(step_at, step["max"] + 1)

    described = schemas["pattern"]["lanes"]
    assert described["max_lanes"] == limits.max_lanes
    assert described["max_steps"] == limits.max_steps
    one = {"sound": 0, "steps": []}
    assert not refuses(lambda n: lanes.check("lanes", [one] * n, limits), limits.max_lanes)
    assert refuses(lambda n: lanes.check("lanes", [one] * n, limits), limits.max_lanes + 1)
    many = lambda n: lanes.check("lanes", [{"sound": 0, "steps": [0] * n}], limits)  # noqa: E731
    assert not refuses(many, limits.max_steps) and refuses(many, limits.max_steps + 1)

    beat = generated["SEEK_BEAT"]
    assert beat["type"] == "number"
    assert not refuses(seek, beat["min"]) and not refuses(seek, beat["max"])
    assert refuses(seek, next_out(beat["min"], -math.inf))
    assert refuses(seek, next_out(beat["max"], math.inf))
    assert (
        beat["max"]
        == schema_descriptions.describe(model.BEAT)["max"]
        == schemas["project"]["transport"]["beat"]["max"]
    )

    selection = generated["PRESENCE_LIMITS"]["max_selection"]
    select = lambda n: messages.check_presence({"selection": ["a"] * n}, limits)  # noqa: E731
    assert not refuses(select, selection) and refuses(select, selection + 1)

    # every range nested in a field's description is one of those checked here
    nested = {
        (kind, field, part)
        for kind, fields in schemas.items()
        for field, spec in fields.items()
        for part, value in spec.items()
        if isinstance(value, dict) and value.get("type") in ("int", "number")
    }
    assert nested == checked


NUMBER = re.compile(r"(?<![\w.$])(\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?)(?![\w$])", re.IGNORECASE)


def numbers_in_code(source: str) -> set[float]:
    """Numeric literals of a module's code: not in comments, strings or template text
    (the expressions inside a template's ``${…}`` are code)."""
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    source = re.sub(r"(?<![:\\])//[^\n]*", "", source)
    source = re.sub(
        r"`(?:[^`\\]|\\.)*`",
        lambda m: " ".join(re.findall(r"\$\{([^}]*)\}", m.group(0))),
        source,
    )
    source = re.sub(r"\"(?:[^\"\\\n]|\\.)*\"", '""', source)
    return {float(m.group(1).replace("_", "")) for m in NUMBER.finditer(source)}


def test_validating_modules_hold_no_range_of_their_own() -> None:
    """ops.js and replica.js take every range, length and default from /protocol.js: the
    only numbers in their code are 0, 1 and 2 (indices, pairs) and 32 (a message's cut)."""
    for name in ("ops.js", "replica.js"):
        found = numbers_in_code((WEB_ROOT / name).read_text(encoding="utf-8"))
        assert found <= {0, 1, 2, 32}, (name, sorted(found - {0, 1, 2, 32}))
    net = (WEB_ROOT / "net.js").read_text(encoding="utf-8")
    assert "FINAL_CLOSE_CODES" in net and "CLOSE_REASONS" in net
    assert not {code.value for code in CloseCode} & numbers_in_code(net)
