"""Read queries the pages and the worker ask the graph: one plain function per question.

All parameterised; every function returns plain rows (dicts), never driver objects.
"""

from __future__ import annotations

from orcai.graph.base import Graph, Row
from orcai.shard import Shard

_LIVE_DAG = "coalesce(d.is_deleted, false) = false"


def dag_overview(graph: Graph, last_n_runs: int) -> list[Row]:
    """Every live DAG with its properties and its last `last_n_runs` runs, newest first."""
    return graph.read(f"""
        MATCH (d:Dag) WHERE {_LIVE_DAG}
        OPTIONAL MATCH (d)-[:HAS_RUN]->(r:DagRun)
        WITH d, r ORDER BY coalesce(r.run_after, r.start_date) DESC
        WITH d, collect({{state: r.state, at: coalesce(r.run_after, r.start_date),
                          start: r.start_date, end: r.end_date, duration_s: r.duration_s}})[0..$n] AS runs
        RETURN d.dag_id AS dag_id, d.is_paused AS is_paused, d.schedule AS schedule,
               d.owners AS owners, d.tags AS tags, d.description AS description,
               d.has_import_errors AS has_import_errors, d.next_run_at AS next_run_at, runs
        ORDER BY dag_id
    """, {"n": last_n_runs})


def run_states_since(graph: Graph, since_ms: int) -> list[Row]:
    """How many DAG runs of live DAGs started (or were due) since `since_ms`, per state."""
    return graph.read(f"""
        MATCH (d:Dag)-[:HAS_RUN]->(r:DagRun)
        WHERE {_LIVE_DAG} AND coalesce(r.run_after, r.start_date) >= $since
        RETURN r.state AS state, count(r) AS runs
    """, {"since": since_ms})


def failed_dags_since(graph: Graph, since_ms: int) -> list[Row]:
    """Live DAGs with at least one failed run since `since_ms`, most failures first."""
    return graph.read(f"""
        MATCH (d:Dag)-[:HAS_RUN]->(r:DagRun)
        WHERE {_LIVE_DAG} AND r.state = 'failed'
          AND coalesce(r.end_date, r.run_after, r.start_date) >= $since
        RETURN d.dag_id AS dag_id, count(r) AS failures,
               max(coalesce(r.end_date, r.run_after, r.start_date)) AS last_failed_at
        ORDER BY failures DESC, dag_id
    """, {"since": since_ms})


def worker_heartbeats(graph: Graph) -> list[Row]:
    """Every worker's last heartbeat (properties of its Worker node)."""
    rows = graph.read("MATCH (w:Worker) RETURN properties(w) AS worker ORDER BY w.name")
    return [row["worker"] for row in rows]


def graph_counts(graph: Graph) -> dict[str, int]:
    """Number of nodes per label: a cheap health/size summary."""
    rows = graph.read("MATCH (n) RETURN labels(n)[0] AS label, count(n) AS nodes")
    return {row["label"]: row["nodes"] for row in rows}


def task_run_history(graph: Graph, started_since_ms: int, ended_after_ms: int | None = None,
                     task_key: str | None = None, dag_ids: list[str] | None = None,
                     started_before_ms: int | None = None) -> list[Row]:
    """Task runs started since `started_since_ms` (and before `started_before_ms`;
    optionally only those that ended after `ended_after_ms`, or are still running;
    optionally of one task, or of `dag_ids`), for detection."""
    return graph.read("""
        MATCH (tr:TaskRun)
        WHERE tr.start_date >= $since AND ($before IS NULL OR tr.start_date < $before)
          AND ($ended_after IS NULL OR tr.end_date IS NULL OR tr.end_date > $ended_after)
          AND ($task IS NULL OR (tr.dag_id + '.' + tr.task_id) = $task)
          AND ($dags IS NULL OR tr.dag_id IN $dags)
        OPTIONAL MATCH (r:DagRun)-[:HAS_TASK_RUN]->(tr)
        RETURN tr.key AS key, tr.dag_id AS dag_id, tr.task_id AS task_id, tr.run_id AS run_id,
               tr.start_date AS start_date, tr.end_date AS end_date, tr.duration_s AS duration_s,
               tr.queued_s AS queued_s, tr.try_number AS try_number, tr.state AS state,
               coalesce(r.logical_date, r.run_after) AS logical_date, r.run_type AS run_type
    """, {"since": started_since_ms, "ended_after": ended_after_ms, "task": task_key, "dags": dag_ids,
          "before": started_before_ms})


def dag_schedules(graph: Graph) -> list[Row]:
    return graph.read("MATCH (d:Dag) WHERE coalesce(d.is_deleted, false) = false "
                      "RETURN d.dag_id AS dag_id, d.schedule AS schedule")


def task_tolerances(graph: Graph) -> dict[str, float]:
    rows = graph.read("MATCH (t:Task) WHERE t.tolerance IS NOT NULL RETURN t.key AS key, t.tolerance AS tolerance")
    return {row["key"]: row["tolerance"] for row in rows}


def anomalies(graph: Graph, statuses: list[str], since_ms: int = 0) -> list[Row]:
    """Anomalies with the given statuses detected since `since_ms`, most severe first."""
    return graph.read("""
        MATCH (a:Anomaly) WHERE a.status IN $statuses AND a.detected_at >= $since
        RETURN properties(a) AS anomaly,
               CASE a.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END AS rank
        ORDER BY rank, a.score DESC
    """, {"statuses": statuses, "since": since_ms})


def task_runs_started_since(graph: Graph, since_ms: int, dag_ids: list[str] | None = None) -> int:
    return graph.read("MATCH (tr:TaskRun) WHERE tr.start_date >= $since "
                      "AND ($dags IS NULL OR tr.dag_id IN $dags) RETURN count(tr) AS n",
                      {"since": since_ms, "dags": dag_ids})[0]["n"]


def owned_dag_ids(graph: Graph, shard: Shard) -> list[str]:
    """Every DAG id in the graph that `shard` owns, deleted ones included."""
    return [row["dag_id"] for row in graph.read("MATCH (d:Dag) RETURN d.dag_id AS dag_id")
            if shard.owns(row["dag_id"])]
