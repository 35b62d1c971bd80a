"""The server process: websocket endpoint, HTTP routes, store, graceful shutdown.

`serve(settings)` is the library entry point (an async context manager);
`run(settings)` is what `backline serve` calls: it adds signal handling and
prints where to connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import secrets
import signal
import socket
import ssl
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.http11 import Request, Response
from websockets.typing import Origin, Subprotocol

from backline.protocol.codec import SUBPROTOCOL
from backline.protocol.errors import BacklineError, CloseCode, Unavailable
from backline.protocol.messages import Role
from backline.protocol.model import Document
from backline.protocol.routing import path_session
from backline.protocol.sequencer import Sequencer
from backline.protocol.tokens import Keyring, mint, token_id
from backline.server import gc_tuning, runtime
from backline.server.config import ConfigError, Settings, files_root
from backline.server.gc_tuning import timed_collections
from backline.server.http.auth import revoked_answer
from backline.server.http.history import history_request
from backline.server.http.recordings import recordings_request
from backline.server.http.renders import renders_request
from backline.server.http.responses import ALLOWED_METHODS, harden, method_not_allowed, response
from backline.server.http.samples import open_instruments, samples_request
from backline.server.http.web import web_file
from backline.server.ice import check_interfaces
from backline.server.rendering.jobs import Renders
from backline.server.rendering.versions import document_at
from backline.server.sessions.connection import handle_connection
from backline.server.sessions.hub import Hub
from backline.server.sessions.past import Past
from backline.server.storage.base import Store
from backline.server.storage.bus import Bus, MemoryBus
from backline.server.storage.memory import MemoryStore
from backline.server.tls import certificate_names, fingerprint, self_signed
from backline.server.wire.connection import WRITE_PAUSE_BYTES, ConnectionPolicy, DirectConnection

__all__ = ["Running", "Tls", "load_secret", "run", "serve", "tls_context"]

log = logging.getLogger("backline.server")


@dataclass(slots=True)
class Running:
    """A started server: where it listens and what it holds."""

    settings: Settings
    hub: Hub
    store: Store
    ws_server: Server
    secret: Keyring
    host: str
    port: int
    tls: Tls | None = None  # None: plain http:// and ws://

    @property
    def http_url(self) -> str:
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def guest_url(self) -> str:
        """The address to give guests: `http_url`, with this machine's name for a server
        that listens on every interface (`0.0.0.0` is no address to type)."""
        if self.settings.public_url or self.host not in ("0.0.0.0", "::"):
            return self.http_url
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{socket.gethostname()}:{self.port}"

    @property
    def ws_url(self) -> str:
        return "ws" + self.http_url[4:] if self.http_url.startswith("http") else self.http_url

    def token(
        self,
        session: str,
        role: Role = Role.OWNER,
        expires: int | None = None,
        *,
        may_create: bool = False,
    ) -> str:
        return mint(
            self.secret, session, role, expires, nonce=secrets.token_hex(6), may_create=may_create
        )

    def owner_link(self) -> tuple[str, str, int]:
        """The link printed at start, its token and when it expires (`--owner-link-ttl`)."""
        expires = int(time.time() + self.settings.owner_link_ttl)
        token = self.token(self.settings.session, Role.OWNER, expires, may_create=True)
        link = f"{self.guest_url}/#session={self.settings.session}&token={token}"
        return link, token, expires


def load_secret(settings: Settings) -> Keyring:
    """The token keys: the secret (configured, or kept in <data_dir>/secret, created once)
    to sign with, and `--old-secrets` still accepted."""
    current = runtime.load_secret(settings.secret, settings.data_dir, create=True)
    return Keyring(current, tuple(old.encode() for old in settings.old_secrets))


@dataclass(frozen=True, slots=True)
class Tls:
    """What the server serves `https://` and `wss://` with."""

    context: ssl.SSLContext
    certfile: str
    fingerprint: str  # the certificate's SHA-256, as browsers show it
    self_signed: bool  # the one kept in <data-dir>/tls/ (`--tls self-signed`)


def tls_context(settings: Settings) -> Tls | None:
    """The server's TLS: `--certfile`'s, else with `--tls self-signed` the certificate kept
    in the data dir (made once, again when it no longer fits), else None (plain TCP)."""
    if settings.certfile:
        if settings.tls == "self-signed":
            log.info("tls: serving --certfile %s, not a self-signed certificate", settings.certfile)
        certfile, keyfile = settings.certfile, settings.keyfile
        where = f"--certfile {certfile} / --keyfile {keyfile}"
        hint = "" if keyfile else " (no --keyfile: the key must be in --certfile)"
    elif settings.tls == "self-signed":
        names = certificate_names(settings.host, settings.tls_names)
        try:
            cert, key = self_signed(settings.data_dir, names)
        except OSError as exc:
            raise ConfigError(
                f"--tls self-signed: cannot keep the certificate in {settings.data_dir}: {exc}"
            ) from None
        certfile, keyfile = str(cert), str(key)
        where = f"--tls self-signed ({cert} / {key})"
        hint = f" (delete {cert.parent} to make a new pair)"
    else:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
        with open(certfile, "rb") as f:
            shown = fingerprint(f.read())
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(
                f"{where}: the key does not match the certificate (give the key the"
                " certificate was made with)"
            ) from None
        raise ConfigError(f"{where}: cannot load the certificate and key{hint}: {exc}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot load the certificate and key{hint}: {exc}") from None
    return Tls(context, certfile, shown, self_signed=certfile != settings.certfile)


def open_store(settings: Settings, node: str) -> tuple[Store, Bus]:
    """The store and bus `settings` ask for: Redis when a URL is given, else embedded."""
    if settings.redis_url:
        from backline.server.storage.archive import SegmentArchive
        from backline.server.storage.redis import RedisStore
        from backline.server.storage.redis_bus import RedisBus

        keep = settings.history == "keep"
        archive = SegmentArchive(Path(settings.archive_dir)) if settings.archive_dir else None
        redis = RedisStore(settings.redis_url, node=node, keep_history=keep, archive=archive)
        return redis, RedisBus(settings.redis_url, node=node)
    bus = MemoryBus(node)
    if settings.store == "memory":
        return MemoryStore(keep_history=settings.history == "keep"), bus
    from backline.server.storage.sqlite import SQLiteStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = SQLiteStore(
        Path(settings.data_dir),
        synchronous=settings.sqlite_synchronous,
        commit_interval=settings.sqlite_commit_interval_ms / 1000,
        keep_history=settings.history == "keep",
    )
    return store, bus


def _redacted(url: str) -> str:
    """The URL without its password, for logs."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


