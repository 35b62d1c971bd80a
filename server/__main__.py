"""`python -m backline.server [flags]`: the same as `backline serve [flags]`."""

import asyncio
import logging

from .app import run
from .config import parse_serve_args

settings = parse_serve_args()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logging.getLogger("websockets").setLevel(logging.WARNING)  # one line per connection is noise
try:
    import uvloop
except ImportError:  # pragma: no cover
    asyncio.run(run(settings))
else:
    uvloop.run(run(settings))
