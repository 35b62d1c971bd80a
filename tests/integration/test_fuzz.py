"""Fuzzing a live server: 100,000+ generated frames over one real connection.

Hypothesis draws the raw material of each round (values of every msgpack type,
extreme integers and floats, unicode text, ids, nested structures, a seed); a
seeded RNG then expands it into tens of thousands of frames: valid and broken
edits, pings, presence, chat, unknown types, garbage bytes, truncated and
bit-flipped msgpack, text frames, oversized and deeply nested payloads. That
split keeps the run fast enough for CI while hypothesis still decides what goes
in.

Every frame's expected answer is worked out in this process from the pure
protocol (`decode`, `parse_client`, and for edits a model document driven by
`protocol/ops.py`), so the test checks that the server

- answered every bad frame with an error or reject, in order (pings every 40
  frames delimit the answers: nothing may be missing when the pong arrives);
- accepted exactly the edits the model accepts and rejected the others with
  the model's code;
- ends with the model's document (fetched by a fresh client);
- sent an observer nothing but well-formed frames whose batches apply cleanly;
- is still alive and healthy.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from backline.protocol.codec import decode, encode
from backline.protocol.errors import BacklineError
from backline.protocol.limits import Limits
from backline.protocol.messages import (
    Batch,
    Chat,
    DeleteSession,
    Hello,
    Kick,
    Lock,
    MixGains,
    OpMessage,
    Ping,
    Presence,
    Redo,
    SetRole,
    Undo,
    parse_client,
)
from backline.protocol.model import Document
from backline.protocol.ops import apply_all
from backline.protocol.transport import resolve
from backline.testing import RawClient, ServerProcess

MAX_FRAME = 32 * 1024  # small, so oversized frames stay cheap to send
LIMITS = Limits(max_frame_bytes=MAX_FRAME)
ROUNDS = 4  # hypothesis examples, each a fresh session on the same server
FRAMES_PER_ROUND = int(os.environ.get("FUZZ_FRAMES", "26000"))
PING_EVERY = 40  # well under the 100 bad frames in a row that close a connection
WINDOW = 8  # delimiting pings in flight: sending stays ahead of the answers
# the fuzzer sends as fast as it can: rate limits would refuse most of it
SERVER_ARGS = [
    "--max-frame", str(MAX_FRAME), "--sqlite-synchronous", "NORMAL",
    "--edit-rate", "0", "--chat-rate", "0", "--presence-rate", "0",
    "--ping-rate", "0", "--rtc-rate", "0", "--mix-rate", "0",
]  # fmt: skip

_EXTREME_INTS = [0, 1, -1, 127, 128, 255, 256, 2**31 - 1, 2**31, 2**53 - 1, 2**53]
_EXTREME_INTS += [2**63 - 1, -(2**63), 2**64 - 1, -(2**31), 38_400_000, 38_400_001]


# -- what hypothesis draws ------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.sampled_from(_EXTREME_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=80),
    st.binary(max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=20,
)
ids = st.one_of(
    st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True),
    st.text(max_size=70),
    st.sampled_from(["project", "", "x" * 65]),
)
keys = st.one_of(
    st.sampled_from(
        ["type", "seq", "ops", "op", "id", "field", "value", "kind", "index", "at", "text",
         "state", "t0", "rtt", "name", "token", "session", "cursor", "gains", "sdp", "beat"]
    ),
    st.text(max_size=16),
)  # fmt: skip


@dataclass
class Material:
    """One round's raw material, drawn by hypothesis."""

    seed: int
    values: list[Any]
    ids: list[str]
    keys: list[str]
    texts: list[str]
    numbers: list[Any]


@st.composite
def materials(draw: st.DrawFn) -> Material:
    return Material(
        seed=draw(st.integers(0, 2**32 - 1)),
        values=draw(st.lists(values, min_size=20, max_size=120)),
        ids=draw(st.lists(ids, min_size=5, max_size=40)),
        keys=draw(st.lists(keys, min_size=5, max_size=40)),
        texts=draw(st.lists(st.text(max_size=1100), min_size=5, max_size=40)),
        numbers=draw(
            st.lists(
                st.one_of(
                    st.integers(-(2**63), 2**64 - 1),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(_EXTREME_INTS),
                ),
                min_size=5,
                max_size=40,
            )
        ),
    )


