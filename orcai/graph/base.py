"""The graph interface every engine adapter implements.

Queries return plain rows (dicts of scalars, lists and maps): never driver node objects,
so FalkorDB and Neo4j answer in the same shape. Cypher stays inside the subset both
engines run (no APOC, no temporal types, no CALL {} subqueries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

Row = dict[str, Any]


@dataclass(frozen=True)
class WriteCounts:
    nodes_created: int = 0
    relationships_created: int = 0
    relationships_deleted: int = 0
    properties_set: int = 0

    def __add__(self, other: "WriteCounts") -> "WriteCounts":
        return WriteCounts(
            self.nodes_created + other.nodes_created,
            self.relationships_created + other.relationships_created,
            self.relationships_deleted + other.relationships_deleted,
            self.properties_set + other.properties_set,
        )

    @property
    def total(self) -> int:
        return (self.nodes_created + self.relationships_created
                + self.relationships_deleted + self.properties_set)


@dataclass(frozen=True)
class IndexSpec:
    label: str
    key: str
    unique: bool = True


class Graph(Protocol):
    """A connection to one graph (FalkorDB graph or Neo4j database)."""

    engine: str

    def read(self, cypher: str, params: dict | None = None) -> list[Row]: ...

    def write(self, cypher: str, params: dict | None = None) -> WriteCounts: ...

    def write_returning(self, cypher: str, params: dict | None = None) -> tuple[WriteCounts, list[Row]]:
        """A write that also returns its rows (what a read after it would have asked)."""
        ...

    def ensure_indexes(self, specs: list[IndexSpec]) -> None: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...
