"""Counters and timings of one server: JSON totals for /healthz, Prometheus text for /metrics."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["Metrics"]


class Metrics:
    """Counters and timings: JSON totals for /healthz, Prometheus text for /metrics.

    Call sites use two verbs, `count(name, n, **labels)` and `observe(name,
    seconds)`; a name with a Prometheus counter or histogram below also updates
    it (`ops_accepted` is `backline_ops_accepted_total`, and so on). Gauges are
    read when scraped. Each server has its own `CollectorRegistry`, never the
    global one. docs/OPERATIONS.md lists the metrics.
    """

    def __init__(self, gauges: Callable[[], dict[str, float]] | None = None) -> None:
        self.counters: Counter[str] = Counter()
        self.sums: dict[str, float] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._counters: dict[str, PromCounter] = {
            "ops_accepted": PromCounter(
                "backline_ops_accepted", "Edit batches accepted and applied", registry=r
            ),
            "live_notes": PromCounter(
                "backline_live_notes", "Live-note events relayed (not edits)", registry=r
            ),
            "ops_rejected": PromCounter(
                "backline_ops_rejected",
                "Edits rejected, by error code",
                ["code"],
                registry=r,
            ),
            "errors": PromCounter(
                "backline_errors",
                "Error frames sent (messages refused that were not edits), by code",
                ["code"],
                registry=r,
            ),
            "closes": PromCounter(
                "backline_limit_closes",
                "Connections the server refused or closed for a limit, abuse or an owner, "
                "by close code",
                ["code"],
                registry=r,
            ),
            "presence_coalesced": PromCounter(
                "backline_presence_coalesced",
                "Presence updates held back by the rate limit (the latest is applied later)",
                registry=r,
            ),
            "bus_errors": PromCounter(
                "backline_bus_errors", "Presence/chat bus publishes that failed", registry=r
            ),
            "room_moves": PromCounter(
                "backline_room_moves",
                "Times the audio room of a session this process relays to moved to another host",
                registry=r,
            ),
            "room_leases_lost": PromCounter(
                "backline_room_leases_lost",
                "Audio rooms closed here because another process took their lease",
                registry=r,
            ),
            "audio_packets_forwarded": PromCounter(
                "backline_audio_packets_forwarded",
                "Audio packets passed through undecoded (rooms of two)",
                registry=r,
            ),
        }
        self._histograms: dict[str, Histogram] = {
            "apply_seconds": Histogram(
                "backline_apply_seconds",
                "Time to apply a round of log entries and fan the result out",
                buckets=_FAST_BUCKETS,
                registry=r,
            ),
            "store_seconds": Histogram(
                "backline_store_append_seconds",
                "Time of one store append (a group of edits)",
                buckets=_FAST_BUCKETS,
                registry=r,
            ),
            "gc_pause_seconds": Histogram(
                "backline_gc_pause_seconds",
                "Pause of one cyclic garbage collection (the whole process waits)",
                buckets=_FAST_BUCKETS,
                registry=r,
            ),
            "audio_tick_seconds": Histogram(
                "backline_audio_tick_seconds",
                "Time of one audio mixer tick (rooms with participants only)",
                buckets=_FAST_BUCKETS,
                registry=r,
            ),
        }
        r.register(_LiveCollector(gauges or dict))
        ProcessCollector(registry=r)  # process_resident_memory_bytes, open fds, CPU

    def count(self, name: str, n: int = 1, **labels: str) -> None:
        key = (
            name
            if not labels
            else name + "{" + ",".join(f"{k}={v}" for k, v in labels.items()) + "}"
        )
        self.counters[key] += n
        metric = self._counters.get(name)
        if metric is not None:
            (metric.labels(**labels) if labels else metric).inc(n)

    def observe(self, name: str, value: float) -> None:
        self.sums[name + "_sum"] = self.sums.get(name + "_sum", 0.0) + value
        self.counters[name + "_count"] += 1
        histogram = self._histograms.get(name)
        if histogram is not None:
            histogram.observe(value)

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return generate_latest(self.registry)


_FAST_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip


def _task_count() -> int:
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:  # scraped outside the event loop (tests)
        return 0


class _LiveCollector(Collector):
    """Values read at scrape time: connections, loaded sessions, tasks, slow consumers closed."""

    def __init__(self, gauges: Callable[[], dict[str, float]]) -> None:
        self._gauges = gauges

    def describe(self) -> Iterable[Metric]:
        return []  # nothing to describe ahead: every value is read when scraped

    def collect(self) -> Iterable[Metric]:
        values = {**self._gauges(), "tasks": _task_count()}
        for key, name, text in _GAUGES:
            yield GaugeMetricFamily(name, text, value=values.get(key, 0))
        yield CounterMetricFamily(
            "backline_slow_consumers_closed",
            "Connections closed because their outgoing buffer overflowed (queue drops)",
            value=values.get("slow_consumers_closed", 0),
        )


_GAUGES = (  # (key of the values read at scrape time, metric, help)
    ("connections", "backline_connections", "Open websocket connections"),
    ("sessions", "backline_sessions_loaded", "Sessions loaded in this process"),
    (
        "catch_up_bytes",
        "backline_catch_up_bytes",
        "Encoded batches the loaded sessions keep for catch-up (capped per session)",
    ),
    (
        "undo_bytes",
        "backline_undo_bytes",
        "Encoded undo and redo history of the loaded sessions (capped per session)",
    ),
    (
        "identities",
        "backline_identities",
        "Participants whose op ids and history the loaded sessions keep",
    ),
    (
        "tasks",
        "backline_asyncio_tasks",
        "asyncio tasks alive in the server's event loop (a leak shows as growth)",
    ),
)
