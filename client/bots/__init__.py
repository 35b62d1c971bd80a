"""Bots bundled with Backline, runnable with `backline bot NAME`."""

from __future__ import annotations

from ..bot import Bot
from .drummer import DrummerBot
from .hihat import HiHatBot
from .metronome import MetronomeBot
from .recorder import RecorderBot

__all__ = ["BOTS", "DrummerBot", "HiHatBot", "MetronomeBot", "RecorderBot"]

BOTS: dict[str, type[Bot]] = {
    "drummer": DrummerBot,
    "hihat": HiHatBot,
    "metronome": MetronomeBot,
    "recorder": RecorderBot,
}
