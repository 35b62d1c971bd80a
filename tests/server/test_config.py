"""`backline serve` settings: flags, their BACKLINE_* equivalents, and clear refusals."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

import pytest

from backline.protocol.limits import Limits
from backline.server.config import Setting, Settings, add_serve_arguments, settings_from_args


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
        # settings that had no flag before, renamed ones, and where a bad value came from
        (["--idle-unload", "0"], {}, "--idle-unload"),
        (["--presence-interval", "-1"], {}, "--presence-interval"),
        (["--lead-ms", "0"], {}, "--lead-ms"),
        (["--audio-pass-through", "maybe"], {}, "--audio-pass-through"),
        (["--log-level", "LOUD"], {}, "--log-level"),
        (["--tls", "on"], {}, "--tls"),
        ([], {"BACKLINE_TLS": "self_signed"}, "--tls.*from BACKLINE_TLS"),
        (["--tls", "self-signed", "--tls-names", "band lan"], {}, "--tls-names"),
        (["--tls", "self-signed", "--tls-names", "ok.lan,-x.lan"], {}, "--tls-names"),
        ([], {"BACKLINE_MAX_FRAME": "big"}, "--max-frame-bytes.*from BACKLINE_MAX_FRAME"),
        ([], {"BACKLINE_PORT": "-1"}, "--port.*from BACKLINE_PORT"),
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
    cluster = "redis+cluster://10.0.0.5:7000"  # any node of a Redis Cluster
    assert parse(["--redis-url", cluster]).redis_url == cluster


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


def test_tls_self_signed_and_its_names() -> None:
    from backline.server.config import ConfigError

    assert (parse([]).tls, parse([]).tls_names) == ("off", ())
    s = parse(["--tls", "self-signed", "--tls-names", "band.lan,10.0.0.2", "--tls-names", "::1"])
    assert (s.tls, s.tls_names) == ("self-signed", ("band.lan", "10.0.0.2", "::1"))
    env = {"BACKLINE_TLS": "self-signed", "BACKLINE_TLS_NAMES": "a.lan, *.b.lan"}
    assert parse([], env).tls_names == ("a.lan", "*.b.lan")
    # a certfile with it is fine (the certfile wins); names without it are refused
    assert parse(["--tls", "self-signed", "--certfile", "/c.pem"]).certfile == "/c.pem"
    with pytest.raises(ConfigError, match=r"--tls-names.*needs --tls self-signed"):
        parse(["--tls-names", "band.lan"])


# -- the settings table: one row per setting, names that match ----------------------


def _rows() -> list[Setting]:
    from backline.server.config import SETTINGS

    return list(SETTINGS)


def test_every_field_has_one_row_and_its_default() -> None:
    from backline.server.config import LIMIT_SETTINGS

    settings_fields = {f.name for f in fields(Settings)} - {"limits"}
    limit_fields = {f.name for f in fields(Limits)}
    names = [row.name for row in _rows()]
    assert len(names) == len(set(names))
    assert set(names) == settings_fields | limit_fields
    assert {row.name for row in LIMIT_SETTINGS} == limit_fields
    defaults = Settings()
    for row in _rows():
        where = defaults.limits if row.limit else defaults
        assert row.name in limit_fields if row.limit else row.name in settings_fields
        assert getattr(where, row.name) == row.default, row.name


def test_every_setting_has_a_flag_and_a_variable_spelled_from_its_name() -> None:
    flags: list[str] = []
    envs: list[str] = []
    for row in _rows():
        assert row.flag == "--" + row.name.replace("_", "-")
        assert row.env == "BACKLINE_" + row.name.upper()
        flags += row.flags
        envs += row.envs
    assert len(flags) == len(set(flags)) and len(envs) == len(set(envs))
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_serve_arguments(parser, {})
    options = {o for action in parser._actions for o in action.option_strings}
    assert set(flags) <= options
    # the other BACKLINE_* variables the project reads are not settings
    assert not {"BACKLINE_TOKEN", "BACKLINE_TEST_STORE", "BACKLINE_CHROMIUM"} & set(envs)


SAMPLES = {  # two valid texts other than the default, for the settings that need them
    "host": ("0.0.0.0", "::"),
    "port": ("9001", "9002"),
    "public_url": ("https://band.example", "https://jam.example"),
    "session": ("rehearsal", "gig"),
    "allowed_origins": ("https://a.example", "https://b.example"),
    "certfile": ("/etc/bl/cert.pem", "/c.pem"),
    "keyfile": ("/etc/bl/key.pem", "/k.pem"),
    "tls": ("self-signed", "off"),
    "tls_names": ("band.lan", "192.168.1.20,jam.lan"),
    "data_dir": ("/srv/backline", "/tmp/backline"),
    "store": ("memory", "sqlite"),
    "history": ("trim", "keep"),
    "archive_dir": ("/srv/a", "/srv/b"),
    "files_dir": ("/srv/files", "/mnt/shared"),
    "redis_url": ("redis://10.0.0.5:6380/2", "redis://r:6379/0"),
    "node_id": ("eu-1", "us-2"),
    "secret": ("s3cret", "other"),
    "old_secrets": ("old1", "old2,old3"),
    "sqlite_synchronous": ("NORMAL", "FULL"),
    "audio_pass_through": ("off", "on"),
    "log_level": ("DEBUG", "ERROR"),
    "soundfont": ("/srv/a.sf2", "/srv/b.sf2"),
    "rtc_host": ("10.0.0.5", "127.0.0.1,::1"),
    "rtc_interface": ("eth0", "lo,wlan0"),
    "public_ip": ("203.0.113.7", "2001:db8::7"),
    "rtc_ports": ("40000-40100", "50000-50009"),
    "turn": ("turn:turn.band.example:3478", "turns:t.example:5349?transport=tcp,stun:s.example"),
    "turn_secret": ("s3cret", "other"),
    "turn_username": ("band", "jam"),
    "turn_password": ("pw1", "pw2"),
    "rtc_relay_only": ("on", "off"),
}


def _sample(row: Setting, other: bool = False) -> str:
    """A valid text for `row` that is not its default (`other`: a second one)."""
    if row.name in SAMPLES:
        return SAMPLES[row.name][other]
    return str(row.default + (2 if other else 1))  # numbers


def _value(s: Settings, row: Setting) -> object:
    return getattr(s.limits if row.limit else s, row.name)


def _needs(row: Setting) -> list[str]:
    if row.name == "tls_names":
        return ["--tls", "self-signed"]
    if row.name == "rtc_relay_only":
        return ["--turn", "turn:127.0.0.1"]
    return ["--certfile", "/c.pem"] if row.name == "keyfile" else []


@pytest.mark.parametrize("row", _rows(), ids=lambda row: row.name)
def test_a_variable_is_used_without_its_flag_and_the_flag_wins(row: Setting) -> None:
    env_text, flag_text = _sample(row), _sample(row, other=True)
    assert row.parse(env_text) != row.default and row.parse(flag_text) != row.parse(env_text)
    assert _value(parse(_needs(row)), row) == row.default
    assert _value(parse(_needs(row), {row.env: env_text}), row) == row.parse(env_text)
    given = parse([*_needs(row), row.flag, flag_text], {row.env: env_text})
    assert _value(given, row) == row.parse(flag_text)
    assert _value(parse(_needs(row), {row.env: ""}), row) == row.default  # empty: unset


OLD_NAMES = [
    ("redis_url", "--redis", None),
    ("lead_ms", "--lead", "BACKLINE_LEAD"),
    ("send_buffer_bytes", "--send-buffer", "BACKLINE_SEND_BUFFER"),
    ("sqlite_commit_interval_ms", "--sqlite-commit-interval", "BACKLINE_SQLITE_COMMIT_INTERVAL"),
    ("max_frame_bytes", "--max-frame", "BACKLINE_MAX_FRAME"),
    ("allowed_origins", "--allowed-origin", None),
]


@pytest.mark.parametrize(("name", "old_flag", "old_env"), OLD_NAMES)
def test_old_names_still_work(name: str, old_flag: str, old_env: str | None) -> None:
    row = next(r for r in _rows() if r.name == name)
    assert old_flag in row.old_flags and (old_env is None or old_env in row.old_envs)
    text, newer = _sample(row), _sample(row, other=True)
    assert _value(parse([old_flag, text]), row) == row.parse(text)
    if old_env is not None:
        assert _value(parse([], {old_env: text}), row) == row.parse(text)
        # the new variable wins over the old one, and any flag over both
        assert _value(parse([], {old_env: text, row.env: newer}), row) == row.parse(newer)
        assert _value(parse([old_flag, newer], {old_env: text}), row) == row.parse(newer)


def test_the_renamed_settings_read_the_same_as_before() -> None:
    s = parse(
        ["--redis", "redis://r:1/0", "--lead", "250", "--session", "band",
         "--send-buffer", "2048", "--max-frame", "1024"]
    )  # fmt: skip
    assert (s.redis_url, s.lead_ms, s.session, s.send_buffer_bytes) == (
        "redis://r:1/0", 250.0, "band", 2048,
    )  # fmt: skip
    assert s.limits.max_frame_bytes == 1024
    assert parse([], {"BACKLINE_SESSION": "band"}).session == "band"


def test_idle_unload_and_presence_interval_have_a_flag_and_a_variable() -> None:
    s = parse(["--idle-unload", "5", "--presence-interval", "0.1"])
    assert (s.idle_unload, s.presence_interval) == (5.0, 0.1)
    s = parse([], {"BACKLINE_IDLE_UNLOAD": "60", "BACKLINE_PRESENCE_INTERVAL": "0.05"})
    assert (s.idle_unload, s.presence_interval) == (60.0, 0.05)
    assert (parse([]).idle_unload, parse([]).presence_interval) == (30.0, 1 / 30)


def test_origins_may_be_repeated_or_comma_separated() -> None:
    s = parse(["--allowed-origins", "https://a.example,https://b.example",
               "--allowed-origin", "https://c.example"])  # fmt: skip
    assert s.allowed_origins == ("https://a.example", "https://b.example", "https://c.example")


def test_the_log_level_is_any_case() -> None:
    assert parse(["--log-level", "debug"]).log_level == "DEBUG"


def test_every_flag_says_its_default_and_variable_in_help() -> None:
    from backline.server.config import _help

    for row in _rows():
        text = _help(row)
        assert f"env {row.env}" in text and "default: " in text
        assert all(old in text for old in (*row.old_flags, *row.old_envs))


# -- the token secret and the event loop: one place each, for the CLI and the server ----


def test_the_secret_is_created_once_by_the_server_and_read_by_the_cli(tmp_path: Path) -> None:
    import stat

    from backline.server.app import load_secret as server_secret
    from backline.server.runtime import MissingSecret, load_secret

    data = tmp_path / "data"
    with pytest.raises(MissingSecret, match="no secret at"):
        load_secret(None, data, create=False)
    assert not data.exists()
    made = server_secret(parse(["--data-dir", str(data)])).current
    assert stat.S_IMODE((data / "secret").stat().st_mode) == 0o600
    assert load_secret(None, data, create=True) == made == load_secret(None, data, create=False)
    assert load_secret("given", data, create=False) == b"given"
    ring = server_secret(parse(["--data-dir", str(data), "--secret", "given"]))
    assert ring.keys == (b"given",)
    rotated = parse(["--data-dir", str(data), "--secret", "new", "--old-secrets", "given,older"])
    assert server_secret(rotated).keys == (b"new", b"given", b"older")


def test_backline_token_mints_with_the_servers_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from backline.cli.main import main
    from backline.protocol.tokens import verify
    from backline.server.runtime import load_secret

    data = tmp_path / "data"
    with pytest.raises(SystemExit, match="no secret at"):
        main(["token", "--session", "jam", "--data-dir", str(data)])
    secret = load_secret(None, data, create=True)
    main(["token", "--session", "jam", "--data-dir", str(data)])
    assert verify(secret, capsys.readouterr().out.strip(), "jam", now=0).session == "jam"
    monkeypatch.setenv("BACKLINE_DATA_DIR", str(data))  # the server's variable, too
    main(["token", "--session", "jam"])
    assert verify(secret, capsys.readouterr().out.strip(), "jam", now=0).session == "jam"


def test_run_loop_uses_uvloop_when_installed() -> None:
    import asyncio

    from backline.server.runtime import run_loop

    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    pytest.importorskip("uvloop")
    assert run_loop(loop_module()).startswith("uvloop")


def test_only_the_runtime_module_picks_the_event_loop_or_reads_the_secret_file() -> None:
    """`backline serve`, `python -m backline.server` and the CLI's clients share them."""
    import ast

    root = Path(__file__).resolve().parents[2]
    found = set()
    for folder in ("server", "cli"):
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                imports = (
                    [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                    if isinstance(node, ast.Import | ast.ImportFrom)
                    else []
                )
                runs = isinstance(node, ast.Call) and ast.unparse(node.func) == "asyncio.run"
                if "uvloop" in imports or runs:
                    found.add(str(path.relative_to(root)))
    assert sorted(found) == ["server/runtime.py"]
