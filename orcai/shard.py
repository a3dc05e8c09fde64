"""Which DAGs this worker owns when several workers split one deployment (`ORCAI_SHARD=i/n`).

A DAG belongs to exactly one shard, decided by a stable hash of its id (not Python's
`hash()`, which is salted per process), so every worker, on every host and after every
restart, agrees on who owns what. Shard `0/1` (the default) owns everything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    def __post_init__(self):
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard must be i/n with 0 <= i < n, got {self.index}/{self.count}")

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """`"1/4"` -> Shard(1, 4); raises ValueError with the expected form otherwise."""
        index, slash, count = text.strip().partition("/")
        if not slash or not index.isdigit() or not count.isdigit():
            raise ValueError(f"shard must look like i/n (e.g. 0/2), got {text!r}")
        return cls(int(index), int(count))

    @property
    def is_whole(self) -> bool:
        return self.count == 1

    def owns(self, dag_id: str) -> bool:
        return self.is_whole or shard_of(dag_id, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(dag_id: str, count: int) -> int:
    digest = hashlib.blake2b(dag_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count
