"""A render's files: 48 kHz 24-bit WAVs, written so that none is ever seen half-written.

`write_render` puts the mix, the stems (``stem-01-drums.wav``, in track order)
and ``render.json`` (what was rendered and what it measures) into a fresh
directory beside the destination, then renames that directory into place: a
reader sees the whole render or nothing.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from backline.media.chain import Signal
from backline.media.render import Render
from backline.protocol import dsp

__all__ = ["SUMMARY", "stem_name", "write_render", "write_wav"]

SUMMARY = "render.json"


def write_wav(path: Path, signal: Signal) -> int:
    """`signal` as a 24-bit stereo WAV at `path`; returns its size in bytes."""
    import soundfile

    soundfile.write(path, np.clip(signal, -1.0, 1.0).T, dsp.RATE, subtype="PCM_24", format="WAV")
    return path.stat().st_size


def stem_name(index: int, name: str) -> str:
    """``stem-NN-<name>.wav``: the name reduced to safe characters."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40] or "track"
    return f"stem-{index:02d}-{safe}.wav"


def _finite(value: float) -> float | None:
    return round(value, 3) if math.isfinite(value) else None


def write_render(result: Render, destination: Path, info: dict[str, Any]) -> dict[str, Any]:
    """Write `result` as the directory `destination` (which must not exist yet); returns
    the summary also written as ``render.json`` (`info` plus measures and files)."""
    partial = destination.with_name(f".{destination.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        files = [{"name": "mix.wav", "bytes": write_wav(partial / "mix.wav", result.mix)}]
        for i, track in enumerate(result.order, 1):
            name = stem_name(i, result.names[track])
            size = write_wav(partial / name, result.stems[track])
            files.append({"name": name, "bytes": size, "track": track})
        summary = {
            **info,
            "seconds": round(result.seconds, 3),
            "song_seconds": round(result.song_seconds, 3),
            "rate": dsp.RATE,
            "bits": 24,
            "lufs": _finite(result.lufs),
            "true_peak_db": _finite(result.true_peak_db),
            "sample_peak": round(result.sample_peak, 6),
            "files": files,
        }
        (partial / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        os.replace(partial, destination)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return summary
