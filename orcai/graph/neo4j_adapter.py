"""Neo4j adapter (official `neo4j` driver): the production engine.

It also runs against FalkorDB's experimental Bolt listener, which is how the contract
tests exercise it here (what works there: tests/integration/test_graph_contract.py).
"""

from __future__ import annotations

import logging

import neo4j
import neo4j.exceptions

from orcai.errors import GraphQueryError, GraphUnavailable
from orcai.graph.base import IndexSpec, Row, WriteCounts

log = logging.getLogger(__name__)

_UNAVAILABLE = (neo4j.exceptions.ServiceUnavailable, neo4j.exceptions.SessionExpired,
                neo4j.exceptions.AuthError, OSError)


class Neo4jGraph:
    engine = "neo4j"

    def __init__(self, uri: str, database: str | None, username: str | None = None,
                 password: str | None = None, timeout_s: float = 30.0):
        self._uri, self._database = uri, database
        self._auth = (username or "neo4j", password or "")
        self._timeout_s = timeout_s
        self._driver = None  # built lazily: no network in __init__

    def _run(self, cypher: str, params: dict | None, routing: neo4j.RoutingControl):
        try:
            if self._driver is None:
                self._driver = neo4j.GraphDatabase.driver(
                    self._uri, auth=self._auth, connection_timeout=5,
                    connection_acquisition_timeout=self._timeout_s,
                    # The driver retries a failed transaction for 30 s by default; an
                    # outage must cost the worker one short cycle, not a long block.
                    max_transaction_retry_time=5)
            return self._driver.execute_query(
                cypher, params or {}, database_=self._database, routing_=routing)
        except neo4j.exceptions.AuthError:
            raise GraphUnavailable(f"Neo4j at {self._uri} refused the credentials (check ORCAI_GRAPH_USERNAME / ORCAI_GRAPH_PASSWORD)") from None
        except _UNAVAILABLE as exc:
            self.close()
            raise GraphUnavailable(f"Neo4j at {self._uri} is unreachable ({type(exc).__name__})") from None
        except neo4j.exceptions.Neo4jError as exc:
            raise GraphQueryError(f"Neo4j rejected a query: {exc.message or exc.code}") from None

    def read(self, cypher: str, params: dict | None = None) -> list[Row]:
        records, _, _ = self._run(cypher, params, neo4j.RoutingControl.READ)
        return [record.data() for record in records]

    def write(self, cypher: str, params: dict | None = None) -> WriteCounts:
        return self.write_returning(cypher, params)[0]

    def write_returning(self, cypher: str, params: dict | None = None) -> tuple[WriteCounts, list[Row]]:
        records, summary, _ = self._run(cypher, params, neo4j.RoutingControl.WRITE)
        counters = summary.counters
        return WriteCounts(
            nodes_created=counters.nodes_created,
            relationships_created=counters.relationships_created,
            relationships_deleted=counters.relationships_deleted,
            properties_set=counters.properties_set,
        ), [record.data() for record in records]

    def ensure_indexes(self, specs: list[IndexSpec]) -> None:
        for spec in specs:
            name = f"orcai_{spec.label.lower()}_{spec.key}"
            try:
                if spec.unique:
                    self.write(f"CREATE CONSTRAINT {name} IF NOT EXISTS "
                               f"FOR (n:{spec.label}) REQUIRE n.{spec.key} IS UNIQUE")
                else:
                    self.write(f"CREATE INDEX {name} IF NOT EXISTS FOR (n:{spec.label}) ON (n.{spec.key})")
            except GraphQueryError:
                self._plain_index(spec)

    def _plain_index(self, spec: IndexSpec) -> None:
        """FalkorDB's Bolt listener knows neither constraints nor IF NOT EXISTS: a plain
        index, where 'already indexed' comes back as an error worth ignoring."""
        try:
            self.write(f"CREATE INDEX FOR (n:{spec.label}) ON (n.{spec.key})")
        except GraphQueryError:
            log.debug("index on %s.%s not created (exists already?)", spec.label, spec.key)

    def ping(self) -> None:
        self.read("RETURN 1 AS ok")

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None
