"""Where sessions live: the `Store` and `Bus` interfaces and their implementations.

`base` (the `Store` protocol and entries), `memory`, `sqlite` (the
embedded default), `redis` (several processes), `bus` (the `Bus` protocol for
presence and chat between processes, in memory), `redis_bus`, and
`redis_client` (connections and error translation shared by the two Redis
implementations). One test suite runs against every store and every bus.
"""
