"""Bots bundled with Backline, runnable with `backline bot NAME`."""

from __future__ import annotations

from backline.client.bot import Bot
from backline.client.bots.chords import ArpBot, BassBot, PadBot
from backline.client.bots.drummer import DrummerBot
from backline.client.bots.hihat import HiHatBot
from backline.client.bots.metronome import MetronomeBot
from backline.client.bots.recorder import RecorderBot

__all__ = [
    "BOTS",
    "ArpBot",
    "BassBot",
    "DrummerBot",
    "HiHatBot",
    "MetronomeBot",
    "PadBot",
    "RecorderBot",
]

BOTS: dict[str, type[Bot]] = {
    "arp": ArpBot,
    "bass": BassBot,
    "drummer": DrummerBot,
    "hihat": HiHatBot,
    "metronome": MetronomeBot,
    "pad": PadBot,
    "recorder": RecorderBot,
}
