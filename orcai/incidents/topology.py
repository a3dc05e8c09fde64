"""The lineage an incident is judged on, as plain data: tasks, their DAGs, DEPENDS_ON inside
DAGs, assets produced and DAGs scheduled on them, external systems and criticality. No I/O.

Across DAGs, a DAG scheduled on an asset waits for the task producing it, so every task of
the consumer is downstream of the producer (the same rule as orcai.lineage.walks).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

from orcai.lineage.algorithms import inverted, reachable


@dataclass
class Topology:
    task_dag: dict[str, str] = field(default_factory=dict)  # task key -> dag_id
    upstream: dict[str, set[str]] = field(default_factory=dict)  # task key -> direct upstream task keys
    produces: dict[str, set[str]] = field(default_factory=dict)  # task key -> asset uris
    scheduled_on: dict[str, set[str]] = field(default_factory=dict)  # dag_id -> asset uris it waits on
    systems: dict[str, set[str]] = field(default_factory=dict)  # task key -> external systems it uses
    pools: dict[str, str] = field(default_factory=dict)  # task key -> pool
    criticality: dict[str, int] = field(default_factory=dict)  # dag_id -> DAGs downstream

    @cached_property
    def tasks_of(self) -> dict[str, set[str]]:
        tasks: dict[str, set[str]] = defaultdict(set)
        for key, dag in self.task_dag.items():
            tasks[dag].add(key)
        return tasks

    @cached_property
    def producers(self) -> dict[str, set[str]]:
        """asset uri -> tasks producing it"""
        return inverted(self.produces)

    @cached_property
    def consumers(self) -> dict[str, set[str]]:
        """asset uri -> DAGs scheduled on it"""
        return inverted(self.scheduled_on)

    @cached_property
    def _up_graph(self) -> dict[str, set[str]]:
        """Nodes are task keys and `dag:<id>`; an edge points upstream. A DAG node stands
        for 'the DAG's run as a whole': every task of it is downstream of its DAG node,
        which is downstream of the producers of the assets it is scheduled on."""
        graph: dict[str, set[str]] = defaultdict(set)
        for task, ups in self.upstream.items():
            graph[task] |= ups
        for task, dag in self.task_dag.items():
            graph[task].add(f"dag:{dag}")
        for dag, uris in self.scheduled_on.items():
            for uri in uris:
                graph[f"dag:{dag}"] |= self.producers.get(uri, set())
        return graph

    @cached_property
    def _down_graph(self) -> dict[str, set[str]]:
        return inverted(self._up_graph)

    def upstream_of(self, node: str) -> set[str]:
        """Every node (task key or `dag:<id>`) upstream of `node`, across DAGs."""
        return reachable(self._up_graph, node)

    def downstream_of(self, node: str) -> set[str]:
        return reachable(self._down_graph, node)

    def dag_of(self, node: str) -> str | None:
        return node[4:] if node.startswith("dag:") else self.task_dag.get(node)

    def blast(self, nodes: set[str]) -> tuple[list[str], list[str]]:
        """DAGs and assets downstream of `nodes` (themselves included), most critical first.
        The same as walking `downstream_of` each node, but a DAG reached through an asset is
        walked once per Topology, not once per node: the Anomalies page asks this for
        thousands of tasks, and their reaches overlap."""
        dags, assets = set(), set()
        for node in nodes:
            node_dags, node_assets = self._reach(node)
            dags |= node_dags
            assets |= node_assets
        return self.rank_dags(dags), sorted(assets)

    def _reach(self, node: str) -> tuple[set[str], set[str]]:
        """DAGs and assets downstream of one node: the tasks after it (DEPENDS_ON stays
        inside a DAG in the graph model) and, through the assets those produce, whole DAGs,
        each walked once per Topology (`_dag_reach`)."""
        if node.startswith("dag:"):
            tasks, entered = set(), {node[4:]}
        else:
            tasks = {node} | reachable(self._task_down, node)
            entered = {dag for t in tasks for uri in self.produces.get(t, ()) for dag in self.consumers.get(uri, ())}
        whole = set().union(*(self._dag_reach(dag) for dag in entered))
        dags = {self.task_dag[t] for t in tasks if t in self.task_dag} | whole
        assets = {uri for t in tasks for uri in self.produces.get(t, ())}
        assets.update(*(self._dag_assets.get(dag, ()) for dag in whole))
        return dags, assets

    def _dag_reach(self, dag: str) -> frozenset[str]:
        if dag not in self._dag_reach_memo:
            self._dag_reach_memo[dag] = frozenset({dag} | reachable(self._dag_down, dag))
        return self._dag_reach_memo[dag]

    @cached_property
    def _dag_reach_memo(self) -> dict[str, frozenset[str]]:
        return {}

    @cached_property
    def _task_down(self) -> dict[str, set[str]]:
        """task key -> the tasks directly after it"""
        return inverted(self.upstream)

    @cached_property
    def _dag_down(self) -> dict[str, set[str]]:
        """dag_id -> the DAGs scheduled on an asset one of its tasks produces"""
        graph: dict[str, set[str]] = defaultdict(set)
        for task, uris in self.produces.items():
            for uri in uris:
                if task in self.task_dag:
                    graph[self.task_dag[task]] |= self.consumers.get(uri, set())
        return graph

    @cached_property
    def _dag_assets(self) -> dict[str, set[str]]:
        """dag_id -> the assets its tasks produce"""
        out: dict[str, set[str]] = defaultdict(set)
        for task, uris in self.produces.items():
            if task in self.task_dag:
                out[self.task_dag[task]] |= uris
        return out

    def rank_dags(self, dags) -> list[str]:
        return sorted(dags, key=lambda d: (-self.criticality.get(d, 0), d))


def topology_from_rows(rows: dict[str, list[dict]]) -> Topology:
    """orcai.graph.incident_store.estate() rows → a Topology."""
    topo = Topology()
    for row in rows.get("tasks", []):
        topo.task_dag[row["key"]] = row["dag_id"]
        if row.get("pool"):
            topo.pools[row["key"]] = row["pool"]
        topo.criticality[row["dag_id"]] = int(row.get("criticality") or 0)
    for row in rows.get("edges", []):
        topo.upstream.setdefault(row["down"], set()).add(row["up"])
    for row in rows.get("produces", []):
        topo.produces.setdefault(row["task"], set()).add(row["uri"])
    for row in rows.get("scheduled_on", []):
        topo.scheduled_on.setdefault(row["dag_id"], set()).add(row["uri"])
    for row in rows.get("systems", []):
        if row.get("name"):
            topo.systems.setdefault(row["task"], set()).add(row["name"])
    return topo
