"""Lineage questions asked of the graph, one hop at a time: the walks themselves (which
DAGs to visit next) live in `orcai.lineage`, which calls these.

"Downstream" follows data: inside a DAG along DEPENDS_ON (reversed), and across DAGs from
a task that PRODUCES an asset to every DAG SCHEDULED_ON that asset.

Cross-DAG hops are written in stages (WITH between hops): given the whole pattern at
once, FalkorDB's planner starts from a label scan of every Task and is ~400x slower.
Inside a DAG, walks happen in Python over the DAG's edges (one query per batch of DAGs):
a variable-length DEPENDS_ON*1.. match from many tasks enumerates every path of a
diamond-shaped DAG and was 100x slower.
"""

from __future__ import annotations

from orcai.graph.base import Graph, Row
from orcai.graph.cypher import live
from orcai.graph.load import write_batched


def dags_of_tasks(graph: Graph, task_keys: list[str]) -> set[str]:
    rows = graph.read("UNWIND $keys AS k MATCH (t:Task {key: k}) RETURN DISTINCT t.dag_id AS dag_id",
                      {"keys": task_keys})
    return {row["dag_id"] for row in rows}


def dependency_edges_of_dags(graph: Graph, dag_ids: list[str]) -> list[Row]:
    """Every live DEPENDS_ON edge inside the given DAGs: (task, its direct upstream)."""
    return graph.read(f"""
        UNWIND $dags AS id
        MATCH (:Dag {{dag_id: id}})-[:HAS_TASK]->(t:Task)
        WITH t MATCH (t)-[:DEPENDS_ON]->(u:Task) WHERE {live('t')} AND {live('u')}
        RETURN t.key AS task, u.key AS upstream""", {"dags": dag_ids})


def producers_for_dags(graph: Graph, dag_ids: list[str]) -> list[Row]:
    """The producers of every asset these DAGs are scheduled on (their runs wait for them)."""
    return graph.read(f"""
        UNWIND $dags AS id
        MATCH (d:Dag {{dag_id: id}})
        WITH d MATCH (d)-[:SCHEDULED_ON]->(a:Asset)
        WITH DISTINCT a MATCH (a)<-[:PRODUCES]-(p:Task) WHERE {live('p')}
        RETURN DISTINCT p.key AS key, p.dag_id AS dag_id, a.uri AS via""", {"dags": dag_ids})


def _consumers_of(graph: Graph, produced: str, params: dict) -> list[Row]:
    """Live DAGs scheduled on an asset matched as `a` by `produced`, and through which asset."""
    return graph.read(f"""
        {produced}
        WITH DISTINCT a MATCH (a)<-[:SCHEDULED_ON]-(c:Dag) WHERE {live('c')}
        RETURN DISTINCT c.dag_id AS dag_id, a.uri AS via""", params)


def consumers_of_tasks(graph: Graph, task_keys: list[str]) -> list[Row]:
    """Live DAGs scheduled on an asset one of these tasks produces, and through which asset."""
    return _consumers_of(graph, "UNWIND $keys AS k MATCH (x:Task {key: k}) "
                                "WITH x MATCH (x)-[:PRODUCES]->(a:Asset)", {"keys": task_keys})


def consumers_of_dags(graph: Graph, dag_ids: list[str]) -> list[Row]:
    """Live DAGs scheduled on an asset any task of these DAGs produces."""
    return _consumers_of(graph, "UNWIND $dags AS id MATCH (d:Dag {dag_id: id}) "
                                "WITH d MATCH (d)-[:HAS_TASK]->(t:Task)-[:PRODUCES]->(a:Asset)", {"dags": dag_ids})


def tasks_of_dags(graph: Graph, dag_ids: list[str]) -> list[Row]:
    return graph.read(f"""
        UNWIND $dags AS id
        MATCH (d:Dag {{dag_id: id}})
        WITH d MATCH (d)-[:HAS_TASK]->(t:Task) WHERE {live('t')}
        RETURN d.dag_id AS dag_id, t.key AS key, t.trigger_rule AS trigger_rule""", {"dags": dag_ids})


def dag_task_keys(graph: Graph, dag_id: str) -> list[str]:
    rows = graph.read(f"MATCH (:Dag {{dag_id: $dag}})-[:HAS_TASK]->(t:Task) WHERE {live('t')} "
                      "RETURN t.key AS key ORDER BY key", {"dag": dag_id})
    return [row["key"] for row in rows]


