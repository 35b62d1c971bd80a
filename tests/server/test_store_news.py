"""The follower's wake-up (`News`) and the memory store's task-free appends."""

from __future__ import annotations

import asyncio

from backline.server.storage.memory import MemoryStore
from backline.server.storage.news import News


async def test_news_wakes_a_waiter_and_times_out_without_news() -> None:
    news = News()
    assert await news.wait(0.01) is False
    waiter = asyncio.ensure_future(news.wait(5.0))
    await asyncio.sleep(0)
    assert not waiter.done()
    news.set()
    assert await asyncio.wait_for(waiter, 1.0) is True
    assert await news.wait(5.0) is True  # already set: at once
    news.clear()
    assert not news.is_set()


async def test_a_cancelled_wait_leaves_no_waiter_behind() -> None:
    news = News()
    waiter = asyncio.ensure_future(news.wait(5.0))
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert news._waiters == []
    second = asyncio.ensure_future(news.wait(5.0))
    await asyncio.sleep(0)
    news.set()
    assert await asyncio.wait_for(second, 1.0) is True


async def test_memory_appends_answer_later_in_order_and_wake_the_tail() -> None:
    store = MemoryStore()
    first = store.append_soon("s", [b"a", b"b"])
    second = store.append_soon("s", [b"c"])
    assert not first.done()  # a store never answers synchronously
    assert await first == ["1", "2"]
    assert await second == ["3"]
    news = await store.tail({"s": "1"}, timeout=1.0)
    assert [(e.id, e.data) for e in news["s"] or []] == [("2", b"b"), ("3", b"c")]
    assert await store.tail({"s": "3"}, timeout=0.01) == {}
