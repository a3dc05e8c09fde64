"""The neighbourhood the Lineage page draws: tasks around a DAG or a task, the assets
between them and the external systems they touch, nearest first when capped."""

from __future__ import annotations

from dataclasses import dataclass

from orcai.graph import Graph, Row
from orcai.graph import anomaly_store
from orcai.graph import lineage_store as store
from orcai.lineage.walks import downstream_tasks, upstream_tasks


@dataclass
class LineageView:
    """Nodes and edges around a DAG or a task, ready to draw or to list."""

    nodes: list[dict]
    edges: list[dict]
    hidden: int = 0  # tasks left out to stay under the node cap


def neighbourhood(graph: Graph, dag_id: str | None = None, task_key: str | None = None,
                  depth: int = 1, max_nodes: int = 300) -> LineageView:
    """Tasks of the DAG (or the task), everything up- and downstream within `depth` DAG hops,
    the assets between them and the external systems they touch; nearest first when capped."""
    start = [task_key] if task_key else store.dag_task_keys(graph, dag_id) if dag_id else []
    if not start:
        return LineageView(nodes=[], edges=[])
    down, up = downstream_tasks(graph, start, depth), upstream_tasks(graph, start, depth)
    direction = {**{k: "up" for k in up.hops}, **{k: "down" for k in down.hops}, **{k: "start" for k in start}}
    hops = {**up.hops, **down.hops, **{k: 0 for k in start}}
    ranked = sorted(direction, key=lambda k: (direction[k] != "start", hops[k], k))
    keys = ranked[:max_nodes]
    open_anomalies = anomaly_store.open_anomalies_per_task(graph, keys)
    nodes = [{"id": f"task:{row['key']}", "kind": "task", "label": row["task_id"], "key": row["key"],
              "dag_id": row["dag_id"], "state": row["last_state"], "operator": row["operator"],
              "criticality": row["criticality"], "direction": direction[row["key"]],
              "hops": hops[row["key"]], "anomalies": open_anomalies.get(row["key"], 0)}
             for row in store.task_details(graph, keys)]
    edges = [{"source": f"task:{r['up']}", "target": f"task:{r['down']}", "kind": "DEPENDS_ON"}
             for r in store.dependency_edges_among(graph, keys)]
    add_assets_and_systems(store.asset_and_system_links(graph, keys), nodes, edges)
    return LineageView(nodes=nodes, edges=edges, hidden=len(ranked) - len(keys))


def add_assets_and_systems(rows: list[Row], nodes: list[dict], edges: list[dict]) -> None:
    """Asset, consumer-DAG and system nodes (and their edges) from `asset_and_system_links` rows."""
    seen = {node["id"] for node in nodes}

    def add_node(node_id: str, **props) -> None:
        if node_id not in seen:
            seen.add(node_id)
            nodes.append({"id": node_id, "anomalies": 0, **props})

    def add_edge(source: str, target: str, kind: str) -> None:
        edge = {"source": source, "target": target, "kind": kind}
        if edge not in edges:
            edges.append(edge)

    for row in rows:
        task = f"task:{row['task']}"
        if row["uri"]:
            asset = f"asset:{row['uri']}"
            add_node(asset, kind="asset", label=row["name"] or row["uri"], key=row["uri"])
            add_edge(task, asset, "PRODUCES")
            if row["consumer_root"]:
                add_edge(asset, f"task:{row['consumer_root']}", "TRIGGERS")
            elif row["consumer"]:
                add_node(f"dag:{row['consumer']}", kind="dag", label=row["consumer"], key=row["consumer"])
                add_edge(asset, f"dag:{row['consumer']}", "TRIGGERS")
        if row["system"]:
            system = f"system:{row['system']}"
            add_node(system, kind="system", label=row["system"], key=row["system"], system_kind=row["system_kind"])
            add_edge(f"asset:{row['uri']}" if row["uri"] else task, system,
                     "STORED_IN" if row["uri"] else "USES")
