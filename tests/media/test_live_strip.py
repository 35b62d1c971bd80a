"""LiveStrip is media.chain's strip on a stream: frames put end to end are the offline chain."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backline.media import chain
from backline.media.live_strip import LiveStrip
from backline.protocol import dsp
from backline.protocol.model import Document
from backline.protocol.ops import apply


def track(**fields: object) -> dict[str, object]:
    doc = Document()
    apply(doc, {"op": "insert", "kind": "track", "id": "t", "value": {}})
    for field, value in fields.items():
        apply(doc, {"op": "set", "id": "t", "field": field, "value": value})
    return dict(doc.tracks["t"])


def offline(x: chain.Signal, t: dict[str, object]) -> chain.Signal:
    y = chain.eq(x, t)
    y, _ = chain.compress(y, t)
    return chain.pan(y * np.float32(t["volume"]), float(t["pan"]))  # type: ignore[arg-type]


def signal(frames: int, seed: int) -> chain.Signal:
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / dsp.RATE
    envelope = np.where((t % 0.25) < 0.05, 1.2, 0.1)  # bursts the compressor acts on
    noise = rng.standard_normal((2, frames)) * 0.3
    return (noise * envelope).astype(np.float32)


STRIPS = [
    track(),
    track(eq_hp_on=True, eq_hp_freq=120.0, eq_mid1_on=True, eq_mid1_gain=9.0, eq_high_on=True,
          eq_high_gain=-6.0),
    track(comp_on=True, comp_threshold=-24.0, comp_ratio=6.0, comp_attack=1.0, comp_release=40.0,
          comp_makeup=4.0, volume=0.7, pan=-0.4),
    track(eq_low_on=True, eq_low_gain=6.0, comp_on=True, comp_knee=12.0, pan=1.0),
]  # fmt: skip


@pytest.mark.parametrize("strip", STRIPS, ids=["flat", "eq", "compressor", "both"])
@settings(max_examples=15, deadline=None)
@given(splits=st.lists(st.integers(1, 40), min_size=1, max_size=30))
def test_any_split_into_whole_blocks_is_the_offline_chain(
    strip: dict[str, object], splits: list[int]
) -> None:
    x = signal(sum(splits) * dsp.BLOCK, 7)
    live = LiveStrip(strip)
    out, at = [], 0
    for blocks in splits:
        n = blocks * dsp.BLOCK
        out.append(live.process(x[:, at : at + n]))
        at += n
    assert np.abs(np.concatenate(out, axis=1) - offline(x, strip)).max() < 2e-5


def test_a_change_applies_from_the_next_frame_and_keeps_the_filter_state() -> None:
    before = track(eq_mid1_on=True, eq_mid1_gain=6.0)
    after = track(eq_mid1_on=True, eq_mid1_gain=-6.0, volume=0.5)
    x = signal(480 * 40, 3)
    live = LiveStrip(before)
    first = np.concatenate(
        [live.process(x[:, i : i + 480]) for i in range(0, 480 * 20, 480)], axis=1
    )
    live.set(after)
    second = np.concatenate(
        [live.process(x[:, i : i + 480]) for i in range(480 * 20, 480 * 40, 480)], axis=1
    )
    assert np.abs(first - offline(x[:, : 480 * 20], before)).max() < 2e-5
    # the same bands stay on: the filter goes on from its state (no restart from silence),
    # so the first samples after the change differ from a strip that starts afresh
    fresh = LiveStrip(after).process(x[:, 480 * 20 : 480 * 21])
    assert np.abs(second[:, :480] - fresh).max() > 1e-3
    # and once the old state has died out, it is the new strip
    settled = offline(x, after)[:, 480 * 30 :]
    assert np.abs(second[:, 480 * 10 :] - settled).max() < 1e-3


def test_a_frame_of_part_of_a_block_is_refused() -> None:
    with pytest.raises(ValueError, match="blocks"):
        LiveStrip(track()).process(np.zeros((2, 100), dtype=np.float32))


@pytest.mark.parametrize("delay", [256, 300, 480, 700, 18_000])
def test_the_delay_frame_by_frame_is_the_renders(delay: int) -> None:
    from backline.media.live_returns import LiveDelay

    x = signal(480 * 120, 5)
    x[:, 480 * 40 :] = 0  # and the echoes ring on after the sends stop
    pole = dsp.one_pole(5_000.0)
    live = LiveDelay(delay, 0.6, pole)
    got = np.concatenate(
        [live.process(x[:, i : i + 480]) for i in range(0, x.shape[1], 480)], axis=1
    )
    want = chain.delay_return(x, delay, 0.6, pole)
    assert np.abs(got - want).max() < 1e-6 and np.abs(want[:, 480 * 40 :]).max() > 0.01


def test_the_reverb_frame_by_frame_is_the_renders() -> None:
    from backline.media.live_returns import LiveReverb

    x = signal(480 * 150, 9)
    x[:, 480 * 30 :] = 0
    ir = chain.reverb_ir(0.9, 15.0, 0.4)
    live = LiveReverb(ir, 480)
    got = np.concatenate(
        [live.process(x[:, i : i + 480]) for i in range(0, x.shape[1], 480)], axis=1
    )
    want = chain.reverb_return(x, ir)
    assert np.abs(got - want).max() < 1e-5 and np.abs(want[:, 480 * 60 :]).max() > 1e-3
    with pytest.raises(ValueError, match="480"):
        live.process(np.zeros((2, 960), dtype=np.float32))
