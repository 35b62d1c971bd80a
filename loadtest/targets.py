"""The servers a scenario measures: Backline on each store, and the two baselines.

Every target runs as separate processes pinned to `SERVER_CPU` (with
`taskset`), while the load generator runs on `GENERATOR_CPU`. A target says
which pids to charge CPU and memory to (`pids`: the server processes;
`helper_pids`: redis-server) and how clients join a room:

- ``backline-*`` speak the real protocol (`hello`, then `welcome`);
- ``node``, ``minimal`` (Python, `websockets`) and ``picows`` (Python, picows)
  relay whatever a client of ``/ROOM`` sends to every client of that room;
- ``hocuspocus`` and ``hocuspocus-sqlite`` (``node/hocuspocus.js``) speak the
  Yjs sync protocol; only the Node.js generator (``node_generator.py``) drives them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from backline.testing import ServerProcess
from backline.testing.redis import RedisServer

__all__ = [
    "BACKLINE_TARGETS",
    "BASELINES",
    "GENERATOR_CPU",
    "HOCUSPOCUS_TARGETS",
    "SERVER_CPU",
    "Target",
    "cpu_seconds",
    "pin_generator",
    "rss_bytes",
    "start_target",
]

HERE = Path(__file__).parent
NODE_DIR = HERE / "node"
BACKLINE_TARGETS = ("backline-memory", "backline-sqlite", "backline-redis", "backline-redis2")
BASELINES = ("node", "minimal", "picows")
HOCUSPOCUS_TARGETS = ("hocuspocus", "hocuspocus-sqlite")
TWO_CORES = (os.cpu_count() or 1) >= 2
SERVER_CPU: int | None = 0 if TWO_CORES else None
GENERATOR_CPU: int | None = 1 if TWO_CORES else None
# Per-connection rate limits and the session/client caps exist to stop abuse; a
# load test is the load they would stop, so they are lifted for the servers measured.
_NO_RATE_LIMITS = {
    "BACKLINE_EDIT_RATE": "0",
    "BACKLINE_PRESENCE_RATE": "0",
    "BACKLINE_CHAT_RATE": "0",
    "BACKLINE_PING_RATE": "0",
    "BACKLINE_MAX_SESSIONS": "1000000",
    "BACKLINE_MAX_CLIENTS": "1000000",
    # every load-generating client comes from 127.0.0.1, thousands joining at once
    "BACKLINE_MAX_PENDING_PER_ADDRESS": "1000000",
    "BACKLINE_MAX_CONNECTIONS": "1000000",
}


@dataclass
class Target:
    name: str
    urls: list[str]
    pids: list[int]
    helper_pids: list[int] = field(default_factory=list)
    secret: str = ""
    protocol: str = ""  # "backline", "relay" or "hocuspocus"; "" derives it from the name

    def __post_init__(self) -> None:
        if not self.protocol:
            self.protocol = (
                "backline"
                if self.name.startswith("backline")
                else "hocuspocus"
                if self.name.startswith("hocuspocus")
                else "relay"
            )

    @property
    def speaks_protocol(self) -> bool:
        """Backline (hello/welcome, real edits) rather than a relaying baseline."""
        return self.name.startswith("backline")


def pin_generator() -> None:
    """Run this process (the load generator) on its own core."""
    if GENERATOR_CPU is not None:
        os.sched_setaffinity(0, {GENERATOR_CPU})


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _taskset(cmd: list[str]) -> list[str]:
    return cmd if SERVER_CPU is None else ["taskset", "-c", str(SERVER_CPU), *cmd]


def _start_listener(
    cmd: list[str], cwd: Path, log: Path, stack: contextlib.ExitStack
) -> tuple[int, int]:
    """Start a baseline that prints ``listening PORT``; returns (pid, port)."""
    with log.open("w") as err:
        proc = subprocess.Popen(
            _taskset(cmd), cwd=cwd, stdout=subprocess.PIPE, stderr=err, text=True
        )
    stack.callback(_stop, proc)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening "):
        _stop(proc)
        raise RuntimeError(
            f"{cmd[0]} did not start: {line!r}; see {log}: {log.read_text()[-2000:]}"
        )
    return proc.pid, int(line.split()[1])


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


def missing_node_modules(optional: bool = False) -> list[str]:
    """The dependencies in node/package.json that node_modules does not hold (with
    `optional`, the optional ones too: the SQLite extension of hocuspocus-sqlite)."""
    manifest = json.loads((NODE_DIR / "package.json").read_text())
    wanted = dict(manifest.get("dependencies", {}))
    if optional:
        wanted.update(manifest.get("optionalDependencies", {}))
    return [
        name for name in wanted if not (NODE_DIR / "node_modules" / name / "package.json").exists()
    ]


def ensure_node_modules(optional: bool = False) -> None:
    """Install node/package.json's dependencies from npm when any is missing.

    Checks every dependency, not one: a checkout that had only ws installed
    must still get Hocuspocus and the generator's libraries. The optional one,
    Hocuspocus's SQLite extension, is installed only when `optional` asks for it
    (the hocuspocus-sqlite target): npm builds its better-sqlite3 from source,
    about a minute of a core, which the other targets and the tests need not pay.
    """
    missing = missing_node_modules(optional)
    if not missing:
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("the Node.js targets need node and npm: apt-get install -y nodejs npm")
    print(
        f"installing the Node.js targets and generator (npm install: {', '.join(missing)}) …",
        file=sys.stderr,
        flush=True,
    )
    omit = [] if optional else ["--omit=optional"]
    subprocess.run(
        [npm, "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "--silent", *omit],
        check=True,
        cwd=NODE_DIR,
    )


def start_target(name: str, tmp: Path, stack: contextlib.ExitStack) -> Target:
    """Start `name` (one of BACKLINE_TARGETS, BASELINES, HOCUSPOCUS_TARGETS); `stack` stops it."""
    tmp.mkdir(parents=True, exist_ok=True)
    if name == "node":
        ensure_node_modules()
        node = shutil.which("node") or "node"
        pid, port = _start_listener([node, "server.js", "0"], NODE_DIR, tmp / "node.log", stack)
        return Target(name, [f"ws://127.0.0.1:{port}"], [pid])
    if name in HOCUSPOCUS_TARGETS:
        ensure_node_modules(optional=name == "hocuspocus-sqlite")
        node = shutil.which("node") or "node"
        cmd = [node, "hocuspocus.js", "0"]
        if name == "hocuspocus-sqlite":
            cmd += ["sqlite", str(tmp / "hocuspocus.sqlite")]
        pid, port = _start_listener(cmd, NODE_DIR, tmp / f"{name}.log", stack)
        return Target(name, [f"ws://127.0.0.1:{port}"], [pid])
    if name in ("minimal", "picows"):
        module = "loadtest.minimal_server" if name == "minimal" else "loadtest.picows_relay"
        cmd = [sys.executable, "-m", module]
        pid, port = _start_listener(cmd, HERE.parent, tmp / f"{name}.log", stack)
        return Target(name, [f"ws://127.0.0.1:{port}"], [pid])
    if name not in BACKLINE_TARGETS:
        raise ValueError(f"unknown target {name!r}")
    store = name.removeprefix("backline-")
    if store in ("memory", "sqlite"):
        server = ServerProcess(tmp / "data", store=store, cpu=SERVER_CPU, env=_NO_RATE_LIMITS)
        server.start()
        stack.callback(server.stop)
        return Target(name, [server.url], [server.pid], secret=server.secret or "")
    redis = RedisServer(tmp / "redis").start()
    stack.callback(redis.stop)
    assert redis.proc is not None
    if SERVER_CPU is not None:
        os.sched_setaffinity(redis.proc.pid, {SERVER_CPU})
    servers = []
    for i in range(2 if store == "redis2" else 1):
        server = ServerProcess(
            tmp / f"node{i}",
            extra_args=["--redis", redis.url, "--node-id", f"n{i}"],
            cpu=SERVER_CPU,
            env=_NO_RATE_LIMITS,
        )
        server.start()
        stack.callback(server.stop)
        servers.append(server)
    return Target(
        name,
        [s.url for s in servers],
        [s.pid for s in servers],
        [redis.proc.pid],
        secret=servers[0].secret or "",
    )


class Meter:
    """CPU (server, helpers, generator) and server RSS over one measured interval."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.start()

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.server0 = sum(cpu_seconds(p) for p in self.target.pids)
        self.helper0 = sum(cpu_seconds(p) for p in self.target.helper_pids)
        self.gen0 = time.process_time()

    def read(self) -> dict[str, float]:
        elapsed = max(1e-9, time.perf_counter() - self.t0)
        server = sum(cpu_seconds(p) for p in self.target.pids) - self.server0
        helper = sum(cpu_seconds(p) for p in self.target.helper_pids) - self.helper0
        return {
            "seconds": elapsed,
            "server_cpu_s": server,
            "server_cpu_pct": 100 * server / elapsed,
            "helper_cpu_pct": 100 * helper / elapsed,
            "generator_cpu_pct": 100 * (time.process_time() - self.gen0) / elapsed,
            "server_rss_mb": sum(rss_bytes(p) for p in self.target.pids) / 2**20,
        }
