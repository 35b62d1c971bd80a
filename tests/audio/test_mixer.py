"""Personal mixes: everyone but yourself, per-listener gains, mute/solo, silence, no wraparound."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from backline.media.frames import SAMPLE_RATE, frame_samples, to_int16
from backline.server.audio.mixer import (
    LIMIT_THRESHOLD,
    MAX_GAIN,
    Mixer,
    TrackState,
    audible_view,
    everyone_audible,
    soft_limit,
)

N = frame_samples(10)  # 480 samples: FFT bins are 100 Hz apart
BIN_HZ = SAMPLE_RATE // N
TONES = {"ana": 300, "ben": 700, "cai": 1100, "dee": 1900}  # whole bins, far apart
AMPLITUDE = 0.2  # four of them sum to 0.8, under the limiter's threshold

Frame = NDArray[np.float32]


def sine(hz: float, amplitude: float = AMPLITUDE, phase: float = 0.0) -> Frame:
    t = np.arange(N) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * hz * t + phase)).astype(np.float32)


def tone_amplitudes(frame: Frame) -> dict[int, float]:
    """Amplitude of each whole-bin sinusoid in ``frame``, by frequency in Hz."""
    spectrum = np.abs(np.fft.rfft(frame.astype(np.float64))) * 2 / len(frame)
    return {i * BIN_HZ: float(a) for i, a in enumerate(spectrum)}


def heard(frame: Frame, threshold: float = 1e-3) -> dict[int, float]:
    """The tones clearly present in ``frame``: frequency -> amplitude."""
    return {hz: a for hz, a in tone_amplitudes(frame).items() if a > threshold}


def room(*names: str) -> Mixer:
    mixer = Mixer(N)
    for name in names:
        mixer.add(name)
    return mixer


def tones(names: list[str] | tuple[str, ...] | None = None) -> dict[str, Frame]:
    return {p: sine(TONES[p]) for p in names or TONES}


# -- who hears what ------------------------------------------------------------------------


def test_each_listener_hears_exactly_the_others() -> None:
    """The FFT of each personal mix has every other participant's tone and not its own."""
    mixer = room(*TONES)
    mixes = mixer.mix(tones())
    assert set(mixes) == set(TONES)
    for listener, mix in mixes.items():
        assert mix.dtype == np.float32
        assert mix.shape == (N,)
        present = heard(mix)
        expected = {hz for p, hz in TONES.items() if p != listener}
        assert set(present) == expected, listener
        for hz in expected:
            assert present[hz] == pytest.approx(AMPLITUDE, rel=1e-4)


def test_a_gain_scales_that_source_in_that_listeners_mix_only() -> None:
    mixer = room(*TONES)
    before = mixer.mix(tones())
    mixer.set_gain("ana", "ben", 0.5)
    mixer.set_gain("ana", "cai", 0.0)
    mixer.set_gain("ana", "dee", 3.0)
    after = mixer.mix(tones())
    present = tone_amplitudes(after["ana"])
    assert present[TONES["ben"]] == pytest.approx(0.5 * AMPLITUDE, rel=1e-4)
    assert present[TONES["cai"]] == pytest.approx(0.0, abs=1e-6)
    assert present[TONES["dee"]] == pytest.approx(3 * AMPLITUDE, rel=1e-4)
    for listener in ("ben", "cai", "dee"):
        np.testing.assert_array_equal(after[listener], before[listener])
    assert mixer.gain("ana", "ben") == 0.5
    assert mixer.gain("ben", "ana") == 1.0
    assert mixer.gain("ana", "ana") == 0.0


def test_gain_matrix_has_a_zero_diagonal() -> None:
    mixer = room("a", "b", "c")
    mixer.set_gain("a", "c", 2.5)
    gains = mixer.gain_matrix()
    np.testing.assert_array_equal(np.diag(gains), np.zeros(3))
    assert gains[0, 2] == 2.5
    gains[0, 1] = 3.0  # a copy: the mixer is not changed through it
    assert mixer.gain("a", "b") == 1.0


