"""Everything that knows websockets' internals: the connection class, its outbox, fan-out.

The rest of the server speaks to connections through `Peer` and the
functions of `fanout` only; a websockets upgrade touches this folder alone.
"""
