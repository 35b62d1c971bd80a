"""Personal mixes: every listener hears everyone but themselves, at their own gains.

Each tick the room hands the `Mixer` one float32 frame per participant. For
``N`` participants the mixer stacks the frames into an ``(N, L)`` matrix ``X``
and computes every listener's mix at once::

    mixes = G @ X        G[listener, source] = gain (0..4, linear), G[p, p] = 0

so one float32 matrix product per tick does the whole room. The zero diagonal
is what keeps a listener's own voice out of their mix (they hear themselves
locally, without the round trip).

Mute and solo come from the project: a participant may be bound to a track,
and the mixer asks a plain ``audible(participant) -> bool`` view each tick
(`audible_view` builds one from track bindings). An inaudible source, a
source with no frame this tick (late or lost) and a frame with non-finite
samples all count as silence: their row of ``X`` stays zero.

The sum of several loud sources exceeds full scale, and int16 PCM would wrap
around (a loud positive sum becoming a loud negative click). `soft_limit`
prevents that: it leaves every sample at or under -1 dBFS untouched, so the
mix is exactly linear at normal levels, and bends louder samples smoothly
towards full scale. It is memoryless, so it adds no latency and the same
input always gives the same output; see `soft_limit`.

The recording's mix gets the project's master true-peak limiter instead
(`stems`, `backline.media.stream_limiter`); a personal mix deliberately does
not. The look-ahead would delay every mixed path by `dsp.LIMITER_DELAY`
(1.46 ms) in a room that forwards packets unmixed to save milliseconds; it
would cost one stateful limiter per listener per tick (about 0.1 ms each while
limiting); and a tick's mixes would stop being a function of that tick's
frames. A personal mix is heard once, so a rare soft clip while several play
hot is a fair price; the recording is kept, and must never clip.

Membership, gains and the audible view change between ticks and take effect
on the next call to `Mixer.mix`; a tick never sees half a change.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from backline.media.frames import DEFAULT_FRAME_MS, frame_samples
from backline.protocol.audio import MAX_GAIN

__all__ = [
    "LIMIT_THRESHOLD",
    "MAX_GAIN",
    "Audible",
    "Mixer",
    "TrackState",
    "audible_view",
    "everyone_audible",
    "soft_limit",
]

Audible = Callable[[str], bool]
"""Whether a participant's audio goes into the mixes (mute/solo already applied)."""

LIMIT_THRESHOLD = 10 ** (-1 / 20)  # -1 dBFS, about 0.891: below it the limiter does nothing


def everyone_audible(participant: str) -> bool:
    """The default view: no track is muted or soloed."""
    return True


@dataclass(frozen=True, slots=True)
class TrackState:
    """The mute and solo switches of one track of the project."""

    mute: bool = False
    solo: bool = False


def audible_view(bindings: Mapping[str, str], tracks: Mapping[str, TrackState]) -> Audible:
    """Who is heard, given which participant plays which track.

    Args:
        bindings: participant id -> id of the track they are bound to. A
            participant absent from it, or bound to a track absent from
            ``tracks`` (deleted meanwhile), is *unbound*.
        tracks: track id -> its mute and solo switches.

    The rule, applied in this order:

    1. Unbound participants are always audible. They are the room's talk-back:
       soloing or muting a track is a decision about the music, and it must not
       stop people from hearing each other speak.
    2. A participant bound to a muted track is silent, even if that track is
       also soloed (mute wins, as in most desks).
    3. If any track that has a participant bound to it is soloed, only
       participants bound to soloed tracks are audible (among bound ones). A
       soloed track nobody plays (a sequenced MIDI track) does not silence
       the live room; a soloed track that is also muted still does (solo
       and mute are independent switches, as on a desk).

    The view is a snapshot: build a new one when the project or the bindings
    change.
    """
    bound = {p: tracks[t] for p, t in bindings.items() if t in tracks}
    solo_active = any(state.solo for state in bound.values())
    silent = frozenset(
        p for p, state in bound.items() if state.mute or (solo_active and not state.solo)
    )

    def audible(participant: str) -> bool:
        return participant not in silent

    return audible