@pytest.mark.parametrize("gain", [-0.01, 4.0001, math.nan, math.inf, -math.inf, 100])
def test_gains_outside_0_to_4_are_rejected(gain: float) -> None:
    mixer = room("a", "b")
    with pytest.raises(ValueError, match="gain must be a linear factor from 0 to 4"):
        mixer.set_gain("a", "b", gain)
    assert mixer.gain("a", "b") == 1.0


@pytest.mark.parametrize("gain", [0, 0.0, 1, 2.5, MAX_GAIN])
def test_gains_from_0_to_4_are_accepted(gain: float) -> None:
    mixer = room("a", "b")
    mixer.set_gain("a", "b", gain)
    assert mixer.gain("a", "b") == gain


def test_nobody_gets_a_gain_for_themselves() -> None:
    mixer = room("a", "b")
    with pytest.raises(ValueError, match="never hears themselves"):
        mixer.set_gain("a", "a", 1.0)


def test_unknown_participants_are_key_errors() -> None:
    mixer = room("a", "b")
    with pytest.raises(KeyError, match="'zed'"):
        mixer.set_gain("a", "zed", 1.0)
    with pytest.raises(KeyError, match="'zed'"):
        mixer.remove("zed")
    with pytest.raises(KeyError, match="'zed'"):
        mixer.mix({"zed": sine(300)})


def test_adding_twice_is_rejected() -> None:
    mixer = room("a")
    with pytest.raises(ValueError, match="already"):
        mixer.add("a")


def test_membership_changes_take_effect_at_the_next_tick() -> None:
    mixer = room("ana", "ben", "cai")
    mixer.set_gain("cai", "ben", 0.5)
    first = mixer.mix(tones(["ana", "ben", "cai"]))
    assert set(heard(first["ana"])) == {700, 1100}

    mixer.add("dee")
    mixer.remove("cai")
    assert mixer.participants == ("ana", "ben", "dee")
    second = mixer.mix(tones(["ana", "ben", "dee"]))
    assert set(second) == {"ana", "ben", "dee"}
    assert set(heard(second["ana"])) == {700, 1900}
    assert set(heard(second["dee"])) == {300, 700}  # a newcomer hears everyone at gain 1
    assert heard(second["ben"])[1900] == pytest.approx(AMPLITUDE, rel=1e-4)
    assert first["ana"].any()  # the previous tick's mixes are left alone

    mixer.add("cai")  # back again: default gains, not the old 0.5
    assert mixer.gain("cai", "ben") == 1.0


def test_an_empty_room_mixes_nothing() -> None:
    mixer = Mixer(N)
    assert mixer.mix({}) == {}
    assert len(mixer) == 0


def test_a_lone_participant_hears_silence() -> None:
    mixer = room("solo")
    (mix,) = mixer.mix({"solo": sine(300)}).values()
    assert not mix.any()


# -- silence: missing, None, broken frames ---------------------------------------------------


def test_missing_frames_count_as_silence() -> None:
    """A source whose frame was late or lost this tick is simply not in anyone's mix."""
    mixer = room(*TONES)
    frames: dict[str, Frame | None] = dict(tones())
    del frames["cai"]
    frames["dee"] = None
    mixes = mixer.mix(frames)
    assert set(heard(mixes["ana"])) == {700}
    assert set(heard(mixes["cai"])) == {300, 700}  # cai still gets a mix
    assert set(heard(mixes["dee"])) == {300, 700}


def test_a_frame_with_nan_is_silence_and_spoils_nothing_else() -> None:
    mixer = room(*TONES)
    frames = tones()
    frames["ben"] = frames["ben"].copy()
    frames["ben"][7] = np.nan
    frames["cai"] = np.full(N, np.inf, dtype=np.float32)
    mixes = mixer.mix(frames)
    for listener, mix in mixes.items():
        assert np.isfinite(mix).all()
        assert set(heard(mix)) == {TONES[p] for p in ("ana", "dee") if p != listener}


def test_frames_must_have_the_frame_length() -> None:
    mixer = room("a", "b")
    with pytest.raises(ValueError, match=r"frame of 'a' has shape \(479,\), expected \(480,\)"):
        mixer.mix({"a": np.zeros(479, dtype=np.float32)})
    with pytest.raises(ValueError, match="to_float32"):
        mixer.mix({"a": np.zeros(N, dtype=np.int16)})


