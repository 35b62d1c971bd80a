"""Logging setup for the server: level, format, and every record made safe to write.

Log records carry what clients send: display names, session ids, request
lines and headers (at DEBUG the `websockets` library logs those, and frames).
Two things must never reach the log through them:

- **Tokens.** They are credentials. They travel in `hello` frames, and a
  careless client may put one in a URL query, possibly percent-encoded
  (``v2%2E…``, ``tok%65n=…``). Anything shaped like a token, written plainly
  or percent-encoded (at any depth: ``%252E`` is ``%2E`` once decoded), and
  any ``token=`` value, becomes ``***``.
- **Control characters.** A display name holding a newline would start a
  forged log line; ``\\x1b`` sequences rewrite a terminal; ``\\u2028`` and
  ``\\x85`` break lines in some viewers; bidi controls reorder a line as
  shown. Each is written escaped instead (``\\n``, ``\\x1b``, ``\\u2028``), so
  one record is one line. A traceback keeps its own newlines (only its other
  control characters are escaped).

One filter on the root handlers does both to every record, whoever logged it,
so no call site has to remember. (The owner link printed at start goes to
stdout for the operator on purpose; it is not a log record.)
"""

from __future__ import annotations

import logging
import re
import string

__all__ = ["CleanRecords", "configure_logging", "escape_controls", "redact"]

# a percent-encoded byte, perhaps encoded again: %2E, %252E, %25252E ... all decode to "."
_PCT = "%(?:25)*"
_TOKEN_CHARS = string.ascii_letters + string.digits + "_-"


def _encoded(chars: str) -> str:
    """A pattern for any of `chars` percent-encoded (hex digits in either case)."""
    return _PCT + "(?:" + "|".join(sorted({f"{ord(c):02x}" for c in chars})) + ")"


def _spelled(char: str) -> str:
    """A pattern for `char` as written or percent-encoded, in either letter case."""
    both = char.lower() + char.upper()
    return f"(?:[{re.escape(both)}]|{_encoded(both)})"


_CHAR = f"(?:[A-Za-z0-9_-]|{_encoded(_TOKEN_CHARS)})"
_DOT = f"(?:\\.|{_encoded('.')})"
# v2.<key id>.<base64url claims>.<base64url signature>, as protocol/tokens.py mints them
# (and v1.<claims>.<signature>, as it did before key ids); no word boundary before it, so
# that a token glued to other text (``xv2.…``) is redacted too
_VERSION = f"{_spelled('v')}(?:{_spelled('1')}|{_spelled('2')})"
_TOKEN = re.compile(
    f"{_VERSION}{_DOT}(?:{_CHAR}{{8,}}{_DOT})?{_CHAR}{{8,}}{_DOT}{_CHAR}{{16,}}", re.IGNORECASE
)
# token=VALUE in a query or fragment (the name perhaps percent-encoded), "token": "VALUE"
# in JSON or a repr
_NAME = "".join(_spelled(c) for c in "token")
_TOKEN_FIELD = re.compile(
    f"""({_NAME}["']?\\s*(?:[=:]|{_encoded("=")})\\s*["']?)[^\\s"'&#,}}]+""", re.IGNORECASE
)

# the C0 controls after newline (\x0b-\x1f: carriage return, escape ...), DEL, the C1 controls
# (NEL ...), the Unicode line and paragraph separators, the bidi controls that reorder a line
# as displayed; _CONTROL adds \x00-\x0a (tab, newline), _CONTROL_BUT_NEWLINE all but newline
_OTHER_CONTROLS = "\x0b-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\x00-\x0a{_OTHER_CONTROLS}]")
_CONTROL_BUT_NEWLINE = re.compile(f"[\x00-\x09{_OTHER_CONTROLS}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def redact(text: str) -> str:
    """`text` with every token, plain or percent-encoded, replaced by ``***``."""
    return _TOKEN_FIELD.sub(r"\1***", _TOKEN.sub("***", text))


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control character written as an escape (``\\n``, ``\\x1b``, ``\\u2028``).

    With `keep_newlines`, ``\\n`` stays a line break (for tracebacks, which are
    several lines by design).
    """
    pattern = _CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL
    return pattern.sub(_escaped, text)


class CleanRecords(logging.Filter):
    """Rewrites each record's message and traceback: no tokens, no raw control characters."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call; logging reports it when formatting
            return True
        clean = escape_controls(redact(message))
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = escape_controls(redact(record.exc_text), keep_newlines=True)
        if record.stack_info:
            record.stack_info = escape_controls(redact(record.stack_info), keep_newlines=True)
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
        if not any(isinstance(f, CleanRecords) for f in handler.filters):
            handler.addFilter(CleanRecords())
