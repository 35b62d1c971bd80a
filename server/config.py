"""Server settings, defined once: one table, one frozen object.

Every setting is one row (`setting.Setting`) of `SETTINGS`: its name, parser,
default, unit and help text. From the row come

- the `Settings` field of that name (each field below carries its row, made by
  `setting(...)`); the `Limits` of `protocol/limits.py`, which stays free of
  command-line concerns, get their rows from `LIMIT_SETTINGS` and sit in
  `Settings.limits`;
- the flag `--<name-with-dashes>` and the environment variable
  `BACKLINE_<NAME>` (`add_serve_arguments`); a flag wins over the variable,
  and a bad value from either is refused naming the flag. A setting that was
  once spelled otherwise keeps its old flag and variable as aliases
  (`old_flags`, `old_envs`);
- its row in docs/OPERATIONS.md (rendered by `settings_docs`), which
  tests/server/test_settings_docs.py compares with the file. Regenerate it:

      .venv/bin/python -m backline.server.settings_docs --write docs/OPERATIONS.md
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from backline.protocol.limits import DEFAULT_LIMITS, Limits
from backline.server.ice import (
    parse_addresses,
    parse_interfaces,
    parse_ip,
    parse_port_range,
    parse_turn_urls,
)
from backline.server.setting import (
    Setting,
    one_of,
    parse_names,
    parse_non_negative,
    parse_on_off,
    parse_optional_text,
    parse_origins,
    parse_port,
    parse_positive,
    parse_positive_number,
    parse_rate,
    parse_redis_url,
    parse_seconds,
    parse_secrets,
    parse_text,
    setting,
)

__all__ = [
    "LIMIT_FLAGS",
    "LIMIT_SETTINGS",
    "SERVE_DESCRIPTION",
    "SERVE_USAGE",
    "SETTINGS",
    "ConfigError",
    "Setting",
    "Settings",
    "add_serve_arguments",
    "add_setting_arguments",
    "check_settings",
    "files_root",
    "parse_serve_args",
    "settings_from_args",
    "settings_or_exit",
]

# argparse groups of `backline serve --help`, in this order
NETWORK = "network"
STORAGE = "storage"
SESSIONS = "sessions"
CONNECTIONS = "connections"
RENDERING = "instruments and renders"
LIMITS = "limits (every process of one deployment needs the same)"
LOGGING = "logging"

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything `backline serve` can be told; each field is a row of `SETTINGS`."""

    # network
    host: str = setting(
        "127.0.0.1",
        parse_text,
        "address to listen on (`0.0.0.0` / `::` for every interface)",
        group=NETWORK,
        metavar="HOST",
    )
    port: int = setting(
        8765,
        parse_port,
        "TCP port; `0` picks a free one (printed at start)",
        group=NETWORK,
        metavar="PORT",
    )
    public_url: str | None = setting(
        None,
        parse_optional_text,
        "base URL printed in the start line and the owner link (set it behind a proxy)",
        group=NETWORK,
        metavar="URL",
        unset="the listening address",
    )
    session: str = setting(
        "jam",
        parse_text,
        "the session named in the owner link printed at start",
        group=NETWORK,
        metavar="NAME",
    )
    allowed_origins: tuple[str, ...] = setting(
        (),
        parse_origins,
        "browser pages allowed to open a websocket, e.g. `https://band.example` (repeat the"
        " flag or separate them with commas); other `Origin`s get HTTP 403. Handshakes"
        " without an `Origin` header (the Python SDK, bots, `curl`) stay allowed: Origin"
        " only protects browsers",
        group=NETWORK,
        metavar="ORIGIN",
        old_flags=("--allowed-origin",),
        unset="any origin",
        repeatable=True,
    )
    certfile: str | None = setting(
        None,
        parse_optional_text,
        "certificate (chain) in PEM: serve `https://` and `wss://` on the same port",
        group=NETWORK,
        metavar="PEM",
    )
    keyfile: str | None = setting(
        None,
        parse_optional_text,
        "the certificate's private key (leave it out when it is in `--certfile`); a"
        " `--keyfile` without `--certfile` is refused at start, and so is a certificate"
        " whose key cannot be loaded",
        group=NETWORK,
        metavar="PEM",
    )
    tls: str = setting(
        "off",
        one_of("off", "self-signed"),
        "`self-signed`: serve `https://` and `wss://` with a certificate made once and kept in"
        " `<data-dir>/tls/`, so guests on other machines get the microphone (browsers want"
        " a secure page); its SHA-256 fingerprint is printed at start. A `--certfile` wins",
        group=NETWORK,
        metavar="{off,self-signed}",
    )
    tls_names: tuple[str, ...] = setting(
        (),
        parse_names,
        "more names and addresses the self-signed certificate is for, e.g. `band.lan`,"
        " `192.168.1.20` (what guests type); it always names `localhost`, `127.0.0.1`, `::1`,"
        " this machine's host name and `--host`",
        group=NETWORK,
        metavar="NAME",
        repeatable=True,
    )
    # network: audio (ICE, NAT and TURN; docs/OPERATIONS.md "ICE, NAT and TURN")
    rtc_host: tuple[str, ...] = setting(
        (),
        parse_addresses,
        "addresses the audio peers gather and announce host candidates on, e.g. `10.0.0.5`"
        " (`127.0.0.1` allowed); with `--rtc-interface` too, both are used",
        group=NETWORK,
        metavar="ADDRESS",
        unset="every address of every interface but 127.0.0.1",
        repeatable=True,
    )
    rtc_interface: tuple[str, ...] = setting(
        (),
        parse_interfaces,
        "network interfaces (e.g. `eth0`) whose addresses the audio peers gather on",
        group=NETWORK,
        metavar="NAME",
        unset="every interface",
        repeatable=True,
    )
    public_ip: str | None = setting(
        None,
        parse_ip,
        "this machine's public address behind a 1:1 NAT (a cloud machine's): announced as a"
        " server-reflexive candidate on the same port as each host candidate",
        group=NETWORK,
        metavar="IP",
    )
    rtc_ports: tuple[int, int] | None = setting(
        None,
        parse_port_range,
        "UDP ports the audio peers bind, e.g. `40000-40100` (open them in the firewall);"
        " one port per address per member in the room",
        group=NETWORK,
        metavar="FIRST-LAST",
        unset="ephemeral ports",
    )
    turn: tuple[str, ...] = setting(
        (),
        parse_turn_urls,
        "STUN/TURN servers handed to every client in its welcome (`ice_servers`), e.g."
        " `turn:turn.band.example:3478`; aiortc peers use the first TURN URL",
        group=NETWORK,
        metavar="URL",
        repeatable=True,
    )
    turn_secret: str | None = setting(
        None,
        parse_optional_text,
        "coturn's `static-auth-secret` (`use-auth-secret`): each client gets its own"
        " credentials valid for `--turn-ttl`; the secret itself is never sent",
        group=NETWORK,
        metavar="SECRET",
    )
    turn_username: str | None = setting(
        None,
        parse_optional_text,
        "a static TURN username handed to every client as it is (prefer `--turn-secret`)",
        group=NETWORK,
        metavar="NAME",
    )
    turn_password: str | None = setting(
        None,
        parse_optional_text,
        "the static TURN password that goes with `--turn-username`",
        group=NETWORK,
        metavar="PASSWORD",
    )
    turn_ttl: float = setting(
        12 * 3600.0,
        parse_seconds,
        "how long the credentials made from `--turn-secret` stay valid",
        group=NETWORK,
        unit="s",
    )
    rtc_relay_only: bool = setting(
        False,
        parse_on_off,
        "the server's audio peers use TURN relay candidates only (needs `--turn`)",
        group=NETWORK,
        metavar="{on,off}",
    )
    # storage
    data_dir: Path = setting(  # noqa: RUF009 - `setting` is `field` with its row attached
        Path("data"),
        Path,
        "holds `backline.db` (SQLite), the generated `secret`, and (unless `--files-dir`)"
        " `recordings/` and `renders/`",
        group=STORAGE,
        metavar="DIR",
    )
    files_dir: str | None = setting(
        None,
        parse_optional_text,
        "where recordings and renders live: with several processes, a directory every"
        " process mounts (a shared volume), so that any of them lists and serves what any"
        " other made",
        group=STORAGE,
        metavar="DIR",
        unset="`--data-dir`",
    )
    store: str = setting(
        "sqlite",
        one_of("sqlite", "memory"),
        "the op store; `memory` keeps nothing across restarts (ignored with `--redis-url`)",
        group=STORAGE,
        metavar="{sqlite,memory}",
    )
    history: str = setting(
        "keep",
        one_of("keep", "trim"),
        "`keep`: every edit stays in the log and every snapshot as a milestone, so any"
        " version can be rebuilt, restored or forked; `trim`: drop the log behind each"
        " snapshot (no history)",
        group=STORAGE,
        metavar="{keep,trim}",
    )
    archive_dir: str | None = setting(
        None,
        parse_optional_text,
        "with `--redis-url` and `--history keep`: move each finished segment of a session's"
        " log, and older milestones' snapshots, out of Redis into files here (a directory"
        " every process mounts), so Redis memory stays bounded while every version stays"
        " reachable",
        group=STORAGE,
        metavar="DIR",
    )
    redis_url: str | None = setting(
        None,
        parse_redis_url,
        "`redis://HOST:PORT/DB` (or `rediss://`, `unix://`): store and bus in Redis, so"
        " several processes serve the same sessions; `redis+cluster://HOST:PORT` (or"
        " `rediss+cluster://`) names any node of a Redis Cluster",
        group=STORAGE,
        metavar="URL",
        old_flags=("--redis",),
    )
    node_id: str | None = setting(
        None,
        parse_optional_text,
        "this process's name among several on one Redis",
        group=STORAGE,
        metavar="NAME",
        unset="random",
    )
    secret: str | None = setting(
        None,
        parse_optional_text,
        "HMAC secret that signs access tokens; every process of one deployment needs the same",
        group=STORAGE,
        metavar="SECRET",
        unset="read or created in `<data-dir>/secret` (mode 0600)",
    )
    old_secrets: tuple[str, ...] = setting(
        (),
        parse_secrets,
        "secrets that signed tokens before the current `--secret`: their tokens and resume"
        " keys stay valid (rotate the secret without logging everyone out; tokens name"
        " their key by id); drop one to end every token it signed",
        group=STORAGE,
        metavar="SECRET",
        unset="none",
        repeatable=True,
    )
    sqlite_synchronous: str = setting(
        "FULL",
        one_of("FULL", "NORMAL"),
        "`FULL` fsyncs each group commit (acknowledged edits survive power loss); `NORMAL`"
        " survives process crashes only",
        group=STORAGE,
        metavar="{FULL,NORMAL}",
    )
    sqlite_commit_interval_ms: float = setting(
        1.0,
        parse_non_negative,
        "least time between two group commits; edits arriving meanwhile share one commit (a"
        " commit costs ~0.15 ms of CPU however small). `0` commits as soon as the previous"
        " one ended",
        group=STORAGE,
        unit="ms",
        old_flags=("--sqlite-commit-interval",),
        old_envs=("BACKLINE_SQLITE_COMMIT_INTERVAL",),
    )
    snapshot_every: int = setting(
        500,
        parse_positive,
        "versions between snapshots (bounds load time)",
        group=STORAGE,
        unit="versions",
    )
    catch_up: int = setting(
        1000,
        parse_positive,
        "recent batches kept for reconnecting clients; a client further behind gets a snapshot",
        group=STORAGE,
        unit="batches",
    )
    # sessions
    lead_ms: float = setting(
        200.0,
        parse_positive_number,
        "least time between a play request and the downbeat (more when participants are far away)",
        group=SESSIONS,
        unit="ms",
        old_flags=("--lead",),
        old_envs=("BACKLINE_LEAD",),
    )
    owner_link_ttl: float = setting(
        7 * 24 * 3600.0,
        parse_seconds,
        "how long the owner link printed at start is valid; a new one is printed at every"
        " start (revoke an old one by its token id: `backline revoke --token-id`)",
        group=SESSIONS,
        unit="s",
    )
    presence_interval: float = setting(
        1 / 30,
        parse_seconds,
        "presence changes are sent to everyone at most once per this time, coalesced",
        group=SESSIONS,
        unit="s",
    )
    idle_unload: float = setting(
        30.0,
        parse_seconds,
        "time a session nobody is in stays loaded, then it is unloaded (its log stays in"
        " the store)",
        group=SESSIONS,
        unit="s",
    )
    room_lease: float = setting(
        2.0,
        parse_seconds,
        "time to live of a session's audio-room lease (the room is hosted by one process,"
        " which renews it every quarter of this): how long a dead host's room is"
        " unreachable before another process takes it over",
        group=SESSIONS,
        unit="s",
    )
    audio_pass_through: bool = setting(
        True,
        parse_on_off,
        "in an audio room of two (at unity gain, not muted), forward each other's Opus packets"
        " as they arrive instead of decoding, mixing and re-encoding: a few ms mouth-to-ear"
        " instead of ~12-20",
        group=SESSIONS,
        metavar="{on,off}",
    )
    # connections
    hello_timeout: float = setting(
        10.0,
        parse_seconds,
        "time a new connection has to send `hello` (close 4001)",
        group=CONNECTIONS,
        unit="s",
    )
    max_bad_frames: int = setting(
        100,
        parse_positive,
        "bad frames in a row before the close 4002",
        group=CONNECTIONS,
    )
    send_buffer_bytes: int = setting(
        4 * MiB,
        parse_positive,
        "bytes queued to one client before it is closed as too slow (close 4008)",
        group=CONNECTIONS,
        unit="bytes",
        old_flags=("--send-buffer",),
        old_envs=("BACKLINE_SEND_BUFFER",),
    )
    slow_timeout: float = setting(
        10.0,
        parse_seconds,
        "time a client may read nothing while its outgoing buffer is full before it is"
        " closed as too slow (4008)",
        group=CONNECTIONS,
        unit="s",
    )
    max_connections: int = setting(
        10_000,
        parse_positive,
        "open connections this process accepts; more get HTTP 503 at once",
        group=CONNECTIONS,
    )
    max_pending_per_address: int = setting(
        256,
        parse_positive,
        "connections of one client address that have not joined a session yet; more get"
        " HTTP 503 at once",
        group=CONNECTIONS,
    )
    # instruments and renders
    soundfont: str | None = setting(
        None,
        parse_optional_text,
        "the General MIDI SoundFont (`.sf2`) every instrument is rendered from by FluidSynth"
        " (browsers, bots and renders play its samples); without one the browser falls back"
        " to its built-in synth and renders are refused",
        group=RENDERING,
        metavar="SF2",
        unset="the first of Debian's GM fonts found (`timgm6mb-soundfont`)",
    )
    render_queue: int = setting(
        4,
        parse_positive,
        "renders waiting or running in this process (one runs at a time, in its own"
        " process); more are refused with `rate_limited`",
        group=RENDERING,
        unit="renders",
    )
    render_timeout: float = setting(
        600.0,
        parse_seconds,
        "time one render may take before it is stopped and reported failed",
        group=RENDERING,
        unit="s",
    )
    render_max_seconds: float = setting(
        1200.0,
        parse_positive_number,
        "longest song a render accepts (its memory grows with the length)",
        group=RENDERING,
        unit="s",
    )
    renders_kept: int = setting(
        20,
        parse_positive,
        "finished renders kept per session (in `<data-dir>/renders/`); older ones are deleted",
        group=RENDERING,
        unit="renders",
    )
    # limits: one row per field of `Limits`, in LIMIT_SETTINGS
    limits: Limits = field(default=DEFAULT_LIMITS)
    # logging
    log_level: str = setting(
        "INFO",
        one_of("DEBUG", "INFO", "WARNING", "ERROR", fold=True),
        "`DEBUG`, `INFO`, `WARNING` or `ERROR` (any case); logs go to stderr, tokens"
        " redacted; `DEBUG` adds the `websockets` wire trace",
        group=LOGGING,
        metavar="LEVEL",
    )


