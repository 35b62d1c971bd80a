"""Bots bundled with Backline, runnable with `backline bot NAME`."""

from __future__ import annotations

from ..bot import Bot
from .hihat import HiHatBot
from .metronome import MetronomeBot
from .recorder import RecorderBot

__all__ = ["BOTS", "HiHatBot", "MetronomeBot", "RecorderBot"]

BOTS: dict[str, type[Bot]] = {
    "hihat": HiHatBot,
    "metronome": MetronomeBot,
    "recorder": RecorderBot,
}
