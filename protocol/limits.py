"""Every size limit of the protocol and the document, defined once.

The server may be configured with different values (see `Limits`); these are
the defaults and what `docs/PROTOCOL.md` documents.
"""

from __future__ import annotations

from dataclasses import dataclass

from .ratelimit import Rate

__all__ = ["DEFAULT_LIMITS", "Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    max_frame_bytes: int = 512 * 1024  # largest accepted incoming frame
    max_ops_per_batch: int = 1000  # ops in one `op` message
    max_tracks: int = 128
    max_patterns: int = 1024
    max_notes: int = 50_000
    max_clips: int = 10_000
    max_sections: int = 1000
    max_chords: int = 2000
    max_lanes: int = 64  # lanes of one pattern
    max_steps: int = 256  # steps of one pattern
    max_name_len: int = 64  # characters of names, keys, ids
    max_id_len: int = 64
    max_chat_len: int = 1000  # characters of one chat message
    chat_history: int = 50  # chat messages kept and sent on join
    max_presence_bytes: int = 2048  # encoded size of one presence state
    max_tick: int = 960 * 4 * 10_000  # 10,000 bars of 4/4 at 960 PPQ
    max_sessions: int = 1000  # sessions loaded in one server process
    max_clients: int = 100  # participants in one session (owners may always join)
    # token buckets per connection (see ratelimit.py); a rate of 0 means no limit
    edit_rate: float = 200.0  # op, undo, redo and admin messages per second
    edit_burst: int = 1000
    presence_rate: float = 60.0  # presence updates per second (the SDK sends <= 30)
    presence_burst: int = 120
    chat_rate: float = 10.0  # chat messages per second
    chat_burst: int = 30
    ping_rate: float = 10.0  # clock pings per second (the SDK sends a burst of 16, then 1/s)
    ping_burst: int = 50
    rtc_rate: float = 2.0  # audio offers per second
    rtc_burst: int = 10
    mix_rate: float = 30.0  # gain changes per second (coalesced: the latest is applied)
    mix_burst: int = 60
    live_rate: float = 400.0  # live-note events per second (notes, bends, the pedal)
    live_burst: int = 800
    abuse_refusals: int = 100  # rate-limited messages within abuse_window before a close
    abuse_window: float = 20.0  # seconds
    # memory of one session, by bytes (the counts alone let 300 large edits cost 64 MiB)
    catch_up_bytes: int = 8 * 1024 * 1024  # encoded batches kept for catch-up by ops
    undo_bytes: int = 4 * 1024 * 1024  # one identity's undo + redo stacks, encoded
    session_undo_bytes: int = 64 * 1024 * 1024  # every identity's stacks together
    max_identities: int = 1000  # identities with op ids / undo history kept per session

    @property
    def edit(self) -> Rate:
        return Rate(self.edit_rate, self.edit_burst)

    @property
    def presence(self) -> Rate:
        return Rate(self.presence_rate, self.presence_burst)

    @property
    def chat(self) -> Rate:
        return Rate(self.chat_rate, self.chat_burst)

    @property
    def ping(self) -> Rate:
        return Rate(self.ping_rate, self.ping_burst)

    @property
    def rtc(self) -> Rate:
        return Rate(self.rtc_rate, self.rtc_burst)

    @property
    def mix(self) -> Rate:
        return Rate(self.mix_rate, self.mix_burst)

    @property
    def live(self) -> Rate:
        return Rate(self.live_rate, self.live_burst)

    @property
    def abuse(self) -> Rate:
        """Refusals flow out of this bucket; an empty one means abuse."""
        return Rate(self.abuse_refusals / self.abuse_window, self.abuse_refusals)


DEFAULT_LIMITS = Limits()
