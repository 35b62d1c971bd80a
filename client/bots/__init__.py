"""Bots bundled with Backline, runnable with `backline bot NAME`."""

from __future__ import annotations

from ..bot import Bot
from .hihat import HiHatBot

__all__ = ["BOTS", "HiHatBot"]

BOTS: dict[str, type[Bot]] = {"hihat": HiHatBot}
