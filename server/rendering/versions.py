"""The document of a session as it was at a version: what a render of ``--version N`` plays.

A live session answers its current version at once. Any other version is
replayed from the store: its snapshot, then the log's entries up to N. The
store keeps the log from its last snapshot on (`storage.base`), so a version
before that snapshot is reported as no longer kept rather than guessed.
"""

from __future__ import annotations

from backline.protocol.codec import decode_record
from backline.protocol.entry import EntryKind
from backline.protocol.errors import BacklineError, NotFound
from backline.protocol.limits import Limits
from backline.protocol.model import Document
from backline.protocol.sequencer import Control, Sequencer
from backline.server.storage.base import Store

__all__ = ["document_at"]


async def document_at(
    store: Store,
    name: str,
    version: int | None,
    limits: Limits,
    live: Sequencer | None = None,
) -> tuple[Document, int]:
    """The document of session `name` at `version` (None: the latest) and that version:
    the live one itself when that is the version asked (read it before the next await).

    Raises `NotFound` for a session that was never edited or stored, for a
    version it has not reached and for one older than what the store keeps.
    """
    if live is not None and (version is None or version == live.version):
        return live.doc, live.version
    loaded = await store.load(name)
    if loaded is None:
        if live is not None:  # live, never stored: only its current version exists
            raise NotFound(f"session {name} has no version {version} (it is at v{live.version})")
        raise NotFound(f"no session named {name}")
    sequencer = Sequencer(limits, 1)
    if loaded.snapshot is not None:
        sequencer.restore(decode_record(loaded.snapshot))
    if version is not None and version < sequencer.version:
        raise NotFound(
            f"version {version} of {name} is no longer kept: the store's log starts at"
            f" v{sequencer.version}"
        )
    for entry in loaded.entries:
        if version is not None and sequencer.version == version:
            break
        try:
            result = sequencer.apply_entry(decode_record(entry.data))
        except BacklineError:
            continue  # a rejected edit: no version
        if isinstance(result, Control) and result.kind is EntryKind.DELETE:
            sequencer = Sequencer(limits, 1)  # the session was deleted: what follows is new
    if version is not None and sequencer.version != version:
        raise NotFound(f"session {name} has no version {version} (it is at v{sequencer.version})")
    return sequencer.doc, sequencer.version
