"""What every Backline process needs before it serves or connects: its event loop and secret.

`run_loop` runs a coroutine on uvloop when it is installed (else plain asyncio);
`run_server` runs `backline serve` on it (`python -m backline.server` is the
same), and the commands that connect as clients (`backline state`, `backline
bot`) start through `run_loop` too. `load_secret` reads the token secret from
`<data_dir>/secret`, or creates it there once: the server creates it,
`backline token` and the bots only read it.

Cheap to import (no websockets, no store): `backline token` loads this module.
The SDK (`backline.client`) never does: it leaves the event loop to its caller,
and must not import the server.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import secrets
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from backline.server.config import ConfigError, Settings

__all__ = ["SECRET_FILE", "MissingSecret", "load_secret", "run_loop", "run_server"]

log = logging.getLogger("backline.server")

T = TypeVar("T")

SECRET_FILE = "secret"  # inside the data dir, mode 0600


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a new event loop: uvloop's when available."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        return asyncio.run(main)
    return uvloop.run(main)


def run_server(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT; settings found unusable at start exit naming the flags."""
    from backline.server.app import run  # here, not above: token minting needs no server

    try:
        run_loop(run(settings))
    except ConfigError as exc:  # e.g. a certificate whose key cannot be loaded
        raise SystemExit(f"backline serve: error: {exc}") from None
    except OSError as exc:  # the address: a sentence naming the flags, not a traceback
        where = f"{settings.host}:{settings.port}"
        if exc.errno == errno.EADDRINUSE:
            raise SystemExit(
                f"backline serve: error: {where} is already in use (another server?): "
                "stop it, or pick another --port (0 picks a free one)"
            ) from None
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
            raise SystemExit(
                f"backline serve: error: cannot listen on {where} ({exc.strerror}): "
                "check --host and --port"
            ) from None
        raise


class MissingSecret(FileNotFoundError):
    """No secret configured and none in the data dir (only when asked not to create one)."""


def load_secret(secret: str | None, data_dir: Path, *, create: bool) -> bytes:
    """The token secret: `secret` if given, else the one kept in `<data_dir>/secret`.

    With `create`, a missing file is made once (32 random bytes in hex, mode
    0600, never overwritten); without it a missing file raises `MissingSecret`.
    """
    if secret:
        return secret.encode()
    path = Path(data_dir) / SECRET_FILE
    if path.exists():
        return path.read_text().strip().encode()
    if not create:
        raise MissingSecret(
            f"no secret at {path}; start `backline serve` once with this --data-dir, "
            "or pass --secret / BACKLINE_SECRET"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never overwrite
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    log.info("created a new token secret in %s", path)
    return value.encode()
