"""Read queries the pages and the worker ask the graph: one plain function per question.

All parameterised; every function returns plain rows (dicts), never driver objects.
"""

from __future__ import annotations

from orcai.graph.base import Graph, Row
from orcai.shard import Shard

_LIVE_DAG = "coalesce(d.is_deleted, false) = false"


def dag_overview(graph: Graph, last_n_runs: int) -> list[Row]:
    """Every live DAG with its properties (criticality: DAGs downstream of it) and its
    last `last_n_runs` runs, newest first."""
    return graph.read(f"""
        MATCH (d:Dag) WHERE {_LIVE_DAG}
        OPTIONAL MATCH (d)-[:HAS_RUN]->(r:DagRun)
        WITH d, r ORDER BY coalesce(r.run_after, r.start_date) DESC
        WITH d, collect({{state: r.state, at: coalesce(r.run_after, r.start_date),
                          start: r.start_date, end: r.end_date, duration_s: r.duration_s}})[0..$n] AS runs
        RETURN d.dag_id AS dag_id, d.is_paused AS is_paused, d.schedule AS schedule,
               d.owners AS owners, d.tags AS tags, d.description AS description,
               d.has_import_errors AS has_import_errors, d.next_run_at AS next_run_at,
               d.criticality AS criticality, runs
        ORDER BY dag_id
    """, {"n": last_n_runs})


def run_states_since(graph: Graph, since_ms: int) -> list[Row]:
    """How many DAG runs of live DAGs started (or were due) since `since_ms`, per state."""
    return graph.read(f"""
        MATCH (d:Dag)-[:HAS_RUN]->(r:DagRun)
        WHERE {_LIVE_DAG} AND coalesce(r.run_after, r.start_date) >= $since
        RETURN r.state AS state, count(r) AS runs
    """, {"since": since_ms})


def run_states_by_dag_since(graph: Graph, since_ms: int) -> list[Row]:
    """`run_states_since`, per DAG: runs of each live DAG started (or due) since `since_ms`, per state."""
    return graph.read(f"""
        MATCH (d:Dag)-[:HAS_RUN]->(r:DagRun)
        WHERE {_LIVE_DAG} AND coalesce(r.run_after, r.start_date) >= $since
        RETURN d.dag_id AS dag_id, r.state AS state, count(r) AS runs
    """, {"since": since_ms})


def anomaly_totals(graph: Graph) -> list[Row]:
    """How many anomalies the graph holds, per kind, severity and status (one small aggregate)."""
    return graph.read("MATCH (a:Anomaly) RETURN a.kind AS kind, a.severity AS severity, "
                      "a.status AS status, count(a) AS anomalies")


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


def anomalies(graph: Graph, statuses: list[str], since_ms: int = 0, limit: int = 1000) -> list[Row]:
    """The `limit` most severe anomalies with the given statuses detected since `since_ms`
    (only the fields the page shows: a noisy deployment can hold tens of thousands)."""
    return graph.read("""
        MATCH (a:Anomaly) WHERE a.status IN $statuses AND a.detected_at >= $since
        WITH a, CASE a.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END AS rank
        ORDER BY rank, a.score DESC LIMIT $limit
        RETURN {key: a.key, severity: a.severity, kind: a.kind, dag_id: a.dag_id, task_id: a.task_id,
                run_id: a.run_id, detected_at: a.detected_at, reason: a.reason, status: a.status,
                score: a.score, task_key: a.task_key} AS anomaly, rank
    """, {"statuses": statuses, "since": since_ms, "limit": limit})


def anomaly_counts(graph: Graph, statuses: list[str], since_ms: int = 0) -> dict[str, int]:
    """How many anomalies with the given statuses were detected since `since_ms`, per severity."""
    rows = graph.read("""
        MATCH (a:Anomaly) WHERE a.status IN $statuses AND a.detected_at >= $since
        RETURN a.severity AS severity, count(a) AS n
    """, {"statuses": statuses, "since": since_ms})
    return {row["severity"]: row["n"] for row in rows}


