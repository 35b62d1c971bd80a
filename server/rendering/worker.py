"""One render, in its own process: ``python -m backline.server.rendering.worker``.

Reads one msgpack request on stdin (the document's data, the stems wanted, the
SoundFont, the sample cache, the destination directory, the length limit),
writes JSON lines on stdout: ``{"progress": 0.4, "stage": "tracks"}`` as it
goes, then ``{"done": summary}`` or ``{"error": {"code", "message"}}``. The
files appear at the destination all at once (`wavfiles.write_render`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgpack

from backline.protocol.errors import BacklineError


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def run(request: dict[str, Any]) -> dict[str, Any]:
    from backline.media.render import render
    from backline.media.soundfont import SampleBank, SoundFontMissing
    from backline.media.wavfiles import write_render
    from backline.protocol.model import Document

    font = request.get("soundfont")
    if not font:
        raise SoundFontMissing(
            "no SoundFont on the server: install one (scripts/bootstrap.sh installs"
            " timgm6mb-soundfont) or pass --soundfont"
        )
    cache = request.get("sample_cache")
    bank = SampleBank(Path(font), cache_dir=Path(cache) if cache else None)
    doc = Document.from_data(request["document"])
    last = [-1.0]

    def progress(share: float, stage: str) -> None:
        if share - last[0] >= 0.01 or stage != "tracks":
            last[0] = share
            _say({"progress": round(share, 3), "stage": stage})

    result = render(
        doc,
        bank,
        stems=request["stems"],
        progress=progress,
        max_seconds=request.get("max_seconds"),
    )
    _say({"progress": 0.99, "stage": "writing"})
    return write_render(result, Path(request["destination"]), request.get("info", {}))


def main() -> int:
    try:
        request = msgpack.unpackb(sys.stdin.buffer.read(), raw=False)
        summary = run(request)
    except BacklineError as error:
        _say({"error": {"code": str(error.code), "message": error.message}})
        return 1
    except MemoryError:
        _say({"error": {"code": "too_large", "message": "the render ran out of memory"}})
        return 1
    except Exception as error:  # a bug: reported, and the traceback goes to stderr
        import traceback

        traceback.print_exc()
        _say({"error": {"code": "internal", "message": f"render failed: {error}"}})
        return 1
    _say({"done": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
