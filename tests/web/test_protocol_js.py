"""The browser's protocol constants (GET /protocol.js) equal the Python definitions.

The module is loaded in a real Chromium from a real server and every export is
compared with backline.protocol; every range it advertises is checked against
the Python validators at and just past its bounds.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import asdict
from typing import Any

import pytest
from playwright.sync_api import Page

from backline.protocol import messages, model
from backline.protocol.codec import SUBPROTOCOL
from backline.protocol.errors import BacklineError, CloseCode, ErrorCode
from backline.protocol.limits import DEFAULT_LIMITS
from backline.protocol.ops import OP_TYPES
from backline.protocol.timeline import DEFAULT_LEAD_US
from backline.protocol.transport import INTENTS
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
