"""Backline's Python SDK: join a session, mirror its project, edit it live.

async with backline.client.connect(url, session="jam", token=token, name="me") as s:
    track = s.add_track("Bass")
    s.add_note(track.id, pitch=36, start=0, dur=480)
"""

from backline.client.bot import Bot
from backline.client.session import (
    AdminChanged,
    ChatMessage,
    ConnectionChanged,
    Edit,
    Event,
    EventStream,
    PresenceChanged,
    RecordingChanged,
    Rejected,
    RemoteEdit,
    Session,
    connect,
)

__all__ = [
    "AdminChanged",
    "Bot",
    "ChatMessage",
    "ConnectionChanged",
    "Edit",
    "Event",
    "EventStream",
    "PresenceChanged",
    "RecordingChanged",
    "Rejected",
    "RemoteEdit",
    "Session",
    "connect",
]
