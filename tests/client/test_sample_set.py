"""SampleSet (client/sampled.py) against a real server: what it fetches is the server's
own sample, its cache is a bounded LRU, and a refusal never reaches the audio path.

tests/client/test_sampled_drums.py plays these samples through the drummer; this file
holds the cache and the errors.
"""

from __future__ import annotations

import asyncio

import numpy as np

from backline.client.sampled import SampleSet
from backline.media.soundfont import SampleBank, find_soundfont
from backline.protocol import dsp
from backline.protocol.dsp import SampleKey
from backline.testing import ServerProcess

KICK = dsp.sample_key("drums", 0, 36, 120)
SNARE = dsp.sample_key("drums", 0, 38, 100)
HAT = dsp.sample_key("drums", 0, 42, 100)


async def test_a_fetched_sample_is_the_servers_own_decoded_as_the_render_has_it(
    server: ServerProcess,
) -> None:
    samples = SampleSet(server.url, server.token("s"))
    try:
        assert samples.get(KICK) is None  # nothing yet, and `get` does not fetch
        info = await asyncio.to_thread(samples.index)
        assert info["available"] and info["rate"] == dsp.RATE
        fetched = await asyncio.to_thread(samples.load, KICK)
    finally:
        samples.close()
    assert fetched.dtype == np.float32 and fetched.shape[0] == 2 and fetched.shape[1] > 1000
    font = find_soundfont()
    assert font is not None
    local = SampleBank(font, cache_dir=server.data_dir / "samples").get(KICK)
    assert fetched.shape == local.shape and np.array_equal(fetched, local)
    assert samples.get(KICK) is fetched


async def test_the_cache_is_bounded_and_drops_the_least_recently_played(
    server: ServerProcess,
) -> None:
    token = server.token("s")
    sizes = SampleSet(server.url, token)
    try:
        await asyncio.to_thread(sizes.wait, [KICK, SNARE, HAT])
        total = sum(
            s.nbytes for s in (sizes.get(KICK), sizes.get(SNARE), sizes.get(HAT)) if s is not None
        )
    finally:
        sizes.close()
    samples = SampleSet(server.url, token, max_bytes=total - 1)  # one of the three must go
    try:
        await asyncio.to_thread(samples.load, KICK)
        await asyncio.to_thread(samples.load, SNARE)
        assert samples.get(KICK) is not None  # played: the kick is now the most recent
        await asyncio.to_thread(samples.load, HAT)
        assert samples.get(SNARE) is None  # the least recently played went
        assert samples.get(KICK) is not None and samples.get(HAT) is not None
    finally:
        samples.close()


async def test_a_sample_the_server_refuses_is_counted_not_raised(server: ServerProcess) -> None:
    samples = SampleSet(server.url, server.token("s"))
    bad = SampleKey(dsp.DRUM_BANK, 200, 36, 127)  # no such program: the server says 400
    try:
        await asyncio.to_thread(samples.wait, [bad, KICK])
        assert samples.failed == 1
        samples.want([bad])  # in the background, as the audio path asks: no error here
        await asyncio.to_thread(samples._pool.shutdown, True)  # its fetch has run
    finally:
        samples.close()
    assert samples.failed == 2 and samples.get(bad) is None
    assert samples.get(KICK) is not None  # the rest came in


async def test_a_token_the_server_refuses_means_the_synth(server: ServerProcess) -> None:
    samples = SampleSet(server.url, "not-a-token")
    try:
        info = await asyncio.to_thread(samples.index)
    finally:
        samples.close()
    assert info["available"] is False and not samples.available and info["reason"]
