"""The fan-out ramp driven by the Node.js load generator (``node/generator.js``).

Why a second generator: Hocuspocus speaks Yjs, whose reference implementation
is JavaScript, and a comparison is only fair when one generator drives every
target with the same workload. So one Node process (pinned to `GENERATOR_CPU`)
holds every socket and paces the edits; this module tells it what to send and
runs the same ramp as `fanout.ramp` (same options, step rule and retries).

The generator stays protocol-free for Backline and the relays: it gets each
member's frames prebuilt here (msgpack, with the position of the 4-byte
``seq``), so the frames are byte for byte those of the Python generator.
Server CPU comes from `Meter` (the target's pids); the generator's CPU from
the Node process itself.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from backline.protocol.codec import SUBPROTOCOL, encode
from backline.protocol.tokens import mint

from . import fanout
from .clients import _EDIT_OPS, OPS_PREFIX, running_target
from .fanout import (
    MAX_OUTSTANDING,
    SENDERS_PER_SESSION,
    RampOptions,
    RampResult,
    StepResult,
    parse_config,
)
from .targets import GENERATOR_CPU, NODE_DIR, Meter, Target, ensure_node_modules

__all__ = [
    "GENERATORS",
    "VERSUS_TARGETS",
    "GeneratorRamp",
    "NodeGenerator",
    "ramp_node",
    "run_versus",
    "versus_units",
]

GENERATORS = ("node", "python")
VERSUS_TARGETS = (
    "backline-sqlite",
    "backline-memory",
    "hocuspocus",
    "hocuspocus-sqlite",
    "node",
    "minimal",
    "picows",
)
HOCUSPOCUS_TOKEN = "loadtest"  # no auth extension: Hocuspocus accepts any token
JSON_LINE_LIMIT = 2**24
DRAIN_SECONDS = 2.0  # as fanout: after a step, wait this long at most for what is in flight


@dataclass
class GeneratorRamp:
    """One ramp and which generator drove it, with figures `StepResult` has no field for."""

    generator: str
    ramp: RampResult
    extras: list[dict[str, Any]] = field(default_factory=list)  # one per step

    def rows(self) -> list[dict[str, Any]]:
        extras = self.extras or [{} for _ in self.ramp.steps]
        return [
            {**asdict(step), "generator": self.generator, **extra}
            for step, extra in zip(self.ramp.steps, extras, strict=True)
        ]

    def summary(self) -> dict[str, Any]:
        return {**self.ramp.summary(), "generator": self.generator}


# -- the Node process ------------------------------------------------------------------


class NodeGenerator:
    """One ``node generator.js`` process, spoken to in JSON lines."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.next_id = 0

    @classmethod
    async def start(cls) -> NodeGenerator:
        """Start the generator on its own core (the server has the other)."""
        ensure_node_modules()
        cmd = [shutil.which("node") or "node", "generator.js"]
        if GENERATOR_CPU is not None:
            cmd = ["taskset", "-c", str(GENERATOR_CPU), *cmd]
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            limit=JSON_LINE_LIMIT,
        )
        return cls(proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def request(
        self, cmd: str, on_event: Callable[[dict[str, Any]], None] | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Send one command; pass events to `on_event` until its answer arrives."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.next_id += 1
        message = {"id": self.next_id, "cmd": cmd, **fields}
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        await self.proc.stdin.drain()
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"node generator exited ({await self.proc.wait()}) during {cmd}")
            answer: dict[str, Any] = json.loads(line)
            if "event" in answer:
                if on_event is not None:
                    on_event(answer)
                continue
            if "error" in answer:
                raise RuntimeError(f"node generator, {cmd}: {answer['error']}")
            answer.pop("id", None)
            return answer

    async def close(self) -> None:
        """Close every socket (bounded), then make sure the process is gone."""
        if self.proc.returncode is None:
            try:
                await asyncio.wait_for(self.request("close"), 15)
            except (RuntimeError, TimeoutError, ConnectionError) as error:
                print(f"node generator did not close cleanly: {error}", file=sys.stderr)
        if self.proc.returncode is None:
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


# -- what each member sends --------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def backline_edit() -> tuple[bytes, list[int]]:
    """An `op` frame setting the tempo, with the offset of its uint32 ``seq``."""
    head = b"\x83" + encode("type") + encode("op") + encode("seq") + b"\xce"
    return head + bytes(4) + encode("ops") + encode(_EDIT_OPS), [len(head)]


def relay_edit(client: str) -> tuple[bytes, list[int]]:
    """The `ops` frame Backline would broadcast for the edit; ``seq`` is in it twice."""
    head = OPS_PREFIX + b"\x91\x84" + encode("v") + b"\xce"
    middle = encode("by") + encode(client) + encode("seq") + b"\xce"
    tail = encode("ops") + encode(_EDIT_OPS)
    return head + bytes(4) + middle + bytes(4) + tail, [len(head), len(head) + 4 + len(middle)]


def _member_spec(
    target: Target, session: str, index: int, sender: bool, token: str
) -> dict[str, Any]:
    """One member as the generator takes it (see generator.js)."""
    url = target.urls[index % len(target.urls)]
    if target.protocol == "hocuspocus":
        return {"url": url, "sender": sender, "document": session, "token": token}
    if target.protocol == "backline":
        edit, seq_at = backline_edit()
        hello = {"type": "hello", "session": session, "token": token, "name": f"lt{index}"}
        return {
            "url": url,
            "sender": sender,
            "hello": _b64(encode(hello)),
            "edit": _b64(edit),
            "seq_at": seq_at,
        }
    client = f"g{index:06d}"
    edit, seq_at = relay_edit(client)
    url = f"{target.urls[0]}/{session}"
    return {"url": url, "sender": sender, "client": client, "edit": _b64(edit), "seq_at": seq_at}


def join_command(target: Target, config: str, run_id: str) -> dict[str, Any]:
    """The `join` command for every member of `config` (one session per document/room)."""
    sessions, per_session = parse_config(config)
    secret = target.secret.encode()
    members = []
    for s in range(sessions):
        session = f"vs-{run_id}-{s}"
        token = (
            mint(secret, session, "editor", may_create=True)
            if target.protocol == "backline"
            else HOCUSPOCUS_TOKEN
        )
        members += [
            _member_spec(target, session, s * per_session + c, c < SENDERS_PER_SESSION, token)
            for c in range(per_session)
        ]
    return {
        "protocol": target.protocol,
        "members": members,
        "ops_prefix": _b64(OPS_PREFIX),
        "subprotocol": SUBPROTOCOL,
    }


# -- the ramp ---------------------------------------------------------------------------


def _verdict(p99: float, delivered: float, offered: float, options: RampOptions) -> str:
    """Why a step failed (fanout's rule), or "" when it passed."""
    if p99 > options.p99_limit_ms:
        return f"p99 {p99:.1f} ms > {options.p99_limit_ms:g} ms"
    if delivered < 0.9 * offered:
        return f"delivered {delivered:,.0f}/s < 90% of offered {offered:,.0f}/s"
    return ""


def _ms(value: float | None) -> float:
    return round(value, 3) if value is not None else float("nan")


def _step_result(
    target: Target,
    config: str,
    step: int,
    rate: float,
    fan: int,
    counters: dict[str, Any],
    usage: dict[str, float],
    options: RampOptions,
) -> StepResult:
    """One `StepResult` from the generator's counters and the server's meter."""
    elapsed = counters["elapsed_s"]
    rtt = counters["rtt_ms"]
    p99 = rtt["p99"] if rtt["p99"] is not None else float("nan")
    delivered = counters["deliveries"] / elapsed
    cpu_s = usage["server_cpu_s"]
    return StepResult(
        target=target.name,
        config=config,
        step=step,
        offered_edits_per_s=round(rate, 1),
        offered_deliveries_per_s=round(rate * fan),
        edits_sent=counters["edits_sent"],
        deliveries_per_s=round(delivered),
        frames_per_s=round(counters["frames"] / elapsed),
        acked_per_s=round(counters["acked"] / elapsed),
        rtt_p50_ms=_ms(rtt["p50"]),
        rtt_p90_ms=_ms(rtt["p90"]),
        rtt_p99_ms=_ms(rtt["p99"]),
        rtt_max_ms=_ms(rtt["max"]),
        server_cpu_pct=round(usage["server_cpu_pct"], 1),
        helper_cpu_pct=round(usage["helper_cpu_pct"], 1),
        generator_cpu_pct=round(100 * counters["generator_cpu_s"] / elapsed, 1),
        server_rss_mb=round(usage["server_rss_mb"], 1),
        deliveries_per_server_cpu_s=round(counters["deliveries"] / cpu_s) if cpu_s > 0 else 0.0,
        held_back=counters["held_back"],
        passed=not _verdict(p99, delivered, rate * fan, options),
    )


async def _measure(
    gen: NodeGenerator, target: Target, rate: float, options: RampOptions
) -> tuple[dict[str, Any], dict[str, float]]:
    """Run one step; the server's meter runs exactly while the generator measures."""
    meters: list[Meter] = []
    counters = await gen.request(
        "step",
        on_event=lambda _: meters.append(Meter(target)),
        rate=rate,
        settle=options.settle,
        seconds=options.seconds,
        max_outstanding=MAX_OUTSTANDING,
    )
    return counters, meters[0].read()


def _extras(counters: dict[str, Any]) -> dict[str, Any]:
    """What `StepResult` has no field for: the own broadcast copy's round trip (Hocuspocus)."""
    echo = counters["echo_rtt_ms"]
    return {
        "rtt_echo_p50_ms": _ms(echo["p50"]),
        "rtt_echo_p99_ms": _ms(echo["p99"]),
        "generator_pid_cpu_s": round(counters["generator_cpu_s"], 3),
    }


async def ramp_node(
    target: Target, config: str, options: RampOptions, progress: Callable[[str], None]
) -> GeneratorRamp:
    """`fanout.ramp`, with the Node generator doing the sending and counting."""
    fan = parse_config(config)[1]  # deliveries per edit
    gen = await NodeGenerator.start()
    result = GeneratorRamp("node", RampResult(target.name, config))
    try:
        await gen.request("join", **join_command(target, config, f"{config}-{time.monotonic_ns()}"))
        rate = max(1.0, options.start_deliveries / fan)
        retries = 0  # a failed step is retried at the same rate (one stall spoils a step)
        for step in range(1, options.max_steps + 1):
            progress(f"{target.name} {config} node step {step}: {rate * fan:,.0f} deliveries/s")
            counters, usage = await _measure(gen, target, rate, options)
            result.ramp.steps.append(
                _step_result(target, config, step, rate, fan, counters, usage, options)
            )
            drained = await gen.request("drain", timeout=DRAIN_SECONDS, per_edit=fan)
            result.extras.append({**_extras(counters), **drained})
            last = result.ramp.steps[-1]
            stop = _verdict(last.rtt_p99_ms, last.deliveries_per_s, rate * fan, options)
            if stop and retries < options.p99_retries:
                retries += 1
                continue
            if stop:
                result.ramp.stopped_because = stop
                break
            retries = 0
            rate *= options.factor
        else:
            result.ramp.stopped_because = f"reached the last step ({options.max_steps})"
    finally:
        await gen.close()
    return result


def _ramps_for(name: str, generators: list[str]) -> list[str]:
    """Which generators drive `name`: Python only Backline SQLite (the reference row)."""
    return [g for g in generators if g == "node" or (g == "python" and name == "backline-sqlite")]


async def run_versus(
    targets: list[str],
    configs: list[str],
    generators: list[str],
    options: RampOptions,
    progress: Callable[[str], None],
    done_unit: Callable[[], None],
) -> list[GeneratorRamp]:
    """Every config on every target with each generator that applies, one start per target."""
    results = []
    for name in targets:
        progress(f"starting {name}")
        async with running_target(name) as target:
            for config in configs:
                for generator in _ramps_for(name, generators):
                    if generator == "node":
                        results.append(await ramp_node(target, config, options, progress))
                    else:
                        ramp = await fanout.ramp(target, config, options, progress)
                        results.append(GeneratorRamp("python", ramp))
                    done_unit()
    return results


def versus_units(targets: list[str], configs: list[str], generators: list[str]) -> int:
    """How many ramps `run_versus` will run (for the progress bar)."""
    return sum(len(_ramps_for(name, generators)) for name in targets) * len(configs)
