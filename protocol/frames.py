"""Every frame the server sends, built in one place (`ServerType` names their types).

Each builder returns the frame's map, ready for `codec.encode`; the two that
carry already-encoded records return bytes or pieces instead, so that a batch
or a snapshot encoded once is shared by every frame that carries it (`ops`,
`welcome_parts`). docs/PROTOCOL.md describes each field.
"""

from __future__ import annotations

from typing import Any

from .codec import NIL, array_parts, encode_spliced, encode_spliced_parts
from .messages import ServerType

__all__ = [
    "admin",
    "chat",
    "done",
    "error",
    "ice_server",
    "ops",
    "pong",
    "presence",
    "recording",
    "reject",
    "rtc",
    "welcome_parts",
]


def welcome_parts(
    fields: dict[str, Any], snapshot: bytes | None, batches: list[bytes] | None
) -> list[bytes]:
    """A `welcome` as pieces to write one after another: `fields` (session, client,
    resume, role, locked, viewer_audio, version, seq, time, peers, chat, rates), then
    **either** the encoded `snapshot` **or** the encoded `batches` after the joiner's
    version (the other is nil). The snapshot and batches are written as they are."""
    raw: dict[str, bytes | list[bytes]]
    if batches is None:
        raw = {"snapshot": snapshot if snapshot is not None else NIL, "batches": NIL}
    else:
        raw = {"snapshot": NIL, "batches": array_parts(batches)}
    return encode_spliced_parts({"type": ServerType.WELCOME.value, **fields}, raw)


def ops(records: list[bytes]) -> bytes:
    """An `ops` frame of accepted batches, each already encoded (`Batch.to_wire`)."""
    return encode_spliced({"type": ServerType.OPS.value}, {"batches": array_parts(records)})


def ops_frame(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """The same `ops` frame as a map (what a client decodes)."""
    return {"type": ServerType.OPS.value, "batches": batches}


def reject(seq: int, code: str, message: str) -> dict[str, Any]:
    """Your edit `seq` was refused: nothing changed."""
    return {"type": ServerType.REJECT.value, "seq": seq, "code": code, "message": message}


def error(code: str, message: str, request: int | None = None) -> dict[str, Any]:
    """A message that was not an edit was refused; `request` names the admin request."""
    frame: dict[str, Any] = {"type": ServerType.ERROR.value, "code": code, "message": message}
    if request is not None:
        frame["id"] = request
    return frame


def presence(peers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": ServerType.PRESENCE.value, "peers": peers}


def live(by: str, note: dict[str, Any], time: int) -> dict[str, Any]:
    """`by` played `note` (`LiveNote.to_wire()`), relayed by the server at `time` (µs)."""
    return {"type": ServerType.LIVE.value, "by": by, **note, "time": time}


def chat(entry: dict[str, Any]) -> dict[str, Any]:
    """A chat message: `entry` is ``{by, name, text, time, wall}`` (``wall``: Unix ms)."""
    return {"type": ServerType.CHAT.value, **entry}


def pong(t0: float, t1: int, t2: int) -> dict[str, Any]:
    """The answer to a ping: echoed `t0`, server receive `t1` and send `t2` (µs)."""
    return {"type": ServerType.PONG.value, "t0": t0, "t1": t1, "t2": t2}


def rtc(sdp: str) -> dict[str, Any]:
    """The server's WebRTC answer."""
    return {"type": ServerType.RTC.value, "sdp": sdp}


def ice_server(
    urls: list[str], username: str | None = None, credential: str | None = None
) -> dict[str, Any]:
    """One entry of a welcome's `ice_servers`: a STUN/TURN server as a browser's
    `RTCIceServer` takes it (`urls`, and for TURN `username` and `credential`)."""
    server: dict[str, Any] = {"urls": list(urls)}
    if username is not None:
        server["username"] = username
    if credential is not None:
        server["credential"] = credential
    return server


def rtc_reoffer(reason: str) -> dict[str, Any]:
    """Offer again: the session's audio room moved to another process (`reason`:
    ``moved``), so the connection to the old one is gone."""
    return {"type": ServerType.RTC.value, "reoffer": True, "reason": reason}


def recording(
    active: bool,
    recording_id: str | None,
    by: str | None,
    time: int | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """A recording started (`active`) or stopped; `by` is the owner, None when it stopped
    by itself."""
    frame: dict[str, Any] = {"type": ServerType.RECORDING.value, "active": active, "by": by}
    if recording_id is not None:
        frame["id"] = recording_id
    if time is not None:
        frame["time"] = time
    if reason is not None:
        frame["reason"] = reason
    return frame


def done(request: int, **fields: Any) -> dict[str, Any]:
    """Your admin request `request` was carried out (an invite's carries its token)."""
    return {"type": ServerType.DONE.value, "id": request, **fields}


def access(request: int, invites: list[Any], people: list[Any]) -> dict[str, Any]:
    """The session's invites and the people who hold access (answers `access`, owners)."""
    return {"type": ServerType.ACCESS.value, "id": request, "invites": invites, "people": people}


def admin(action: str, by: str, **fields: Any) -> dict[str, Any]:
    """An owner changed the session: `action` and its fields (client, role, locked, allowed)."""
    return {"type": ServerType.ADMIN.value, "action": action, "by": by, **fields}


def history(request: int, what: str, **fields: Any) -> dict[str, Any]:
    """The answer to a `history` request: `what` it asked for and its fields."""
    return {"type": ServerType.HISTORY.value, "id": request, "what": what, **fields}
