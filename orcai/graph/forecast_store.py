"""Queued and running DAG runs with what a forecast needs, and the forecasts themselves."""

from __future__ import annotations

from orcai.graph.base import Graph, Row, WriteCounts
from orcai.graph.cypher import live
from orcai.graph.load import write_batched
from orcai.graph.properties import remove_stale, split_nulls

ACTIVE_STATES = ["queued", "running"]
LOAD_STATES = ("scheduled", "queued", "running")  # a task instance waiting for a pool slot, or holding one


def active_runs(graph: Graph, dag_ids: list[str] | None = None) -> list[Row]:
    """Queued and running runs of live DAGs, with where deadlines live: an admin's setting
    on the DAG, its tags and its `deadline` param (every task carries its DAG's params);
    and the breach risk and deadline of the run's last forecast."""
    return graph.read(f"""
        MATCH (d:Dag)-[:HAS_RUN]->(r:DagRun)
        WHERE r.state IN $states AND {live('d')} AND ($dags IS NULL OR d.dag_id IN $dags)
        OPTIONAL MATCH (d)-[:HAS_TASK]->(t:Task) WHERE t.deadline IS NOT NULL AND NOT coalesce(t.is_deleted, false)
        WITH d, r, collect(t.deadline) AS params
        RETURN r.key AS key, r.dag_id AS dag_id, r.run_id AS run_id, r.state AS state,
               r.start_date AS start_date, r.queued_at AS queued_at,
               coalesce(r.logical_date, r.run_after) AS logical_date, d.tags AS tags,
               params[0] AS deadline_param, d.deadline_setting AS deadline_setting,
               r.breach_risk AS breach_risk, r.deadline AS deadline
        ORDER BY key""", {"states": ACTIVE_STATES, "dags": dag_ids})


def success_durations(graph: Graph, dag_ids: list[str], since_ms: int) -> list[Row]:
    """The DAGs' successful task runs started since `since_ms`: seconds running, the start
    lag (seconds from ready to running: from the end of its upstream task runs in the same
    DAG run, for a first task from the run's start), when it became ready and its pool."""
    return graph.read("""
        MATCH (r:DagRun)-[:HAS_TASK_RUN]->(tr:TaskRun)-[:INSTANCE_OF]->(t:Task)
        WHERE tr.dag_id IN $dags AND tr.start_date >= $since AND tr.state = 'success' AND tr.duration_s IS NOT NULL
        OPTIONAL MATCH (t)-[:DEPENDS_ON]->(:Task)<-[:INSTANCE_OF]-(up:TaskRun)<-[:HAS_TASK_RUN]-(r)
        WITH tr, r, coalesce(max(up.end_date), r.start_date) AS ready
        RETURN tr.dag_id AS dag_id, tr.task_id AS task_id, tr.duration_s AS duration_s,
               (tr.start_date - ready) / 1000.0 AS lag_s, ready AS ready_ms, tr.pool AS pool""",
        {"dags": dag_ids, "since": since_ms})


def past_runs(graph: Graph, dag_ids: list[str], since_ms: int) -> list[Row]:
    """The DAGs' successful runs started since `since_ms`, one row per run (not per task
    run): the tasks that ran and those that were skipped (a branch not taken, a
    short-circuit), what a forecast draws the tasks a branching run will skip from; and
    the seconds from its last task's end to its own (null when either is unknown): Airflow
    marks a run done a moment after its last task. The runs are found through the DAG index and
    each kept run of the DAGs is read to compare its start (no index on it): the read
    grows with the runs kept, their task runs only with the lookback's."""
    return graph.read("""
        MATCH (r:DagRun)-[:HAS_TASK_RUN]->(tr:TaskRun)
        WHERE r.dag_id IN $dags AND r.state = 'success' AND r.start_date >= $since
        WITH r, max(tr.end_date) AS last_end,
             collect(DISTINCT CASE WHEN tr.state = 'success' THEN tr.task_id END) AS ran,
             collect(DISTINCT CASE WHEN tr.state = 'skipped' THEN tr.task_id END) AS skipped
        RETURN r.dag_id AS dag_id, r.run_id AS run_id, ran, skipped, (r.end_date - last_end) / 1000.0 AS close_s""",
        {"dags": dag_ids, "since": since_ms})


def pool_spans(graph: Graph, pools: list[str], since_ms: int) -> list[Row]:
    """Every task run in these pools started since `since_ms` (any DAG, any state): when it
    entered the pool (scheduled, else queued, else started) and when it left (its end; null
    while it runs). What a pool's load at a past moment is counted from."""
    return graph.read("""
        MATCH (tr:TaskRun)
        WHERE tr.start_date >= $since AND tr.pool IN $pools
        RETURN tr.pool AS pool, coalesce(tr.scheduled_when, tr.queued_when, tr.start_date) AS entered_ms,
               tr.end_date AS left_ms""", {"pools": pools, "since": since_ms})


