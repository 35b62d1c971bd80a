"""Example projects as op lists: what the render tests and benchmarks play.

`song_ops` builds a full arrangement (drums, bass, chords, a pad and a lead,
with EQ, compression and sends) of any length in bars: 90 bars at 120 BPM is
the three-minute song of the render benchmark. The ops are ordinary edits, so
the same song can be applied to a `Document` or sent to a server.
"""

from __future__ import annotations

from typing import Any

from backline.protocol.model import PPQ

__all__ = ["BAR", "hot_drums_ops", "song_ops"]

BAR = 4 * PPQ
CHORDS = ((57, 60, 64), (53, 57, 60), (48, 52, 55), (55, 59, 62))  # Am F C G


def _ins(entity: str, eid: str, **value: Any) -> dict[str, Any]:
    return {"op": "insert", "kind": entity, "id": eid, "value": value}


def _set(eid: str, **fields: Any) -> list[dict[str, Any]]:
    return [{"op": "set", "id": eid, "field": f, "value": v} for f, v in fields.items()]


def song_ops(bars: int = 90, tempo: float = 120.0, prefix: str = "s") -> list[dict[str, Any]]:
    """A song of `bars` bars in 4/4; ids start with `prefix`."""
    p = prefix
    ops: list[dict[str, Any]] = _set("project", tempo=tempo, reverb_decay=1.8, delay_beats=0.75)
    ops.append(_ins("track", f"{p}dr", name="Drums", kind="drums", volume=0.9))
    ops += _set(f"{p}dr", comp_on=True, comp_threshold=-14.0, comp_ratio=3.0, send_reverb=0.1)
    ops.append(
        _ins(
            "pattern",
            f"{p}beat",
            track=f"{p}dr",
            length=16,
            steps_per_beat=4,
            lanes=[
                {"sound": 36, "steps": [110, 0, 0, 0, 0, 0, 0, 0, 110, 0, 90, 0, 0, 0, 0, 0]},
                {"sound": 38, "steps": [0, 0, 0, 0, 115, 0, 0, 0, 0, 0, 0, 0, 115, 0, 0, 0]},
                {"sound": 42, "steps": [80, 0, 60, 0] * 4},
            ],
        )
    )
    for bar in range(bars):
        ops.append(_ins("clip", f"{p}c{bar}", track=f"{p}dr", pattern=f"{p}beat", start=bar * BAR))
    parts = (
        ("bass", "Bass", 33, 0.8),  # fingered bass
        ("keys", "Keys", 0, 0.7),  # grand piano
        ("pad", "Pad", 48, 0.45),  # strings
        ("lead", "Lead", 80, 0.5),  # square lead
    )
    for key, name, program, volume in parts:
        ops.append(_ins("track", f"{p}{key}", name=name, kind="instrument", instrument=program,
                        volume=volume))  # fmt: skip
    ops += _set(f"{p}bass", eq_hp_on=True, eq_hp_freq=40.0, comp_on=True, comp_ratio=4.0)
    ops += _set(f"{p}keys", eq_mid1_on=True, eq_mid1_freq=400.0, eq_mid1_gain=-3.0,
                send_reverb=0.3, pan=-0.3)  # fmt: skip
    ops += _set(f"{p}pad", eq_high_on=True, eq_high_gain=-4.0, send_reverb=0.5, pan=0.3)
    ops += _set(f"{p}lead", eq_mid2_on=True, eq_mid2_gain=3.0, send_delay=0.35)
    n = 0
    for bar in range(bars):
        chord = CHORDS[bar % len(CHORDS)]
        at = bar * BAR
        for beat in range(4):  # bass: the root on every beat
            ops.append(_ins("note", f"{p}n{n}", track=f"{p}bass", pitch=chord[0] - 24,
                            start=at + beat * PPQ, dur=PPQ * 3 // 4, vel=100))  # fmt: skip
            n += 1
        for beat in (0, 2):  # keys: the chord on beats 1 and 3
            for pitch in chord:
                ops.append(_ins("note", f"{p}n{n}", track=f"{p}keys", pitch=pitch,
                                start=at + beat * PPQ, dur=PPQ * 2, vel=85))  # fmt: skip
                n += 1
        if bar % 2 == 0:  # pad: two bars per chord
            for pitch in chord:
                ops.append(_ins("note", f"{p}n{n}", track=f"{p}pad", pitch=pitch + 12, start=at,
                                dur=BAR * 2, vel=70))  # fmt: skip
                n += 1
        if bar % 8 >= 4:  # lead: a riff in the second half of every 8 bars
            for i, step in enumerate((0, 2, 3, 5, 7)):
                ops.append(_ins("note", f"{p}n{n}", track=f"{p}lead", pitch=chord[i % 3] + 12,
                                start=at + step * PPQ // 2, dur=PPQ // 2, vel=96))  # fmt: skip
                n += 1
    return ops


def hot_drums_ops(bars: int = 4, prefix: str = "h") -> list[dict[str, Any]]:
    """Two drum tracks at full volume playing the same loud beat, master gain up: a mix
    that clips without a limiter."""
    p = prefix
    ops: list[dict[str, Any]] = _set("project", master_gain=2.0)
    for i in range(2):
        ops.append(_ins("track", f"{p}d{i}", name=f"Drums {i + 1}", kind="drums", volume=2.0))
        ops.append(
            _ins(
                "pattern",
                f"{p}p{i}",
                track=f"{p}d{i}",
                length=16,
                steps_per_beat=4,
                lanes=[
                    {"sound": 36, "steps": [127, 0, 0, 0] * 4},
                    {"sound": 38, "steps": [0, 0, 127, 0] * 4},
                ],
            )
        )
        for bar in range(bars):
            ops.append(_ins("clip", f"{p}c{i}-{bar}", track=f"{p}d{i}", pattern=f"{p}p{i}",
                            start=bar * BAR))  # fmt: skip
    return ops
