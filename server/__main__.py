"""`python -m backline.server [flags]`: the same as `backline serve [flags]`."""

import asyncio

from backline.server.app import run
from backline.server.config import ConfigError, parse_serve_args
from backline.server.logs import configure_logging

settings = parse_serve_args()
configure_logging(settings.log_level)
try:
    import uvloop
except ImportError:  # pragma: no cover
    runner = asyncio.run
else:
    runner = uvloop.run
try:
    runner(run(settings))
except ConfigError as exc:
    raise SystemExit(f"backline serve: error: {exc}") from None
