"""A real ``redis-server`` for tests and benchmarks.

`RedisServer` starts its own process on a free loopback port with its data in a
given directory (AOF on, fsync on every write, no RDB snapshots by default),
waits until it answers PING, and can stop it, ``kill -9`` it, or start it again
on the same port and directory, where it replays its AOF. It never touches a
Redis service installed on the machine.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["RedisCluster", "RedisServer"]

INSTALL_HINT = (
    "install it with `apt-get install -y redis-server` "
    "(or run `bash scripts/test`, which installs it)"
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ping(port: int, timeout: float) -> bool:
    """Whether a Redis on `port` answers PING (False while it loads its AOF)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A ``redis-server`` child process on 127.0.0.1.

    Args:
        data_dir: its working directory: AOF files and ``redis.log``.
        port: 0 picks a free port (kept across `restart`).
        appendonly: write the append-only file.
        appendfsync: ``always`` (fsync before each reply), ``everysec`` or ``no``.
        extra_args: more ``--option value`` arguments for ``redis-server``.
        start_timeout: seconds to wait for the first PONG.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 0,
        appendonly: bool = True,
        appendfsync: str = "always",
        extra_args: Sequence[str] = (),
        start_timeout: float = 20.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> RedisServer:
        """Start (or start again, on the same port and dir) and wait until it answers."""
        if self.running:
            raise RuntimeError(f"redis-server on port {self.port} is already running")
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError(f"redis-server is not on PATH; {INSTALL_HINT}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        chosen = self.port == 0
        for _ in range(5 if chosen else 1):
            if chosen:
                self.port = _free_port()
            if self._launch(executable):
                return self
            if not chosen:
                break
            self.port = 0  # somebody else took the port between our probe and the bind
        raise RuntimeError(
            f"redis-server did not start on port {self.port}; see {self.log_path}:\n"
            + self._log_tail()
        )

    def _launch(self, executable: str) -> bool:
        cmd = [
            executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--protected-mode", "no",
            "--dir", str(self.data_dir),
            "--logfile", str(self.log_path),
            "--daemonize", "no",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync,
            "--save", "",
            *self.extra_args,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal stops the tests, not Redis first
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            if _ping(self.port, timeout=1.0):
                return True
            time.sleep(0.01)  # polling a process that cannot tell us it is ready
        self.kill()
        return False

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM: Redis finishes writing its AOF and exits."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused Redis cannot act on SIGTERM
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: nothing runs on the way out; what it acknowledged must be in the AOF."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def pause(self) -> None:
        """SIGSTOP: Redis keeps its connections open but answers nothing (a hung server)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause`."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def restart(self) -> RedisServer:
        """Stop if running, then start on the same port and dir (replaying the AOF)."""
        self.stop()
        return self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class RedisCluster:
    """A local Redis Cluster: `primaries` primaries (and `replicas` replicas of each).

    Each node is a `RedisServer` (AOF, ``appendfsync always``) with
    ``--cluster-enabled yes`` in its own directory under `data_dir`; `start` joins
    them with ``redis-cli --cluster create ... --cluster-yes`` and waits until every
    node reports ``cluster_state:ok``. `url` is a ``redis+cluster://`` URL of the
    first primary (the store and the bus find the others from it).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        primaries: int = 3,
        replicas: int = 0,
        node_timeout_ms: int = 2000,
        start_timeout: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.start_timeout = start_timeout
        count = primaries * (1 + replicas)
        self.primaries = primaries
        self.replicas = replicas
        options = [
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(node_timeout_ms),
            # a replica may take over however long it was cut off (the tests
            # fail primaries over on purpose)
            "--cluster-replica-validity-factor", "0",
        ]  # fmt: skip
        self.nodes = [
            RedisServer(self.data_dir / f"node{i}", extra_args=options) for i in range(count)
        ]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}/0"

    def cli(self, port: int, *args: str, timeout: float = 30.0) -> str:
        """``redis-cli -p port args...``: its output (raises on a non-zero exit)."""
        executable = shutil.which("redis-cli")
        if executable is None:
            raise RuntimeError(f"redis-cli is not on PATH; {INSTALL_HINT}")
        done = subprocess.run(
            [executable, "-h", "127.0.0.1", "-p", str(port), *args],
            capture_output=True,
            timeout=timeout,
            check=True,
            stdin=subprocess.DEVNULL,
        )
        return done.stdout.decode(errors="replace")

    def start(self) -> RedisCluster:
        try:
            for node in self.nodes:
                node.start()
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            self.cli(
                self.nodes[0].port,
                "--cluster", "create", *addresses,
                "--cluster-replicas", str(self.replicas),
                "--cluster-yes",
                timeout=self.start_timeout,
            )  # fmt: skip
            self.wait_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def _info(self, port: int) -> dict[str, str]:
        found = {}
        for line in self.cli(port, "CLUSTER", "INFO", timeout=5.0).splitlines():
            name, _, value = line.strip().partition(":")
            found[name] = value
        return found

    def wait_ok(self, timeout: float | None = None) -> None:
        """Wait until every running node says ``cluster_state:ok`` with all slots served
        and agrees on the number of known nodes."""
        deadline = time.monotonic() + (self.start_timeout if timeout is None else timeout)
        running = [node for node in self.nodes if node.running]
        last: object = None
        while time.monotonic() < deadline:
            try:
                infos = [self._info(node.port) for node in running]
                last = infos
                if all(
                    info.get("cluster_state") == "ok"
                    and info.get("cluster_slots_ok") == "16384"
                    and info.get("cluster_known_nodes") == str(len(self.nodes))
                    for info in infos
                ):
                    return
            except (subprocess.SubprocessError, OSError) as exc:
                last = exc
            time.sleep(0.05)  # polling processes that cannot tell us they agree
        raise RuntimeError(f"the Redis Cluster did not reach cluster_state:ok: {last}")

    def role(self, node: RedisServer) -> str:
        """``master`` or ``slave`` (from ``ROLE``)."""
        return self.cli(node.port, "ROLE", timeout=5.0).splitlines()[0].strip()

    def primary_nodes(self) -> list[RedisServer]:
        return [node for node in self.nodes if node.running and self.role(node) == "master"]

    def replica_of(self, primary: RedisServer) -> RedisServer:
        """A running replica of `primary`."""
        for node in self.nodes:
            if node is primary or not node.running:
                continue
            lines = self.cli(node.port, "ROLE", timeout=5.0).splitlines()
            if lines[0].strip() == "slave" and int(lines[2]) == primary.port:
                return node
        raise RuntimeError(f"no replica of the primary on port {primary.port}")

    def failover(self, primary: RedisServer, timeout: float = 30.0) -> RedisServer:
        """Promote a replica of `primary` (``CLUSTER FAILOVER`` on it: the primary
        hands over once the replica has caught up) and return it, the new primary."""
        replica = self.replica_of(primary)
        self.cli(replica.port, "CLUSTER", "FAILOVER", timeout=5.0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.role(replica) == "master":
                self.wait_ok(max(deadline - time.monotonic(), 1.0))
                return replica
            time.sleep(0.05)  # polling: the promotion is the nodes' business
        raise RuntimeError(f"the replica on port {replica.port} was not promoted")

    def kill_primary(self, primary: RedisServer, timeout: float = 30.0) -> RedisServer:
        """``kill -9`` `primary`, then wait until the Cluster promoted its replica (after
        ``cluster-node-timeout``) and serves every slot again; returns the new primary."""
        replica = self.replica_of(primary)
        primary.kill()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(subprocess.SubprocessError, OSError, IndexError):
                if self.role(replica) == "master":
                    self.wait_ok(max(deadline - time.monotonic(), 1.0))
                    return replica
            time.sleep(0.05)  # polling: the election is the nodes' business
        raise RuntimeError(f"the replica on port {replica.port} was not promoted")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
