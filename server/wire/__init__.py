"""Everything that knows websockets' internals: the connection class, its outbox, fan-out.

The rest of the server speaks to connections through `Peer` and the
functions of `fanout` only. `connection` relies on websockets' private parts
(the protocol's parser state, its frame reader, its flow-control callbacks),
so pyproject.toml pins websockets to the minor version they were written
against: an upgrade touches this folder alone, and tests/integration/test_wire.py
and test_budgets.py check what it relies on.
"""
