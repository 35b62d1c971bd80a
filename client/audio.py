"""The SDK's side of the audio room: publish a source, hear your personal mix.

    await s.audio.publish(ToneTrack(440))      # or any aiortc audio track; None: listen only
    async for frame in s.audio.mix():          # mono float32, 10 ms per frame, 48 kHz
        ...
    await s.audio.set_gains({other_client: 0.5})
    await s.audio.record_start()               # owners: server-side multitrack recording

Signalling (the WebRTC offer and answer) travels over the session's websocket;
the server answers and mixes. Frames are numpy arrays, so a bot never touches
aiortc unless it brings its own track. Whatever the source, what leaves is
10 ms low-delay Opus (`server/audio/opus.py`), the room's own frame size.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from backline.media.frames import DEFAULT_FRAME_MS as FRAME_MS
from backline.media.frames import SAMPLE_RATE
from backline.media.ice import Gathering, IceServer, peer_connection, restrict, selected_pair
from backline.media.opus import OpusEncoder
from backline.media.rtc import release_immediately, to_frame, to_mono
from backline.protocol.errors import error_for_code
from backline.protocol.messages import ClientType

__all__ = [
    "FRAME",
    "FRAME_MS",
    "SAMPLE_RATE",
    "ArrayTrack",
    "EncodingTrack",
    "SessionAudio",
    "ToneTrack",
]

log = logging.getLogger("backline.audio")

FRAME = SAMPLE_RATE * FRAME_MS // 1000  # 480 samples: the room's frame
Samples = npt.NDArray[np.float32]


class ArrayTrack(MediaStreamTrack):
    """An outgoing track that plays `produce(k)` as its k-th frame (`FRAME` samples,
    10 ms), in real time."""

    kind = "audio"

    def __init__(self, produce: Callable[[int], Samples]) -> None:
        super().__init__()
        self._produce = produce
        self._k = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._k * FRAME / SAMPLE_RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # real-time pacing of a generated signal
        frame = to_frame(self._produce(self._k), self._k * FRAME)
        self._k += 1
        return frame


class ToneTrack(ArrayTrack):
    """A sine tone: the simplest thing to recognise at the far end."""

    def __init__(self, frequency: float, level: float = 0.25) -> None:
        def produce(k: int) -> Samples:
            t = (np.arange(FRAME) + k * FRAME) / SAMPLE_RATE
            tone: Samples = (level * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
            return tone

        super().__init__(produce)


class EncodingTrack(MediaStreamTrack):
    """Wraps any audio source: its frames, mixed to mono and re-cut into 10 ms,
    leave as low-delay Opus packets (aiortc sends packets as they are).

    A source with 10 ms frames costs no extra delay; a source with longer frames
    (a microphone track at 20 ms, say) is cut in two so its audio leaves as soon
    as each half is complete.
    """

    kind = "audio"

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.source = source
        self._encoder = OpusEncoder(FRAME_MS)
        self._pending: Samples = np.zeros(0, dtype=np.float32)

    async def recv(self) -> av.Packet[Any]:
        while len(self._pending) < FRAME:
            if self.readyState != "live":
                raise MediaStreamError
            frame = await self.source.recv()
            if not isinstance(frame, av.AudioFrame):
                raise MediaStreamError("EncodingTrack needs an audio source")
            if frame.sample_rate != SAMPLE_RATE:
                raise MediaStreamError(f"audio must be {SAMPLE_RATE} Hz, got {frame.sample_rate}")
            mono = to_mono(frame)
            self._pending = np.concatenate((self._pending, mono)) if len(self._pending) else mono
        samples, self._pending = self._pending[:FRAME], self._pending[FRAME:]
        return self._encoder.encode(samples)

    def stop(self) -> None:
        # the connection ending (hung up by the server too) never stops the source: a new
        # connection may go on with it; `SessionAudio` stops it when it is done with it
        super().stop()


class SessionAudio:
    """`s.audio`: this participant's connection to the session's audio room."""

    def __init__(
        self,
        send: Callable[[dict[str, Any]], Awaitable[None]],
        label: str,
        depth: int = 50,
        ice_servers: Callable[[], list[dict[str, Any]]] = list,
    ) -> None:
        self._send = send
        self._label = label
        self._ice_servers = ice_servers  # the welcome's, as they are now
        self.ice: Gathering | None = None
        """`publish`'s `ice` when it is given none (a bot's `--relay-only`)."""
        self._pc: RTCPeerConnection | None = None
        self._answer: asyncio.Future[str] | None = None
        self._frames: asyncio.Queue[tuple[float, Samples]] = asyncio.Queue(maxsize=depth)
        self._reader: asyncio.Task[None] | None = None
        self._source: MediaStreamTrack | None = None
        self._record: tuple[bool, asyncio.Future[dict[str, Any]]] | None = None
        self._again: Callable[[], Awaitable[None]] | None = None  # the last publish, to redo
        self._reoffering: asyncio.Task[None] | None = None
        self.reoffers = 0  # times the server moved the room and this peer offered again

    @property
    def connected(self) -> bool:
        return self._pc is not None and self._pc.connectionState == "connected"

    async def publish(
        self,
        source: MediaStreamTrack | None = None,
        timeout: float = 20.0,
        *,
        edit_offer: Callable[[str], str] | None = None,
        edit_answer: Callable[[str], str] | None = None,
        ice: Gathering | None = None,
    ) -> None:
        """Join the audio room sending `source` (None: listen only); returns once the
        server answered. Calling it again replaces the connection (e.g. after a drop).

        `ice` chooses how this peer gathers candidates (`backline.media.ice`: host
        addresses, a port range, ``relay_only=True``); its STUN/TURN servers, unless
        it names its own, are the ones the server handed out in its welcome.
        `edit_offer` / `edit_answer` may rewrite the SDP on its way (tests use them
        to ask for 20 ms packets, or to route media through an impairment proxy).
        """
        previous, self._source = self._source, None
        await self._hang_up()
        if previous is not None and previous is not source:
            previous.stop()  # replaced by another source
        self._source = source
        self._again = lambda: self.publish(
            source, timeout, edit_offer=edit_offer, edit_answer=edit_answer, ice=ice
        )
        gathering = self._gathering(ice if ice is not None else self.ice)
        pc = peer_connection(gathering)
        self._pc = pc
        if source is not None:
            pc.addTrack(EncodingTrack(source))
        else:
            pc.addTransceiver("audio", direction="recvonly")
        pc.on("track", self._on_track)
        restrict(pc, gathering)  # before setLocalDescription gathers
        await pc.setLocalDescription(await pc.createOffer())
        self._answer = asyncio.get_running_loop().create_future()
        offer = str(pc.localDescription.sdp)
        await self._send(
            {"type": ClientType.RTC.value, "sdp": edit_offer(offer) if edit_offer else offer}
        )
        sdp = await asyncio.wait_for(self._answer, timeout)
        if edit_answer is not None:
            sdp = edit_answer(sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        release_immediately(pc)

    def _gathering(self, ice: Gathering | None) -> Gathering | None:
        servers = tuple(IceServer.from_wire(entry) for entry in self._ice_servers())
        if ice is None:
            return Gathering(servers=servers) if servers else None  # else aiortc's default
        if ice.servers is None and servers:
            return dataclasses.replace(ice, servers=servers)
        return ice

    @property
    def selected(self) -> tuple[str, str] | None:
        """The types of the ICE candidate pair in use (local, remote), e.g.
        ``("relay", "relay")``; None before it connected."""
        pair = None if self._pc is None else selected_pair(self._pc)
        return None if pair is None else (pair[0].type, pair[1].type)

    async def mix(self) -> AsyncIterator[Samples]:
        """My personal mix, frame by frame (waits while nothing arrives)."""
        while True:
            yield (await self._frames.get())[1]

    async def mix_timed(self) -> AsyncIterator[tuple[float, Samples]]:
        """My personal mix as ``(arrived, frame)``: ``arrived`` is when the frame was
        decoded (this machine's monotonic clock, µs; `Clock.to_server` maps it), so
        a reader that falls behind still knows when each frame came."""
        while True:
            yield await self._frames.get()

    async def set_gains(self, gains: dict[str, float]) -> None:
        """How loud each other participant is in my mix (0 to 4; 1 unchanged)."""
        await self._send({"type": ClientType.MIX.value, "gains": gains})

    async def record_start(self, timeout: float = 20.0) -> dict[str, Any]:
        """Start the server-side multitrack recording (owners only).

        Returns the server's `recording` message (``id``, ``time``: server µs of
        sample 0). Raises `Forbidden` for a non-owner, `Conflict` when one is
        already running, `NotFound` when nobody is in the audio room.
        """
        return await self._record_request(True, timeout)

    async def record_stop(self, timeout: float = 20.0) -> dict[str, Any]:
        """Stop the recording; returns the server's `recording` message (``active`` false).

        Raises `NotFound` when none is running, `Forbidden` for a non-owner.
        """
        return await self._record_request(False, timeout)

    async def _record_request(self, start: bool, timeout: float) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._record = (start, future)
        try:
            await self._send(
                {"type": ClientType.RECORD.value, "action": "start" if start else "stop"}
            )
            return await asyncio.wait_for(future, timeout)
        finally:
            self._record = None

    def recording_changed(self, message: dict[str, Any]) -> None:
        """A `recording` message arrived (called by the session)."""
        if self._record is not None:
            start, future = self._record
            if bool(message.get("active")) == start and not future.done():
                future.set_result(message)

    def refused(self, message: dict[str, Any]) -> None:
        """An `error` frame arrived: it answers a pending record request, if any.

        Error frames carry no request id; while a record request waits, the
        next error is taken as its answer.
        """
        if self._record is not None and not self._record[1].done():
            code, text = str(message.get("code")), str(message.get("message"))
            self._record[1].set_exception(error_for_code(code, text))

    async def stop(self) -> None:
        """Leave the audio room: hang up, and stop the source."""
        await self._hang_up()
        if self._source is not None:
            self._source.stop()
            self._source = None
        self._again = None

    async def _hang_up(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._pc is not None:
            await self._pc.close()
            self._pc = None

    def reoffer(self) -> None:
        """The server moved the audio room to another process: connect again, with the
        same source (called by the session; the session itself is not left)."""
        again = self._again
        if again is None or (self._reoffering is not None and not self._reoffering.done()):
            return
        self.reoffers += 1

        async def run() -> None:
            try:
                await again()
            except Exception as exc:  # the room is moving: the next reoffer tries again
                log.warning("audio: offering again failed: %s", exc)

        self._reoffering = asyncio.get_running_loop().create_task(run())

    def answered(self, sdp: str) -> None:
        """The server's answer arrived (called by the session)."""
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(sdp)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._reader = asyncio.get_running_loop().create_task(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.AudioFrame)
                if self._frames.full():
                    self._frames.get_nowait()  # a slow reader hears the newest audio
                self._frames.put_nowait((time.monotonic_ns() / 1000, to_mono(frame)))