def _limit(
    name: str,
    help: str,
    unit: str = "",
    old_flags: tuple[str, ...] = (),
    old_envs: tuple[str, ...] = (),
) -> Setting:
    """The row of the `Limits` field `name`: its default from `DEFAULT_LIMITS`."""
    default = getattr(DEFAULT_LIMITS, name)
    parse: Callable[[str], Any]
    if name.endswith("_rate"):
        parse = parse_rate
    elif isinstance(default, float):
        parse = parse_seconds
    else:
        parse = parse_positive
    return Setting(
        name=name,
        default=default,
        parse=parse,
        help=help,
        group=LIMITS,
        unit=unit,
        old_flags=old_flags,
        old_envs=old_envs,
        limit=True,
    )


def _rate_row(kind: str, what: str, over: str) -> tuple[Setting, Setting]:
    return (
        _limit(
            f"{kind}_rate",
            f"token bucket per connection for {what}: `--{kind}-burst` at once, then this many"
            f" per second (`0` = no limit); over it: {over}",
            "per second",
        ),
        _limit(f"{kind}_burst", f"{what} a connection may send at once (`--{kind}-rate`)"),
    )


LIMIT_SETTINGS: tuple[Setting, ...] = (
    _limit(
        "max_frame_bytes",
        "largest accepted frame (`too_large`); above 4 times this the websocket closes with 1009",
        "bytes",
        old_flags=("--max-frame",),
        old_envs=("BACKLINE_MAX_FRAME",),
    ),
    _limit(
        "max_sessions",
        "sessions loaded in this process; one more is refused (`server_full`, close 4010)"
        " unless a session nobody is in can be unloaded to make room",
    ),
    _limit(
        "max_clients",
        "participants in one session, counted across processes; one more is refused"
        " (`session_full`, close 4011); owners always get in",
    ),
    *_rate_row("edit", "`op`, `undo`, `redo` and admin requests", "`rate_limited`"),
    *_rate_row("presence", "`presence` updates", "coalesced, the latest applied later"),
    *_rate_row("chat", "`chat` messages", "`rate_limited`, not posted"),
    *_rate_row("ping", "clock `ping`s", "`rate_limited`, no `pong`"),
    *_rate_row("rtc", "audio offers (`rtc`)", "`rate_limited`"),
    *_rate_row("mix", "gain changes (`mix`)", "coalesced, the latest applied later"),
    *_rate_row("live", "live-note events (`live`)", "`rate_limited`, not relayed"),
    _limit(
        "abuse_refusals",
        "rate-limited messages within `--abuse-window` before the connection is closed (4029)",
    ),
    _limit("abuse_window", "time over which `--abuse-refusals` are counted", "s"),
    _limit(
        "catch_up_bytes",
        "encoded bytes of recent batches kept for catch-up (a client from further back gets"
        " a snapshot)",
        "bytes",
    ),
    _limit(
        "undo_bytes",
        "bytes of one identity's undo and redo history (oldest dropped first)",
        "bytes",
    ),
    _limit(
        "session_undo_bytes",
        "bytes of every identity's undo history in one session (least recently active"
        " dropped first)",
        "bytes",
    ),
    _limit(
        "max_identities",
        "identities whose op ids and undo history a session keeps (least recently active"
        " forgotten first)",
    ),
    _limit("max_ops_per_batch", "ops in one `op` message (`too_large`)"),
    _limit("max_tracks", "tracks in a project (`limit_exceeded`)"),
    _limit("max_patterns", "patterns in a project (`limit_exceeded`)"),
    _limit("max_notes", "notes in a project (`limit_exceeded`)"),
    _limit("max_clips", "clips in a project (`limit_exceeded`)"),
    _limit("max_sections", "song sections in a project (`limit_exceeded`)"),
    _limit("max_chords", "chords of the chord track (`limit_exceeded`)"),
    _limit("max_lanes", "lanes of one pattern (`too_large` / `out_of_range`)"),
    _limit("max_steps", "steps of one pattern (`too_large` / `out_of_range`)"),
    _limit("max_name_len", "characters of names and keys (`too_large`)", "characters"),
    _limit("max_id_len", "characters of ids (`out_of_range`)", "characters"),
    _limit("max_chat_len", "characters of one chat message (`too_large`)", "characters"),
    _limit("chat_history", "chat messages kept and sent on join (older ones dropped)"),
    _limit("max_presence_bytes", "encoded bytes of one presence state (`too_large`)", "bytes"),
    _limit("max_tick", "latest position (`out_of_range`); 960 per beat", "ticks"),
)