# -- the model: what the server must answer -------------------------------------


@dataclass
class Model:
    """The session as the protocol says it must be: applied only the accepted edits."""

    doc: Document = field(default_factory=lambda: Document(LIMITS))
    version: int = 0
    last_seq: int = 0
    accepted_seqs: list[int] = field(default_factory=list)

    def decide(self, seq: int, ops: list[Any]) -> tuple[str, list[Any] | None]:
        """("accept", the batch's ops) or (error code, None), as the sequencer must."""
        if seq <= self.last_seq:
            return "duplicate", None
        try:
            resolved = resolve(self.doc, _copy(ops), 0, 200_000)
            apply_all(self.doc, _copy(resolved))
        except BacklineError as exc:
            return exc.code.value, None
        self.version += 1
        self.last_seq = seq
        self.accepted_seqs.append(seq)
        return "accept", resolved


def _copy(value: Any) -> Any:
    """A deep copy that copes with the 1000-deep nesting msgpack lets through."""
    return msgpack.unpackb(msgpack.packb(value, use_bin_type=True), raw=False)


@dataclass(frozen=True)
class Expect:
    """The answer one frame must get."""

    kind: str  # error | reject | pong | chat | edit (asynchronous) | none
    code: str = ""
    seq: int = 0
    detail: Any = None  # pong t0, chat text, or the accepted batch's ops


def expectation(raw: bytes | str, model: Model) -> Expect | None:
    """What the server must answer `raw` with; None for frames this test never sends."""
    if isinstance(raw, str):
        return Expect("error", "bad_frame")
    if len(raw) > 4 * MAX_FRAME:
        return None  # the websocket layer closes the connection (tested separately)
    message: dict[str, Any] | None = None
    try:
        message = decode(raw, LIMITS)
        parsed = parse_client(message, LIMITS)
    except BacklineError as exc:
        seq = message.get("seq") if message and message["type"] in ("op", "undo", "redo") else None
        if type(seq) is int:
            return Expect("reject", exc.code.value, seq)
        return Expect("error", exc.code.value)
    if isinstance(parsed, Ping):
        return Expect("pong", detail=parsed.t0)
    if isinstance(parsed, Chat):
        return Expect("chat", detail=parsed.text)
    if isinstance(parsed, Presence):
        return Expect("none")
    if isinstance(parsed, Hello):
        return Expect("error", "already_joined")
    if isinstance(parsed, MixGains):
        return Expect("error", "not_found")  # never joined the audio room
    if isinstance(parsed, Kick | SetRole | Lock | DeleteSession):
        return Expect("error", "forbidden")  # the fuzzer is an editor, not an owner
    if isinstance(parsed, Undo | Redo):
        if parsed.seq > model.last_seq:
            return None  # a real undo would need an undo model; only duplicates are sent
        return Expect("edit", "duplicate", parsed.seq)
    if isinstance(parsed, OpMessage):
        verdict, ops = model.decide(parsed.seq, parsed.ops)
        return Expect("edit", verdict, parsed.seq, ops)
    # bye ends the connection, an offer starts WebRTC, and messages added later (owners'
    # controls) need a model of their own: none of those is sent here
    return None


# -- the frame generator ----------------------------------------------------------