def soft_limit(mix: NDArray[np.float32], threshold: float = LIMIT_THRESHOLD) -> int:
    """Keep samples inside full scale, in place; return how many samples it changed.

    Samples with ``|x| <= threshold`` are untouched. Above it the magnitude
    follows ``t + (1 - t) * tanh((|x| - t) / (1 - t))``: continuous with slope 1
    at the threshold (no corner to hear), monotonic (louder in, louder out),
    and never beyond 1.0 however loud the sum. The sign is kept, so a positive
    sum can never come out negative.

    It is a memoryless soft clipper, not a look-ahead limiter: a look-ahead
    would add latency, which this room cannot spare, and a gain envelope would
    make the output depend on history. The price is some distortion when
    several sources are loud at once. The check costs two reductions; the
    curve is only computed on the rare loud samples.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
    if mix.size == 0 or (mix.max() <= threshold and mix.min() >= -threshold):
        return 0
    magnitude = np.abs(mix)
    over = magnitude > threshold
    knee = 1.0 - threshold
    bent = threshold + knee * np.tanh((magnitude[over] - threshold) / knee)
    mix[over] = np.copysign(np.minimum(bent, 1.0), mix[over])
    return int(np.count_nonzero(over))


def _check_gain(gain: float) -> float:
    value = float(gain)
    if not (math.isfinite(value) and 0.0 <= value <= MAX_GAIN):
        raise ValueError(f"gain must be a linear factor from 0 to {MAX_GAIN:g}, got {gain!r}")
    return value


class Mixer:
    """Personal mixes for a room of participants, one matrix product per tick.

    Every participant is both a source and a listener. Gains are per listener
    and per source, linear from 0 to 4 (1.0 by default); a listener's gain for
    themselves does not exist (the diagonal stays 0).

    Args:
        samples: samples per channel in one frame (480 for 10 ms at 48 kHz).
        channels: interleaved channels per frame; gains apply to all of them.
        audible: the mute/solo view, asked once per source per tick.
        limit_threshold: where `soft_limit` starts bending (linear, 0..1).
    """

    def __init__(
        self,
        samples: int = frame_samples(DEFAULT_FRAME_MS),
        *,
        channels: int = 1,
        audible: Audible = everyone_audible,
        limit_threshold: float = LIMIT_THRESHOLD,
    ) -> None:
        if samples < 1 or channels < 1:
            raise ValueError(f"need at least 1 sample and 1 channel, got {samples}, {channels}")
        if not 0.0 < limit_threshold < 1.0:
            raise ValueError(f"limit_threshold must be between 0 and 1, got {limit_threshold!r}")
        self.frame_length = samples * channels
        self.limit_threshold = limit_threshold
        self._audible = audible
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        self._gains = np.zeros((0, 0), dtype=np.float32)
        self.limited = 0  # samples the limiter changed in the last tick (for metrics)

    @property
    def participants(self) -> tuple[str, ...]:
        """Participant ids in the order of the gain matrix's rows and columns."""
        return tuple(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, participant: object) -> bool:
        return participant in self._index

    def add(self, participant: str) -> None:
        """Add a participant; everyone hears them, and they hear everyone, at gain 1.

        Raises:
            ValueError: the participant is already in the room.
        """
        if participant in self._index:
            raise ValueError(f"participant {participant!r} is already in the mixer")
        n = len(self._order)
        gains = np.ones((n + 1, n + 1), dtype=np.float32)
        gains[:n, :n] = self._gains
        gains[n, n] = 0.0
        self._gains = gains
        self._index[participant] = n
        self._order.append(participant)

    def remove(self, participant: str) -> None:
        """Remove a participant from every mix and stop mixing for them.

        Raises:
            KeyError: the participant is not in the room.
        """
        i = self._position(participant)
        keep = [j for j in range(len(self._order)) if j != i]
        self._gains = np.ascontiguousarray(self._gains[np.ix_(keep, keep)])
        del self._order[i]
        self._index = {p: j for j, p in enumerate(self._order)}

    def set_gain(self, listener: str, source: str, gain: float) -> None:
        """How loud ``source`` is in ``listener``'s mix (linear, 0 to 4).

        Raises:
            KeyError: either participant is not in the room.
            ValueError: the gain is not a finite number from 0 to 4, or
                ``listener`` is ``source`` (nobody hears themselves here).
        """
        value = _check_gain(gain)
        row, column = self._position(listener), self._position(source)
        if row == column:
            raise ValueError(f"{listener!r} never hears themselves in the mix; no gain to set")
        self._gains[row, column] = value

    def gain(self, listener: str, source: str) -> float:
        """The current gain of ``source`` in ``listener``'s mix (0 for themselves)."""
        return float(self._gains[self._position(listener), self._position(source)])

    def gain_matrix(self) -> NDArray[np.float32]:
        """A copy of the gains, rows = listeners, columns = sources, in `participants` order."""
        return self._gains.copy()

    def set_audible(self, audible: Audible) -> None:
        """Replace the mute/solo view (see `audible_view`)."""
        self._audible = audible

    def is_audible(self, participant: str) -> bool:
        """Whether the current mute/solo view lets `participant` be heard."""
        return self._audible(participant)

    def mix(
        self, frames: Mapping[str, NDArray[np.floating] | None]
    ) -> dict[str, NDArray[np.float32]]:
        """One tick: each participant's personal mix of this tick's frames.

        Args:
            frames: participant id -> their float frame of `frame_length`
                samples, or None. A participant missing from the mapping (their
                frame was late or lost) is silent this tick.

        Returns:
            participant id -> a new float32 array of `frame_length` samples,
            within [-1, 1] after the limiter. The arrays are the caller's.

        Raises:
            KeyError: a frame belongs to someone who is not in the room.
            ValueError: a frame has the wrong length or is not floating point.
        """
        stacked = np.zeros((len(self._order), self.frame_length), dtype=np.float32)
        for participant, frame in frames.items():
            row = self._position(participant)
            if frame is None:
                continue
            self._check_frame(participant, frame)
            if self._audible(participant):
                stacked[row] = frame
        mixes = self.mix_matrix(stacked)
        return {p: mixes[i] for i, p in enumerate(self._order)}

    def mix_matrix(self, stacked: NDArray[np.float32]) -> NDArray[np.float32]:
        """The matrix form of `mix`: rows of ``stacked`` are sources in `participants` order.

        Rows are used as given (mute/solo is `mix`'s job); rows with non-finite
        samples are zeroed in place first, so one broken decoder cannot turn
        every mix into NaN (NaN times a zero gain is still NaN).
        """
        if stacked.shape != (len(self._order), self.frame_length):
            raise ValueError(
                f"expected a ({len(self._order)}, {self.frame_length}) matrix, got {stacked.shape}"
            )
        if not np.isfinite(stacked).all():
            stacked[~np.isfinite(stacked).all(axis=1)] = 0.0
        mixes: NDArray[np.float32] = self._gains @ stacked
        self.limited = soft_limit(mixes, self.limit_threshold)
        return mixes

    def _position(self, participant: str) -> int:
        try:
            return self._index[participant]
        except KeyError:
            raise KeyError(f"participant {participant!r} is not in the mixer") from None

    def _check_frame(self, participant: str, frame: NDArray[np.floating]) -> None:
        if frame.shape != (self.frame_length,):
            raise ValueError(
                f"frame of {participant!r} has shape {frame.shape}, expected ({self.frame_length},)"
            )
        if not np.issubdtype(frame.dtype, np.floating):
            raise ValueError(
                f"frame of {participant!r} is {frame.dtype}; convert int16 PCM with to_float32"
            )
