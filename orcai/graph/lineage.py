"""Lineage questions asked of the graph: one plain function per question, parameterised.

"Downstream" follows data: inside a DAG along DEPENDS_ON (reversed), and across DAGs from
a task that PRODUCES an asset to the root tasks of every DAG SCHEDULED_ON that asset.
Walks go one DAG hop per query pair, so depth is bounded and no query is string-built
from input.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from orcai.graph.base import Graph, Row
from orcai.graph.load import write_batched
from orcai.lineage import critical_path as critical_path_of
from orcai.lineage import downstream_counts, reachable, task_criticality

_LIVE = "coalesce({0}.is_deleted, false) = false"

# Cross-DAG hops are written in stages (WITH between hops): given the whole pattern at
# once, FalkorDB's planner starts from a label scan of every Task and is ~400x slower.
# Inside a DAG, walks happen in Python over the DAG's edges (one query per batch of DAGs):
# a variable-length DEPENDS_ON*1.. match from many tasks enumerates every path of a
# diamond-shaped DAG and was 100x slower.
_DAGS_OF_TASKS = """
UNWIND $keys AS k
MATCH (t:Task {key: k})
RETURN DISTINCT t.dag_id AS dag_id
"""
_EDGES_OF_DAGS = f"""
UNWIND $dags AS id
MATCH (:Dag {{dag_id: id}})-[:HAS_TASK]->(t:Task)
WITH t MATCH (t)-[:DEPENDS_ON]->(u:Task) WHERE {_LIVE.format('t')} AND {_LIVE.format('u')}
RETURN t.key AS task, u.key AS upstream
"""
# The producers of every asset these DAGs are scheduled on (their runs wait for them).
_PRODUCERS_FOR = f"""
UNWIND $dags AS id
MATCH (d:Dag {{dag_id: id}})
WITH d MATCH (d)-[:SCHEDULED_ON]->(a:Asset)
WITH DISTINCT a MATCH (a)<-[:PRODUCES]-(p:Task) WHERE {_LIVE.format('p')}
RETURN DISTINCT p.key AS key, p.dag_id AS dag_id, a.uri AS via
"""

_TASK_DETAILS = """
UNWIND $keys AS k
MATCH (t:Task {key: k})
WITH t
OPTIONAL MATCH (t)-[:PRODUCES]->(a:Asset)
OPTIONAL MATCH (a)-[:STORED_IN]->(s:ExternalSystem)
OPTIONAL MATCH (t)-[:USES]->(u:ExternalSystem)
RETURN t.key AS key, t.dag_id AS dag_id, t.task_id AS task_id, t.operator AS operator,
       t.last_state AS last_state, t.last_run_at AS last_run_at,
       coalesce(t.criticality, 0) AS criticality,
       collect(DISTINCT a.uri) AS assets, collect(DISTINCT s.name) + collect(DISTINCT u.name) AS systems
