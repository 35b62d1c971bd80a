"""Edit fan-out: ramp the offered edit rate until the round trip's p99 passes a limit.

A config ``SxC`` is S sessions of C members; in each session up to four
members send edits (set the tempo), open loop, at a rate the generator
raises step by step (x1.5). Every accepted edit is delivered to every member
of its session: one edit seen by 100 members is 100 deliveries. Each step
measures deliveries/s, the senders' round trip (send → own copy back, which
Backline sends only once the edit is stored) p50/p99, server CPU and RSS,
and the generator's own CPU. The ramp stops at the first step whose p99
exceeds the limit (50 ms) or that delivers less than 90 % of what it offered
(the server fell behind), in three attempts at that rate. The result of a target is the best step before
that: its **max sustained deliveries/s**, on one server core.

Backline targets speak the real protocol (validation, versions, acknowledge
after store); the baselines relay the same `ops` frames (see `targets.py`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from backline.protocol.tokens import mint

from .clients import Member, close_all, connect_all, percentile, running_target
from .targets import Meter, Target

__all__ = ["FANOUT_CONFIGS", "RampOptions", "StepResult", "parse_config", "run_fanout"]

FANOUT_CONFIGS = ("1x100", "100x10", "1000x2")
SENDERS_PER_SESSION = 4
MAX_OUTSTANDING = 2000  # unacknowledged edits per sender before the generator holds back


@dataclass
class RampOptions:
    seconds: float = 3.0  # measured per step
    settle: float = 0.5  # run at the new rate before measuring
    start_deliveries: float = 4000.0  # offered deliveries/s of the first step
    factor: float = 1.5
    max_steps: int = 20
    p99_limit_ms: float = 50.0
    p99_retries: int = (
        2  # attempts at one rate beyond the first before a p99 failure stops the ramp
    )


@dataclass
class StepResult:
    target: str
    config: str
    step: int
    offered_edits_per_s: float
    offered_deliveries_per_s: float
    edits_sent: int
    deliveries_per_s: float
    frames_per_s: float
    acked_per_s: float
    rtt_p50_ms: float
    rtt_p90_ms: float
    rtt_p99_ms: float
    rtt_max_ms: float
    server_cpu_pct: float
    helper_cpu_pct: float
    generator_cpu_pct: float
    server_rss_mb: float
    deliveries_per_server_cpu_s: float
    held_back: int
    passed: bool


@dataclass
class RampResult:
    target: str
    config: str
    steps: list[StepResult] = field(default_factory=list)
    stopped_because: str = ""

    @property
    def best(self) -> StepResult | None:
        passed = [s for s in self.steps if s.passed]
        return max(passed, key=lambda s: s.deliveries_per_s) if passed else None

    def summary(self) -> dict[str, Any]:
        best = self.best
        half = self.at_half_saturation()
        return {
            "target": self.target,
            "config": self.config,
            "max_sustained_deliveries_per_s": best.deliveries_per_s if best else float("nan"),
            "deliveries_per_server_cpu_s": (
                best.deliveries_per_server_cpu_s if best else float("nan")
            ),
            "rtt_p99_ms_at_max": best.rtt_p99_ms if best else float("nan"),
            "server_cpu_pct_at_max": best.server_cpu_pct if best else float("nan"),
            "generator_cpu_pct_at_max": best.generator_cpu_pct if best else float("nan"),
            "rtt_p50_ms_at_half": half.rtt_p50_ms if half else float("nan"),
            "rtt_p99_ms_at_half": half.rtt_p99_ms if half else float("nan"),
            "half_step_deliveries_per_s": half.deliveries_per_s if half else float("nan"),
            "stopped_because": self.stopped_because,
        }

    def at_half_saturation(self) -> StepResult | None:
        """The passed step closest to half the max sustained rate (from below)."""
        best = self.best
        if best is None:
            return None
        below = [
            s
            for s in self.steps
            if s.passed and s.deliveries_per_s <= best.deliveries_per_s / 2 * 1.2
        ]
        return max(below, key=lambda s: s.deliveries_per_s) if below else None


def parse_config(text: str) -> tuple[int, int]:
    sessions, _, members = text.partition("x")
    return int(sessions), int(members)


async def _pace(senders: list[Member], rate: float, until: float) -> int:
    """Send `rate` edits/s round-robin over `senders` until `until`; returns held-back sends."""
    start = time.perf_counter()
    sent = held = k = 0
    n = len(senders)
    while True:
        now = time.perf_counter()
        if now >= until:
            return held
        due = int((now - start) * rate) - sent
        for _ in range(due):
            member = senders[k]
            k = k + 1 if k + 1 < n else 0
            if len(member.sent) < MAX_OUTSTANDING:
                member.send_edit(now)
            else:
                held += 1
        sent += max(0, due)
        await asyncio.sleep(0.001)


async def _drain(members: list[Member], timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and any(m.sent for m in members if m.sender):
        await asyncio.sleep(0.02)
    for m in members:
        m.sent.clear()


async def ramp(
    target: Target,
    config: str,
    options: RampOptions,
    progress: Callable[[str], None],
) -> RampResult:
    """Ramp one config on one running target."""
    sessions, per_session = parse_config(config)
    run_id = f"{config}-{time.monotonic_ns()}"
    members = [
        Member(target, f"fan-{run_id}-{s}", s * per_session + c, sender=c < SENDERS_PER_SESSION)
        for s in range(sessions)
        for c in range(per_session)
    ]
    secret = target.secret.encode()
    await connect_all(members, lambda session: mint(secret, session, "editor", may_create=True))
    senders = [m for m in members if m.sender]
    fan = per_session  # deliveries per edit
    result = RampResult(target.name, config)
    rate = max(1.0, options.start_deliveries / fan)
    retries = (
        0  # a p99 failure is retried at the same rate: one stall on a shared core spoils a step
    )
    try:
        for step in range(1, options.max_steps + 1):
            progress(f"{target.name} {config} step {step}: {rate * fan:,.0f} deliveries/s offered")
            now = time.perf_counter()
            settle_until = now + options.settle
            pacer = asyncio.ensure_future(_pace(senders, rate, settle_until + options.seconds))
            await asyncio.sleep(max(0.0, settle_until - time.perf_counter()))
            for m in members:
                m.reset()
            meter = Meter(target)
            sent0 = sum(m.seq for m in senders)
            held = await pacer
            usage = meter.read()
            elapsed = usage["seconds"]
            now = time.perf_counter()
            rtts = [r for m in senders for r in m.rtts]
            # edits still unacknowledged at the end count with their age so far
            rtts.extend(now - t for m in senders for t in m.sent.values())
            rtts.sort()
            deliveries = sum(m.deliveries for m in members)
            frames = sum(m.frames for m in members)
            acked = sum(len(m.rtts) for m in senders)
            edits_sent = sum(m.seq for m in senders) - sent0
            p99 = percentile(rtts, 0.99) * 1000
            delivered = deliveries / elapsed
            offered = rate * fan
            stop = ""
            if p99 > options.p99_limit_ms:
                stop = f"p99 {p99:.1f} ms > {options.p99_limit_ms:g} ms"
            elif delivered < 0.9 * offered:
                stop = f"delivered {delivered:,.0f}/s < 90% of offered {offered:,.0f}/s"
            cpu_s = usage["server_cpu_s"]
            result.steps.append(
                StepResult(
                    target=target.name,
                    config=config,
                    step=step,
                    offered_edits_per_s=round(rate, 1),
                    offered_deliveries_per_s=round(offered),
                    edits_sent=edits_sent,
                    deliveries_per_s=round(delivered),
                    frames_per_s=round(frames / elapsed),
                    acked_per_s=round(acked / elapsed),
                    rtt_p50_ms=round(percentile(rtts, 0.5) * 1000, 3),
                    rtt_p90_ms=round(percentile(rtts, 0.9) * 1000, 3),
                    rtt_p99_ms=round(p99, 3),
                    rtt_max_ms=round((rtts[-1] if rtts else float("nan")) * 1000, 3),
                    server_cpu_pct=round(usage["server_cpu_pct"], 1),
                    helper_cpu_pct=round(usage["helper_cpu_pct"], 1),
                    generator_cpu_pct=round(usage["generator_cpu_pct"], 1),
                    server_rss_mb=round(usage["server_rss_mb"], 1),
                    deliveries_per_server_cpu_s=round(deliveries / cpu_s) if cpu_s > 0 else 0.0,
                    held_back=held,
                    passed=not stop,
                )
            )
            await _drain(members, timeout=2.0)
            if stop and retries < options.p99_retries:
                retries += 1
                continue
            if stop:
                result.stopped_because = stop
                break
            retries = 0
            rate *= options.factor
        else:
            result.stopped_because = f"reached the last step ({options.max_steps})"
    finally:
        await close_all(members)
    return result


async def run_fanout(
    targets: list[str],
    configs: list[str],
    options: RampOptions,
    progress: Callable[[str], None],
    done_unit: Callable[[], None],
) -> list[RampResult]:
    """Every config on every target, each target started fresh once."""
    results = []
    for name in targets:
        progress(f"starting {name}")
        async with running_target(name) as target:
            for config in configs:
                results.append(await ramp(target, config, options, progress))
                done_unit()
    return results


def as_rows(results: list[RampResult]) -> list[dict[str, Any]]:
    return [asdict(step) for r in results for step in r.steps]
