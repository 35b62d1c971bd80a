"""`python -m backline.server [flags]`: the same as `backline serve [flags]`."""

from backline.server.config import parse_serve_args
from backline.server.logs import configure_logging
from backline.server.runtime import run_server

settings = parse_serve_args()
configure_logging(settings.log_level)
run_server(settings)
