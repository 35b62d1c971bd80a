"""A session exported for a DAW: a REAPER project with every track's MIDI and, when the
current version has been rendered, its stems.

`export_reaper` writes into a directory (made if need be):

- ``<session>.rpp``: `protocol.reaper.reaper_project` of the project;
- ``stems/``: the files of the newest finished render *of that very version* with
  stems (``stem-NN-<name>.wav``, ``mix.wav``, ``render.json``, as the server names
  them), referenced from the .rpp by relative paths, so the directory moves whole.

A render of another version is never used: its stems would not match the MIDI.
Without one the export is MIDI only, unless `render` asks for stems (``dry``:
post-fader; ``wet``: with their share of the reverb and delay), which are then
rendered first. A render with no stems still gives its mix. Renders are for
owners and editors: with a viewer's token the server lists none, and the export
is MIDI only (`Export.note` says why).

Blocking calls (urllib), like `renders`: from async code run them with
``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backline.client.httpapi import http_base, request
from backline.client.renders import Progress, download_render
from backline.client.renders import render as make_render
from backline.protocol.errors import Forbidden
from backline.protocol.model import Document
from backline.protocol.reaper import reaper_project

__all__ = ["STEMS_DIR", "Export", "export_reaper", "list_renders", "pick_render"]

STEMS_DIR = "stems"  # where the render's files go, beside the .rpp


@dataclass(frozen=True, slots=True)
class Export:
    """What an export wrote."""

    project: Path  # the .rpp
    audio: list[Path] = field(default_factory=list)  # the WAVs it references (none: MIDI only)
    render: dict[str, Any] | None = None  # the render they are from
    note: str = ""  # why there are no stems, when there are none


def list_renders(
    url: str,
    session: str,
    token: str,
    *,
    timeout: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
) -> list[dict[str, Any]]:
    """Every render of `session` the server knows, oldest first (owners and editors)."""
    target = f"{http_base(url)}/renders/{urllib.parse.quote(session, safe='')}"
    listed = json.loads(request("GET", target, token, timeout, ssl_context))
    renders: list[dict[str, Any]] = listed["renders"]
    return renders


def pick_render(jobs: list[dict[str, Any]], version: int) -> dict[str, Any] | None:
    """The newest finished render of `version` with stems, else the newest with its mix
    alone; None when that version has no finished render."""
    done = [j for j in jobs if j.get("status") == "done" and j.get("version") == version]
    done.sort(key=lambda j: str(j["id"]))  # ids start with their UTC time
    with_stems = [j for j in done if any("track" in f for f in j.get("files", []))]
    chosen = with_stems or done
    return chosen[-1] if chosen else None


def _file_name(session: str) -> str:
    """The session's name as a file name on any system (ids may hold ``:``)."""
    return (re.sub(r"[^A-Za-z0-9_-]+", "-", session).strip("-") or "session") + ".rpp"


def export_reaper(
    url: str,
    session: str,
    token: str,
    doc: Document,
    version: int,
    out: Path,
    *,
    render: str | None = None,
    on_progress: Progress | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Export:
    """Write `doc` (the session's project at `version`) into `out` as a REAPER project.

    Args:
        render: ``dry`` or ``wet``: render stems first when `version` has none
            (needs an owner's or editor's token); None: use what exists.
        on_progress: called with the render's job while one is made.
    """
    try:
        job = pick_render(list_renders(url, session, token, ssl_context=ssl_context), version)
        note = "" if job is not None else f"version {version} has not been rendered"
    except Forbidden:
        if render is not None:
            raise
        job, note = None, "a viewer's token sees no renders (an editor's does)"
    has_stems = job is not None and any("track" in f for f in job.get("files", []))
    if render is not None and not has_stems:
        job = make_render(url, session, token, stems=render, version=version,
                          on_progress=on_progress, ssl_context=ssl_context)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    stems: dict[str, str] = {}
    mix = None
    audio: list[Path] = []
    if job is not None:
        has_stems = any("track" in f for f in job.get("files", []))
        note = "" if has_stems else f"render {job['id']} has its mix only, no stems"
        download_render(url, session, token, job, out / STEMS_DIR, ssl_context=ssl_context)
        for f in job.get("files", []):
            relative = f"{STEMS_DIR}/{f['name']}"
            if "track" in f:
                stems[str(f["track"])] = relative
            elif f["name"] == "mix.wav":
                mix = relative
            else:
                continue
            audio.append(out / relative)
    text = reaper_project(doc, name=session, stems=stems, mix=mix,
                          audio_seconds=None if job is None else float(job["seconds"]))  # fmt: skip
    path = out / _file_name(session)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return Export(path, audio, job, note)