def _rows() -> Iterator[Setting]:
    for f in fields(Settings):
        if f.name == "limits":
            yield from LIMIT_SETTINGS
        else:
            yield replace(f.metadata["setting"], name=f.name)


SETTINGS: tuple[Setting, ...] = tuple(_rows())
"""Every setting, in the order of --help and the docs."""

BY_NAME: Mapping[str, Setting] = {row.name: row for row in SETTINGS}

# The limits whose flag always was their field's name (all but max_frame_bytes).
LIMIT_FLAGS: Mapping[str, str] = {row.name: row.help for row in LIMIT_SETTINGS if not row.old_flags}


# -- flags ---------------------------------------------------------------------------


class _Repeat(argparse.Action):
    """Each use adds its values; the first replaces the default (the variable's list)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        current = getattr(namespace, self.dest)
        if current is self.default:
            current = ()
        setattr(namespace, self.dest, (*current, *values))


def _help(row: Setting) -> str:
    """The --help text: the row's, its default, its variable and its old names."""
    text = f"{row.help} (default: {row.shown_default(markdown=False)}; env {row.env}"
    olds = (*row.old_flags, *row.old_envs)
    if olds:
        text += f"; old {'name' if len(olds) == 1 else 'names'} {', '.join(olds)}"
    return (text + ")").replace("`", "").replace("%", "%%")


