"""Log records never carry a token nor a raw control character: the filter on the log handlers."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from backline.protocol.tokens import mint
from backline.server.logs import CleanRecords, configure_logging, escape_controls, redact

TOKEN = mint(b"secret", "jam", "owner", nonce="0123456789ab")
SIGNATURE = TOKEN.split(".")[-1]
# the format before key ids (still accepted, so still redacted)
V1_TOKEN = (
    "v1.eyJzIjoiamFtIiwiciI6Im93bmVyIiwiZSI6bnVsbH0.c2lnbmF0dXJlLW9mLWEtdjEtdG9rZW4tZm9yLXRlc3Rz"
)


def encoded(text: str, hex_format: str = "%{:02X}") -> str:
    """Every character of `text` percent-encoded."""
    return "".join(hex_format.format(byte) for byte in text.encode())


@pytest.mark.parametrize(
    "text",
    [
        f"hello with {TOKEN}",
        f"< GET /?session=jam&token={TOKEN} HTTP/1.1",
        f"< Authorization: Bearer {TOKEN}",
        f"""< TEXT '{{"type": "hello", "token": "{TOKEN}"}}'""",
        f"{{'token': '{TOKEN}'}}",
        "< GET /?token=hunter2&x=1 HTTP/1.1",
        f"hello with {V1_TOKEN}",
    ],
)
def test_redact_removes_tokens(text: str) -> None:
    clean = redact(text)
    assert TOKEN not in clean and "hunter2" not in clean and V1_TOKEN not in clean
    assert SIGNATURE not in clean and V1_TOKEN.split(".")[-1] not in clean
    assert "***" in clean


def test_redact_keeps_ordinary_text() -> None:
    for text in (
        "refused for session jam: token signature does not match",
        "v1.2 loaded",
        "v2.0.1 released",
    ):
        assert redact(text) == text


def test_filter_rewrites_args_and_exception_text() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "got %s", (TOKEN,), None)
    assert CleanRecords().filter(record)
    assert record.getMessage() == "got ***"
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    CleanRecords().filter(record)
    assert record.exc_text is not None and TOKEN not in record.exc_text
    assert "ValueError" in record.exc_text


@pytest.mark.parametrize(
    "text",
    [
        TOKEN.replace(".", "%2E"),  # the dots encoded, as ?token=v2%2E…%2E… would be sent
        TOKEN.replace(".", "%2e"),
        encoded(TOKEN),  # every character
        encoded(TOKEN, "%{:02x}"),
        TOKEN.replace(".", "%252E"),  # encoded twice
        "v2." + encoded(TOKEN[3:]),  # any part of it
        f"< GET /recordings/jam?tok%65n={TOKEN.replace('.', '%2E')} HTTP/1.1",
        f"< GET /recordings/jam?%74%6F%6B%65%6E={encoded(TOKEN)}&x=1 HTTP/1.1",
        f"glued{TOKEN}",
    ],
)
def test_redact_removes_percent_encoded_tokens(text: str) -> None:
    clean = redact(text)
    assert "***" in clean
    for secret in (SIGNATURE, encoded(SIGNATURE), encoded(SIGNATURE, "%{:02x}")):
        assert secret.lower() not in clean.lower()


def test_redact_hides_values_of_percent_encoded_token_names() -> None:
    assert redact("< GET /x?tok%65n=hunter2&n=1 HTTP/1.1") == "< GET /x?tok%65n=***&n=1 HTTP/1.1"
    assert redact("?%54OKEN%3Dhunter2") == "?%54OKEN%3D***"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (
            "eve\n2026-12-02 12:00:00,000 INFO x: forged",
            "eve\\n2026-12-02 12:00:00,000 INFO x: forged",
        ),
        ("a\rb\tc", "a\\rb\\tc"),
        ("\x1b[2Jclear", "\\x1b[2Jclear"),
        ("nul\x00 del\x7f nel\x85 csi\x9b", "nul\\x00 del\\x7f nel\\x85 csi\\x9b"),
        ("ls\u2028ps\u2029", "ls\\u2028ps\\u2029"),
        ("vt\x0bff\x0cfs\x1c", "vt\\x0bff\\x0cfs\\x1c"),
        ("rtl\u202eevil\u2066", "rtl\\u202eevil\\u2066"),
        ("plain ascii, é, 🥁, \\ stays", "plain ascii, é, 🥁, \\ stays"),
    ],
)
def test_escape_controls_writes_control_characters_as_escapes(raw: str, shown: str) -> None:
    escaped = escape_controls(raw)
    assert escaped == shown
    assert len(escaped.splitlines()) == 1  # whatever a reader takes for a line break


def test_filter_escapes_messages_and_arguments_but_keeps_traceback_lines() -> None:
    name = "eve\n2026-12-02 12:00:00,000 INFO backline.session: forged"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s (%s) joined", ("c1", name), None)
    assert CleanRecords().filter(record)
    assert (
        record.getMessage()
        == "c1 (eve\\n2026-12-02 12:00:00,000 INFO backline.session: forged) joined"
    )
    try:
        raise ValueError("bad\x1b[2J name\u2028here")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    CleanRecords().filter(record)
    assert record.exc_text is not None
    assert record.exc_text.count("\n") >= 2  # a traceback: still several lines
    assert "bad\\x1b[2J name\\u2028here" in record.exc_text
    assert "\x1b" not in record.exc_text and "\u2028" not in record.exc_text


def test_configure_logging_installs_the_filter_once() -> None:
    """Every handler of the root logger gets the filter, so every logger's records pass it."""
    root, wire = logging.getLogger(), logging.getLogger("websockets")
    saved = root.handlers[:], root.level, wire.level
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root.handlers[:] = [handler]
    try:
        configure_logging("INFO")
        configure_logging("INFO")
        assert sum(isinstance(f, CleanRecords) for f in handler.filters) == 1
        logging.getLogger("backline.test").warning("name %s", f"x\ny {TOKEN}")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        wire.setLevel(saved[2])
    assert stream.getvalue() == "name x\\ny ***\n"
