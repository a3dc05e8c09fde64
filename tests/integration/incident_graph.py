"""A cascade in a real graph: `ingest` (extract → load, load writes postgres://wh/orders)
feeds `transform` (build → publish, writes s3://lake/marts), which feeds `report` (render).
Ten good hourly runs each, then ingest.load fails and the runs downstream go missing."""

from __future__ import annotations

from orcai.graph.anomaly_store import load_anomalies
from orcai.graph.load import load_assets, load_dag_runs, load_dags, load_task_runs, load_tasks
from orcai.lineage.criticality import refresh_criticality
from orcai.model import AssetRecord, DagRecord, DagRunRecord, TaskRecord, TaskRunRecord

MIN = 60_000
NOW = 1_800_000_000_000
ORDERS, MARTS = "postgres://wh/orders", "s3://lake/marts"
TASKS = {"ingest": ("extract", "load"), "transform": ("build", "publish"), "report": ("render",)}


def load_estate(graph) -> None:
    load_dags(graph, [DagRecord(d, is_paused=False) for d in TASKS])
    load_tasks(graph, list(TASKS), [
        TaskRecord("ingest", "extract", downstream_task_ids=("load",)), TaskRecord("ingest", "load", pool="db"),
        TaskRecord("transform", "build", downstream_task_ids=("publish",)), TaskRecord("transform", "publish"),
        TaskRecord("report", "render")])
    load_assets(graph, [AssetRecord(ORDERS, producers=(("ingest", "load"),), scheduled_dags=("transform",)),
                        AssetRecord(MARTS, producers=(("transform", "publish"),), scheduled_dags=("report",))])
    runs, task_runs = [], []
    for i in range(10):
        for offset, (dag, tasks) in enumerate(TASKS.items()):
            start = NOW - (i + 2) * 60 * MIN + offset * 10 * MIN
            runs.append(DagRunRecord(dag, f"ok{i}", "success", logical_date=start, queued_at=start,
                                     start_date=start, end_date=start + 5 * MIN, duration_s=300.0))
            task_runs += [TaskRunRecord(dag, f"ok{i}", t, -1, "success", start_date=start + j * 2 * MIN,
                                        end_date=start + (j + 1) * 2 * MIN, duration_s=120.0, queued_s=1.0,
                                        try_number=1) for j, t in enumerate(tasks)]
    load_dag_runs(graph, runs)
    load_task_runs(graph, task_runs)
    refresh_criticality(graph)


def fail_ingest(graph, at: int) -> None:
    """ingest.load fails at `at` (its DAG run fails) and is flagged as a failure streak."""
    load_dag_runs(graph, [DagRunRecord("ingest", "bad", "failed", logical_date=at - 2 * MIN, queued_at=at - 2 * MIN,
                                       start_date=at - 2 * MIN, end_date=at + MIN)])
    load_task_runs(graph, [
        TaskRunRecord("ingest", "bad", "extract", -1, "success", start_date=at - 2 * MIN, end_date=at,
                      duration_s=120.0, queued_s=1.0),
        TaskRunRecord("ingest", "bad", "load", -1, "failed", start_date=at + 10_000, end_date=at + MIN,
                      duration_s=50.0, queued_s=10.0, try_number=2)])
    load_anomalies(graph, [anomaly("failure_streak", "ingest", "load", "bad", at, "TaskRun",
                                   "ingest/bad/load/-1", "failed 1 run in a row")])


def miss(graph, dag: str, detected_at: int) -> None:
    """`dag` missed its run after its asset did not arrive (flagged on its last run)."""
    load_anomalies(graph, [anomaly("missing", dag, TASKS[dag][0], "ok0", detected_at, "DagRun", f"{dag}/ok0",
                                   "no run since its asset was last updated")])


def anomaly(kind, dag, task, run, at, label, target, reason) -> dict:
    return {"key": f"{kind}:{target}", "kind": kind, "score": 3.0, "severity": "high", "reason": reason,
            "detector": "robust", "detected_at": at, "dag_id": dag, "task_id": task, "task_key": f"{dag}.{task}",
            "run_id": run, "run_start": at, "target_label": label, "target_key": target}


def recover(graph, at: int) -> None:
    """Every DAG runs successfully again from `at`."""
    runs, task_runs = [], []
    for offset, (dag, tasks) in enumerate(TASKS.items()):
        start = at + offset * 10 * MIN
        runs.append(DagRunRecord(dag, "fixed", "success", logical_date=start, start_date=start,
                                 end_date=start + 5 * MIN, duration_s=300.0))
        task_runs += [TaskRunRecord(dag, "fixed", t, -1, "success", start_date=start + j * 2 * MIN,
                                    end_date=start + (j + 1) * 2 * MIN, duration_s=120.0) for j, t in enumerate(tasks)]
    load_dag_runs(graph, runs)
    load_task_runs(graph, task_runs)


def learn_bands(graph) -> None:
    """Every task's band as the detector stores it at a refit: usually 120 s."""
    from orcai.graph.anomaly_store import write_bands
    write_bands(graph, "Task", [{"key": f"{dag}.{t}", "at": NOW - MIN, "median": 120.0, "low": 100.0,
                                 "high": 3600.0, "detector": "robust/2.2"}  # a wide tail: a busy history
                                for dag, tasks in TASKS.items() for t in tasks], keep=10)


def slow_extract(graph, at: int, minutes: float, others_pace: float) -> None:
    """ingest.extract runs `minutes` from `at` while transform and report run meanwhile at
    `others_pace` times their usual."""
    load_dag_runs(graph, [DagRunRecord("ingest", "slow", "success", logical_date=at, queued_at=at, start_date=at,
                                       end_date=at + int(minutes * MIN))] +
                  [DagRunRecord(dag, f"meanwhile{i}", "success", logical_date=at + i * MIN, queued_at=at + i * MIN,
                                start_date=at + i * MIN) for i, dag in enumerate(("transform", "report"), 1)])
    ran = 120.0 * others_pace
    load_task_runs(graph, [
        TaskRunRecord("ingest", "slow", "extract", -1, "success", start_date=at, end_date=at + int(minutes * MIN),
                      duration_s=minutes * 60, queued_s=1.0, try_number=1)] + [
        TaskRunRecord(dag, f"meanwhile{i}", t, -1, "success", start_date=at + i * MIN + j * MIN,
                      end_date=at + i * MIN + j * MIN + int(ran * 1000), duration_s=ran, queued_s=1.0, try_number=1)
        for i, dag in enumerate(("transform", "report"), 1) for j, t in enumerate(TASKS[dag])])


def late_run(graph, dag: str, run: str, start: int, missed_found_at: int | None = None) -> None:
    """A run of `dag` that came late and succeeded (started at `start`); with
    `missed_found_at`, the detector found then that runs before it were missed (flagged on it)."""
    load_dag_runs(graph, [DagRunRecord(dag, run, "success", logical_date=start, queued_at=start, start_date=start,
                                       end_date=start + 2 * MIN, duration_s=120.0)])
    load_task_runs(graph, [TaskRunRecord(dag, run, t, -1, "success", start_date=start, end_date=start + MIN,
                                         duration_s=60.0, queued_s=1.0, try_number=1) for t in TASKS[dag]])
    if missed_found_at is not None:
        load_anomalies(graph, [{**anomaly("missing", dag, TASKS[dag][0], run, missed_found_at, "DagRun",
                                          f"{dag}/{run}", "2 scheduled runs of this DAG did not happen"),
                                "run_start": start}])
