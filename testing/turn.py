"""A real coturn ``turnserver`` on loopback, for tests.

`TurnServer` starts its own process (no daemon, no CLI, no TLS) on free ports of
127.0.0.1, relaying on 127.0.0.1 (`--allow-loopback-peers`, so that peers on
this machine can be reached), with coturn's REST-API credentials
(`--use-auth-secret --static-auth-secret`): the secret is what Backline's
`--turn-secret` is given. Its database, pid file and log live in a given
directory; the log (verbose) is how a test learns which allocations were made.
It waits until the server answers a STUN Binding request, and stops it by PID.
It never touches a coturn service installed on the machine.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

__all__ = ["TurnServer", "free_udp_range"]

INSTALL_HINT = "install it with `apt-get install -y coturn` (or run `bash scripts/test`)"
REALM = "backline.test"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_udp_range(size: int) -> tuple[int, int]:
    """`size` consecutive UDP ports of 127.0.0.1 free now, below the kernel's ephemeral
    range where it has room (so that no ephemeral bind takes one meanwhile), from a
    random place (tests running side by side pick different ones)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    top = low - size if low > 20000 + 100 * size else 60000 - size
    for _ in range(50):
        first = random.randrange(20000, top)
        socks: list[socket.socket] = []
        try:
            for port in range(first, first + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return first, first + size - 1
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no {size} free consecutive UDP ports")


def _answers_stun(port: int, timeout: float) -> bool:
    """Whether a STUN server on 127.0.0.1:`port` answers a Binding request."""
    transaction = os.urandom(12)
    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(request, ("127.0.0.1", port))
            data, _ = sock.recvfrom(2048)
        except OSError:
            return False
    return data[:2] == b"\x01\x01" and data[8:20] == transaction


class TurnServer:
    """A ``turnserver`` child process on 127.0.0.1 (UDP; relays on 127.0.0.1).

    Args:
        data_dir: its directory: ``turndb``, ``turnserver.pid``, ``turnserver.log``.
        secret: the REST-API shared secret (`static-auth-secret`).
        relay_ports: how many UDP ports relays may take.
        start_timeout: seconds to wait for the first STUN answer.
    """

    def __init__(
        self,
        data_dir: Path,
        secret: str = "turn-test-secret",
        *,
        relay_ports: int = 40,
        start_timeout: float = 20.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.secret = secret
        self.relay_ports = relay_ports
        self.start_timeout = start_timeout
        self.port = 0
        self.relay_range = (0, 0)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "turnserver.log"

    @property
    def url(self) -> str:
        """What `--turn` is given."""
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def start(self) -> TurnServer:
        executable = shutil.which("turnserver")
        if executable is None:
            raise RuntimeError(f"turnserver is not on PATH; {INSTALL_HINT}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(5):  # another process may take a port between our probe and its bind
            self.port = _free_udp_port()
            self.relay_range = free_udp_range(self.relay_ports)
            if self._launch(executable):
                return self
        raise RuntimeError(f"turnserver did not start; see {self.log_path}:\n{self.log()[-3000:]}")

    def _launch(self, executable: str) -> bool:
        cmd = [
            executable,
            "-n",  # no configuration file: everything is here
            "--listening-ip", "127.0.0.1",
            "--relay-ip", "127.0.0.1",
            "--listening-port", str(self.port),
            "--min-port", str(self.relay_range[0]),
            "--max-port", str(self.relay_range[1]),
            "--use-auth-secret",
            "--static-auth-secret", self.secret,
            "--realm", REALM,
            "--allow-loopback-peers",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            "--no-tcp",
            "--no-tcp-relay",
            "--no-rfc5780",  # no alternate port to find free as well
            "--userdb", str(self.data_dir / "turndb"),
            "--pidfile", str(self.data_dir / "turnserver.pid"),
            "--log-file", str(self.log_path),
            "--simple-log",
            "--no-stdout-log",
            "--verbose",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            if _answers_stun(self.port, timeout=0.5):  # each try waits for an answer
                return True
        self.stop()
        return False

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def allocations(self) -> list[str]:
        """The usernames of the allocations coturn made so far (from its log)."""
        return re.findall(r": new, realm=<[^>]*>, username=<([^>]*)>", self.log())

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by PID, then SIGKILL if it does not exit in `timeout`."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self.proc = None

    def __enter__(self) -> TurnServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
