"""Instrument samples over HTTP: what the browser and the bots play.

- ``GET /samples``: JSON ``{"available", "soundfont", "digest", "rate",
  "layers", "reason"}``: whether this server has a SoundFont (``reason`` says
  why not) and which;
- ``GET /samples/<bank>/<program>/<pitch>/<layer>.flac``: one note as FLAC,
  16-bit stereo at 48 kHz (`media.soundfont`), rendered on first use.

Both need a token of this server (any session, any role), in an
``Authorization: Bearer`` header or a ``token`` query parameter. Rendering
happens on a worker thread, one note at a time; at most `MAX_WAITING`
requests wait for it, more get 503 ``unavailable`` (the browser retries).
"""

from __future__ import annotations

import asyncio
import http
import json
import re
from pathlib import Path
from typing import Any

from backline.media.soundfont import SampleBank, SoundFontMissing, find_soundfont
from backline.protocol import dsp
from backline.protocol.dsp import SampleKey
from backline.protocol.tokens import Secret
from backline.server.http.auth import HttpAnswer, authorize_any, error_answer

__all__ = ["MAX_WAITING", "PREFIX", "Instruments", "open_instruments", "samples_request"]

PREFIX = "/samples"
MAX_WAITING = 64
SAMPLE_PATH = re.compile(r"/samples/(0|128)/(\d{1,3})/(\d{1,3})/(\d{1,3})\.flac")


class Instruments:
    """The server's SampleBank (None without a SoundFont or FluidSynth, and why)."""

    def __init__(self, bank: SampleBank | None, reason: str = "") -> None:
        self.bank = bank
        self.reason = reason
        self.waiting = 0

    def index(self) -> dict[str, Any]:
        bank = self.bank
        return {
            "available": bank is not None,
            "soundfont": bank.name if bank else None,
            "digest": bank.digest if bank else None,
            "rate": dsp.RATE,
            "layers": list(dsp.LAYERS),
            "reason": self.reason,
        }


def open_instruments(soundfont: str | None, cache_dir: Path) -> Instruments:
    """The server's instruments: the SoundFont asked for (or found), or why there are none."""
    font = find_soundfont(soundfont)
    if font is None:
        where = soundfont or "the usual places (/usr/share/sounds/sf2/)"
        return Instruments(None, f"no SoundFont found at {where}: install timgm6mb-soundfont")
    try:
        return Instruments(SampleBank(font, cache_dir=cache_dir))
    except SoundFontMissing as error:
        return Instruments(None, error.message)


async def samples_request(
    target: str, headers: Any, secret: Secret, instruments: Instruments
) -> HttpAnswer | None:
    """Answer a ``/samples…`` request (None: the path is not ours)."""
    path, _, query = target.partition("?")
    if path != PREFIX and not path.startswith(PREFIX + "/"):
        return None
    claims = authorize_any(query, headers, secret)
    if isinstance(claims, HttpAnswer):
        return claims
    if path == PREFIX:
        body = json.dumps(instruments.index()).encode()
        return HttpAnswer(http.HTTPStatus.OK, body, headers=(("Cache-Control", "no-store"),))
    match = SAMPLE_PATH.fullmatch(path)
    if match is None:
        return error_answer(http.HTTPStatus.NOT_FOUND, "no such sample", "not_found")
    bank_no, program, pitch, layer = (int(g) for g in match.groups())
    if program > 127 or pitch > 127 or layer not in dsp.LAYERS:
        message = f"program and pitch are 0-127 and the layer one of {list(dsp.LAYERS)}"
        return error_answer(http.HTTPStatus.BAD_REQUEST, message, "out_of_range")
    bank = instruments.bank
    if bank is None:
        return error_answer(http.HTTPStatus.SERVICE_UNAVAILABLE, instruments.reason, "unavailable")
    if instruments.waiting >= MAX_WAITING:
        message = "too many samples are being rendered; retry shortly"
        return error_answer(http.HTTPStatus.SERVICE_UNAVAILABLE, message, "unavailable")
    instruments.waiting += 1
    try:
        data = await asyncio.to_thread(bank.flac, SampleKey(bank_no, program, pitch, layer))
    finally:
        instruments.waiting -= 1
    cache = (("Cache-Control", "private, max-age=86400"), ("ETag", f'"{bank.digest}"'))
    return HttpAnswer(http.HTTPStatus.OK, data, "audio/flac", cache)
