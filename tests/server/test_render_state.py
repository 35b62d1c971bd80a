"""A render's state as other processes sharing the files directory read it."""

from __future__ import annotations

import json
import time
from pathlib import Path

from backline.server.rendering.jobs import STALE, STATE_DIR, Job, Renders

SESSION = "jam"
RENDER = "20261207-070000-abcdef"


def two_processes(root: Path) -> tuple[Renders, Renders]:
    return Renders(root, None, None), Renders(root, None, None)


async def test_a_running_render_is_listed_and_followed_by_another_process(tmp_path: Path) -> None:
    here, there = two_processes(tmp_path)
    job = Job(RENDER, SESSION, 7, "dry", "c1", status="running", progress=0.4, stage="mixing")
    here._write_state(job)
    seen = there.get(SESSION, RENDER)
    assert seen is not None and seen.to_json() | {"created": 0} == job.to_json() | {"created": 0}
    assert [j.id for j in there.jobs(SESSION)] == [RENDER]
    assert there.file(SESSION, RENDER, "mix.wav") is None  # nothing to download yet
    # no temporary file is left beside the state
    assert [p.name for p in (tmp_path / SESSION / STATE_DIR).iterdir()] == [f"{RENDER}.json"]


async def test_a_state_nobody_refreshes_reads_as_failed(tmp_path: Path) -> None:
    here, there = two_processes(tmp_path)
    here._write_state(Job(RENDER, SESSION, 7, "none", "c1", status="running", stage="mixing"))
    path = tmp_path / SESSION / STATE_DIR / f"{RENDER}.json"
    state = json.loads(path.read_text())
    path.write_text(json.dumps({**state, "updated": time.time() - STALE - 1}))
    seen = there.get(SESSION, RENDER)
    assert seen is not None and seen.status == "failed"
    assert seen.error == {"code": "unavailable", "message": "the server process running it stopped"}


async def test_a_failed_render_says_why_everywhere_and_odd_names_are_ignored(
    tmp_path: Path,
) -> None:
    here, there = two_processes(tmp_path)
    error = {"code": "out_of_range", "message": "the song is longer than 1200 s"}
    here._write_state(Job(RENDER, SESSION, 3, "none", "c1", status="failed", error=error))
    seen = there.get(SESSION, RENDER)
    assert seen is not None and seen.status == "failed" and seen.error == error
    assert there.get(SESSION, "../../etc") is None
    (tmp_path / SESSION / STATE_DIR / "junk.json").write_text("{")
    assert [j.id for j in there.jobs(SESSION)] == [RENDER]