SERVE_USAGE = "%(prog)s [options]"
SERVE_DESCRIPTION = (
    "Run a Backline server. Every option has an environment variable: BACKLINE_ and the"
    " option's name in capitals, dashes as underscores (--data-dir is BACKLINE_DATA_DIR);"
    " a flag given on the command line wins, an empty variable counts as unset. Old names"
    " of renamed options still work. Bad values are refused at start, naming the option."
)


def add_setting_arguments(
    parser: argparse.ArgumentParser, env: Mapping[str, str], names: Collection[str]
) -> None:
    """The flags of the settings `names`, ungrouped (for commands that need a few)."""
    for name in names:
        _add(parser, BY_NAME[name], env)


def add_serve_arguments(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    """Every setting's flag, grouped; each defaults to its BACKLINE_* variable."""
    groups: dict[str, Any] = {}
    for row in SETTINGS:
        if row.group not in groups:
            groups[row.group] = parser.add_argument_group(row.group)
        _add(groups[row.group], row, env)


def _add(parser: Any, row: Setting, env: Mapping[str, str]) -> None:
    # A variable's text becomes the default, which argparse converts (and refuses,
    # naming the flag) only when the flag is not given: so a flag wins.
    found = row.from_env(env)
    parse, default = row.parse, row.default
    if found is not None:
        variable, default = found
        parse = _saying_where(row.parse, variable, default)
    parser.add_argument(
        *row.flags,
        dest=row.name,
        type=parse,
        default=default,
        metavar=row.shown_metavar,
        help=_help(row),
        **({"action": _Repeat} if row.repeatable else {}),
    )


def _saying_where(parse: Callable[[str], Any], name: str, text: str) -> Callable[[str], Any]:
    """`parse`, whose refusal of the variable's own text names the variable too."""

    def convert(value: str) -> Any:
        try:
            return parse(value)
        except (TypeError, ValueError):
            if value is not text:  # the flag's text (argparse converts the default as is)
                raise
            raise argparse.ArgumentTypeError(
                f"invalid {parse.__name__} value from {name}: {value!r}"
            ) from None

    convert.__name__ = parse.__name__
    return convert


class ConfigError(ValueError):
    """Settings that cannot work together; the message names the flags."""


def files_root(settings: Settings) -> Path:
    """The directory holding ``recordings/`` and ``renders/`` (`--files-dir`)."""
    return Path(settings.files_dir) if settings.files_dir else settings.data_dir


def check_settings(settings: Settings) -> Settings:
    """Refuse combinations no single flag can catch."""
    if settings.keyfile and not settings.certfile:
        raise ConfigError("--keyfile (BACKLINE_KEYFILE) needs --certfile (BACKLINE_CERTFILE)")
    if settings.tls_names and settings.tls != "self-signed":
        raise ConfigError(
            "--tls-names (BACKLINE_TLS_NAMES) names the self-signed certificate: it needs"
            " --tls self-signed (BACKLINE_TLS)"
        )
    if settings.rtc_relay_only and not any(u.startswith("turn") for u in settings.turn):
        raise ConfigError(
            "--rtc-relay-only (BACKLINE_RTC_RELAY_ONLY) needs a TURN server: --turn (BACKLINE_TURN)"
        )
    if settings.turn_secret and (settings.turn_username or settings.turn_password):
        raise ConfigError("--turn-secret and --turn-username/--turn-password exclude each other")
    return settings


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings `add_serve_arguments`' flags (and variables) asked for."""
    values: dict[str, Any] = {row.name: getattr(args, row.name) for row in SETTINGS}
    limits = Limits(**{row.name: values.pop(row.name) for row in LIMIT_SETTINGS})
    return check_settings(Settings(**values, limits=limits))


def settings_or_exit(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Settings:
    """`settings_from_args`, or exit 2 with the usage and the message (as bad values do)."""
    try:
        return settings_from_args(args)
    except ConfigError as exc:
        parser.error(str(exc))


def parse_serve_args(argv: Sequence[str] | None = None) -> Settings:
    """`python -m backline.server`'s flags (and variables) as settings."""
    parser = argparse.ArgumentParser(
        prog="backline serve", usage=SERVE_USAGE, description=SERVE_DESCRIPTION
    )
    add_serve_arguments(parser, os.environ)
    return settings_or_exit(parser, parser.parse_args(argv))