def pool_load_now(graph: Graph) -> dict[str, int]:
    """Per pool, the task instances of queued and running DAG runs (any DAG) scheduled,
    queued or running in it now: its load."""
    rows = graph.read("""
        MATCH (r:DagRun)-[:HAS_TASK_RUN]->(tr:TaskRun)
        WHERE r.state IN $runs AND tr.state IN $states AND tr.pool IS NOT NULL
        RETURN tr.pool AS pool, count(tr) AS n""",
        {"runs": ACTIVE_STATES, "states": list(LOAD_STATES)})
    return {row["pool"]: int(row["n"]) for row in rows}


# Forecast row field -> DagRun property.
_FORECAST_PROPS = {"p50": "eta_p50", "p80": "eta_p80", "at": "forecast_at", "deadline": "deadline",
                   "risk": "breach_risk", "risk_held": "breach_risk_held", "progress": "progress",
                   "watch_task": "watch_task", "watch_reason": "watch_reason", "windows": "forecast_tasks"}


def write_forecasts(graph: Graph, forecasts: list[dict], keep: int) -> WriteCounts:
    """Store each run's forecast and append (at, p50, p80) to its history (the last `keep`).
    A field that became null (no deadline any more, nothing to watch) is removed on its own:
    FalkorDB 4.16.3 loses other properties when one query removes two (properties.py)."""
    rows, unset = [], []
    for f in forecasts:
        props, gone = split_nulls({prop: f[field] for field, prop in _FORECAST_PROPS.items()})
        # FalkorDB refuses a list holding a null as a property: a run without an ETA yet
        # (no history to draw from) adds nothing to its history.
        entry = [f["at"], f["p50"], f["p80"]] if f["p50"] is not None and f["p80"] is not None else None
        rows.append({"key": f["key"], "props": props, "entry": entry})
        unset.append((f["key"], gone))
    counts = write_batched(graph, f"""
        UNWIND $rows AS row
        MATCH (r:DagRun {{key: row.key}})
        WITH r, row, coalesce(r.eta_history, []) + CASE WHEN row.entry IS NULL THEN [] ELSE [row.entry] END AS history
        SET r += row.props,
            r.eta_history = CASE WHEN size(history) > {int(keep)} THEN history[size(history) - {int(keep)}..]
                                 ELSE history END""", rows)
    return counts + remove_stale(graph, "DagRun", "key", unset)


def running_now(graph: Graph) -> list[Row]:
    """Every queued or running run of a live DAG with its latest forecast (the Status page)."""
    return graph.read(f"""
        MATCH (d:Dag)-[:HAS_RUN]->(r:DagRun)
        WHERE r.state IN $states AND {live('d')}
        RETURN r.dag_id AS dag_id, r.run_id AS run_id, r.state AS state, r.start_date AS start_date,
               r.progress AS progress, r.eta_p50 AS eta_p50, r.eta_p80 AS eta_p80, r.deadline AS deadline,
               r.breach_risk AS breach_risk, r.breach_risk_held AS breach_risk_held, r.watch_task AS watch_task,
               r.watch_reason AS watch_reason, r.forecast_at AS forecast_at
        ORDER BY coalesce(r.breach_risk, 0) DESC, r.start_date""", {"states": ACTIVE_STATES})


def riskiest_forecast_by_dag(graph: Graph) -> dict[str, Row]:
    """Per live DAG, the forecast of its queued or running run most at risk of missing its
    deadline (the risk held over two forecasts, then the latest, then the latest ETA): what
    the policy facts `run.eta_p80`, `run.deadline`, `run.breach_risk`, `run.breach_risk_held`
    and `run.watch` read."""
    rows = graph.read(f"""
        MATCH (d:Dag)-[:HAS_RUN]->(r:DagRun)
        WHERE r.state IN $states AND {live('d')} AND r.forecast_at IS NOT NULL
        RETURN d.dag_id AS dag_id, r.run_id AS run_id, r.eta_p80 AS eta_p80, r.deadline AS deadline,
               r.breach_risk AS breach_risk, r.breach_risk_held AS breach_risk_held, r.watch_task AS watch_task,
               r.watch_reason AS watch_reason
        ORDER BY dag_id, coalesce(r.breach_risk_held, -1.0) DESC, coalesce(r.breach_risk, -1.0) DESC,
                 coalesce(r.eta_p80, 0) DESC""",
        {"states": ACTIVE_STATES})
    riskiest: dict[str, Row] = {}
    for row in rows:
        riskiest.setdefault(row["dag_id"], row)
    return riskiest