def task_runs_started_since(graph: Graph, since_ms: int, dag_ids: list[str] | None = None) -> int:
    return graph.read("MATCH (tr:TaskRun) WHERE tr.start_date >= $since "
                      "AND ($dags IS NULL OR tr.dag_id IN $dags) RETURN count(tr) AS n",
                      {"since": since_ms, "dags": dag_ids})[0]["n"]


def owned_dag_ids(graph: Graph, shard: Shard) -> list[str]:
    """Every DAG id in the graph that `shard` owns, deleted ones included."""
    return [row["dag_id"] for row in graph.read("MATCH (d:Dag) RETURN d.dag_id AS dag_id")
            if shard.owns(row["dag_id"])]


# --- Runs page: one DAG's run history, bounded by a time window and a row limit ----------

def dag_runs(graph: Graph, dag_id: str, since_ms: int, until_ms: int, limit: int,
             states: list[str] | None = None, run_types: list[str] | None = None) -> list[Row]:
    """The DAG's runs due (or started) in [since_ms, until_ms), newest first, at most `limit`;
    only the given states and run types when those are given."""
    return graph.read("""
        MATCH (r:DagRun) WHERE r.dag_id = $dag
          AND ($states IS NULL OR r.state IN $states)
          AND ($types IS NULL OR r.run_type IN $types)
        WITH r, coalesce(r.run_after, r.logical_date, r.start_date) AS at
        WHERE at >= $since AND at < $until
        RETURN r.key AS key, r.run_id AS run_id, r.state AS state, r.run_type AS run_type,
               at, r.logical_date AS logical_date, r.queued_at AS queued_at,
               r.start_date AS start_date, r.end_date AS end_date, r.duration_s AS duration_s
        ORDER BY at DESC LIMIT $limit
    """, {"dag": dag_id, "since": since_ms, "until": until_ms, "limit": limit,
          "states": states, "types": run_types})


def task_runs_of(graph: Graph, dag_run_keys: list[str]) -> list[Row]:
    """Every task run of the given DAG runs (looked up by their indexed keys)."""
    return graph.read("""
        UNWIND $keys AS run_key
        MATCH (r:DagRun {key: run_key})-[:HAS_TASK_RUN]->(tr:TaskRun)
        RETURN r.run_id AS run_id, tr.task_id AS task_id, tr.map_index AS map_index,
               tr.state AS state, tr.try_number AS try_number, tr.start_date AS start_date,
               tr.end_date AS end_date, tr.duration_s AS duration_s, tr.queued_s AS queued_s
    """, {"keys": dag_run_keys})


def dag_task_ids(graph: Graph, dag_id: str) -> list[str]:
    """The DAG's live task ids (rows of the grid, including tasks that never ran)."""
    rows = graph.read("MATCH (t:Task) WHERE t.dag_id = $dag AND coalesce(t.is_deleted, false) = false "
                      "RETURN t.task_id AS task_id ORDER BY task_id", {"dag": dag_id})
    return [row["task_id"] for row in rows]


def dag_run_anomalies(graph: Graph, dag_id: str, since_ms: int) -> list[Row]:
    """Anomalies on the DAG's runs that started since `since_ms` (any status but false positive)."""
    return graph.read("""
        MATCH (a:Anomaly) WHERE a.dag_id = $dag AND a.run_start >= $since
          AND a.status <> 'false_positive'
        RETURN a.run_id AS run_id, a.task_id AS task_id, a.kind AS kind, a.severity AS severity,
               a.reason AS reason, a.status AS status
    """, {"dag": dag_id, "since": since_ms})


def most_recently_run_dag(graph: Graph) -> str | None:
    """The live DAG whose last run is the newest (the Runs page's default choice)."""
    rows = graph.read(f"MATCH (d:Dag) WHERE {_LIVE_DAG} AND d.last_run_at IS NOT NULL "
                      "RETURN d.dag_id AS dag_id ORDER BY d.last_run_at DESC, dag_id LIMIT 1")
    return rows[0]["dag_id"] if rows else None
