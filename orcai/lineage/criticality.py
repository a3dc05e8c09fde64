"""How much depends on every DAG (downstream DAGs) and task (downstream tasks, across
DAGs), recomputed after each sync and stored on the nodes for pages and policies."""

from __future__ import annotations

from orcai.graph import Graph
from orcai.graph import lineage_store as store
from orcai.graph.dag_store import live_dag_ids
from orcai.lineage.algorithms import downstream_counts, task_criticality


def refresh_criticality(graph: Graph) -> int:
    """Recompute and store every DAG's and task's criticality; returns the values changed."""
    task_dag = {row["key"]: row["dag_id"] for row in store.live_tasks_with_dags(graph)}
    feeds = store.asset_feeds(graph)
    dag_flows = {(task_dag[t], consumer) for t, consumer in feeds if t in task_dag}
    dag_scores = downstream_counts(dag_flows, live_dag_ids(graph))
    edges = [(e["up"], e["down"]) for e in store.all_dependency_edges(graph)]
    task_scores = task_criticality(task_dag, edges, feeds)
    return store.write_criticality(graph, "Dag", dag_scores) + store.write_criticality(graph, "Task", task_scores)

