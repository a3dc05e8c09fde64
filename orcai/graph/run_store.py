"""Reads of DAG runs and task runs: a detector's window, one DAG's runs, a task's recent runs."""

from __future__ import annotations

from orcai.graph.base import Graph, Row


def task_run_history(graph: Graph, started_since_ms: int, ended_after_ms: int | None = None,
                     task_key: str | None = None, dag_ids: list[str] | None = None,
                     started_before_ms: int | None = None) -> list[Row]:
    """Task runs started since `started_since_ms` (and before `started_before_ms`;
    optionally only those that ended after `ended_after_ms`, or are still running;
    optionally of one task, or of `dag_ids`), for detection."""
    # one task's runs are found from its node (the WITH makes FalkorDB start there: in one
    # pattern it scans the start_date index and checks each run's task): 274 ms -> 0.3 ms
    # at 300,000 task runs, most of the Anomalies page's reads
    runs = "(t:Task {key: $task}) WITH t MATCH (t)<-[:INSTANCE_OF]-(tr:TaskRun)" if task_key else "(tr:TaskRun)"
    return graph.read(f"""
        MATCH {runs}
        WHERE tr.start_date >= $since AND ($before IS NULL OR tr.start_date < $before)
          AND ($ended_after IS NULL OR tr.end_date IS NULL OR tr.end_date > $ended_after)
          AND ($dags IS NULL OR tr.dag_id IN $dags)
        OPTIONAL MATCH (r:DagRun)-[:HAS_TASK_RUN]->(tr)
        RETURN tr.key AS key, tr.dag_id AS dag_id, tr.task_id AS task_id, tr.run_id AS run_id,
               tr.start_date AS start_date, tr.end_date AS end_date, tr.duration_s AS duration_s,
               tr.queued_s AS queued_s, tr.try_number AS try_number, tr.state AS state,
               coalesce(r.logical_date, r.run_after) AS logical_date, r.run_type AS run_type
    """, {"since": started_since_ms, "ended_after": ended_after_ms, "task": task_key, "dags": dag_ids,
          "before": started_before_ms})


def task_runs_started_since(graph: Graph, since_ms: int, dag_ids: list[str] | None = None) -> int:
    return graph.read("MATCH (tr:TaskRun) WHERE tr.start_date >= $since "
                      "AND ($dags IS NULL OR tr.dag_id IN $dags) RETURN count(tr) AS n",
                      {"since": since_ms, "dags": dag_ids})[0]["n"]


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
               r.start_date AS start_date, r.end_date AS end_date, r.duration_s AS duration_s,
               r.eta_p50 AS eta_p50, r.eta_p80 AS eta_p80, r.forecast_tasks AS forecast_tasks
        ORDER BY at DESC LIMIT $limit
    """, {"dag": dag_id, "since": since_ms, "until": until_ms, "limit": limit,
          "states": states, "types": run_types})


def task_runs_of(graph: Graph, dag_run_keys: list[str]) -> list[Row]:
    """Every task run of the given DAG runs (looked up by their indexed keys), with its run's
    key: a run_id is unique within a DAG only (two DAGs' scheduled runs share theirs)."""
    return graph.read("""
        UNWIND $keys AS run_key
        MATCH (r:DagRun {key: run_key})-[:HAS_TASK_RUN]->(tr:TaskRun)
        RETURN r.key AS run_key, r.run_id AS run_id, tr.task_id AS task_id, tr.map_index AS map_index,
               tr.state AS state, tr.try_number AS try_number, tr.start_date AS start_date,
               tr.end_date AS end_date, tr.duration_s AS duration_s, tr.queued_s AS queued_s, tr.pool AS pool
    """, {"keys": dag_run_keys})


def recent_task_runs(graph: Graph, task_key: str, limit: int = 10) -> list[Row]:
    return graph.read("""
        MATCH (t:Task {key: $key})
        WITH t MATCH (tr:TaskRun)-[:INSTANCE_OF]->(t)
        RETURN tr.run_id AS run_id, tr.state AS state, tr.start_date AS start_date,
               tr.duration_s AS duration_s, tr.try_number AS try_number
        ORDER BY tr.start_date DESC LIMIT $limit""", {"key": task_key, "limit": limit})


def real_success_durations(graph: Graph) -> list[Row]:
    """Every successful run synced from Airflow (not simulated): task key and duration."""
    return graph.read("MATCH (tr:TaskRun) WHERE tr.source = 'airflow' AND tr.state = 'success' "
                      "AND tr.duration_s IS NOT NULL "
                      "RETURN tr.dag_id + '.' + tr.task_id AS task, tr.duration_s AS duration_s")


def dag_run_durations(graph: Graph, since_ms: int, dag_ids: list[str] | None = None) -> list[Row]:
    """Finished or running DAG runs started since `since_ms`: whole-run durations to judge."""
    return graph.read("""
        MATCH (r:DagRun) WHERE r.start_date >= $since AND ($dags IS NULL OR r.dag_id IN $dags)
        RETURN r.dag_id AS dag_id, r.run_id AS run_id, r.start_date AS start_date,
               r.duration_s AS duration_s, r.state AS state""", {"since": since_ms, "dags": dag_ids})


def unfinished_task_runs(graph: Graph) -> list[Row]:
    """Task runs still queued or running in DAG runs still queued or running: what a
    stuck-work fact (`run.stuck_min`, orcai/policy/facts.py) is built from."""
    return graph.read("""
        MATCH (r:DagRun)-[:HAS_TASK_RUN]->(tr:TaskRun)
        WHERE r.state IN ['queued', 'running'] AND tr.state IN ['queued', 'running']
        RETURN tr.dag_id AS dag_id, tr.run_id AS run_id, tr.task_id AS task_id, tr.state AS state,
               tr.try_number AS try_number, tr.queued_when AS queued_when, tr.start_date AS start_date
        ORDER BY dag_id, run_id, task_id
    """)
