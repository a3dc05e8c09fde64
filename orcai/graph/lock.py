"""A lock in the graph with an expiry, so that only one cycle runs at a time.

    lock = GraphLock(graph, "cycle", holder="worker@host:123")
    if lock.acquire():          # False: someone else holds it and it has not expired
        try: ...                # lock.acquire() again extends it during long work
        finally: lock.release()

The lock is a `Lock {name, holder, expires_at}` node. Claiming it is one statement: it
first writes the node (so Neo4j takes its write lock and a concurrent claimer waits for
our commit; FalkorDB runs writes one at a time anyway), then sets the holder only if the
lock is free, already ours, or expired. Reading the holder back tells whether the claim
won: once it did, nobody else can take the lock before `expires_at`. A holder that dies
frees the lock when `expires_at` passes.
"""

from __future__ import annotations

import time

from orcai.graph.base import Graph

DEFAULT_TTL_S = 15 * 60

_ACQUIRE = """
MERGE (l:Lock {name: $name})
SET l.touched_at = $now
WITH l WHERE l.holder IS NULL OR l.holder = $holder OR coalesce(l.expires_at, 0) < $now
SET l.holder = $holder, l.expires_at = $expires
"""
# Only the holder goes: a lock without one is free whatever its expiry, and FalkorDB 4.16.3
# loses other properties when one query removes two (orcai/graph/properties.py).
_RELEASE = "MATCH (l:Lock {name: $name}) WHERE l.holder = $holder SET l.holder = null"
_HOLDER = "MATCH (l:Lock {name: $name}) WHERE coalesce(l.expires_at, 0) >= $now RETURN l.holder AS holder"


class GraphLock:
    def __init__(self, graph: Graph, name: str, holder: str, ttl_s: float = DEFAULT_TTL_S, clock=time.time):
        self.graph, self.name, self.holder, self.ttl_s, self.clock = graph, name, holder, ttl_s, clock

    def acquire(self) -> bool:
        """Take (or extend) the lock; False when another holder has it and it has not expired."""
        now = int(self.clock() * 1000)
        self.graph.write(_ACQUIRE, {"name": self.name, "holder": self.holder, "now": now,
                                    "expires": now + int(self.ttl_s * 1000)})
        return self.current_holder() == self.holder

    def release(self) -> None:
        """Give the lock back (only if we still hold it)."""
        self.graph.write(_RELEASE, {"name": self.name, "holder": self.holder})

    def current_holder(self) -> str | None:
        rows = self.graph.read(_HOLDER, {"name": self.name, "now": int(self.clock() * 1000)})
        return rows[0]["holder"] if rows else None
