"""The render queue: renders waiting, running and done, per session.

A render runs in a child process (`worker`) so that the event loop stays
free for the live session; one runs at a time, at most `queue` wait or run,
and more are refused (`RateLimited`) rather than piling up. Each render
reports its progress (share done, stage), which the HTTP routes pass on.

Finished renders live in ``<data-dir>/renders/<session>/<id>/`` (the worker
moves the whole directory into place when it is complete); the newest `keep`
per session are kept, older ones deleted. After a restart the finished ones
are found again from their ``render.json``.

Several processes share the directory (`--files-dir`): a render runs on the
process that was asked, and every other one lists, follows and serves it. A
queued or running render's state is a small file beside the renders,
``.jobs/<id>.json``, rewritten atomically (temporary file, then rename) on
every change of stage, at most `STATE_EVERY` seconds apart for progress, and
at least every `HEARTBEAT` seconds while it runs; a state nobody refreshed for
`STALE` seconds belonged to a process that died, and reads as failed. A
failed render's state stays (others see why) until pruned with the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from backline.protocol.errors import RateLimited
from backline.server.http.recordings import recording_dir_name

__all__ = ["RENDER_ID", "Job", "Renders"]

log = logging.getLogger("backline.render")

RENDER_ID = r"\d{8}-\d{6}-[0-9a-f]{6}"
STEM_MODES = ("none", "dry", "wet")
STATE_DIR = ".jobs"  # queued, running and failed renders' state, for every process
STATE_EVERY = 0.25  # seconds between two progress writes of one render
HEARTBEAT = 2.0  # seconds between rewrites of a running render's state at the latest
STALE = 15.0  # a state not rewritten for this long: its process is gone


@dataclass
class Job:
    """One render: what was asked, where it stands, and (once done) its summary."""

    id: str
    session: str
    version: int
    stems: str
    by: str
    status: str = "queued"  # queued → running → done | failed
    progress: float = 0.0
    stage: str = "queued"
    created: float = field(default_factory=time.time)
    summary: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    written: float = 0.0  # monotonic time its state file was last written

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "session": self.session,
            "version": self.version,
            "stems": self.stems,
            "by": self.by,
            "status": self.status,
            "progress": round(self.progress, 3),
            "stage": self.stage,
            "created": self.created,
        }
        if self.summary is not None:
            for key in ("seconds", "song_seconds", "lufs", "true_peak_db", "sample_peak"):
                out[key] = self.summary.get(key)
            out["files"] = [
                {**f, "url": f"/renders/{self.session}/{self.id}/{f['name']}"}
                for f in self.summary.get("files", [])
            ]
        if self.error is not None:
            out["error"] = self.error
        return out


class Renders:
    """Queues and runs renders; `start` returns the job at once, `jobs` lists them."""

    def __init__(
        self,
        root: Path,
        soundfont: Path | None,
        sample_cache: Path | None,
        *,
        queue: int = 4,
        timeout: float = 600.0,
        max_seconds: float = 1200.0,
        keep: int = 20,
    ) -> None:
        self.root = root
        self.soundfont = soundfont
        self.sample_cache = sample_cache
        self.queue = queue
        self.timeout = timeout
        self.max_seconds = max_seconds
        self.keep = keep
        self._jobs: dict[str, dict[str, Job]] = {}  # session → id → job
        self._one_at_a_time = asyncio.Semaphore(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._active = 0

    def directory(self, session: str) -> Path:
        return self.root / recording_dir_name(session)

    def start(
        self, session: str, document: dict[str, Any], version: int, stems: str, by: str
    ) -> Job:
        """Queue a render of `document` (session `session` at `version`)."""
        if self._active >= self.queue:
            raise RateLimited(
                f"{self._active} renders are waiting or running here; try again when one is done"
            )
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        job = Job(f"{stamp}-{secrets.token_hex(3)}", session, version, stems, by)
        self._jobs.setdefault(session, {})[job.id] = job
        self._write_state(job)
        self._active += 1
        task = asyncio.get_running_loop().create_task(self._run(job, document), name="render")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def get(self, session: str, render: str) -> Job | None:
        job = self._jobs.get(session, {}).get(render)
        if job is not None:
            return job
        return self._from_disk(session, render) or self._from_state(session, render)

    def jobs(self, session: str) -> list[Job]:
        """Every render of `session` known here or on disk (any process's), oldest first."""
        found = dict(self._jobs.get(session, {}))
        base = self.directory(session)
        if base.is_dir():
            for entry in base.iterdir():
                if entry.name not in found and not entry.name.startswith("."):
                    job = self._from_disk(session, entry.name)
                    if job is not None:
                        found[job.id] = job
        states = base / STATE_DIR
        if states.is_dir():
            for entry in states.iterdir():
                render = entry.name.removesuffix(".json")
                if entry.suffix == ".json" and render not in found:
                    job = self._from_state(session, render)
                    if job is not None:
                        found[job.id] = job
        return sorted(found.values(), key=lambda j: j.id)

    def file(self, session: str, render: str, name: str) -> Path | None:
        """The path of a finished render's file, if it is one of the files it lists."""
        job = self.get(session, render)
        if job is None or job.summary is None:
            return None
        names = {f["name"] for f in job.summary.get("files", [])} | {"render.json"}
        return self.directory(session) / render / name if name in names else None

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- the state other processes read ---------------------------------------------------

    def _state_path(self, session: str, render: str) -> Path:
        return self.directory(session) / STATE_DIR / f"{render}.json"

    def _write_state(self, job: Job) -> None:
        """Tell the other processes where `job` stands (atomically: write, then rename)."""
        job.written = time.monotonic()
        path = self._state_path(job.session, job.id)
        state = {**job.to_json(), "updated": time.time()}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{secrets.token_hex(3)}")
            partial.write_text(json.dumps(state))
            partial.replace(path)
        except OSError as exc:  # the others do not see it; this process still serves it
            log.warning("render %s: cannot write its state in %s: %s", job.id, path.parent, exc)

    def _drop_state(self, job: Job) -> None:
        with contextlib.suppress(OSError):
            self._state_path(job.session, job.id).unlink()

    def _from_state(self, session: str, render: str) -> Job | None:
        """Another process's queued, running or failed render, from its state file."""
        if not re.fullmatch(RENDER_ID, render):
            return None
        try:
            state = json.loads(self._state_path(session, render).read_text())
            job = Job(render, session, int(state["version"]), str(state["stems"]),
                      str(state["by"]), status=str(state["status"]),
                      progress=float(state["progress"]), stage=str(state["stage"]),
                      created=float(state["created"]))  # fmt: skip
            updated = float(state["updated"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if isinstance(state.get("error"), dict):
            job.error = {str(k): str(v) for k, v in state["error"].items()}
        if job.status in ("queued", "running") and time.time() - updated > STALE:
            job.status, job.stage = "failed", "failed"
            job.error = {"code": "unavailable", "message": "the server process running it stopped"}
        if job.status == "done":  # finished between our two reads: its directory says so
            return self._from_disk(session, render)
        return job

    # -- running -----------------------------------------------------------------------

    def _from_disk(self, session: str, render: str) -> Job | None:
        path = self.directory(session) / render / "render.json"
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(summary, dict):
            return None
        job = Job(render, session, int(summary.get("version", 0)), str(summary.get("stems", "none")),
                  str(summary.get("by", "")), status="done", progress=1.0, stage="done",
                  summary=summary)  # fmt: skip
        job.done.set()
        return job

    async def _run(self, job: Job, document: dict[str, Any]) -> None:
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(job))
        try:
            async with self._one_at_a_time:
                job.status, job.stage = "running", "starting"
                self._write_state(job)
                await asyncio.wait_for(self._work(job, document), self.timeout)
        except TimeoutError:
            job.status = "failed"
            job.error = {
                "code": "unavailable",
                "message": f"the render took over {self.timeout:.0f} s",
            }
        except asyncio.CancelledError:
            job.status = "failed"
            job.error = {"code": "unavailable", "message": "the server stopped during the render"}
            raise
        except Exception as error:  # a bug of ours: the job says so, the server goes on
            log.exception("render %s of %s failed", job.id, job.session)
            job.status = "failed"
            job.error = {"code": "internal", "message": f"render failed: {error}"}
        finally:
            heartbeat.cancel()
            self._active -= 1
            if job.status != "done":
                job.stage = "failed"
                self._write_state(job)  # the others see why
            else:
                self._drop_state(job)  # its directory is in place: that is its state now
            job.done.set()
            self._prune(job.session)

    async def _heartbeat(self, job: Job) -> None:
        """Rewrite a queued or running render's state, so others know it is alive."""
        while True:
            await asyncio.sleep(HEARTBEAT)  # a period, not a synchronisation
            self._write_state(job)

    async def _work(self, job: Job, document: dict[str, Any]) -> None:
        destination = self.directory(job.session) / job.id
        destination.parent.mkdir(parents=True, exist_ok=True)
        request = {
            "document": document,
            "stems": job.stems,
            "soundfont": str(self.soundfont) if self.soundfont else None,
            "sample_cache": str(self.sample_cache) if self.sample_cache else None,
            "destination": str(destination),
            "max_seconds": self.max_seconds,
            "info": {
                "session": job.session,
                "version": job.version,
                "stems": job.stems,
                "by": job.by,
                "id": job.id,
            },
        }
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "backline.server.rendering.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(msgpack.packb(request))
            await child.stdin.drain()
            child.stdin.close()
            while line := await child.stdout.readline():
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if "progress" in message:
                    stage = str(message.get("stage", job.stage))
                    job.progress = float(message["progress"])
                    if stage != job.stage or time.monotonic() - job.written >= STATE_EVERY:
                        job.stage = stage
                        self._write_state(job)
                    job.stage = stage
                elif "done" in message:
                    job.summary = message["done"]
                elif "error" in message:
                    job.error = message["error"]
            await child.wait()
        finally:
            if child.returncode is None:  # cancelled or timed out: stop it
                child.kill()
                await child.wait()
                shutil.rmtree(destination.with_name(f".{job.id}.partial"), ignore_errors=True)
        if job.summary is not None and child.returncode == 0:
            job.status, job.progress, job.stage = "done", 1.0, "done"
        else:
            job.status = "failed"
            job.error = job.error or {
                "code": "internal",
                "message": f"the render process ended with status {child.returncode}",
            }

    def _prune(self, session: str) -> None:
        """Keep the newest `keep` finished renders of `session` (and no failed ones)."""
        jobs = self._jobs.get(session, {})
        for render, job in list(jobs.items()):
            if job.status == "failed" and len(jobs) > self.keep:
                del jobs[render]
                self._drop_state(job)
        every = self.jobs(session)
        failed = [j for j in every if j.status == "failed"]
        for old in failed[: max(0, len(failed) - self.keep)]:
            self._drop_state(old)  # any process's: the shared directory stays bounded
        finished = [j for j in every if j.status == "done"]
        for old in finished[: max(0, len(finished) - self.keep)]:
            shutil.rmtree(self.directory(session) / old.id, ignore_errors=True)
            jobs.pop(old.id, None)
