"""A full disk and a read-only data dir: edits fail with `unavailable`, nothing
acknowledged is lost, and the server recovers by itself when the disk does.

The data dir is a real, small tmpfs mounted for the test (`mount -t tmpfs`,
which needs root with CAP_SYS_ADMIN, as in the CI container). The disk is
filled with an ordinary file until the kernel says ENOSPC; "read-only" is a
remount of that filesystem. Linux refuses to remount a filesystem read-only
while a process holds files on it open for writing, so the read-only case
starts the server on a data dir that is already read-only, the way an
operator's mistake would look.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from backline.testing import RawClient, ServerProcess

SESSION = "disk"
ARGS = ["--edit-rate", "0"]


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        raise RuntimeError(
            "this test mounts a small tmpfs and needs root with CAP_SYS_ADMIN "
            f"(run the container with --cap-add SYS_ADMIN): {mounted.stderr.strip()}"
        )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


def fill(path: Path) -> Path:
    """Write zeros into `path`/filler until the filesystem is full."""
    filler = path / "filler"
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def health(server: ServerProcess) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(server.http_url + "/healthz", timeout=10) as response:
            body: dict[str, Any] = json.loads(response.read())
            body["http"] = response.status
    except urllib.error.HTTPError as error:
        body = json.loads(error.read())
        body["http"] = error.code
    return body


class Editor:
    """One raw connection that sends note inserts one at a time and waits for each answer."""

    def __init__(self, client: RawClient, seq: int) -> None:
        self.client = client
        self.seq = seq
        self.acked: dict[str, int] = {}
        self.refused: list[str] = []

    async def insert(self, note_id: str) -> dict[str, Any]:
        self.seq += 1
        op = {"op": "insert", "kind": "note", "id": note_id,
              "value": {"track": "t", "pitch": 60, "start": self.seq, "dur": 240}}  # fmt: skip
        await self.client.send({"type": "op", "seq": self.seq, "ops": [op]})
        while True:
            answer = await self.client.recv()
            if answer["type"] == "ops" and answer["batches"][-1]["seq"] == self.seq:
                self.acked[note_id] = answer["batches"][-1]["v"]
                return answer
            if answer["type"] == "reject":
                assert answer["seq"] == self.seq
                self.refused.append(note_id)
                return answer


async def join(server: ServerProcess) -> tuple[RawClient, dict[str, Any]]:
    client = await RawClient.open(server.url)
    welcome = await client.hello(
        SESSION, server.token(SESSION), name="ed", client="ed", resume=server.resume(SESSION, "ed")
    )
    return client, welcome


def note_ids(welcome: dict[str, Any]) -> set[str]:
    return {n["id"] for n in welcome["snapshot"]["notes"]}


async def test_full_disk_refuses_edits_as_unavailable_then_recovers(tmp_path: Path) -> None:
    """Disk full: `unavailable`, /healthz degraded, reads still work; space back: edits work
    again without a restart, and after a kill -9 every acknowledged edit is there."""
    with tmpfs(tmp_path / "disk", "3m") as disk:
        server = ServerProcess(tmp_path / "proc", extra_args=[*ARGS, "--data-dir", str(disk)])
        await server.astart()
        try:
            client, welcome = await join(server)
            editor = Editor(client, welcome["seq"])
            await client.send({"type": "op", "seq": 1, "ops": [
                {"op": "insert", "kind": "track", "id": "t", "value": {}}]})  # fmt: skip
            await client.recv_type("ops")
            editor.seq = 1
            for i in range(20):
                assert (await editor.insert(f"before{i}"))["type"] == "ops"
            filler = await asyncio.to_thread(fill, disk)
            # the WAL may still have room for a few pages: keep editing until the disk bites
            answer: dict[str, Any] = {}
            for i in range(2000):
                answer = await editor.insert(f"full{i}")
                if answer["type"] == "reject":
                    break
            assert answer["type"] == "reject" and answer["code"] == "unavailable", answer
            degraded = await asyncio.to_thread(health, server)
            assert degraded["http"] == 503 and degraded["status"] == "degraded"
            assert degraded["store"] is False
            # another edit is refused the same way, and nobody's project changed
            assert (await editor.insert("still-full"))["code"] == "unavailable"
            reader = await RawClient.open(server.url)
            seen = await reader.hello(SESSION, server.token(SESSION, "viewer"), name="reader")
            assert note_ids(seen) == set(editor.acked)
            await reader.ws.close()

            filler.unlink()  # space is back
            healthy = await asyncio.to_thread(health, server)
            assert healthy["http"] == 200 and healthy["status"] == "ok"
            assert (await editor.insert("after"))["type"] == "ops"
            await client.ws.close()

            server.kill()
            await server.astart()
            client, welcome = await join(server)
            await client.ws.close()
            assert set(editor.acked) <= note_ids(welcome)  # no acknowledged edit lost
            assert not set(editor.refused) & note_ids(welcome)  # refused ones never landed
            assert welcome["version"] == 1 + len(editor.acked)
        finally:
            server.kill()
        print(
            f"\nfull disk: {len(editor.acked)} edits acknowledged, "
            f"{len(editor.refused)} refused as unavailable, 0 lost"
        )


async def test_read_only_data_dir_refuses_with_unavailable_then_recovers(
    tmp_path: Path,
) -> None:
    """A data dir mounted read-only: joining is refused with `unavailable` (close 1013) and
    /healthz is degraded; once it is writable again the same process serves the session."""
    with tmpfs(tmp_path / "disk", "8m") as disk:
        server = ServerProcess(tmp_path / "proc", extra_args=[*ARGS, "--data-dir", str(disk)])
        await server.astart()
        try:
            client, welcome = await join(server)
            editor = Editor(client, welcome["seq"])
            await client.send({"type": "op", "seq": 1, "ops": [
                {"op": "insert", "kind": "track", "id": "t", "value": {}}]})  # fmt: skip
            await client.recv_type("ops")
            editor.seq = 1
            for i in range(10):
                assert (await editor.insert(f"n{i}"))["type"] == "ops"
            await client.ws.close()
            assert await server.astop() == 0
            remount(disk, "ro")
            await server.astart()

            degraded = await asyncio.to_thread(health, server)
            assert degraded["http"] == 503 and degraded["store"] is False
            refused = await RawClient.open(server.url)
            await refused.send(
                {"type": "hello", "session": SESSION, "token": server.token(SESSION), "name": "x"}
            )
            error = await refused.recv()
            assert error["type"] == "error" and error["code"] == "unavailable", error
            with pytest.raises(ConnectionClosed) as closed:
                await refused.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013

            remount(disk, "rw")
            healthy = await asyncio.to_thread(health, server)
            assert healthy["http"] == 200 and healthy["status"] == "ok"
            client, welcome = await join(server)
            assert note_ids(welcome) == set(editor.acked)
            editor = Editor(client, welcome["seq"])
            assert (await editor.insert("after"))["type"] == "ops"
            await client.ws.close()
        finally:
            server.kill()
