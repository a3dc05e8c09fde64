"""FalkorDB adapter (official `falkordb` client): the embedded default engine."""

from __future__ import annotations

import logging

import redis.exceptions
from falkordb import FalkorDB

from orcai.errors import GraphQueryError, GraphUnavailable
from orcai.graph.base import IndexSpec, Row, WriteCounts

log = logging.getLogger(__name__)

_UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                redis.exceptions.BusyLoadingError, ConnectionError, OSError)


class FalkorGraph:
    engine = "falkordb"

    def __init__(self, host: str, port: int, graph_name: str, username: str | None = None,
                 password: str | None = None, timeout_s: float = 30.0):
        self._address = f"{host}:{port}/{graph_name}"
        self._connect_args = dict(host=host, port=port, username=username, password=password,
                                  socket_timeout=timeout_s, socket_connect_timeout=5)
        self._graph_name = graph_name
        self._graph = None  # built lazily: no network in __init__

    def _select(self):
        if self._graph is None:
            self._graph = FalkorDB(**self._connect_args).select_graph(self._graph_name)
        return self._graph

    def _query(self, cypher: str, params: dict | None, read_only: bool):
        try:
            graph = self._select()
            run = graph.ro_query if read_only else graph.query
            return run(cypher, params or {})
        except _UNAVAILABLE as exc:
            self._graph = None  # reconnect on the next call
            raise GraphUnavailable(f"FalkorDB at {self._address} is unreachable ({type(exc).__name__})") from None
        except redis.exceptions.ResponseError as exc:
            raise GraphQueryError(f"FalkorDB rejected a query: {_first_line(exc)}") from None

    def read(self, cypher: str, params: dict | None = None) -> list[Row]:
        result = self._query(cypher, params, read_only=True)
        names = [column[1] for column in result.header]
        return [dict(zip(names, values)) for values in result.result_set]

    def write(self, cypher: str, params: dict | None = None) -> WriteCounts:
        return self.write_returning(cypher, params)[0]

    def write_returning(self, cypher: str, params: dict | None = None) -> tuple[WriteCounts, list[Row]]:
        result = self._query(cypher, params, read_only=False)
        counts = WriteCounts(
            nodes_created=int(result.nodes_created),
            relationships_created=int(result.relationships_created),
            relationships_deleted=int(result.relationships_deleted),
            properties_set=int(result.properties_set),
        )
        names = [column[1] for column in result.header]
        return counts, [dict(zip(names, values)) for values in result.result_set]

    def ensure_indexes(self, specs: list[IndexSpec]) -> None:
        for spec in specs:
            try:
                self.write(f"CREATE INDEX FOR (n:{spec.label}) ON (n.{spec.key})")
            except GraphQueryError as exc:
                if "already indexed" not in str(exc):
                    raise

    def ping(self) -> None:
        self.read("RETURN 1 AS ok")

    def close(self) -> None:
        self._graph = None


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