def test_float64_frames_are_accepted() -> None:
    mixer = room("a", "b")
    mixes = mixer.mix({"a": sine(300).astype(np.float64)})
    assert mixes["b"].dtype == np.float32
    assert heard(mixes["b"])[300] == pytest.approx(AMPLITUDE, rel=1e-4)


def test_stereo_frames_are_mixed_interleaved() -> None:
    mixer = Mixer(N, channels=2)
    mixer.add("a")
    mixer.add("b")
    left_only = np.zeros(2 * N, dtype=np.float32)
    left_only[0::2] = sine(300)
    mix = mixer.mix({"a": left_only})["b"]
    np.testing.assert_array_equal(mix[0::2], sine(300))
    assert not mix[1::2].any()


# -- mute and solo ---------------------------------------------------------------------------

BINDINGS = {"ana": "drums", "ben": "bass", "cai": "keys"}  # dee is unbound


@pytest.mark.parametrize(
    ("tracks", "audible"),
    [
        pytest.param({}, {"ana", "ben", "cai", "dee"}, id="no-tracks-known"),
        pytest.param(
            {"drums": TrackState(), "bass": TrackState(), "keys": TrackState()},
            {"ana", "ben", "cai", "dee"},
            id="plain",
        ),
        pytest.param(
            {"drums": TrackState(mute=True), "bass": TrackState(), "keys": TrackState()},
            {"ben", "cai", "dee"},
            id="mute",
        ),
        pytest.param(
            {"drums": TrackState(solo=True), "bass": TrackState(), "keys": TrackState()},
            {"ana", "dee"},
            id="solo-keeps-unbound",
        ),
        pytest.param(
            {"drums": TrackState(solo=True), "bass": TrackState(solo=True), "keys": TrackState()},
            {"ana", "ben", "dee"},
            id="two-solos",
        ),
        pytest.param(
            {
                "drums": TrackState(solo=True, mute=True),
                "bass": TrackState(solo=True),
                "keys": TrackState(),
            },
            {"ben", "dee"},
            id="mute-beats-solo",
        ),
        pytest.param(
            {"drums": TrackState(solo=True, mute=True), "bass": TrackState(), "keys": TrackState()},
            {"dee"},
            id="muted-solo-still-solos",
        ),
        pytest.param(
            {"drums": TrackState(), "bass": TrackState(), "midi": TrackState(solo=True)},
            {"ana", "ben", "cai", "dee"},
            id="solo-on-unplayed-track-ignored",
        ),
        pytest.param(
            {"drums": TrackState(solo=True), "bass": TrackState()},
            {"ana", "cai", "dee"},
            id="bound-to-deleted-track-is-unbound",
        ),
    ],
)
def test_mute_and_solo_rule(tracks: Mapping[str, TrackState], audible: set[str]) -> None:
    """Unbound (or bound to a deleted track) is always heard; mute wins; solo among bound."""
    view = audible_view(BINDINGS, tracks)
    assert {p for p in TONES if view(p)} == audible


def test_the_mixer_applies_the_audible_view() -> None:
    mixer = room(*TONES)
    mixer.set_audible(
        audible_view(
            BINDINGS,
            {"drums": TrackState(solo=True), "bass": TrackState(), "keys": TrackState()},
        )
    )
    mixes = mixer.mix(tones())
    assert set(heard(mixes["ana"])) == {1900}  # dee, unbound
    assert set(heard(mixes["ben"])) == {300, 1900}
    assert set(heard(mixes["dee"])) == {300}
    mixer.set_audible(everyone_audible)
    assert set(heard(mixer.mix(tones())["dee"])) == {300, 700, 1100}


def test_the_audible_view_is_asked_every_tick() -> None:
    """The mixer holds no stale copy: a view over live state takes effect next tick."""
    muted: set[str] = set()
    mixer = Mixer(N, audible=lambda p: p not in muted)
    for p in TONES:
        mixer.add(p)
    assert set(heard(mixer.mix(tones())["ana"])) == {700, 1100, 1900}
    muted.add("ben")
    assert set(heard(mixer.mix(tones())["ana"])) == {1100, 1900}


# -- loud sums -------------------------------------------------------------------------------