"""


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
        for row in self._graph.read(_EDGES_OF_DAGS, {"dags": new}):
            self.upstream_of[row["task"]].add(row["upstream"])
            self.downstream_of[row["upstream"]].add(row["task"])
        self._dags.update(new)

    def inside(self, keys: list[str], adjacency: dict[str, set]) -> set[str]:
        return set().union(*(reachable(adjacency, key) for key in keys)) if keys else set()


def _dags_of(graph: Graph, task_keys: list[str]) -> set[str]:
    return {row["dag_id"] for row in graph.read(_DAGS_OF_TASKS, {"keys": task_keys})}


_CONSUMERS = f"""
UNWIND $keys AS k
MATCH (x:Task {{key: k}})
WITH x MATCH (x)-[:PRODUCES]->(a:Asset)
WITH DISTINCT a MATCH (a)<-[:SCHEDULED_ON]-(c:Dag) WHERE {_LIVE.format('c')}
RETURN DISTINCT c.dag_id AS dag_id, a.uri AS via
"""
_NEXT_CONSUMERS = f"""
UNWIND $dags AS id
MATCH (d:Dag {{dag_id: id}})
WITH d MATCH (d)-[:HAS_TASK]->(t:Task)-[:PRODUCES]->(a:Asset)
WITH DISTINCT a MATCH (a)<-[:SCHEDULED_ON]-(c:Dag) WHERE {_LIVE.format('c')}
RETURN DISTINCT c.dag_id AS dag_id, a.uri AS via
"""
_TASKS_OF_DAGS = f"""
UNWIND $dags AS id
MATCH (d:Dag {{dag_id: id}})
WITH d MATCH (d)-[:HAS_TASK]->(t:Task) WHERE {_LIVE.format('t')}
RETURN d.dag_id AS dag_id, t.key AS key
"""


def downstream_tasks(graph: Graph, task_keys: list[str], max_dag_hops: int = 10) -> Walk:
    """Every task downstream of `task_keys`, in their DAGs and across DAGs through assets.

    A DAG scheduled on an asset runs whole when the asset updates, so every task of a
    consumer DAG is downstream: past the first hop the walk is over DAGs, not tasks."""
    walk = Walk()
    own_dags = _dags_of(graph, task_keys)
    edges = _TaskEdges(graph)
    edges.load(own_dags)
    inside = edges.inside(task_keys, edges.downstream_of) - set(task_keys)
    walk.hops.update({key: 0 for key in inside})
    dag_hops: dict[str, tuple[int, str]] = {}
    frontier = graph.read(_CONSUMERS, {"keys": sorted(set(task_keys) | set(inside))}) if max_dag_hops else []
    for hop in range(1, max_dag_hops + 1):
        fresh = {r["dag_id"]: r["via"] for r in frontier if r["dag_id"] not in dag_hops}
        if not fresh:
            break
        dag_hops.update({dag_id: (hop, via) for dag_id, via in fresh.items()})
        if hop < max_dag_hops:
            frontier = graph.read(_NEXT_CONSUMERS, {"dags": sorted(fresh)})
    for row in graph.read(_TASKS_OF_DAGS, {"dags": sorted(dag_hops)}) if dag_hops else []:
        if row["key"] not in task_keys and not (row["dag_id"] in own_dags and row["key"] in walk.hops):
            walk.hops.setdefault(row["key"], dag_hops[row["dag_id"]][0])
            walk.via.setdefault(row["key"], dag_hops[row["dag_id"]][1])
    return walk


def upstream_tasks(graph: Graph, task_keys: list[str], max_dag_hops: int = 10) -> Walk:
    """Every task upstream of `task_keys`, in their DAGs and across DAGs through assets.

    Across DAGs, a DAG scheduled on an asset waits for the task producing it, and so for
    that task's own upstream: the walk goes DAG by DAG, one pair of queries per hop."""
    walk, start = Walk(), set(task_keys)
    frontier = _dags_of(graph, task_keys)
    edges = _TaskEdges(graph)
    edges.load(frontier)
    walk.hops.update({key: 0 for key in edges.inside(task_keys, edges.upstream_of) - start})
    seen_dags = set(frontier)
    for hop in range(1, max_dag_hops + 1):
        producers = [row for row in graph.read(_PRODUCERS_FOR, {"dags": sorted(frontier)})
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


def dag_task_keys(graph: Graph, dag_id: str) -> list[str]:
    rows = graph.read(f"MATCH (:Dag {{dag_id: $dag}})-[:HAS_TASK]->(t:Task) WHERE {_LIVE.format('t')} "
                      "RETURN t.key AS key ORDER BY key", {"dag": dag_id})
    return [row["key"] for row in rows]


def task_details(graph: Graph, task_keys: list[str]) -> list[Row]:
    return graph.read(_TASK_DETAILS, {"keys": task_keys}) if task_keys else []


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
    start = [task_key] if task_key else dag_task_keys(graph, dag_id)
    walk = downstream_tasks(graph, start, max_dag_hops)
    tasks = task_details(graph, walk.keys)
    own = task_details(graph, start)
    for row in tasks:
        row["hops"], row["via"] = walk.hops[row["key"]], walk.via.get(row["key"])
    tasks.sort(key=lambda r: (-r["criticality"], r["hops"], r["key"]))
    dag_ids = sorted({row["dag_id"] for row in tasks} - ({dag_id} if dag_id else set()))
    dags = graph.read("""
        UNWIND $ids AS id MATCH (d:Dag {dag_id: id})
        RETURN d.dag_id AS dag_id, d.last_run_state AS last_state, d.last_run_at AS last_run_at,
               coalesce(d.criticality, 0) AS criticality, d.is_paused AS is_paused
        ORDER BY criticality DESC, dag_id""", {"ids": dag_ids}) if dag_ids else []
    assets = sorted({uri for row in own + tasks for uri in row["assets"]})
    systems = sorted({name for row in own + tasks for name in row["systems"] if name})
    return BlastRadius(start=task_key or dag_id, tasks=tasks, dags=dags, assets=assets, systems=systems)


def critical_path(graph: Graph, dag_run_key: str) -> list[Row]:
    """The chain of task runs that decided when the DAG run `dag_run_key` finished."""
    runs = graph.read("""
        MATCH (:DagRun {key: $key})-[:HAS_TASK_RUN]->(tr:TaskRun)
        RETURN tr.task_id AS task_id, tr.start_date AS start_date, tr.end_date AS end_date,
               tr.duration_s AS duration_s, tr.dag_id AS dag_id""", {"key": dag_run_key})
    if not runs:
        return []
    edges = graph.read("""
        MATCH (:Dag {dag_id: $dag})-[:HAS_TASK]->(t:Task)-[:DEPENDS_ON]->(u:Task)
        RETURN t.task_id AS task_id, u.task_id AS upstream""", {"dag": runs[0]["dag_id"]})
    upstream_of: dict[str, list[str]] = {}
    for edge in edges:
        upstream_of.setdefault(edge["task_id"], []).append(edge["upstream"])
    return critical_path_of(runs, upstream_of)


def roots(graph: Graph, dag_id: str) -> list[str]:
    """Tasks of a DAG with nothing upstream in it."""
    return [r["task_id"] for r in graph.read(f"""
        MATCH (:Dag {{dag_id: $dag}})-[:HAS_TASK]->(t:Task)
        WHERE {_LIVE.format('t')} AND NOT (t)-[:DEPENDS_ON]->(:Task)
        RETURN t.task_id AS task_id ORDER BY task_id""", {"dag": dag_id})]


def leaves(graph: Graph, dag_id: str) -> list[str]:
    """Tasks of a DAG with nothing downstream in it."""
    return [r["task_id"] for r in graph.read(f"""
        MATCH (:Dag {{dag_id: $dag}})-[:HAS_TASK]->(t:Task)
        WHERE {_LIVE.format('t')} AND NOT (:Task)-[:DEPENDS_ON]->(t)
        RETURN t.task_id AS task_id ORDER BY task_id""", {"dag": dag_id})]


def orphans(graph: Graph) -> dict[str, list[str]]:
    """Tasks not attached to a live DAG, and assets nobody produces or waits on."""
    tasks = graph.read("""
        MATCH (t:Task) WHERE coalesce(t.is_deleted, false) = false
        OPTIONAL MATCH (d:Dag)-[:HAS_TASK]->(t)
        WITH t, d WHERE d IS NULL OR coalesce(d.is_deleted, false) = true
        RETURN t.key AS key ORDER BY key""")
    assets = graph.read("""
        MATCH (a:Asset)
        WHERE NOT (:Task)-[:PRODUCES]->(a) AND NOT (:Dag)-[:SCHEDULED_ON]->(a)
        RETURN a.uri AS uri ORDER BY uri""")
    return {"tasks": [r["key"] for r in tasks], "assets": [r["uri"] for r in assets]}


def dags_without_recent_runs(graph: Graph, since_ms: int) -> list[Row]:
    """Live, unpaused DAGs whose last run is older than `since_ms` (or that never ran)."""
    return graph.read(f"""
        MATCH (d:Dag) WHERE {_LIVE.format('d')} AND d.is_paused = false
          AND coalesce(d.last_run_at, 0) < $since
        RETURN d.dag_id AS dag_id, d.last_run_at AS last_run_at, d.schedule AS schedule
        ORDER BY dag_id""", {"since": since_ms})


def asset_feeds(graph: Graph) -> list[tuple[str, str]]:
    """(producer task key, consumer DAG id) pairs, through assets."""
    rows = graph.read(f"""
        MATCH (t:Task)-[:PRODUCES]->(:Asset)<-[:SCHEDULED_ON]-(c:Dag)
        WHERE {_LIVE.format('t')} AND {_LIVE.format('c')}
        RETURN DISTINCT t.key AS task, c.dag_id AS consumer""")
    return [(r["task"], r["consumer"]) for r in rows]


def refresh_criticality(graph: Graph) -> int:
    """Recompute and store how much depends on every DAG (downstream DAGs) and task
    (downstream tasks, across DAGs); returns the number of values changed."""
    tasks = graph.read(f"""MATCH (d:Dag)-[:HAS_TASK]->(t:Task)
                           WHERE {_LIVE.format('d')} AND {_LIVE.format('t')}
                           RETURN t.key AS key, d.dag_id AS dag_id""")
    dags = [r["dag_id"] for r in graph.read(f"MATCH (d:Dag) WHERE {_LIVE.format('d')} RETURN d.dag_id AS dag_id")]
    edges = graph.read("MATCH (a:Task)-[:DEPENDS_ON]->(b:Task) RETURN b.key AS up, a.key AS down")
    task_dag = {t["key"]: t["dag_id"] for t in tasks}
    feeds = asset_feeds(graph)
    dag_flows = {(task_dag[t], consumer) for t, consumer in feeds if t in task_dag}
    dag_scores = downstream_counts(dag_flows, dags)
    task_scores = task_criticality(task_dag, [(e["up"], e["down"]) for e in edges], feeds)
    changed = 0
    for label, key, scores in (("Dag", "dag_id", dag_scores), ("Task", "key", task_scores)):
        counts = write_batched(
            graph,
            f"UNWIND $rows AS row MATCH (n:{label} {{{key}: row.k}}) "
            "WHERE n.criticality IS NULL OR n.criticality <> row.c SET n.criticality = row.c",
            [{"k": k, "c": c} for k, c in scores.items()])
        changed += counts.properties_set
    return changed


# --- the neighbourhood the Lineage page draws ------------------------------------------------

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
    start = [task_key] if task_key else dag_task_keys(graph, dag_id) if dag_id else []
    if not start:
        return LineageView(nodes=[], edges=[])
    down, up = downstream_tasks(graph, start, depth), upstream_tasks(graph, start, depth)
    direction = {**{k: "up" for k in up.hops}, **{k: "down" for k in down.hops}, **{k: "start" for k in start}}
    hops = {**up.hops, **down.hops, **{k: 0 for k in start}}
    ranked = sorted(direction, key=lambda k: (direction[k] != "start", hops[k], k))
    keys = ranked[:max_nodes]
    nodes = [{"id": f"task:{row['key']}", "kind": "task", "label": row["task_id"], "key": row["key"],
              "dag_id": row["dag_id"], "state": row["last_state"], "operator": row["operator"],
              "criticality": row["criticality"], "direction": direction[row["key"]],
              "hops": hops[row["key"]], "anomalies": 0}
             for row in task_details(graph, keys)]
    edges = [{"source": f"task:{r['up']}", "target": f"task:{r['down']}", "kind": "DEPENDS_ON"}
             for r in graph.read("""
                 MATCH (a:Task)-[:DEPENDS_ON]->(b:Task) WHERE a.key IN $keys AND b.key IN $keys
                 RETURN b.key AS up, a.key AS down""", {"keys": keys})]
    _add_assets_and_systems(graph, keys, nodes, edges)
    _mark_open_anomalies(graph, nodes)
    return LineageView(nodes=nodes, edges=edges, hidden=len(ranked) - len(keys))


def _add_assets_and_systems(graph: Graph, keys: list[str], nodes: list[dict], edges: list[dict]) -> None:
    rows = graph.read("""
        MATCH (t:Task)-[:PRODUCES]->(a:Asset) WHERE t.key IN $keys
        OPTIONAL MATCH (a)-[:STORED_IN]->(s:ExternalSystem)
        OPTIONAL MATCH (a)<-[:SCHEDULED_ON]-(c:Dag) WHERE coalesce(c.is_deleted, false) = false
        OPTIONAL MATCH (c)-[:HAS_TASK]->(r:Task) WHERE r.key IN $keys AND NOT (r)-[:DEPENDS_ON]->(:Task)
        RETURN t.key AS task, a.uri AS uri, a.name AS name, s.name AS system, s.kind AS system_kind,
               c.dag_id AS consumer, r.key AS consumer_root""", {"keys": keys})
    rows += graph.read("""
        MATCH (t:Task)-[:USES]->(s:ExternalSystem) WHERE t.key IN $keys
        RETURN t.key AS task, null AS uri, null AS name, s.name AS system, s.kind AS system_kind,
               null AS consumer, null AS consumer_root""", {"keys": keys})
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


def _mark_open_anomalies(graph: Graph, nodes: list[dict]) -> None:
    keys = [n["key"] for n in nodes if n["kind"] == "task"]
    counts = {r["key"]: r["open"] for r in graph.read("""
        MATCH (a:Anomaly) WHERE a.status = 'open' AND a.task_key IN $keys
        RETURN a.task_key AS key, count(a) AS open""", {"keys": keys})}
    for node in nodes:
        node["anomalies"] = counts.get(node.get("key"), 0)


def recent_task_runs(graph: Graph, task_key: str, limit: int = 10) -> list[Row]:
    return graph.read("""
        MATCH (tr:TaskRun)-[:INSTANCE_OF]->(:Task {key: $key})
        RETURN tr.run_id AS run_id, tr.state AS state, tr.start_date AS start_date,
               tr.duration_s AS duration_s, tr.try_number AS try_number
        ORDER BY tr.start_date DESC LIMIT $limit""", {"key": task_key, "limit": limit})


def dag_ids(graph: Graph) -> list[str]:
    return [r["dag_id"] for r in graph.read(
        f"MATCH (d:Dag) WHERE {_LIVE.format('d')} RETURN d.dag_id AS dag_id ORDER BY dag_id")]