class Frames:
    """Expands one round's material into frames with a seeded RNG."""

    def __init__(self, material: Material, model: Model) -> None:
        self.m = material
        self.model = model
        self.rng = random.Random(material.seed)
        self.next_seq = 1
        self.counter = 0

    # building blocks

    def value(self) -> Any:
        return _copy(self.rng.choice(self.m.values))

    def number(self) -> Any:
        return self.rng.choice(self.m.numbers)

    def some_id(self, kind: str | None = None) -> Any:
        doc = self.model.doc
        r = self.rng.random()
        pools = {
            "track": doc.track_order,
            "pattern": sorted(doc.patterns),
            "note": sorted(doc.notes),
            "clip": sorted(doc.clips),
        }
        pool = pools.get(kind or "", [])
        if kind and pool and r < 0.75:
            return self.rng.choice(pool)
        if r < 0.85:
            self.counter += 1
            return f"f:{self.counter}"
        if r < 0.95:
            return self.rng.choice(self.m.ids)
        return self.value()

    def key(self) -> Any:
        """A map key: an id, or now and then a non-string key (msgpack allows, we do not)."""
        found = self.some_id()
        if self.rng.random() < 0.05:
            return self.rng.choice([1, -7, 2.5, None, True, b"bin"])
        return found if isinstance(found, str) else "k"

    def maybe(self, good: Any, p: float = 0.85) -> Any:
        return good if self.rng.random() < p else self.value()

    def seq(self) -> Any:
        r = self.rng.random()
        if r < 0.93:
            self.next_seq += 1
            return self.next_seq
        if r < 0.97:
            return self.rng.choice([0, -1, 2**53, 2**63 - 1, -(2**63), 2**64 - 1])
        return self.wild_seq(self.value())

    @staticmethod
    def wild_seq(value: Any) -> Any:
        """A drawn value as a seq, but never a valid one: that would skip our counter ahead."""
        if type(value) is int and 1 <= value < 2**53:
            return -value
        return value

    # ops

    def op(self) -> Any:
        rng = self.rng
        r = rng.random()
        if r < 0.12:
            value = {"name": self.maybe(rng.choice(self.m.texts)[:64], 0.8)}
            if rng.random() < 0.5:
                value["kind"] = self.maybe(rng.choice(["drums", "instrument", "audio"]))
            if rng.random() < 0.3:
                value["volume"] = self.maybe(round(rng.random() * 2, 3))
            op: dict[str, Any] = {
                "op": "insert",
                "kind": "track",
                "id": self.some_id(),
                "value": value,
            }
            if rng.random() < 0.2:
                op["index"] = self.maybe(rng.randrange(-1, 5))
        elif r < 0.35:
            note = {
                "track": self.some_id("track"),
                "pitch": self.maybe(rng.randrange(128)),
                "start": self.maybe(rng.randrange(0, 38_400_000, 240)),
            }
            if rng.random() < 0.5:
                note["dur"] = self.maybe(rng.randrange(1, 3840))
            if rng.random() < 0.3:
                note["vel"] = self.maybe(rng.randrange(1, 128))
            op = {"op": "insert", "kind": "note", "id": self.some_id(), "value": note}
        elif r < 0.43:
            length = self.maybe(rng.randrange(1, 33))
            pattern: dict[str, Any] = {"track": self.some_id("track"), "length": length}
            if rng.random() < 0.5 and type(length) is int and 0 < length < 300:
                pattern["lanes"] = [
                    {
                        "sound": rng.randrange(128),
                        "steps": [rng.randrange(128) for _ in range(length)],
                    }
                    for _ in range(rng.randrange(3))
                ]
            op = {"op": "insert", "kind": "pattern", "id": self.some_id(), "value": pattern}
        elif r < 0.47:
            clip = {
                "track": self.some_id("track"),
                "pattern": self.some_id("pattern"),
                "start": self.maybe(rng.randrange(0, 100_000)),
            }
            op = {"op": "insert", "kind": "clip", "id": self.some_id(), "value": clip}
        elif r < 0.72:
            op = self.set_op()
        elif r < 0.8:
            kind = rng.choice(["track", "note", "note", "pattern", "clip"])
            op = {"op": "delete", "id": self.some_id(kind)}
        elif r < 0.86:
            op = {"op": "move", "id": self.some_id("track"), "index": self.maybe(rng.randrange(8))}
        elif r < 0.9:
            op = {"op": "batch", "ops": [self.op() for _ in range(rng.randrange(0, 3))]}
        elif r < 0.93:
            # malformed intents only: a valid one would need a model of the server clock
            op = {"op": rng.choice(["stop", "seek", "play"]), "beat": 1, "at": 0}
        else:
            op = {rng.choice(self.m.keys): self.value() for _ in range(rng.randrange(4))}
            if rng.random() < 0.5:
                op["op"] = rng.choice(["set", "insert", "delete", "move", "batch", "nope"])
        if rng.random() < 0.03 and isinstance(op, dict):
            op[rng.choice(self.m.keys)] = self.value()  # an unknown (or clobbered) key
        return op

    def set_op(self) -> dict[str, Any]:
        rng = self.rng
        kind = rng.choice(["project", "track", "track", "note", "pattern", "clip"])
        fields = {
            "project": {
                "name": lambda: rng.choice(self.m.texts)[:70],
                "tempo": lambda: rng.choice([60, 90.5, 120, 999, 19.9, 1000]),
                "swing": lambda: rng.random() * 1.1,
                "meter": lambda: [rng.randrange(0, 34), rng.choice([1, 2, 3, 4, 8])],
                "key": lambda: rng.choice(["C major", "F# minor", "Bb dorian", "H major"]),
                "loop": lambda: {"start": 0, "end": rng.randrange(-10, 20000), "on": True},
                "transport": lambda: {"playing": False, "beat": 0, "time": 0},
            },
            "track": {
                "name": lambda: rng.choice(self.m.texts)[:70],
                "volume": lambda: rng.random() * 2.2,
                "pan": lambda: rng.random() * 2.2 - 1.1,
                "mute": lambda: rng.random() < 0.5,
                "instrument": lambda: rng.randrange(-1, 130),
                "kind": lambda: rng.choice(["drums", "audio", "synth"]),
            },
            "note": {
                "pitch": lambda: rng.randrange(-2, 130),
                "vel": lambda: rng.randrange(0, 129),
                "dur": lambda: rng.randrange(0, 5000),
                "start": lambda: rng.randrange(0, 10_000),
                "track": lambda: self.some_id("track"),
            },
            "pattern": {
                "length": lambda: rng.randrange(0, 40),
                "steps_per_beat": lambda: rng.randrange(0, 18),
                "name": lambda: rng.choice(self.m.texts)[:70],
            },
            "clip": {
                "start": lambda: rng.randrange(-5, 10_000),
                "pattern": lambda: self.some_id("pattern"),
            },
        }[kind]
        target = "project" if kind == "project" else self.some_id(kind)
        if kind == "pattern" and rng.random() < 0.4:
            at = self.maybe([rng.randrange(-1, 4), rng.randrange(-1, 40)])
            return {
                "op": "set",
                "id": target,
                "field": "steps",
                "at": at,
                "value": self.maybe(rng.randrange(128)),
            }
        name = rng.choice([*fields, "bogus"]) if rng.random() < 0.97 else rng.choice(self.m.keys)
        value = fields[name]() if name in fields else self.value()
        return {"op": "set", "id": target, "field": name, "value": self.maybe(value, 0.9)}

    # frames

    def frame(self) -> bytes | str:
        rng = self.rng
        r = rng.random()
        if r < 0.34:
            ops = [self.op() for _ in range(rng.choice([1, 1, 1, 2, 3, 5]))]
            return encode({"type": "op", "seq": self.seq(), "ops": ops})
        if r < 0.40:
            return encode(self.broken_op())
        if r < 0.46:
            t0: Any = rng.random() * 1e12 if rng.random() < 0.7 else self.number()
            ping: dict[str, Any] = {"type": "ping", "t0": t0}
            if rng.random() < 0.3:
                ping["rtt"] = self.number() if rng.random() < 0.5 else rng.random() * 1e5
            return encode(ping)
        if r < 0.52:
            state = self.presence_state()
            return encode({"type": "presence", "state": state})
        if r < 0.57:
            text: Any = rng.choice(self.m.texts) if rng.random() < 0.85 else self.value()
            return encode({"type": "chat", "text": text})
        if r < 0.61:
            return encode(self.undo_redo())
        if r < 0.66:
            return encode(self.odd_message())
        if r < 0.76:
            return self.garbage()
        if r < 0.79:
            return rng.choice(["hello", "", json.dumps({"type": "ping", "t0": 1}), "\x00" * 10])
        if r < 0.8:
            return self.oversized()
        if r < 0.86:
            return self.nested()
        if r < 0.9:
            return self.extreme_numbers()
        if r < 0.93:
            return encode(self.other_types())
        return encode({"type": "op", "seq": self.seq(), "ops": [self.op()]})

    def broken_op(self) -> dict[str, Any]:
        rng = self.rng
        r = rng.random()
        message: dict[str, Any] = {"type": "op", "seq": self.seq(), "ops": [self.op()]}
        if r < 0.2:
            message["ops"] = self.value()
        elif r < 0.3:
            message["ops"] = []
        elif r < 0.35:
            message["ops"] = [{"op": "delete", "id": "x"}] * (LIMITS.max_ops_per_batch + 1)
        elif r < 0.55:
            del message["seq"]
        elif r < 0.7:
            message["seq"] = self.wild_seq(self.value())
        elif r < 0.85:
            message[rng.choice(self.m.keys)] = self.value()
        else:
            del message["ops"]
        return message

    def presence_state(self) -> Any:
        rng = self.rng
        if rng.random() < 0.15:
            return self.value()
        state: dict[str, Any] = {}
        for key in rng.sample(["name", "color", "cursor", "selection", "listening", "playing"], 3):
            good = {
                "name": rng.choice(self.m.texts)[:64] or "n",
                "color": rng.choice(["#ff8800", "#000000", "red", "#12345"]),
                "cursor": {"view": "grid", "x": rng.randrange(100)},
                "selection": [self.some_id("note") for _ in range(rng.randrange(4))],
                "listening": rng.random() < 0.5,
                "playing": rng.random() < 0.5,
            }[key]
            state[key] = self.maybe(good, 0.8)
        if rng.random() < 0.1:
            state[rng.choice(self.m.keys)] = self.value()
        return state

    def undo_redo(self) -> dict[str, Any]:
        rng = self.rng
        kind = rng.choice(["undo", "redo"])
        seqs = self.model.accepted_seqs
        message: dict[str, Any] = {"type": kind, "seq": rng.choice(seqs) if seqs else 0}
        r = rng.random()
        if r < 0.3:
            message["seq"] = self.wild_seq(self.value())
        elif r < 0.45:
            message[rng.choice(self.m.keys)] = 1
        elif r < 0.55:
            del message["seq"]
        return message

    def odd_message(self) -> Any:
        rng = self.rng
        r = rng.random()
        if r < 0.3:
            return {"type": rng.choice(self.m.keys) + "?", "seq": 1}
        if r < 0.5:
            return {"type": self.value(), "x": 1}
        if r < 0.6:
            return {rng.choice(self.m.keys): self.value() for _ in range(3)} | {"tipe": "op"}
        if r < 0.8:
            return self.value()  # any value: a map without type, a list, a scalar
        return [{"type": "ping", "t0": 1}]

    def other_types(self) -> dict[str, Any]:
        rng = self.rng
        r = rng.random()
        if r < 0.3:
            return {"type": "hello", "session": "jam", "token": "x", "name": "again"}
        if r < 0.6:
            gains = {self.key(): self.maybe(rng.random() * 4) for _ in range(rng.randrange(3))}
            return {"type": "mix", "gains": self.maybe(gains)}
        if r < 0.7:
            return {"type": "rtc", "sdp": self.maybe("o=not an offer")}
        if r < 0.9:  # owners' controls, from an editor
            message: dict[str, Any] = {
                "type": rng.choice(["kick", "role", "lock", "delete"]),
                "id": self.maybe(rng.randrange(1, 1000)),
            }
            if message["type"] in ("kick", "role"):
                message["client"] = self.maybe(self.key(), 0.9)
            if message["type"] == "role":
                message["role"] = self.maybe(rng.choice(["owner", "editor", "viewer", "god"]))
            if message["type"] == "lock":
                message["locked"] = self.maybe(rng.random() < 0.5)
            if rng.random() < 0.1:
                message[rng.choice(self.m.keys)] = 1
            return message
        return {"type": "bye", rng.choice(self.m.keys): 1}

    def garbage(self) -> bytes:
        rng = self.rng
        r = rng.random()
        if r < 0.25:
            return rng.randbytes(rng.randrange(0, 200))
        self.next_seq += 1
        base = encode({"type": "op", "seq": self.next_seq, "ops": [self.op()]})
        if r < 0.55:
            return base[: rng.randrange(len(base))]  # truncated
        if r < 0.85:
            flipped = bytearray(base)
            for _ in range(rng.randrange(1, 4)):
                flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
            return bytes(flipped)
        return base + rng.randbytes(rng.randrange(1, 8))  # trailing bytes

    def oversized(self) -> bytes:
        rng = self.rng
        size = rng.randrange(MAX_FRAME + 1, 3 * MAX_FRAME)
        if rng.random() < 0.5:
            return encode({"type": "chat", "text": "x" * size})
        return encode(
            {"type": "op", "seq": self.seq(), "ops": [{"op": "delete", "id": "y"}] * (size // 20)}
        )

    def nested(self) -> bytes:
        rng = self.rng
        depth = rng.choice([50, 500, 1000, 1100, 5000, 20000])
        inner = b"\x91" * depth + b"\xc0" if rng.random() < 0.7 else b"\x81\xa1k" * depth + b"\xc0"
        packer = msgpack.Packer(use_bin_type=True)
        r = rng.random()
        if r < 0.3:
            return inner
        if r < 0.6:  # {"type": "op", "seq": n, "ops": [{"op": "set", ..., "value": <nested>}]}
            head = packer.pack_map_header(3) + packer.pack("type") + packer.pack("op")
            head += packer.pack("seq") + packer.pack(self.seq()) + packer.pack("ops")
            head += packer.pack_array_header(1) + packer.pack_map_header(4)
            head += b"".join(
                packer.pack(x) for x in ("op", "set", "id", "project", "field", "name")
            )
            return head + packer.pack("value") + inner
        head = packer.pack_map_header(2) + packer.pack("type") + packer.pack("presence")
        head += packer.pack("state") + packer.pack_map_header(1) + packer.pack("cursor")
        return head + inner

    def extreme_numbers(self) -> bytes:
        rng = self.rng
        n = self.number()
        r = rng.random()
        if r < 0.25:
            return encode({"type": "ping", "t0": n, "rtt": self.number()})
        if r < 0.5:
            seq = self.wild_seq(n)
            return encode({"type": "op", "seq": seq, "ops": [{"op": "delete", "id": "z"}]})
        if r < 0.75:
            target = self.some_id("note")
            name = rng.choice(["pitch", "start", "dur", "vel"])
            return encode(
                {
                    "type": "op",
                    "seq": self.seq(),
                    "ops": [{"op": "set", "id": target, "field": name, "value": n}],
                }
            )
        return encode(
            {
                "type": "op",
                "seq": self.seq(),
                "ops": [{"op": "set", "id": "project", "field": "tempo", "value": n}],
            }
        )


# -- one round over real connections -------------------------------------------


class Observer:
    """A second member: checks that every frame it gets is valid and applies cleanly."""

    def __init__(self, client: RawClient, welcome: dict[str, Any]) -> None:
        self.client = client
        self.doc = Document.from_data(welcome["snapshot"], LIMITS)
        self.version = welcome["version"]
        self.frames = 0
        self.pongs: asyncio.Queue[float] = asyncio.Queue()

    async def run(self) -> None:
        while True:
            message = await self.client.recv(timeout=120)
            self.frames += 1
            kind = message["type"]
            if kind == "ops":
                for wire in message["batches"]:
                    batch = Batch.from_wire(wire)
                    assert batch.version == self.version + 1, "versions must be gap-free"
                    apply_all(self.doc, batch.ops)  # raises if a broadcast batch is invalid
                    self.version = batch.version
            elif kind == "presence":
                for peer in message["peers"]:
                    assert type(peer["client"]) is str and type(peer["online"]) is bool
                    assert type(peer["name"]) is str and len(peer["name"]) <= LIMITS.max_name_len
            elif kind == "chat":
                assert type(message["text"]) is str
                assert 1 <= len(message["text"]) <= LIMITS.max_chat_len
            elif kind == "pong":
                self.pongs.put_nowait(message["t0"])
            else:
                raise AssertionError(f"the observer got an unexpected frame: {message}")


@dataclass
class Tally:
    frames: int = 0
    bad: int = 0
    accepted: int = 0
    rejected: int = 0


class Round:
    """Sends one round's frames, pipelined, and matches every answer."""

    def __init__(self, fuzzer: RawClient, frames: Frames, model: Model, tally: Tally) -> None:
        self.fuzzer = fuzzer
        self.frames = frames
        self.model = model
        self.tally = tally
        self.me = ""
        self.sync: collections.deque[tuple[int, Expect]] = collections.deque()
        self.edits: dict[int, collections.deque[Expect]] = collections.defaultdict(
            collections.deque
        )
        self.open_edits = 0
        self.window = asyncio.Semaphore(WINDOW)
        self.sent_all = False

    async def send_all(self, count: int) -> None:
        sent = 0
        pings = 0
        while sent < count:
            raw = self.frames.frame()
            expect = expectation(raw, self.model)
            if expect is None:
                continue
            sent += 1
            self.tally.frames += 1
            if expect.kind in ("error", "reject"):
                self.tally.bad += 1
            if expect.kind == "edit":
                self.edits[expect.seq].append(expect)
                self.open_edits += 1
            elif expect.kind != "none":
                self.sync.append((sent, expect))
            await self.fuzzer.ws.send(raw)
            if sent % PING_EVERY == 0 or sent == count:
                await self.window.acquire()
                pings += 1
                self.sync.append((sent, Expect("pong", "window", detail=-float(pings))))
                await self.fuzzer.send({"type": "ping", "t0": -float(pings)})
        self.sent_all = True

    async def receive(self) -> None:
        while not (self.sent_all and not self.sync and self.open_edits == 0):
            message = await self.fuzzer.recv(timeout=120)
            kind = message["type"]
            if kind == "presence":
                continue  # coalesced broadcasts of our own presence: no one-to-one answer
            if kind == "ops":
                for wire in message["batches"]:
                    self.settle_edit(wire["seq"], "accept", wire)
                continue
            if kind == "reject":
                seq, code = message["seq"], message["code"]
                head = self.sync[0][1] if self.sync else None
                boundary = head is not None and (head.kind, head.seq, head.code) == (
                    "reject",
                    seq,
                    code,
                )
                pending = self.edits.get(seq)
                if not boundary and pending and pending[0].code == code:
                    self.settle_edit(seq, code, message)
                    continue
            assert self.sync, f"an answer nobody expects: {message}"
            index, expect = self.sync.popleft()
            assert kind == expect.kind, f"frame {index}: expected {expect}, got {message}"
            if kind in ("error", "reject"):
                assert message["code"] == expect.code, f"frame {index}: {expect} != {message}"
                assert type(message["message"]) is str and message["message"]
            if kind == "reject":
                assert message["seq"] == expect.seq, f"frame {index}: {expect} != {message}"
            if kind == "chat":
                assert message["text"] == expect.detail and message["by"] == self.me
            if kind == "pong":
                t0 = message["t0"]
                assert t0 == expect.detail or (t0 != t0 and expect.detail != expect.detail), (
                    f"frame {index}: {expect} != {message}"
                )
                if expect.code == "window":
                    self.window.release()  # everything sent before it was answered in order

    def settle_edit(self, seq: int, outcome: str, message: dict[str, Any]) -> None:
        queue = self.edits.get(seq)
        assert queue, f"an answer for seq {seq} that nobody expects: {message}"
        # a seq's reject and a later accept of the same seq may share one apply round,
        # whose acknowledgements go out before its rejects: match by outcome
        expect = next((e for e in queue if e.code == outcome), queue[0])
        assert outcome == expect.code, f"edit seq {seq}: expected {expect.code}, got {message}"
        queue.remove(expect)
        if outcome == "accept":
            assert message["by"] == self.me
            assert message["ops"] == expect.detail, f"seq {seq}: {message} != {expect}"
            self.tally.accepted += 1
        else:
            self.tally.rejected += 1
        self.open_edits -= 1
        if not queue:
            del self.edits[seq]


async def fuzz_round(server: ServerProcess, material: Material, session: str, tally: Tally) -> None:
    token = server.token(session)
    model = Model()
    fuzzer = await RawClient.open(server.url)
    watcher = await RawClient.open(server.url)
    watching: asyncio.Task[None] | None = None
    try:
        welcome = await watcher.hello(session, server.token(session, "viewer"), name="observer")
        observer = Observer(watcher, welcome)
        watching = asyncio.create_task(observer.run())
        me = await fuzzer.hello(session, token, name="fuzzer")
        game = Round(fuzzer, Frames(material, model), model, tally)
        game.me = me["client"]
        await asyncio.wait_for(asyncio.gather(game.send_all(FRAMES_PER_ROUND), game.receive()), 300)
        assert not game.edits and not game.sync
        # everything the observer was sent before its pong has been checked by then
        await watcher.send({"type": "ping", "t0": 0.5})
        got_pong = asyncio.ensure_future(observer.pongs.get())
        finished, _ = await asyncio.wait(
            {got_pong, watching}, timeout=60, return_when=asyncio.FIRST_COMPLETED
        )
        if watching in finished:
            got_pong.cancel()
            watching.result()  # raises the observer's assertion
        assert got_pong in finished, "the observer got no pong"
        watching.cancel()
        assert observer.version == model.version
        assert observer.doc.to_data() == model.doc.to_data()
        late = await RawClient.open(server.url)
        try:
            fresh = await late.hello(session, token, name="late")
            assert fresh["version"] == model.version
            assert fresh["snapshot"] == model.doc.to_data()
        finally:
            await late.ws.close()
    finally:
        if watching is not None:
            watching.cancel()
        await fuzzer.ws.close()
        await watcher.ws.close()


def health(server: ServerProcess) -> dict[str, Any]:
    with urllib.request.urlopen(server.http_url + "/healthz", timeout=10) as response:
        assert response.status == 200
        body: dict[str, Any] = json.loads(response.read())
        return body


async def before_hello(server: ServerProcess, seed: int, tally: Tally) -> None:
    """Fuzzed frames before `hello`: each answered (mostly `not_joined`), then a join works."""
    frames = Frames(
        Material(
            seed, [None, 1, "x", [1], {"a": b"\x00"}], ["t"], ["type", "x"], ["hi"], [0, 2**64 - 1]
        ),
        Model(),
    )
    client = await RawClient.open(server.url)
    try:
        sent = 0
        while sent < 90:  # below the 100 bad frames in a row that close the connection
            raw = frames.frame()
            expect = expectation(raw, Model())
            if expect is None or (isinstance(raw, bytes) and _is_hello(raw)):
                continue
            if expect.kind not in ("error", "reject"):  # a valid message, but before hello
                assert isinstance(raw, bytes)
                message = decode(raw, LIMITS)
                seq = message.get("seq")
                edit = message["type"] in ("op", "undo", "redo") and type(seq) is int
                expect = (
                    Expect("reject", "not_joined", seq) if edit else Expect("error", "not_joined")
                )
            await client.ws.send(raw)
            sent += 1
            answer = await client.recv()
            assert (answer["type"], answer["code"]) == (expect.kind, expect.code), (raw, answer)
        tally.frames += sent
        tally.bad += sent
        welcome = await client.hello("early", server.token("early"), name="late")
        assert welcome["version"] == 0
    finally:
        await client.ws.close()


def _is_hello(raw: bytes) -> bool:
    try:
        return decode(raw, LIMITS)["type"] == "hello"
    except BacklineError:
        return False


async def oversized_beyond_websocket_limit(server: ServerProcess) -> int | None:
    """A frame above 4 x --max-frame: the websocket layer closes with 1009."""
    client = await RawClient.open(server.url)
    await client.hello("big", server.token("big"), name="big")
    await client.send(b"\x00" * (4 * MAX_FRAME + 1))
    try:
        while True:
            await client.recv(timeout=30)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


@pytest.mark.timeout(900)  # about a minute when the machine is quiet
def test_fuzz_100k_frames_server_survives_and_document_is_exact(tmp_path: Path) -> None:
    """100,000+ fuzzed frames: every bad one answered, the document equals the model's."""
    server = ServerProcess(
        tmp_path / "data",
        extra_args=SERVER_ARGS,
    ).start()
    tally = Tally()
    rounds = iter(range(ROUNDS))
    try:

        @settings(
            max_examples=ROUNDS,
            deadline=None,
            database=None,
            phases=[Phase.generate],  # no shrinking: a failure names its seed and frame
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
                HealthCheck.large_base_example,
            ],
        )
        @given(material=materials())
        def one_round(material: Material) -> None:
            session = f"fuzz{next(rounds)}"
            asyncio.run(fuzz_round(server, material, session, tally))

        one_round()
        assert server.proc is not None and server.proc.poll() is None, "the server died"
        assert health(server)["status"] == "ok"
        asyncio.run(before_hello(server, 5, tally))
        assert asyncio.run(oversized_beyond_websocket_limit(server)) == 1009
        assert health(server)["status"] == "ok"
    finally:
        print(
            f"\nfuzz: {tally.frames} frames sent, {tally.bad} bad frames answered with "
            f"error/reject, {tally.accepted} edits accepted, {tally.rejected} edits rejected"
        )
        server.stop()
    assert tally.frames >= 100_000
    assert tally.accepted > 1000 and tally.rejected > 1000
