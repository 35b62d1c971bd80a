"""The document of a session as it was at a version: what a render of ``--version N`` plays.

A live session answers its current version at once. Any other version is
rebuilt from the store's kept log by the history (`server/history.py`): the
nearest milestone, then the entries after it, up to N.
"""

from __future__ import annotations

from backline.protocol.limits import Limits
from backline.protocol.model import Document
from backline.protocol.sequencer import Sequencer
from backline.server.history import History
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
    version it has not reached and for one a trimmed log no longer holds.
    """
    if live is not None and (version is None or version == live.version):
        return live.doc, live.version
    rebuilt = await History(store, limits).rebuild(name, version)
    return rebuilt.sequencer.doc, rebuilt.sequencer.version
