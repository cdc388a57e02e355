"""Everything about talking to Lingma: framing, RPC, processes, streams and the pool.

Nothing in this package imports Flask or knows about HTTP.
"""
