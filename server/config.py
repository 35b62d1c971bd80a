"""Server settings: one frozen object built from CLI flags and BACKLINE_* env vars."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from backline.protocol.limits import DEFAULT_LIMITS, Limits

__all__ = ["ConfigError", "Settings", "add_serve_arguments", "settings_from_args"]


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8765  # 0 picks a free port (printed at start)
    data_dir: Path = Path("data")
    store: str = "sqlite"  # sqlite | memory (ignored when redis_url is set)
    redis_url: str | None = None  # redis://host:port/db: store and bus on Redis
    node_id: str | None = None  # this process's name among several; random if unset
    secret: str | None = None  # HMAC secret; None: read or create <data_dir>/secret
    public_url: str | None = None  # base URL printed in join links
    default_session: str = "jam"  # session of the owner link printed at start
    sqlite_synchronous: str = "FULL"  # FULL survives power loss; NORMAL only crashes
    sqlite_commit_interval_ms: float = 1.0  # least time between group commits' starts
    hello_timeout: float = 10.0  # seconds to wait for hello
    max_bad_frames: int = 100  # consecutive bad frames before closing
    send_buffer_bytes: int = 4 * 1024 * 1024  # outgoing buffer above which a client is too slow
    slow_timeout: float = 10.0  # seconds a client may read nothing while its buffer is full
    max_connections: int = 10_000  # open connections of this process (HTTP 503 beyond)
    max_pending_per_address: int = 256  # connections of one address not joined yet (503 beyond)
    snapshot_every: int = 500  # versions between snapshots
    catch_up: int = 1000  # recent batches a reconnecting client can get instead of a snapshot
    idle_unload: float = 30.0  # seconds a session with nobody in it stays loaded
    lead_ms: float = 200.0  # least time between a play request and the downbeat
    presence_interval: float = 1 / 30  # coalescing window for presence (s)
    allowed_origins: tuple[str, ...] = ()  # browser Origins allowed to connect; () = any
    certfile: str | None = None  # PEM certificate (chain): serve https:// and wss://
    keyfile: str | None = None  # its private key (None: it is in certfile)
    log_level: str = "INFO"  # DEBUG also logs websockets' wire trace (tokens redacted)
    audio_pass_through: bool = True  # rooms of two forward packets instead of mixing
    limits: Limits = field(default_factory=lambda: DEFAULT_LIMITS)


_ENV = "BACKLINE_"


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(text)
    return value


_port.__name__ = "port (0-65535)"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


_positive.__name__ = "positive integer"


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):  # also refuses NaN
        raise ValueError(text)
    return value


_rate.__name__ = "rate per second (0 = no limit)"


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise ValueError(text)
    return value


_seconds.__name__ = "positive number of seconds"

# Every `Limits` field but the frame size (`--max-frame`) has a flag of the same name.
LIMIT_FLAGS: dict[str, str] = {
    "max_ops_per_batch": "ops in one op message (too_large)",
    "max_tracks": "tracks in a project (limit_exceeded)",
    "max_patterns": "patterns in a project (limit_exceeded)",
    "max_notes": "notes in a project (limit_exceeded)",
    "max_clips": "clips in a project (limit_exceeded)",
    "max_lanes": "lanes of one pattern",
    "max_steps": "steps of one pattern",
    "max_name_len": "characters of names and keys (too_large)",
    "max_id_len": "characters of ids (out_of_range)",
    "max_chat_len": "characters of one chat message (too_large)",
    "chat_history": "chat messages kept and sent on join",
    "max_presence_bytes": "encoded bytes of one presence state (too_large)",
    "max_tick": "latest position in ticks (out_of_range)",
    "max_sessions": "sessions loaded in this process (server_full, close 4010)",
    "max_clients": "participants in one session; owners may always join (session_full, close 4011)",
    "edit_rate": "op/undo/redo/admin messages per second per connection, 0 = no limit (rate_limited)",
    "edit_burst": "edits a connection may send at once",
    "presence_rate": "presence updates per second per connection, 0 = no limit (coalesced)",
    "presence_burst": "presence updates a connection may send at once",
    "chat_rate": "chat messages per second per connection, 0 = no limit (rate_limited)",
    "chat_burst": "chat messages a connection may send at once",
    "ping_rate": "clock pings per second per connection, 0 = no limit (rate_limited)",
    "ping_burst": "clock pings a connection may send at once",
    "rtc_rate": "audio offers per second per connection, 0 = no limit (rate_limited)",
    "rtc_burst": "audio offers a connection may send at once",
    "mix_rate": "gain changes per second per connection, 0 = no limit (coalesced)",
    "mix_burst": "gain changes a connection may send at once",
    "abuse_refusals": "rate-limited messages within --abuse-window before closing (4029)",
    "abuse_window": "seconds over which --abuse-refusals are counted",
    "catch_up_bytes": "encoded bytes of recent batches kept for catch-up (older joins get a snapshot)",
    "undo_bytes": "bytes of one participant's undo and redo history (oldest dropped first)",
    "session_undo_bytes": "bytes of every participant's undo history in one session (least recently active dropped first)",
    "max_identities": "participants whose op ids and undo history a session keeps (least recently active forgotten first)",
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _limit_type(name: str, default: object) -> Callable[[str], object]:
    if name.endswith("_rate"):
        return _rate
    if isinstance(default, float):
        return _seconds
    return _positive


def _redis_url(text: str) -> str:
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(text)
    return text


_redis_url.__name__ = "Redis URL (redis://HOST:PORT/DB, rediss://… or unix://…)"


def _one_of(*allowed: str) -> Callable[[str], str]:
    """A `type=` that also checks env-provided defaults, which `choices=` skips."""

    def check(text: str) -> str:
        if text not in allowed:
            raise ValueError(text)
        return text

    check.__name__ = "choice (" + ", ".join(allowed) + ")"
    return check


def add_serve_arguments(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    """Flags for `backline serve`; each defaults to its BACKLINE_* variable."""
    d = Settings()

    def opt(name: str, default: object) -> str | None:
        value = env.get(_ENV + name.upper().replace("-", "_"))
        return value if value is not None else (None if default is None else str(default))

    parser.add_argument("--host", default=opt("host", d.host), help="address to listen on")
    parser.add_argument("--port", type=_port, default=opt("port", d.port), help="0 = any free port")
    parser.add_argument(
        "--data-dir", default=opt("data-dir", d.data_dir), help="where the store and secret live"
    )
    parser.add_argument(
        "--store",
        type=_one_of("sqlite", "memory"),
        metavar="{sqlite,memory}",
        default=opt("store", d.store),
        help="op store",
    )
    parser.add_argument(
        "--redis",
        dest="redis_url",
        type=_redis_url,
        default=env.get(_ENV + "REDIS_URL"),
        help="redis://HOST:PORT/DB: keep sessions in Redis so several processes serve them",
    )
    parser.add_argument(
        "--node-id", default=opt("node-id", None), help="this process's name (default: random)"
    )
    parser.add_argument("--secret", default=opt("secret", None), help="token HMAC secret")
    parser.add_argument("--public-url", default=opt("public-url", None), help="URL in join links")
    parser.add_argument(
        "--session",
        dest="default_session",
        default=opt("session", d.default_session),
        help="session named in the owner link printed at start",
    )
    parser.add_argument(
        "--sqlite-synchronous",
        type=_one_of("FULL", "NORMAL"),
        metavar="{FULL,NORMAL}",
        default=opt("sqlite-synchronous", d.sqlite_synchronous),
        help="FULL: fsync each group commit (survives power loss); NORMAL: survives crashes only",
    )
    parser.add_argument(
        "--sqlite-commit-interval",
        type=_rate,
        metavar="MS",
        default=opt("sqlite-commit-interval", d.sqlite_commit_interval_ms),
        help="least milliseconds between two group commits: edits arriving meanwhile share"
        " one commit (an fsync costs ~0.15 ms of CPU); 0 = commit as soon as the last ended",
    )
    parser.add_argument(
        "--snapshot-every",
        type=_positive,
        default=opt("snapshot-every", d.snapshot_every),
        help="versions between snapshots",
    )
    parser.add_argument(
        "--catch-up",
        type=_positive,
        default=opt("catch-up", d.catch_up),
        help="recent batches kept for reconnecting clients; older ones get a snapshot",
    )
    parser.add_argument(
        "--lead",
        type=_positive,
        default=opt("lead", int(d.lead_ms)),
        help="ms between a play request and the start, at least (more for slow participants)",
    )
    parser.add_argument(
        "--send-buffer",
        type=_positive,
        default=opt("send-buffer", d.send_buffer_bytes),
        help="bytes queued to one client before it is closed as too slow",
    )
    parser.add_argument(
        "--slow-timeout",
        type=_seconds,
        default=opt("slow-timeout", d.slow_timeout),
        help="seconds a client's outgoing buffer may stay full (it reads nothing) before it "
        "is closed as too slow (4008)",
    )
    parser.add_argument(
        "--max-connections",
        type=_positive,
        default=opt("max-connections", d.max_connections),
        help="open connections this process accepts; more get HTTP 503",
    )
    parser.add_argument(
        "--max-pending-per-address",
        type=_positive,
        default=opt("max-pending-per-address", d.max_pending_per_address),
        help="connections from one client address that have not joined a session yet; "
        "more get HTTP 503",
    )
    parser.add_argument(
        "--max-frame",
        type=_positive,
        default=opt("max-frame", d.limits.max_frame_bytes),
        help="largest accepted frame in bytes",
    )
    d_limits = d.limits
    for name, help_text in LIMIT_FLAGS.items():
        default = getattr(d_limits, name)
        parser.add_argument(
            _flag(name),
            dest="limit_" + name,
            type=_limit_type(name, default),
            default=opt(name.replace("_", "-"), default),
            help=f"{help_text}; default {default}",
        )
    parser.add_argument(
        "--hello-timeout",
        type=_seconds,
        default=opt("hello-timeout", d.hello_timeout),
        help="seconds a new connection has to send hello (close 4001)",
    )
    parser.add_argument(
        "--max-bad-frames",
        type=_positive,
        default=opt("max-bad-frames", d.max_bad_frames),
        help="bad frames in a row before closing (4002)",
    )
    parser.add_argument(
        "--allowed-origin",
        dest="allowed_origins",
        action="append",
        metavar="ORIGIN",
        help="refuse websocket handshakes from browser pages of other origins (HTTP 403); "
        "repeat for several, e.g. https://band.example; requests without Origin are allowed; "
        "env BACKLINE_ALLOWED_ORIGINS, comma-separated",
    )
    parser.add_argument(
        "--certfile",
        default=opt("certfile", None),
        help="PEM certificate: serve https:// and wss:// (with --keyfile)",
    )
    parser.add_argument(
        "--keyfile", default=opt("keyfile", None), help="PEM private key of --certfile"
    )
    parser.set_defaults(
        env_allowed_origins=[
            o.strip() for o in env.get(_ENV + "ALLOWED_ORIGINS", "").split(",") if o.strip()
        ]
    )
    parser.add_argument(
        "--log-level", default=opt("log-level", "INFO"), help="DEBUG, INFO, WARNING, ERROR"
    )
    parser.add_argument(
        "--audio-pass-through",
        choices=("on", "off"),
        default=opt("audio-pass-through", "on"),
        help="in an audio room of two, forward each other's packets instead of mixing (on)",
    )


def limits_from_args(args: argparse.Namespace) -> Limits:
    """The limits the flags ask for (argparse converts env-provided defaults too)."""
    given: dict[str, object] = {"max_frame_bytes": int(args.max_frame)}
    for f in fields(Limits):
        value = getattr(args, "limit_" + f.name, None)
        if value is not None:
            kind = type(getattr(DEFAULT_LIMITS, f.name))
            given[f.name] = kind(value)
    return replace(DEFAULT_LIMITS, **given)  # type: ignore[arg-type]


class ConfigError(ValueError):
    """Settings that cannot work together; the message names the flags."""


def check_settings(settings: Settings) -> Settings:
    """Refuse combinations no single flag can catch."""
    if settings.keyfile and not settings.certfile:
        raise ConfigError("--keyfile (BACKLINE_KEYFILE) needs --certfile (BACKLINE_CERTFILE)")
    return settings


def settings_from_args(args: argparse.Namespace) -> Settings:
    return check_settings(
        Settings(
            host=args.host,
            port=int(args.port),
            data_dir=Path(args.data_dir),
            store=args.store,
            redis_url=args.redis_url or None,
            node_id=args.node_id,
            secret=args.secret,
            public_url=args.public_url,
            default_session=args.default_session,
            sqlite_synchronous=args.sqlite_synchronous,
            sqlite_commit_interval_ms=float(args.sqlite_commit_interval),
            snapshot_every=int(args.snapshot_every),
            catch_up=int(args.catch_up),
            lead_ms=float(args.lead),
            send_buffer_bytes=int(args.send_buffer),
            slow_timeout=float(args.slow_timeout),
            max_connections=int(args.max_connections),
            max_pending_per_address=int(args.max_pending_per_address),
            limits=limits_from_args(args),
            allowed_origins=tuple(args.allowed_origins or getattr(args, "env_allowed_origins", ())),
            certfile=args.certfile or None,
            keyfile=args.keyfile or None,
            log_level=str(getattr(args, "log_level", "INFO")),
            hello_timeout=float(args.hello_timeout),
            max_bad_frames=int(args.max_bad_frames),
            audio_pass_through=getattr(args, "audio_pass_through", "on") == "on",
        )
    )


def parse_serve_args(argv: Sequence[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(prog="backline serve")
    add_serve_arguments(parser, os.environ)
    try:
        return settings_from_args(parser.parse_args(argv))
    except ConfigError as exc:
        parser.error(str(exc))
