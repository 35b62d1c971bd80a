"""One row of the settings table, and the parsers of the text a flag or variable holds.

A `Setting` says everything the `Settings` dataclass, argparse, the
environment and the docs need to know about one setting; `setting(...)` makes
a dataclass field that carries its row. The table itself is in `config.py`.
Each parser turns text into a value or raises `ValueError`; its `__name__` is
what argparse prints in "argument --port: invalid port (0-65535) value".
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = [
    "ENV_PREFIX",
    "Setting",
    "one_of",
    "parse_names",
    "parse_non_negative",
    "parse_on_off",
    "parse_optional_text",
    "parse_origins",
    "parse_port",
    "parse_positive",
    "parse_positive_number",
    "parse_rate",
    "parse_redis_url",
    "parse_seconds",
    "parse_text",
    "setting",
]

T = TypeVar("T")

ENV_PREFIX = "BACKLINE_"


_METAVARS = {"ms": "MS", "s": "S", "bytes": "BYTES", "per second": "R"}


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: everything the dataclass, the flag, the variable and the docs need."""

    name: str  # the field's name; the flag and the variable are spelled from it
    default: Any
    parse: Callable[[str], Any]  # text (flag or variable) -> value; ValueError if bad
    help: str  # one text for --help and the docs (`backticks` are dropped in --help)
    group: str
    unit: str = ""  # "ms", "s", "bytes", "per second", ... (shown after the default)
    metavar: str = ""  # default: from the unit (MS, S, BYTES, R), else N or TEXT
    old_flags: tuple[str, ...] = ()  # earlier spellings, still accepted
    old_envs: tuple[str, ...] = ()  # earlier variable names, still read
    unset: str = "none"  # what a default of None (or an empty list) means
    repeatable: bool = False  # the flag may be given several times (values add up)
    limit: bool = False  # a field of `Settings.limits`, not of `Settings`

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def flags(self) -> tuple[str, ...]:
        return (self.flag, *self.old_flags)

    @property
    def envs(self) -> tuple[str, ...]:
        return (self.env, *self.old_envs)

    @property
    def shown_metavar(self) -> str:
        if self.metavar:
            return self.metavar
        if self.unit in _METAVARS:
            return _METAVARS[self.unit]
        return "N" if isinstance(self.default, int | float) else "TEXT"

    def from_env(self, env: Mapping[str, str]) -> tuple[str, str] | None:
        """(variable, text) of the first of its variables that is set and not empty."""
        for name in self.envs:
            value = env.get(name, "")
            if value:
                return name, value
        return None

    def shown_default(self, markdown: bool = True) -> str:
        """The default as the docs (`markdown`) or --help show it, with its unit."""
        value = self.default
        if value is None or value == ():
            return self.unset if markdown else self.unset.replace("`", "")
        if isinstance(value, bool):
            text = "on" if value else "off"
        elif isinstance(value, float) and value.is_integer():
            text = str(int(value))
        elif isinstance(value, float):
            text = f"{value:.4g}"
        else:
            text = str(value)
        shown = f"`{text}`" if markdown else text
        if self.unit:
            shown += " " + self.unit
        if self.unit == "bytes" and isinstance(value, int) and value >= 1024:
            shown += " (" + _binary_size(value) + ")"
        return shown


def _binary_size(value: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size and value % size == 0:
            return f"{value // size} {unit}"
    return f"{value / 1024:.1f} KiB"


# -- parsers: text -> value, ValueError when bad (argparse names the flag) -----------


def _named(name: str) -> Callable[[Callable[[str], T]], Callable[[str], T]]:
    """Set the name argparse puts in "invalid <name> value" messages."""

    def rename(parse: Callable[[str], T]) -> Callable[[str], T]:
        parse.__name__ = name
        return parse

    return rename


@_named("text")
def parse_text(text: str) -> str:
    return text


@_named("text")
def parse_optional_text(text: str) -> str | None:
    return text or None


@_named("port (0-65535)")
def parse_port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(text)
    return value


@_named("positive integer")
def parse_positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


@_named("rate per second (0 = no limit)")
def parse_rate(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):  # also refuses NaN
        raise ValueError(text)
    return value


@_named("number >= 0")
def parse_non_negative(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):
        raise ValueError(text)
    return value


@_named("positive number")
def parse_positive_number(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise ValueError(text)
    return value


@_named("positive number of seconds")
def parse_seconds(text: str) -> float:
    return parse_positive_number(text)


@_named("Redis URL (redis://HOST:PORT/DB, rediss://…, unix://… or redis+cluster://HOST:PORT)")
def parse_redis_url(text: str) -> str | None:
    if not text:
        return None
    schemes = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
    if not text.startswith(schemes):
        raise ValueError(text)
    return text


def one_of(*allowed: str, fold: bool = False) -> Callable[[str], str]:
    """A parser that also checks variable-provided values (argparse's `choices=` skips them)."""

    @_named("choice (" + ", ".join(allowed) + ")")
    def check(text: str) -> str:
        value = text.upper() if fold else text
        if value not in allowed:
            raise ValueError(text)
        return value

    return check


@_named("on or off")
def parse_on_off(text: str) -> bool:
    if text not in ("on", "off"):
        raise ValueError(text)
    return text == "on"


@_named("origins (comma-separated)")
def parse_origins(text: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in text.split(",") if o.strip())


@_named("secrets (comma-separated)")
def parse_secrets(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


_HOST_NAME = re.compile(  # DNS labels, and a wildcard first label
    r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?",
    re.IGNORECASE,
)


@_named("host names or addresses (comma-separated)")
def parse_names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            if not _HOST_NAME.fullmatch(name.rstrip(".")):
                raise ValueError(text) from None
    return names


def setting(
    default: T,
    parse: Callable[[str], T],
    help: str,
    *,
    group: str,
    unit: str = "",
    metavar: str = "",
    old_flags: tuple[str, ...] = (),
    old_envs: tuple[str, ...] = (),
    unset: str = "none",
    repeatable: bool = False,
) -> T:
    """A `Settings` field with a default, carrying its row of the table."""
    row = Setting(
        name="",  # the field's, filled in by `_rows`
        default=default,
        parse=parse,
        help=help,
        group=group,
        unit=unit,
        metavar=metavar,
        old_flags=old_flags,
        old_envs=old_envs,
        unset=unset,
        repeatable=repeatable,
    )
    return field(default=default, metadata={"setting": row})
