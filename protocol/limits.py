"""Every size limit of the protocol and the document, defined once.

The server may be configured with different values (see `Limits`); these are
the defaults and what `docs/PROTOCOL.md` documents.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    max_frame_bytes: int = 512 * 1024  # largest accepted incoming frame
    max_ops_per_batch: int = 1000  # ops in one `op` message
    max_tracks: int = 128
    max_patterns: int = 1024
    max_notes: int = 50_000
    max_clips: int = 10_000
    max_lanes: int = 64  # lanes of one pattern
    max_steps: int = 256  # steps of one pattern
    max_name_len: int = 64  # characters of names, keys, ids
    max_id_len: int = 64
    max_chat_len: int = 1000  # characters of one chat message
    chat_history: int = 50  # chat messages kept and sent on join
    max_presence_bytes: int = 2048  # encoded size of one presence state
    max_tick: int = 960 * 4 * 10_000  # 10,000 bars of 4/4 at 960 PPQ


DEFAULT_LIMITS = Limits()