def test_loud_sums_never_wrap_around_in_int16() -> None:
    """Eight full-scale sines in phase: each mix is 7x full scale, and stays the right sign."""
    names = [f"p{i}" for i in range(8)]
    mixer = room(*names)
    full = sine(100, amplitude=1.0)
    mixes = mixer.mix(dict.fromkeys(names, full))
    assert mixer.limited > 0
    for mix in mixes.values():
        assert np.abs(mix).max() <= 1.0
        pcm = to_int16(mix).astype(np.int32)
        loud = np.abs(full) > 0.2
        assert np.all(np.sign(pcm[loud]) == np.sign(full[loud]))  # no wrap to the other sign
        assert pcm.max() > 32000 and pcm.min() < -32000


def test_quiet_mixes_are_not_touched_by_the_limiter() -> None:
    mixer = room(*TONES)
    mixes = mixer.mix(tones())
    assert mixer.limited == 0
    expected = sum(f for p, f in tones().items() if p != "ana")
    np.testing.assert_allclose(mixes["ana"], expected, atol=1e-7)


@given(st.lists(st.floats(-1e6, 1e6, width=32), min_size=1, max_size=64))
def test_soft_limit_properties(values: list[float]) -> None:
    """Within full scale, sign kept, never louder, monotonic, identity under the threshold."""
    x = np.array(values, dtype=np.float32)
    y = x.copy()
    changed = soft_limit(y)
    assert np.all(np.abs(y) <= 1.0)
    assert np.all(np.abs(y) <= np.abs(x))
    assert np.all((np.sign(y) == np.sign(x)) | (x == 0))
    quiet = np.abs(x) <= LIMIT_THRESHOLD
    np.testing.assert_array_equal(y[quiet], x[quiet])
    assert changed == np.count_nonzero(~quiet)
    order = np.argsort(x, kind="stable")
    assert np.all(np.diff(y[order]) >= 0)


def test_soft_limit_is_continuous_at_the_threshold() -> None:
    t = np.float32(LIMIT_THRESHOLD)
    x = np.array([t, np.nextafter(t, np.float32(2)), t + 1e-4], dtype=np.float32)
    y = x.copy()
    soft_limit(y)
    np.testing.assert_allclose(y, x, atol=1e-6)  # slope 1 at the knee: no corner
    assert soft_limit(np.zeros(0, dtype=np.float32)) == 0


def test_soft_limit_is_deterministic() -> None:
    rng = np.random.default_rng(5)
    loud = (rng.standard_normal(4096) * 3).astype(np.float32)
    a, b = loud.copy(), loud.copy()
    soft_limit(a)
    soft_limit(b)
    np.testing.assert_array_equal(a, b)


def test_limiter_threshold_is_validated() -> None:
    with pytest.raises(ValueError, match="threshold"):
        soft_limit(np.zeros(4, dtype=np.float32), threshold=1.0)
    with pytest.raises(ValueError, match="limit_threshold"):
        Mixer(N, limit_threshold=0.0)
    with pytest.raises(ValueError, match="at least 1 sample"):
        Mixer(0)


# -- properties ------------------------------------------------------------------------------

SMALL = st.floats(-0.0625, 0.0625, width=32)  # 5 sources x 2 x 1/16 < LIMIT_THRESHOLD


@st.composite
def rooms(draw: st.DrawFn) -> tuple[list[str], NDArray[np.float32], NDArray[np.float32]]:
    """2-6 participants, gains in [0, 1] and quiet frames: the sum stays under the limiter."""
    n = draw(st.integers(2, 6))
    names = [f"p{i}" for i in range(n)]
    gains = np.array(draw(st.lists(st.floats(0, 1), min_size=n * n, max_size=n * n)))
    samples = 8
    frames = np.array(
        draw(st.lists(SMALL, min_size=n * samples, max_size=n * samples)), dtype=np.float32
    )
    return names, gains.reshape(n, n).astype(np.float32), frames.reshape(n, samples)


def _mixer(names: list[str], gains: NDArray[np.float32], samples: int = 8) -> Mixer:
    mixer = Mixer(samples)
    for name in names:
        mixer.add(name)
    for i, listener in enumerate(names):
        for j, source in enumerate(names):
            if i != j:
                mixer.set_gain(listener, source, float(gains[i, j]))
    return mixer


