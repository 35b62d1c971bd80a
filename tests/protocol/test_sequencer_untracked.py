"""What a busy sequencer keeps per edit is invisible to the cyclic collector.

A thousand sessions hold up to `snapshot_every` journal rows and `UNDO_DEPTH`
undo entries per client each; as tracked containers they made every older-
generation collection walk them all (90 ms pauses at 1000x2 in the fan-out
benchmark). Tuples of plain values stop being tracked at their first collection.
"""

from __future__ import annotations

import gc

from backline.protocol.entry import EntryKind, LogEntry
from backline.protocol.sequencer import Sequencer


def _tempo(seq: int, bpm: float) -> LogEntry:
    op = {"op": "set", "id": "project", "field": "tempo", "value": bpm}
    return LogEntry(EntryKind.OP, "c1", seq, ops=[op], wall=1_700_000_000_000)


def test_journal_rows_and_undo_entries_are_not_tracked_once_collected() -> None:
    seq = Sequencer()
    for n in range(1, 51):
        seq.apply(_tempo(n, 100.0 + n))
    gc.collect()
    assert len(seq.journal) == 50
    assert not any(gc.is_tracked(row) for row in seq.journal)
    stacks = [h.undo for h in seq._history.values()]
    assert stacks and all(stack for stack in stacks)
    assert not any(gc.is_tracked(entry) for stack in stacks for entry in stack)
    # and the history still reads them as rows: version, by, at, source, summary
    version, by, at, source, summary = seq.take_journal()[-1]
    assert source == "op"
    assert (version, by, at, summary) == (50, "c1", 1_700_000_000_000, "~project")
