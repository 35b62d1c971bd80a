"""`backline serve` settings: flags, their BACKLINE_* equivalents, and clear refusals."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from backline.server.config import Settings, add_serve_arguments, settings_from_args


def parse(argv: list[str], env: dict[str, str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(prog="backline serve", exit_on_error=False)
    add_serve_arguments(parser, env or {})
    return settings_from_args(parser.parse_args(argv))


def test_defaults_are_local_and_durable() -> None:
    s = parse([])
    assert (s.host, s.port, s.store, s.data_dir) == ("127.0.0.1", 8765, "sqlite", Path("data"))
    assert s.sqlite_synchronous == "FULL"
    assert s.sqlite_commit_interval_ms == 1.0
    assert s.secret is None


def test_flags() -> None:
    s = parse(
        [
            "--host", "::1", "--port", "0", "--data-dir", "/tmp/x", "--store", "memory",
            "--secret", "k", "--snapshot-every", "10", "--catch-up", "7",
            "--send-buffer", "1024", "--max-frame", "4096",
        ]
    )  # fmt: skip
    assert (s.host, s.port, s.data_dir, s.store, s.secret) == (
        "::1",
        0,
        Path("/tmp/x"),
        "memory",
        "k",
    )
    assert (s.snapshot_every, s.catch_up, s.send_buffer_bytes) == (10, 7, 1024)
    assert s.limits.max_frame_bytes == 4096


def test_environment_equivalents_and_flag_precedence() -> None:
    env = {
        "BACKLINE_HOST": "0.0.0.0",
        "BACKLINE_PORT": "9000",
        "BACKLINE_DATA_DIR": "/srv/backline",
        "BACKLINE_STORE": "memory",
        "BACKLINE_SECRET": "from-env",
        "BACKLINE_CATCH_UP": "50",
        "BACKLINE_SQLITE_SYNCHRONOUS": "NORMAL",
    }
    s = parse([], env)
    assert (s.host, s.port, s.data_dir, s.store, s.secret) == (
        "0.0.0.0", 9000, Path("/srv/backline"), "memory", "from-env",
    )  # fmt: skip
    assert (s.catch_up, s.sqlite_synchronous) == (50, "NORMAL")
    assert parse(["--port", "9100"], env).port == 9100  # the flag wins
    assert parse([], {"BACKLINE_SQLITE_COMMIT_INTERVAL": "0"}).sqlite_commit_interval_ms == 0
    assert parse(["--sqlite-commit-interval", "2.5"]).sqlite_commit_interval_ms == 2.5


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--port", "70000"], {}, "--port"),
        (["--port", "http"], {}, "--port"),
        ([], {"BACKLINE_PORT": "-1"}, "--port"),
        (["--snapshot-every", "0"], {}, "--snapshot-every"),
        ([], {"BACKLINE_CATCH_UP": "none"}, "--catch-up"),
        (["--send-buffer", "-5"], {}, "--send-buffer"),
        (["--store", "postgres"], {}, "--store"),
        ([], {"BACKLINE_STORE": "postgres"}, "--store"),
        (["--sqlite-synchronous", "OFF"], {}, "--sqlite-synchronous"),
        (["--sqlite-commit-interval", "-1"], {}, "--sqlite-commit-interval"),
        ([], {"BACKLINE_SQLITE_COMMIT_INTERVAL": "soon"}, "--sqlite-commit-interval"),
        (["--redis", "localhost:6379"], {}, "--redis"),
        ([], {"BACKLINE_REDIS_URL": "http://r"}, "--redis"),
    ],
)
def test_bad_values_are_refused_naming_the_flag(
    argv: list[str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(argparse.ArgumentError, match=message):
        parse(argv, env)


def test_redis_url_and_node_id() -> None:
    assert parse([]).redis_url is None
    s = parse(["--redis", "redis://10.0.0.5:6380/2", "--node-id", "eu-1"])
    assert (s.redis_url, s.node_id) == ("redis://10.0.0.5:6380/2", "eu-1")
    env = {"BACKLINE_REDIS_URL": "redis://r:6379/0", "BACKLINE_NODE_ID": "n7"}
    assert (parse([], env).redis_url, parse([], env).node_id) == ("redis://r:6379/0", "n7")


def test_allowed_origins_tls_and_log_level() -> None:
    s = parse([])
    assert (s.allowed_origins, s.certfile, s.keyfile, s.log_level) == ((), None, None, "INFO")
    s = parse(
        [
            "--allowed-origin", "https://a.example", "--allowed-origin", "https://b.example",
            "--certfile", "/etc/bl/cert.pem", "--keyfile", "/etc/bl/key.pem",
            "--log-level", "DEBUG",
        ]
    )  # fmt: skip
    assert s.allowed_origins == ("https://a.example", "https://b.example")
    assert (s.certfile, s.keyfile, s.log_level) == ("/etc/bl/cert.pem", "/etc/bl/key.pem", "DEBUG")
    env = {
        "BACKLINE_ALLOWED_ORIGINS": "https://a.example, https://b.example,",
        "BACKLINE_CERTFILE": "/c.pem",
        "BACKLINE_KEYFILE": "/k.pem",
        "BACKLINE_LOG_LEVEL": "WARNING",
    }
    s = parse([], env)
    assert s.allowed_origins == ("https://a.example", "https://b.example")
    assert (s.certfile, s.keyfile, s.log_level) == ("/c.pem", "/k.pem", "WARNING")
    # flags win over the environment, the whole list at once
    assert parse(["--allowed-origin", "https://z.example"], env).allowed_origins == (
        "https://z.example",
    )


def test_every_limit_has_a_flag_and_an_environment_variable() -> None:
    from dataclasses import fields

    from backline.protocol.limits import DEFAULT_LIMITS, Limits
    from backline.server.config import LIMIT_FLAGS

    assert set(LIMIT_FLAGS) == {f.name for f in fields(Limits)} - {"max_frame_bytes"}
    assert parse([]).limits == DEFAULT_LIMITS
    s = parse(
        [
            "--max-sessions", "3", "--max-clients", "2", "--edit-rate", "0",
            "--edit-burst", "5", "--chat-rate", "0.5", "--max-notes", "10",
            "--abuse-window", "2.5", "--hello-timeout", "3", "--max-bad-frames", "7",
        ]
    )  # fmt: skip
    limits = s.limits
    assert (limits.max_sessions, limits.max_clients, limits.max_notes) == (3, 2, 10)
    assert (limits.edit_rate, limits.edit_burst, limits.chat_rate) == (0.0, 5, 0.5)
    assert limits.edit.unlimited and limits.abuse_window == 2.5
    assert (s.hello_timeout, s.max_bad_frames) == (3.0, 7)
    env = {"BACKLINE_MAX_CLIENTS": "9", "BACKLINE_PRESENCE_RATE": "12.5"}
    from_env = parse([], env).limits
    assert (from_env.max_clients, from_env.presence_rate) == (9, 12.5)
    assert parse(["--max-clients", "4"], env).limits.max_clients == 4


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--max-sessions", "0"], {}, "--max-sessions"),
        (["--edit-rate", "-1"], {}, "--edit-rate"),
        (["--edit-rate", "nan"], {}, "--edit-rate"),
        ([], {"BACKLINE_CHAT_BURST": "lots"}, "--chat-burst"),
        (["--abuse-window", "0"], {}, "--abuse-window"),
    ],
)
def test_bad_limits_are_refused_naming_the_flag(
    argv: list[str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(argparse.ArgumentError, match=message):
        parse(argv, env)


def test_a_keyfile_without_a_certfile_is_a_config_error() -> None:
    from backline.server.config import ConfigError

    with pytest.raises(ConfigError, match=r"--keyfile.*--certfile"):
        parse(["--keyfile", "/etc/bl/key.pem"])
    with pytest.raises(ConfigError, match=r"--keyfile.*--certfile"):
        parse([], {"BACKLINE_KEYFILE": "/k.pem"})
    assert parse(["--certfile", "/c.pem"]).keyfile is None  # the key may be in the certfile
