"""Log records never carry a token: the redaction filter on the server's log handlers."""

from __future__ import annotations

import logging

import pytest

from backline.protocol.tokens import mint
from backline.server.logs import RedactTokens, redact

TOKEN = mint(b"secret", "jam", "owner")


@pytest.mark.parametrize(
    "text",
    [
        f"hello with {TOKEN}",
        f"< GET /?session=jam&token={TOKEN} HTTP/1.1",
        f"< Authorization: Bearer {TOKEN}",
        f"""< TEXT '{{"type": "hello", "token": "{TOKEN}"}}'""",
        f"{{'token': '{TOKEN}'}}",
        "< GET /?token=hunter2&x=1 HTTP/1.1",
    ],
)
def test_redact_removes_tokens(text: str) -> None:
    clean = redact(text)
    assert TOKEN not in clean and "hunter2" not in clean
    assert TOKEN.split(".")[2] not in clean
    assert "***" in clean


def test_redact_keeps_ordinary_text() -> None:
    for text in ("refused for session jam: token signature does not match", "v1.2 loaded"):
        assert redact(text) == text


def test_filter_rewrites_args_and_exception_text() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "got %s", (TOKEN,), None)
    assert RedactTokens().filter(record)
    assert record.getMessage() == "got ***"
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    RedactTokens().filter(record)
    assert record.exc_text is not None and TOKEN not in record.exc_text
    assert "ValueError" in record.exc_text