def _mix(mixer: Mixer, names: list[str], frames: NDArray[np.float32]) -> NDArray[np.float32]:
    out = mixer.mix({p: frames[i] for i, p in enumerate(names)})
    return np.stack([out[p] for p in names])


@settings(max_examples=60)
@given(rooms(), rooms(), st.floats(-1, 1), st.floats(-1, 1))
def test_mix_is_linear(
    room_a: tuple[list[str], NDArray[np.float32], NDArray[np.float32]],
    room_b: tuple[list[str], NDArray[np.float32], NDArray[np.float32]],
    a: float,
    b: float,
) -> None:
    """mix(a·X + b·Y) = a·mix(X) + b·mix(Y) while under the limiter."""
    names, gains, x = room_a
    y = room_b[2]
    if y.shape != x.shape:
        y = np.resize(y, x.shape)
    mixer = _mixer(names, gains)
    combined = _mix(mixer, names, (a * x + b * y).astype(np.float32))
    separate = a * _mix(mixer, names, x) + b * _mix(mixer, names, y)
    np.testing.assert_allclose(combined, separate, atol=1e-5)


@settings(max_examples=60)
@given(rooms(), st.data())
def test_own_frame_never_reaches_own_mix(
    state: tuple[list[str], NDArray[np.float32], NDArray[np.float32]], data: st.DataObject
) -> None:
    """Changing a listener's own frame changes nothing in their mix, bit for bit."""
    names, gains, frames = state
    mixer = _mixer(names, gains)
    listener = data.draw(st.integers(0, len(names) - 1))
    before = _mix(mixer, names, frames)[listener]
    changed = frames.copy()
    changed[listener] = data.draw(st.floats(-1, 1, width=32))
    after = _mix(mixer, names, changed)[listener]
    np.testing.assert_array_equal(after, before)


@settings(max_examples=60)
@given(rooms(), st.randoms(use_true_random=False))
def test_mix_does_not_depend_on_join_order(
    state: tuple[list[str], NDArray[np.float32], NDArray[np.float32]], rnd: random.Random
) -> None:
    names, gains, frames = state
    order = list(range(len(names)))
    rnd.shuffle(order)
    mixer = _mixer(names, gains)
    shuffled = Mixer(8)
    for i in order:
        shuffled.add(names[i])
    for i, listener in enumerate(names):
        for j, source in enumerate(names):
            if i != j:
                shuffled.set_gain(listener, source, float(gains[i, j]))
    expected = mixer.mix({p: frames[i] for i, p in enumerate(names)})
    got = shuffled.mix({p: frames[i] for i, p in enumerate(names)})
    for p in names:
        np.testing.assert_allclose(got[p], expected[p], atol=1e-6)


@settings(max_examples=60)
@given(rooms())
def test_with_unit_gains_own_frame_plus_mix_is_the_room_total(
    state: tuple[list[str], NDArray[np.float32], NDArray[np.float32]],
) -> None:
    names, _, frames = state
    mixes = _mix(_mixer(names, np.ones((len(names), len(names)), np.float32)), names, frames)
    total = frames.astype(np.float64).sum(axis=0)
    np.testing.assert_allclose(mixes + frames, np.broadcast_to(total, frames.shape), atol=1e-6)


@settings(max_examples=60)
@given(rooms(), st.integers(0, 5), st.integers(0, 5))
def test_symmetric_gains_give_symmetric_pairs(
    state: tuple[list[str], NDArray[np.float32], NDArray[np.float32]], i: int, j: int
) -> None:
    """With G = Gᵀ, what j hears of i's frame is what i hears of the same frame sent by j."""
    names, gains, frames = state
    n = len(names)
    i, j = i % n, j % n
    if i == j:
        j = (i + 1) % n
    mixer = _mixer(names, ((gains + gains.T) / 2).astype(np.float32))
    signal = frames[0]
    i_sends = np.zeros_like(frames)
    i_sends[i] = signal
    j_sends = np.zeros_like(frames)
    j_sends[j] = signal
    np.testing.assert_array_equal(_mix(mixer, names, i_sends)[j], _mix(mixer, names, j_sends)[i])
