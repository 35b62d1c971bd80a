"""A real ``redis-server`` for tests and benchmarks.

`RedisServer` starts its own process on a free loopback port with its data in a
given directory (AOF on, fsync on every write, no RDB snapshots by default),
waits until it answers PING, and can stop it, ``kill -9`` it, or start it again
on the same port and directory, where it replays its AOF. It never touches a
Redis service installed on the machine.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["RedisServer"]

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