def task_details(graph: Graph, task_keys: list[str]) -> list[Row]:
    """Each task with its last state, criticality, the assets it produces and the systems it touches."""
    if not task_keys:
        return []
    return graph.read("""
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
        """, {"keys": task_keys})


def dag_details(graph: Graph, dag_ids: list[str]) -> list[Row]:
    """Each DAG's last run state, criticality and paused flag, most critical first."""
    if not dag_ids:
        return []
    return graph.read("""
        UNWIND $ids AS id MATCH (d:Dag {dag_id: id})
        RETURN d.dag_id AS dag_id, d.last_run_state AS last_state, d.last_run_at AS last_run_at,
               coalesce(d.criticality, 0) AS criticality, d.is_paused AS is_paused
        ORDER BY criticality DESC, dag_id""", {"ids": dag_ids})


def dependency_edges_among(graph: Graph, task_keys: list[str]) -> list[Row]:
    """DEPENDS_ON edges with both ends among `task_keys`, as (up, down)."""
    return graph.read("""
        MATCH (a:Task)-[:DEPENDS_ON]->(b:Task) WHERE a.key IN $keys AND b.key IN $keys
        RETURN b.key AS up, a.key AS down""", {"keys": task_keys})


def asset_and_system_links(graph: Graph, task_keys: list[str]) -> list[Row]:
    """What the tasks produce (asset, where it is stored, the DAGs it triggers and their
    root task among `task_keys`) and the systems they use directly."""
    rows = graph.read(f"""
        MATCH (t:Task)-[:PRODUCES]->(a:Asset) WHERE t.key IN $keys
        OPTIONAL MATCH (a)-[:STORED_IN]->(s:ExternalSystem)
        OPTIONAL MATCH (a)<-[:SCHEDULED_ON]-(c:Dag) WHERE {live('c')}
        OPTIONAL MATCH (c)-[:HAS_TASK]->(r:Task) WHERE r.key IN $keys AND NOT (r)-[:DEPENDS_ON]->(:Task)
        RETURN t.key AS task, a.uri AS uri, a.name AS name, s.name AS system, s.kind AS system_kind,
               c.dag_id AS consumer, r.key AS consumer_root""", {"keys": task_keys})
    return rows + graph.read("""
        MATCH (t:Task)-[:USES]->(s:ExternalSystem) WHERE t.key IN $keys
        RETURN t.key AS task, null AS uri, null AS name, s.name AS system, s.kind AS system_kind,
               null AS consumer, null AS consumer_root""", {"keys": task_keys})


# --- what criticality is computed from, and where it is stored ------------------------------

def live_tasks_with_dags(graph: Graph) -> list[Row]:
    return graph.read(f"""MATCH (d:Dag)-[:HAS_TASK]->(t:Task) WHERE {live('d')} AND {live('t')}
                          RETURN t.key AS key, d.dag_id AS dag_id""")


def all_dependency_edges(graph: Graph) -> list[Row]:
    return graph.read("MATCH (a:Task)-[:DEPENDS_ON]->(b:Task) RETURN b.key AS up, a.key AS down")


def asset_feeds(graph: Graph) -> list[tuple[str, str]]:
    """(producer task key, consumer DAG id) pairs, through assets."""
    rows = graph.read(f"""
        MATCH (t:Task)-[:PRODUCES]->(:Asset)<-[:SCHEDULED_ON]-(c:Dag)
        WHERE {live('t')} AND {live('c')}
        RETURN DISTINCT t.key AS task, c.dag_id AS consumer""")
    return [(r["task"], r["consumer"]) for r in rows]


_CRITICALITY_TARGETS = {"Dag": "dag_id", "Task": "key"}  # label -> key: the only labels written


def write_criticality(graph: Graph, label: str, scores: dict[str, int]) -> int:
    """Store each node's criticality where it changed; returns the number of values changed."""
    key = _CRITICALITY_TARGETS[label]
    counts = write_batched(
        graph,
        f"UNWIND $rows AS row MATCH (n:{label} {{{key}: row.k}}) "
        "WHERE n.criticality IS NULL OR n.criticality <> row.c SET n.criticality = row.c",
        [{"k": k, "c": c} for k, c in scores.items()])
    return counts.properties_set
