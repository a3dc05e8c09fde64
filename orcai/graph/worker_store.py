"""Each worker's heartbeat: when it last synced, how long it took, its last error."""

from __future__ import annotations

from orcai.graph.base import Graph, Row
from orcai.graph.properties import remove_stale, split_nulls


def write_heartbeat(graph: Graph, worker_name: str, props: dict) -> None:
    """Set the worker's heartbeat properties; a None removes one (the error cleared)."""
    present, unset = split_nulls(props)
    graph.write("MERGE (w:Worker {name: $name}) SET w += $props", {"name": worker_name, "props": present})
    remove_stale(graph, "Worker", "name", [(worker_name, unset)])


def worker_heartbeats(graph: Graph) -> list[Row]:
    """Every worker's last heartbeat (properties of its Worker node)."""
    rows = graph.read("MATCH (w:Worker) RETURN properties(w) AS worker ORDER BY w.name")
    return [row["worker"] for row in rows]
