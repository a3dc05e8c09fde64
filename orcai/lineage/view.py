"""The neighbourhood the Lineage page draws: tasks around a DAG or a task, the assets
between them and the external systems they touch, nearest first when capped."""

from __future__ import annotations

from dataclasses import dataclass

from orcai.graph import Graph, Row
from orcai.graph import anomaly_store
from orcai.graph import lineage_store as store
from orcai.lineage.algorithms import adjacency, reachable
from orcai.lineage.walks import downstream_tasks, upstream_tasks


COLUMN_GAP = 220  # px between layers, left to right
ROW_GAP = 46  # px between nodes of one layer
LAYERS_PER_BAND = 6  # a longer pipeline wraps onto the next band below, so labels stay readable
BAND_GAP = 90  # px between bands


@dataclass
class LineageView:
    """Nodes and edges around a DAG or a task, ready to draw or to list. Each node carries
    its position (`x`, `y`): the layout is computed here, so the browser only draws."""

    nodes: list[dict]
    edges: list[dict]
    hidden: int = 0  # tasks left out to stay under the node cap

    @property
    def size(self) -> tuple[float, float]:
        """Width and height of the drawing in px (node positions' extent)."""
        if not self.nodes:
            return 0.0, 0.0
        xs, ys = [n["x"] for n in self.nodes], [n["y"] for n in self.nodes]
        return max(xs) - min(xs), max(ys) - min(ys)

    def upstream_task_count(self, task_key: str) -> int:
        """Tasks drawn upstream of `task_key` in this view, through dependencies and assets.
        Not the nodes marked "up": those are upstream of where the view started, which is
        the whole DAG when a task was clicked in a DAG's view."""
        backwards = adjacency((e["target"], e["source"]) for e in self.edges)
        tasks = {n["id"] for n in self.nodes if n["kind"] == "task"}
        return len(reachable(backwards, f"task:{task_key}") & tasks)


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
    place(nodes, edges)
    return LineageView(nodes=nodes, edges=edges, hidden=len(ranked) - len(keys))


def layers(node_ids: list[str], edges: list[dict]) -> dict[str, int]:
    """Each node's layer: the length of the longest path reaching it (sources are layer 0).
    Cycles (which lineage should not have) are cut by visiting each node once."""
    incoming: dict[str, list[str]] = {n: [] for n in node_ids}
    for edge in edges:
        if edge["source"] in incoming and edge["target"] in incoming and edge["source"] != edge["target"]:
            incoming[edge["target"]].append(edge["source"])
    layer: dict[str, int] = {}

    def depth(node: str, visiting: set) -> int:
        if node in layer:
            return layer[node]
        visiting.add(node)
        parents = [p for p in incoming[node] if p not in visiting]
        layer[node] = 1 + max((depth(p, visiting) for p in parents), default=-1)
        visiting.discard(node)
        return layer[node]

    for node in node_ids:
        depth(node, set())
    return layer


def place(nodes: list[dict], edges: list[dict]) -> None:
    """Set `x`, `y` on every node: layers left to right, each layer's nodes ordered by the
    mean row of their upstream nodes (fewer crossings); past LAYERS_PER_BAND layers the
    drawing wraps onto a band below, like lines of text."""
    ids = [n["id"] for n in nodes]
    layer = layers(ids, edges)
    upstream: dict[str, list[str]] = {n: [] for n in ids}
    for edge in edges:
        if edge["target"] in upstream and edge["source"] in upstream:
            upstream[edge["target"]].append(edge["source"])
    row: dict[str, float] = {}
    height: dict[int, int] = {}  # band -> nodes in its fullest layer
    for depth in sorted(set(layer.values())):
        members = [n for n in ids if layer[n] == depth]
        members.sort(key=lambda n: (sum(row[u] for u in upstream[n] if u in row) /
                                    max(1, sum(1 for u in upstream[n] if u in row)), n))
        for index, node in enumerate(members):
            row[node] = index - (len(members) - 1) / 2
        band = depth // LAYERS_PER_BAND
        height[band] = max(height.get(band, 0), len(members))
    centre, top = {}, 0.0
    for band in sorted(height):
        extent = (height[band] - 1) * ROW_GAP
        centre[band], top = top + extent / 2, top + extent + BAND_GAP
    for node in nodes:
        depth = layer[node["id"]]
        node["x"] = (depth % LAYERS_PER_BAND) * COLUMN_GAP
        node["y"] = centre[depth // LAYERS_PER_BAND] + row[node["id"]] * ROW_GAP


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
