"""The knowledge graph: one interface (`Graph`), two engines, chosen by URI.

    falkor://host:port/graph            FalkorDB (embedded default)
    bolt://host:port[/database]         Neo4j (also neo4j://, neo4j+s://, bolt+s://)
"""

from __future__ import annotations

from urllib.parse import urlparse

from orcai.config import Settings
from orcai.graph.base import Graph, IndexSpec, Row, WriteCounts

__all__ = ["Graph", "IndexSpec", "Row", "WriteCounts", "connect", "describe_uri"]


def connect(settings: Settings) -> Graph:
    """A lazily-connecting graph for `settings.graph_uri` (no network until first use)."""
    parsed = urlparse(settings.graph_uri)
    password = settings.graph_password.get_secret_value() if settings.graph_password else None
    name = parsed.path.strip("/") or None
    if parsed.scheme.startswith("falkor"):
        from orcai.graph.falkor import FalkorGraph
        return FalkorGraph(parsed.hostname, parsed.port or 6379, name or "orcai",
                           settings.graph_username, password)
    from orcai.graph.neo4j_adapter import Neo4jGraph
    # The driver rejects a path in the URI: the path names the database instead.
    uri = f"{parsed.scheme}://{parsed.netloc.split('@')[-1]}"
    return Neo4jGraph(uri, name, settings.graph_username, password)


def describe_uri(uri: str) -> str:
    """The URI without any credentials in it, safe to log and show."""
    parsed = urlparse(uri)
    return f"{parsed.scheme}://{parsed.hostname}:{parsed.port or ''}{parsed.path}"
