"""The server's garbage-collector settings (see server/gc_tuning.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from backline.server.gc_tuning import YOUNG_THRESHOLD, timed_collections, tune


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_tune_freezes_the_startup_heap_and_collects_the_young_less_often(
    restored_gc: None,
) -> None:
    before = gc.get_threshold()
    tune()
    assert gc.get_freeze_count() > 1000  # modules, classes and functions loaded so far
    assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2])


def test_timed_collections_reports_each_pause_until_the_block_ends() -> None:
    pauses: list[float] = []
    with timed_collections(pauses.append):
        gc.collect()
    assert len(pauses) == 1 and 0 <= pauses[0] < 60
    gc.collect()  # after the block: not reported
    assert len(pauses) == 1
