"""What an Opus packet holds, read from its first bytes (RFC 6716, section 3.1).

Pass-through forwards a sender's packets without decoding them, but the
outgoing stream still needs each packet's duration to keep its RTP timeline
continuous. The table-of-contents byte says it: the configuration (mode,
bandwidth and frame size) and how many frames the packet carries.
"""

from __future__ import annotations

__all__ = ["packet_samples"]

# Frame size in 48 kHz samples for each of the 32 configurations: SILK (0-11)
# 10/20/40/60 ms, hybrid (12-15) 10/20 ms, CELT (16-31) 2.5/5/10/20 ms.
_SILK = (480, 960, 1920, 2880)
_HYBRID = (480, 960)
_CELT = (120, 240, 480, 960)
FRAME_SAMPLES = tuple(
    _SILK[config % 4] if config < 12 else _HYBRID[config % 2] if config < 16 else _CELT[config % 4]
    for config in range(32)
)
MAX_PACKET_SAMPLES = 5760  # 120 ms: the longest packet Opus allows


def packet_samples(packet: bytes) -> int | None:
    """Samples (at 48 kHz) of audio in `packet`, or None when it is not a valid Opus packet."""
    if not packet:
        return None
    toc = packet[0]
    frame = FRAME_SAMPLES[toc >> 3]
    code = toc & 0b11
    if code == 0:
        count = 1
    elif code in (1, 2):
        count = 2
    else:  # code 3: the frame count is in the next byte
        if len(packet) < 2:
            return None
        count = packet[1] & 0b0011_1111
        if count == 0:
            return None
    total = frame * count
    return total if total <= MAX_PACKET_SAMPLES else None
