"""Garbage-collector settings for a long-running server holding many connections.

CPython's cyclic collector scans every tracked object of the generations it
collects. A server holding a thousand sessions keeps about 300,000 long-lived
objects (connections, tasks, documents), and a full collection over them took
150 to 230 ms on our machine: every edit in flight waited that long, and a
musician hears a stall like that. So, once the server has started:

- the objects alive at that point (modules, classes, functions) are frozen
  out of every later collection (`gc.freeze`);
- the youngest generation is collected every 20,000 allocations instead of
  700, so the objects of edits in flight (futures, entries; they live about a
  millisecond) are freed by reference counting before any collection promotes
  them. Promotions into the old generation are what trigger full collections.

Long-lived per-edit state is kept in forms the collector does not track
(encoded bytes in plain tuples: undo stacks, the catch-up window) for the same
reason. `backline_gc_pause_seconds` shows what collections still cost.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["YOUNG_THRESHOLD", "timed_collections", "tune"]

YOUNG_THRESHOLD = 20_000


def tune() -> None:
    """Freeze what startup created and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)


@contextmanager
def timed_collections(observe: Callable[[float], None]) -> Iterator[None]:
    """Report each collection's pause (seconds) to `observe` while the block runs."""
    started = 0.0

    def callback(phase: str, info: dict[str, Any]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
        else:
            observe(time.perf_counter() - started)

    gc.callbacks.append(callback)
    try:
        yield
    finally:
        gc.callbacks.remove(callback)