async def log_redis_persistence(store: Store) -> None:
    """Say how durable Redis is; acknowledged edits survive a Redis restart only with AOF."""
    persistence = getattr(store, "persistence", None)
    if persistence is None:
        return
    try:
        found: dict[str, str] = await persistence()
    except Unavailable as exc:
        log.warning("redis: cannot read persistence settings: %s", exc)
        return
    log.info("redis persistence: %s", ", ".join(f"{k}={v}" for k, v in sorted(found.items())))
    if found.get("appendonly") != "yes":
        log.warning(
            "redis: AOF is off (appendonly=%s): acknowledged edits can be lost if Redis "
            "restarts; set appendonly yes and appendfsync always (or everysec)",
            found.get("appendonly", "unknown"),
        )
    elif found.get("appendfsync") not in ("always", None):
        log.warning(
            "redis: appendfsync=%s: up to a second of acknowledged edits can be lost on a "
            "power failure; appendfsync always closes that window",
            found.get("appendfsync"),
        )


# the classic text format that prometheus_client.generate_latest writes
_PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Running]:
    """Run a server until the context exits; shutdown drains every session first."""
    tls = tls_context(settings)  # first: a certificate that cannot work stops the start
    check_interfaces(settings.rtc_interface)
    secret = load_secret(settings)
    node = settings.node_id or secrets.token_hex(4)
    store, bus = open_store(settings, node)
    await log_redis_persistence(store)
    connections = DirectConnection.for_server(
        ConnectionPolicy(
            send_budget=settings.send_buffer_bytes,
            slow_timeout=settings.slow_timeout,
            max_connections=settings.max_connections,
            max_pending_per_address=settings.max_pending_per_address,
        )
    )
    hub = Hub(store, bus, settings, connections.admission.stats)
    hub.past = past = Past(store, settings, secret)

    def live_sequencer(name: str) -> Sequencer | None:
        session = hub.sessions.get(name)
        return None if session is None else session.seq

    sample_cache = settings.data_dir / "samples"
    instruments = await asyncio.to_thread(open_instruments, settings.soundfont, sample_cache)
    if instruments.bank is None:
        log.warning("instruments: %s; browsers play their built-in synth", instruments.reason)
    else:
        log.debug("instruments: %s through FluidSynth", instruments.bank.font)
    renders = Renders(
        files_root(settings) / "renders",
        instruments.bank.font if instruments.bank else None,
        sample_cache,
        queue=settings.render_queue,
        timeout=settings.render_timeout,
        max_seconds=settings.render_max_seconds,
        keep=settings.renders_kept,
    )

    async def session_document(name: str, version: int | None) -> tuple[Document, int]:
        live = hub.sessions.get(name)
        seq = live.seq if live is not None else None
        return await document_at(store, name, version, settings.limits, seq)

    async def routes(connection: ServerConnection, request: Request) -> Response | None:
        """GET and HEAD (HEAD: GET's status and headers, no body), and POST to start a
        render; see `responses`."""
        path = request.path.split("?", 1)[0]
        query = request.path.partition("?")[2]
        revoked = await revoked_answer(path, query, request.headers, secret, hub.refusal)
        if revoked is not None:  # an owner revoked this token in the session's log
            return response(revoked.status, revoked.body, revoked.content_type, revoked.headers)
        if request.method == "POST" and path.startswith("/renders/"):
            answer = await renders_request(
                "POST", request.path, request.headers, secret, renders, session_document
            )
            assert answer is not None
            return response(answer.status, answer.body, answer.content_type, answer.headers)
        if request.method not in ALLOWED_METHODS:
            return method_not_allowed()
        if request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket":
            try:  # /s/<session> binds the connection to it (connection.py checks the hello)
                path_session(path)
            except BacklineError as exc:
                why = f"{exc.message}\n".encode()
                return response(http.HTTPStatus.BAD_REQUEST, why, "text/plain; charset=utf-8")
            return None
        head = request.method == "HEAD"
        if path == "/healthz":
            store_ok = hub.store_ok and await store.healthy()
            bus_ok = await bus.healthy()
            body = {
                "status": "ok" if store_ok and bus_ok and not hub.closing else "degraded",
                "store": store_ok,
                "bus": bus_ok,
                "node": node,
            }
            body.update(hub.health())
            status = (
                http.HTTPStatus.OK
                if body["status"] == "ok"
                else http.HTTPStatus.SERVICE_UNAVAILABLE
            )
            return response(status, json.dumps(body).encode(), "application/json", head=head)
        if path == "/metrics":
            metrics = hub.metrics.exposition()
            return response(http.HTTPStatus.OK, metrics, _PROMETHEUS_TEXT, head=head)
        answer = await recordings_request(
            request.path, request.headers, files_root(settings) / "recordings", secret
        )
        if answer is None:
            answer = await samples_request(request.path, request.headers, secret, instruments)
        if answer is None:
            answer = await history_request(
                request.path, request.headers, secret, past.history, live_sequencer
            )
        if answer is None:
            answer = await renders_request(
                "GET", request.path, request.headers, secret, renders, session_document
            )
        if answer is not None:
            extra = answer.headers
            return response(answer.status, answer.body, answer.content_type, extra, head=head)
        found = web_file(path, settings.limits)
        if found is not None:
            return response(http.HTTPStatus.OK, *found, head=head)
        return response(
            http.HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", head=head
        )

    async def handler(ws: ServerConnection) -> None:
        await handle_connection(ws, hub, secret)

    def answered(connection: ServerConnection, request: Request, answer: Response) -> None:
        harden(connection, request, answer)
        answer.headers["Backline-Node"] = node  # which process answered (behind a balancer)

    ws_server = await ws_serve(
        handler,
        settings.host,
        settings.port,
        subprotocols=[Subprotocol(SUBPROTOCOL)],
        compression=None,  # per-message deflate costs more CPU than it saves here
        process_request=routes,
        process_response=answered,  # our security headers on websockets' own refusals too
        create_connection=connections,
        # the transport's buffer above which a connection stops being read (wsconn.py)
        write_limit=(WRITE_PAUSE_BYTES, WRITE_PAUSE_BYTES // 4),
        max_queue=(2, 1),  # messages queued before hello (then dispatched directly)
        max_size=settings.limits.max_frame_bytes
        * 4,  # bigger: closed 1009; in between: error frame
        ping_interval=20,
        ping_timeout=20,
        close_timeout=5,
        # a listed Origin, or none at all (non-browser clients send none)
        origins=[*map(Origin, settings.allowed_origins), None]
        if settings.allowed_origins
        else None,
        ssl=tls.context if tls is not None else None,
    )
    sock = next(iter(ws_server.sockets))
    host, port = sock.getsockname()[:2]
    running = Running(settings, hub, store, ws_server, secret, str(host), int(port), tls)
    try:
        with timed_collections(lambda seconds: hub.metrics.observe("gc_pause_seconds", seconds)):
            yield running
    finally:
        log.info("shutting down: draining %d sessions", len(hub.sessions))
        ws_server.close(close_connections=False)
        await hub.close()
        await renders.close()
        # all at once: a peer that reads nothing holds its close for the close timeout
        closing = [
            connection.close(int(CloseCode.SERVER_SHUTDOWN), "server shutting down")
            for connection in list(ws_server.connections)
        ]
        await asyncio.gather(*closing)
        await ws_server.wait_closed()
        await bus.close()
        await store.close()
        if instruments.bank is not None:
            instruments.bank.close()
        log.info("stopped")


async def run(settings: Settings) -> None:
    """`backline serve`: serve until SIGTERM or SIGINT, then shut down cleanly."""
    gc_tuning.tune()  # process-wide: only for a process that is the server
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serve(settings) as running:
        link, token, expires = running.owner_link()
        print(f"Backline listening on {running.http_url} (websocket {running.ws_url})", flush=True)
        if running.tls is not None:
            print(f"Certificate SHA-256 fingerprint: {running.tls.fingerprint}", flush=True)
        if running.tls is not None and running.tls.self_signed:
            print(
                f"Guests: open {running.guest_url}/, the browser warns about a self-signed"
                " certificate; check that its SHA-256 fingerprint is the one above, then"
                " accept it",
                flush=True,
            )
        if settings.redis_url:
            print(f"Store: redis at {_redacted(settings.redis_url)}", flush=True)
        else:
            print(f"Store: {settings.store} in {settings.data_dir.resolve()}", flush=True)
        print(f"Owner link: {link}", flush=True)
        until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expires))
        print(f"  valid until {until}; its token id is {token_id(token)}", flush=True)
        sys.stdout.flush()
        await stop.wait()
        print("Shutting down…", flush=True)
