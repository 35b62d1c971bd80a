"""Logging setup for the server: level, format, and tokens kept out of every record.

Tokens are credentials. They travel in `hello` frames, and a careless client
may put one in a URL query; at DEBUG the `websockets` library logs request
lines and frames. A filter on the root handlers rewrites every record before
it is written: anything shaped like a token, and any ``token=`` value, becomes
``***``. (The owner link printed at start goes to stdout for the operator on
purpose; it is not a log record.)
"""

from __future__ import annotations

import logging
import re

__all__ = ["RedactTokens", "configure_logging", "redact"]

# v1.<base64url claims>.<base64url signature>, as protocol/tokens.py mints them
_TOKEN = re.compile(r"\bv1\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
# token=VALUE in a query or fragment, "token": "VALUE" in JSON or a repr
_TOKEN_FIELD = re.compile(r"""(token["']?\s*[=:]\s*["']?)[^\s"'&#,}]+""", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with every token replaced by ``***``."""
    return _TOKEN_FIELD.sub(r"\1***", _TOKEN.sub("***", text))


class RedactTokens(logging.Filter):
    """Rewrites each record's message (and exception text) without tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call; logging reports it when formatting
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr at `level`; `websockets` gets its wire trace only at DEBUG."""
    value = getattr(logging, level.upper(), None)
    numeric = value if isinstance(value, int) else logging.INFO
    logging.basicConfig(level=numeric, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # one line per connection is noise unless debugging
    logging.getLogger("websockets").setLevel(
        logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING
    )
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactTokens) for f in handler.filters):
            handler.addFilter(RedactTokens())
