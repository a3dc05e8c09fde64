"""One sync: Airflow's REST API -> records -> graph, incremental per DAG.

Each DAG keeps a watermark (`Dag.synced_until`, epoch ms): the next sync asks Airflow only
for runs and task instances updated since then (minus an overlap for clock skew and
in-flight commits). A run still in progress is picked up again when Airflow updates it.
The watermark is written last, so a sync that dies half-way is simply redone: every
write is an idempotent merge on its key.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

from orcai.airflow import AirflowClient
from orcai.airflow.records import (
    asset_record, dag_record, dag_run_record, task_record, task_run_record,
)
from orcai.config import Settings
from orcai.errors import AirflowAuthError, AirflowError, AirflowResponseError, AirflowUnreachable
from orcai.graph import Graph, WriteCounts
from orcai.graph import dag_store, load
from orcai.lineage.criticality import refresh_criticality
from orcai.model import DAY_MS, DagRecord, DagSnapshot

# Re-read this much before the watermark: covers clock skew between ORC AI and Airflow's
# database and transactions committed just after the previous sync looked.
WATERMARK_OVERLAP_MS = 120_000


@dataclass
class SyncReport:
    started_at: int
    duration_s: float = 0.0
    dags: int = 0
    assets: int = 0
    dag_runs_seen: int = 0
    task_runs_seen: int = 0
    written: WriteCounts = field(default_factory=WriteCounts)
    structure_written: WriteCounts = field(default_factory=WriteCounts)  # DAGs, tasks, edges
    deleted_dags: list[str] = field(default_factory=list)
    dag_errors: dict[str, str] = field(default_factory=dict)
    requests: int = 0

    def summary(self) -> str:
        text = (f"synced {self.dags} DAGs, {self.dag_runs_seen} runs and {self.task_runs_seen} "
                f"task runs seen, {self.written.nodes_created} nodes created, "
                f"{self.written.properties_set} properties set in {self.duration_s:.1f} s "
                f"({self.requests} API requests)")
        if self.dag_errors:
            text += f"; {len(self.dag_errors)} DAGs failed: " + "; ".join(
                f"{dag}: {err}" for dag, err in sorted(self.dag_errors.items())[:3])
        return text


def since_for(dag_id: str, watermarks: dict[str, int], now_ms: int, lookback_days: int) -> datetime:
    """Where to start reading a DAG's history: its watermark minus the overlap, or the lookback."""
    start_ms = watermarks.get(dag_id)
    start_ms = start_ms - WATERMARK_OVERLAP_MS if start_ms else now_ms - lookback_days * DAY_MS
    return datetime.fromtimestamp(start_ms / 1000, tz=timezone.utc)


def fetch_dag_snapshot(airflow: AirflowClient, dag: DagRecord, since: datetime,
                       clock=time.time) -> DagSnapshot:
    synced_until = int(clock() * 1000)  # taken before reading: nothing can slip between
    tasks = [task_record(dag.dag_id, task) for task in airflow.list_tasks(dag.dag_id)]
    runs = [dag_run_record(run) for run in airflow.list_dag_runs(dag.dag_id, since)]
    task_runs = [task_run_record(ti) for ti in airflow.list_task_instances(dag.dag_id, since)]
    return DagSnapshot(dag=dag, tasks=tasks, dag_runs=runs, task_runs=task_runs,
                       synced_until=synced_until)


def sync_once(airflow: AirflowClient, graph: Graph, settings: Settings, clock=time.time) -> SyncReport:
    """Bring the graph up to date with Airflow. Raises AirflowError/GraphError when the
    whole sync cannot proceed; a problem with one DAG is reported and the rest continue."""
    started = clock()
    requests_before = airflow.requests_made
    report = SyncReport(started_at=int(started * 1000))

    shard = settings.dag_shard
    listed = _mapped(airflow.list_dags(), dag_record, report, lambda dag: dag.dag_id)
    dags = [dag for dag in listed if shard.owns(dag.dag_id)]  # other shards sync the rest
    report.dags = len(dags)
    report.structure_written += load.load_dags(graph, dags)
    report.deleted_dags = load.mark_missing_dags(graph, [d.dag_id for d in listed], report.started_at,
                                                 owns=shard.owns)
    watermarks = load.read_watermarks(graph)

    snapshots, fatal = _fetch_all(airflow, dags, watermarks, settings, report, clock)
    _load_snapshots(graph, snapshots, report)
    if fatal is None:  # assets link tasks across DAGs: load them once the tasks exist
        assets = _mapped(airflow.list_assets(), asset_record, report, lambda asset: f"asset {asset.uri}")
        report.assets = len(assets)
        report.structure_written += load.load_assets(graph, assets, owns=shard.owns,
                                                     scope=None if shard.is_whole else dag_store.owned_dag_ids(graph, shard))
        if report.structure_written.total or report.deleted_dags:
            refresh_criticality(graph)
    report.written += report.structure_written

    report.requests = airflow.requests_made - requests_before
    report.duration_s = clock() - started
    if fatal is not None:
        raise fatal  # after saving what did arrive: the next sync continues from there
    return report


def _mapped(items, to_record, report: SyncReport, name_of) -> list:
    """Records for the items Airflow sent; a malformed one is reported and skipped, not fatal."""
    records = []
    for item in items:
        try:
            records.append(to_record(item))
        except AirflowResponseError as exc:
            report.dag_errors[str(name_of(item))[:80]] = str(exc)
    return records


def _fetch_all(airflow, dags, watermarks, settings, report, clock):
    """Fetch every DAG's new history. Once Airflow is unreachable, refuses us or rate-limits
    us, the DAGs not yet fetched are skipped: the next cycle retries them, and an outage is
    not met with one doomed request per DAG."""
    gave_up = threading.Event()

    def fetch(dag: DagRecord):
        if gave_up.is_set():
            return None
        since = since_for(dag.dag_id, watermarks, report.started_at, settings.sync_lookback_days)
        try:
            return fetch_dag_snapshot(airflow, dag, since, clock)
        except (AirflowUnreachable, AirflowAuthError) as exc:
            gave_up.set()
            return exc
        except AirflowError as exc:
            return exc

    snapshots, fatal = [], None
    with ThreadPoolExecutor(max_workers=settings.airflow_concurrency) as pool:
        for dag, outcome in zip(dags, pool.map(fetch, dags)):
            if isinstance(outcome, (AirflowUnreachable, AirflowAuthError)):
                fatal = fatal or outcome
            elif isinstance(outcome, AirflowError):  # reported once, in the sync's summary line
                report.dag_errors[dag.dag_id] = str(outcome)
            elif outcome is not None:
                snapshots.append(outcome)
    return snapshots, fatal


def _load_snapshots(graph: Graph, snapshots: list[DagSnapshot], report: SyncReport) -> None:
    if not snapshots:
        return
    report.structure_written += load.load_tasks(
        graph, [s.dag.dag_id for s in snapshots], [t for s in snapshots for t in s.tasks])
    runs = [run for s in snapshots for run in s.dag_runs]
    task_runs = [tr for s in snapshots for tr in s.task_runs]
    report.dag_runs_seen, report.task_runs_seen = len(runs), len(task_runs)
    report.written += load.load_dag_runs(graph, runs)
    report.written += load.load_task_runs(graph, task_runs)
    load.set_watermarks(graph, {s.dag.dag_id: s.synced_until for s in snapshots})
