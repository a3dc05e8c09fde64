"""A small graph for the monitoring tests: one DAG failing in a row, one healthy, one deleted.

    payments_nightly  1 success, then 4 failed runs in the last 5 hours   (synthetic: no Airflow DAG)
    reports_daily     1 success                                            (synthetic)
    retired_dag       1 success, then deleted from Airflow (kept, marked is_deleted)
    anomalies         2 open failure_streak/high on payments_nightly, 1 slow/low acknowledged
"""

from orcai.access import LOCAL_ADMIN
from orcai.anomalies.review import review_anomaly
from orcai.graph.anomaly_store import load_anomalies
from orcai.graph.load import load_dag_runs, load_dags, mark_missing_dags
from orcai.model import DagRecord, DagRunRecord

HOUR_MS = 3_600_000
FAILING_DAG = "payments_nightly"


def load_monitoring_graph(graph, now_ms: int) -> None:
    load_dags(graph, [DagRecord(FAILING_DAG, is_paused=False, source="synthetic"),
                      DagRecord("reports_daily", is_paused=True, source="synthetic"),
                      DagRecord("retired_dag", is_paused=False)])
    runs = [_run(FAILING_DAG, "r0", "success", now_ms - 5 * HOUR_MS)]
    runs += [_run(FAILING_DAG, f"r{i}", "failed", now_ms - (5 - i) * HOUR_MS) for i in range(1, 5)]
    runs += [_run("reports_daily", "r0", "success", now_ms - 2 * HOUR_MS),
             _run("retired_dag", "r0", "success", now_ms - 3 * HOUR_MS)]
    load_dag_runs(graph, runs)
    mark_missing_dags(graph, [FAILING_DAG, "reports_daily"], now_ms)
    load_anomalies(graph, [_anomaly(f"failure_streak:{FAILING_DAG}/r{i}", "failure_streak", "high", f"r{i}", now_ms)
                           for i in (3, 4)] + [_anomaly("slow:reports_daily/r0", "slow", "low", "r0", now_ms,
                                                        dag_id="reports_daily")])
    review_anomaly(graph, "slow:reports_daily/r0", "acknowledged", LOCAL_ADMIN, now_ms)


def _run(dag_id: str, run_id: str, state: str, start_ms: int) -> DagRunRecord:
    return DagRunRecord(dag_id, run_id, state, run_type="scheduled", logical_date=start_ms, run_after=start_ms,
                        start_date=start_ms, end_date=start_ms + 600_000, duration_s=600.0, source="synthetic")


def _anomaly(key: str, kind: str, severity: str, run_id: str, now_ms: int, dag_id: str = FAILING_DAG) -> dict:
    return {"key": key, "kind": kind, "severity": severity, "score": 5.0, "reason": f"{kind} on {dag_id}",
            "detector": "test", "detected_at": now_ms, "dag_id": dag_id, "run_id": run_id,
            "target_label": "DagRun", "target_key": f"{dag_id}/{run_id}"}
