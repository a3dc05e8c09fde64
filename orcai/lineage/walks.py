"""Walks up- and downstream from tasks, inside their DAGs and across DAGs through assets.

A DAG scheduled on an asset runs whole when the asset updates, so every task of a
consumer DAG is downstream of the producer: past the first hop a walk is over DAGs, not
tasks. Each DAG hop is one query, so depth is bounded and no query is built from input.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from orcai.graph import Graph
from orcai.graph import lineage_store as store
from orcai.lineage.algorithms import reachable


@dataclass
class Walk:
    """Tasks reached from a start, with how many DAG hops away and through which asset."""

    hops: dict[str, int] = field(default_factory=dict)
    via: dict[str, str] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        return sorted(self.hops)


class _TaskEdges:
    """DEPENDS_ON edges of the DAGs a walk has touched, fetched once per DAG."""

    def __init__(self, graph: Graph):
        self._graph, self._dags = graph, set()
        self.upstream_of: dict[str, set] = defaultdict(set)
        self.downstream_of: dict[str, set] = defaultdict(set)

    def load(self, dag_ids: set[str]) -> None:
        new = sorted(dag_ids - self._dags)
        if not new:
            return
        for row in store.dependency_edges_of_dags(self._graph, new):
            self.upstream_of[row["task"]].add(row["upstream"])
            self.downstream_of[row["upstream"]].add(row["task"])
        self._dags.update(new)

    def inside(self, keys: list[str], adjacency: dict[str, set]) -> set[str]:
        return set().union(*(reachable(adjacency, key) for key in keys)) if keys else set()


def downstream_tasks(graph: Graph, task_keys: list[str], max_dag_hops: int = 10) -> Walk:
    """Every task downstream of `task_keys`, in their DAGs and across DAGs through assets."""
    walk = Walk()
    own_dags = store.dags_of_tasks(graph, task_keys)
    edges = _TaskEdges(graph)
    edges.load(own_dags)
    inside = edges.inside(task_keys, edges.downstream_of) - set(task_keys)
    walk.hops.update({key: 0 for key in inside})
    dag_hops: dict[str, tuple[int, str]] = {}
    frontier = store.consumers_of_tasks(graph, sorted(set(task_keys) | inside)) if max_dag_hops else []
    for hop in range(1, max_dag_hops + 1):
        fresh = {r["dag_id"]: r["via"] for r in frontier if r["dag_id"] not in dag_hops}
        if not fresh:
            break
        dag_hops.update({dag_id: (hop, via) for dag_id, via in fresh.items()})
        if hop < max_dag_hops:
            frontier = store.consumers_of_dags(graph, sorted(fresh))
    for row in store.tasks_of_dags(graph, sorted(dag_hops)) if dag_hops else []:
        if row["key"] not in task_keys and not (row["dag_id"] in own_dags and row["key"] in walk.hops):
            walk.hops.setdefault(row["key"], dag_hops[row["dag_id"]][0])
            walk.via.setdefault(row["key"], dag_hops[row["dag_id"]][1])
    return walk


def upstream_tasks(graph: Graph, task_keys: list[str], max_dag_hops: int = 10) -> Walk:
    """Every task upstream of `task_keys`, in their DAGs and across DAGs through assets.

    Across DAGs, a DAG scheduled on an asset waits for the task producing it, and so for
    that task's own upstream: the walk goes DAG by DAG, one pair of queries per hop."""
    walk, start = Walk(), set(task_keys)
    frontier = store.dags_of_tasks(graph, task_keys)
    edges = _TaskEdges(graph)
    edges.load(frontier)
    walk.hops.update({key: 0 for key in edges.inside(task_keys, edges.upstream_of) - start})
    seen_dags = set(frontier)
    for hop in range(1, max_dag_hops + 1):
        producers = [row for row in store.producers_for_dags(graph, sorted(frontier))
                     if row["key"] not in walk.hops and row["key"] not in start]
        if not producers:
            break
        edges.load({row["dag_id"] for row in producers})
        for row in producers:
            for key in {row["key"]} | edges.inside([row["key"]], edges.upstream_of):
                if key not in start and key not in walk.hops:
                    walk.hops[key], walk.via[key] = hop, row["via"]
        frontier = {row["dag_id"] for row in producers} - seen_dags
        seen_dags |= frontier
        if not frontier:
            break
    return walk
