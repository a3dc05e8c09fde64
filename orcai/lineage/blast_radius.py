"""What a failure of a task (or of a whole DAG) hits downstream, most critical first."""

from __future__ import annotations

from dataclasses import dataclass

from orcai.graph import Graph, Row
from orcai.graph import lineage_store as store
from orcai.lineage.walks import downstream_tasks


@dataclass
class BlastRadius:
    """What a failure of `start` hits: tasks, DAGs, assets, external systems, ranked."""

    start: str
    tasks: list[Row]
    dags: list[Row]
    assets: list[str]
    systems: list[str]


def blast_radius(graph: Graph, task_key: str | None = None, dag_id: str | None = None,
                 max_dag_hops: int = 10) -> BlastRadius:
    """Downstream of a task (or of every task of a DAG), with last states and criticality."""
    if (task_key is None) == (dag_id is None):
        raise ValueError("give exactly one of task_key or dag_id")
    start = [task_key] if task_key else store.dag_task_keys(graph, dag_id)
    walk = downstream_tasks(graph, start, max_dag_hops)
    tasks = store.task_details(graph, walk.keys)
    own = store.task_details(graph, start)
    for row in tasks:
        row["hops"], row["via"] = walk.hops[row["key"]], walk.via.get(row["key"])
    tasks.sort(key=lambda r: (-r["criticality"], r["hops"], r["key"]))
    dag_ids = sorted({row["dag_id"] for row in tasks} - ({dag_id} if dag_id else set()))
    dags = store.dag_details(graph, dag_ids)
    assets = sorted({uri for row in own + tasks for uri in row["assets"]})
    systems = sorted({name for row in own + tasks for name in row["systems"] if name})
    return BlastRadius(start=task_key or dag_id, tasks=tasks, dags=dags, assets=assets, systems=systems)
