"""One sync: Airflow's REST API -> records -> graph, at a cost that does not grow with the
number of DAGs when nothing happens.

A quiet sync makes `pages of the DAG list + 3` requests: the DAG list, the DAG versions
newer than the newest seen, and one page each of the run and task-instance streams of
all DAGs updated since the global watermark (see `orcai.sync_plan`). Task lists are read
only for DAGs that are new, have a new version, or are due for the slow refresh; assets
only when something changed. A DAG that appears once the stream has begun reads its own
history (the lookback window) once. Every write is an idempotent merge and the
watermark moves last, so a sync that dies half-way is simply continued.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from orcai.airflow import AirflowClient
from orcai.airflow.records import (
    asset_record, dag_record, dag_run_record, pool_row, task_record, task_run_record,
)
from orcai.config import Settings
from orcai.errors import AirflowAuthError, AirflowError, AirflowResponseError, AirflowUnreachable
from orcai.graph import Graph, WriteCounts
from orcai.graph import dag_store, load, pool_store, sync_store
from orcai.graph.writer import BackgroundWriter
from orcai.lineage.criticality import refresh_criticality
from orcai.model import DAY_MS, MINUTE_MS, DagRecord, epoch_ms
from orcai.sync_plan import (
    WATERMARK_OVERLAP_MS, CatchUp, StreamPass, SyncState, finish, next_pass, progress, stream_budget,
    tasks_to_read,
)

log = logging.getLogger(__name__)

__all__ = ["SyncReport", "sync_once", "WATERMARK_OVERLAP_MS"]
LOAD_BATCH = 5_000  # stream records gathered before a load and a checkpoint
PROGRESS_LOG_S = 10.0


@dataclass
class SyncReport:
    started_at: int
    duration_s: float = 0.0
    dags: int = 0
    assets: int = 0
    dag_runs_seen: int = 0
    task_runs_seen: int = 0
    tasks_read: int = 0  # DAGs whose task list was read
    tasks_written: int = 0  # of which writes to tasks and their edges
    written: WriteCounts = field(default_factory=WriteCounts)
    structure_written: WriteCounts = field(default_factory=WriteCounts)  # DAGs, tasks, edges
    deleted_dags: list[str] = field(default_factory=list)
    dag_errors: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    waiting_task_runs: int = 0  # task instances seen scheduled or queued: the pools are read then
    pools: int = 0  # pools whose occupancy was read
    catch_up: CatchUp | None = None  # set while a stream pass is still under way

    def summary(self) -> str:
        text = (f"synced {self.dags} DAGs, {self.dag_runs_seen} runs and {self.task_runs_seen} "
                f"task runs seen, {self.written.nodes_created} nodes created, "
                f"{self.written.properties_set} properties set in {self.duration_s:.1f} s "
                f"({self.requests} API requests)")
        if self.catch_up is not None:
            text += f"; {self.catch_up.summary()}"
        if self.dag_errors:
            text += f"; {len(self.dag_errors)} DAGs failed: " + "; ".join(
                f"{dag}: {err}" for dag, err in sorted(self.dag_errors.items())[:3])
        return text


def sync_once(airflow: AirflowClient, graph: Graph, settings: Settings, clock=time.time) -> SyncReport:
    """Bring the graph up to date with Airflow. Raises AirflowError/GraphError when the
    whole sync cannot proceed; a problem with one DAG is reported and the rest continue."""
    started = clock()
    requests_before = airflow.requests_made
    report = SyncReport(started_at=int(started * 1000))
    shard = settings.dag_shard
    try:
        listed = _mapped(airflow.list_dags(), dag_record, report, lambda dag: dag.dag_id)
        dags = [dag for dag in listed if shard.owns(dag.dag_id)]  # other shards sync the rest
        report.dags = len(dags)
        report.structure_written += load.load_dags(graph, dags)
        report.deleted_dags = load.mark_missing_dags(graph, [d.dag_id for d in listed], report.started_at,
                                                     owns=shard.owns)
        state = sync_store.read_state(graph, str(shard))
        marks = sync_store.dag_sync_marks(graph)
        state = _sync_structure_and_new_dags(airflow, graph, settings, dags, state, marks, report, clock)
        state = _read_stream(airflow, graph, settings, {d.dag_id for d in dags}, state, report, clock)
        state = _sync_assets(airflow, graph, settings, state, report)
        _sync_pools(airflow, graph, report, int(clock() * 1000))
        sync_store.write_state(graph, str(shard), state)
        if report.structure_written.total or report.deleted_dags:
            refresh_criticality(graph)
        report.written += report.structure_written
    finally:
        report.requests = airflow.requests_made - requests_before
        report.duration_s = clock() - started
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


# --- structure, and the history of DAGs new to a running stream ---------------------------

def _sync_structure_and_new_dags(airflow, graph, settings, dags: list[DagRecord], state: SyncState,
                                 marks, report: SyncReport, clock) -> SyncState:
    now_ms = int(clock() * 1000)
    known_version = state.version_id
    versions = airflow.dag_versions_after(known_version)
    if versions:
        state = replace(state, version_id=max(str(v.id) for v in versions))
    # Without a known version the list is only the newest page, not news: every DAG is new then.
    changed = {v.dag_id for v in versions} if known_version else set()
    dag_ids = [d.dag_id for d in dags]
    structure = tasks_to_read(dag_ids, {d: marks.get(d, (None, None))[1] for d in dag_ids}, changed,
                              now_ms, settings.task_refresh_min, settings.sync_interval_s)
    if state.has_begun:  # the stream is past their history: they read their own, once
        history = [d for d in dag_ids if marks.get(d, (None, None))[0] is None]
    else:  # the first pass reads everyone's history: adopt every DAG listed now
        history = []
        stream = next_pass(state, now_ms, settings.sync_lookback_days,
                           {d: m[0] for d, m in marks.items() if m[0] is not None and d in set(dag_ids)})
        state = replace(state, current=stream)
        sync_store.write_state(graph, str(settings.dag_shard), state)  # before the DAGs point at it
        load.set_watermarks(graph, {d: stream.until for d in dag_ids})
    _fetch_per_dag(airflow, graph, settings, structure, history, report, clock)
    return state


def _fetch_per_dag(airflow, graph, settings, structure: list[str], history: list[str],
                   report: SyncReport, clock) -> None:
    """Task lists of `structure`, and the lookback history of `history`, in parallel. Once
    Airflow is unreachable, refuses us or rate-limits us, the rest is skipped: the next
    cycle retries them, and an outage is not met with one doomed request per DAG."""
    gave_up = threading.Event()
    structure_set, wanted_history = set(structure), set(history)
    since = datetime.fromtimestamp((clock() - settings.sync_lookback_days * DAY_MS / 1000), tz=timezone.utc)

    def fetch(dag_id: str):
        if gave_up.is_set():
            return None
        try:
            read_at = int(clock() * 1000)  # taken before reading: nothing can slip between
            tasks = [task_record(dag_id, t) for t in airflow.list_tasks(dag_id)] if dag_id in structure_set else None
            runs = task_runs = None
            if dag_id in wanted_history:
                runs = [dag_run_record(r) for r in airflow.list_dag_runs(dag_id, since)]
                task_runs = [task_run_record(ti) for ti in airflow.list_task_instances(dag_id, since)]
            return read_at, tasks, runs, task_runs
        except (AirflowUnreachable, AirflowAuthError) as exc:
            gave_up.set()
            return exc
        except AirflowError as exc:
            return exc

    order = list(dict.fromkeys(structure + history))
    fatal, fetched = None, {}
    with ThreadPoolExecutor(max_workers=settings.airflow_concurrency) as pool:
        for dag_id, outcome in zip(order, pool.map(fetch, order)):
            if isinstance(outcome, (AirflowUnreachable, AirflowAuthError)):
                fatal = fatal or outcome
            elif isinstance(outcome, AirflowError):  # reported once, in the sync's summary line
                report.dag_errors[dag_id] = str(outcome)
            elif outcome is not None:
                fetched[dag_id] = outcome
    _load_per_dag(graph, fetched, report)
    if fatal is not None:
        raise fatal  # after saving what did arrive: the next sync continues from there


def _load_per_dag(graph, fetched: dict, report: SyncReport) -> None:
    with_tasks = {d: f for d, f in fetched.items() if f[1] is not None}
    if with_tasks:
        written = load.load_tasks(graph, list(with_tasks), [t for f in with_tasks.values() for t in f[1]])
        report.structure_written += written
        report.tasks_written += written.total
        sync_store.set_tasks_synced(graph, {d: f[0] for d, f in with_tasks.items()})
        report.tasks_read += len(with_tasks)
    with_history = {d: f for d, f in fetched.items() if f[2] is not None}
    if with_history:
        runs = [r for f in with_history.values() for r in f[2]]
        task_runs = [tr for f in with_history.values() for tr in f[3]]
        report.dag_runs_seen += len(runs)
        report.task_runs_seen += len(task_runs)
        report.written += load.load_dag_runs(graph, runs)
        report.written += load.load_task_runs(graph, task_runs)
        load.set_watermarks(graph, {d: f[0] for d, f in with_history.items()})


# --- the stream of runs and task instances of all DAGs ------------------------------------

def _read_stream(airflow, graph, settings, wanted: set[str], state: SyncState, report: SyncReport, clock) -> SyncState:
    """Continue (or begin) a pass within this cycle's page budget; load as pages arrive and
    save the cursors after each load, so an interrupted pass resumes where it stopped. The
    loads run in a writer thread while the next pages are read (orcai/graph/writer.py); a
    cursor is saved by the same job, after its batch is written. The tasks' last runs are
    written once, at the end (a saved cursor says from when they are owed till then)."""
    now_ms = int(clock() * 1000)
    stream = next_pass(state, now_ms, settings.sync_lookback_days)
    budget = stream_budget(settings.airflow_max_rps, settings.sync_interval_s)
    shard = str(settings.dag_shard)
    if stream.last_runs_from is not None:  # the cycle before stopped before writing them
        report.written += load.restore_last_runs(graph, stream.last_runs_from)
        stream = replace(stream, last_runs_from=None)
    reader = StreamReader(graph, wanted, report)
    last_log = clock()
    with BackgroundWriter() as writer:
        try:
            while not stream.done and budget > 0:
                stream = reader.read_page(airflow, stream)
                budget -= 1
                if not stream.done and (reader.pending >= LOAD_BATCH or budget == 0):
                    # A cursor saved is a page loaded: saved by the writer once the batch is written.
                    reader.load(writer, checkpoint=(shard, replace(state, current=stream)))
                if clock() - last_log >= PROGRESS_LOG_S:
                    log.info(progress(stream, int(clock() * 1000)).summary())
                    last_log = clock()
        except AirflowResponseError as exc:  # a bad page: keep what arrived, retry it next cycle
            report.dag_errors["run stream"] = str(exc)
        finally:
            reader.load(writer)
    reader.write_last_runs()  # every batch is written: the cursor saved last owes nothing more
    state = finish(state, stream)  # the caller saves it, with the watermark when the pass is done
    if not stream.done:
        report.catch_up = progress(stream, int(clock() * 1000))
    return state


class StreamReader:
    """Reads stream pages (runs first, then task instances), keeps the wanted DAGs' records
    and hands them, as prepared rows, to the writer in batches (also driven by
    tests/benchmarks/catch_up_replay.py, without Airflow)."""

    def __init__(self, graph, wanted: set[str], report: SyncReport):
        self.graph, self.wanted, self.report = graph, wanted, report
        self.runs, self.task_runs = [], []
        self.latest: dict[str, tuple[int, str | None]] = {}  # per task, its newest run loaded: owed

    @property
    def pending(self) -> int:
        return len(self.runs) + len(self.task_runs)

    def read_page(self, airflow, stream: StreamPass) -> StreamPass:
        since = datetime.fromtimestamp(stream.since / 1000, tz=timezone.utc)
        if stream.runs_cursor is not None:
            page = airflow.dag_runs_page(since, stream.runs_cursor)
            self.runs += _mapped([r for r in page.items if r.dag_id in self.wanted], dag_run_record,
                                 self.report, lambda r: f"{r.dag_id}/{r.dag_run_id}")
            return replace(stream, runs_cursor=_next(page), runs_read=stream.runs_read + len(page.items))
        page = airflow.task_instances_page(since, stream.task_runs_cursor)
        self.report.waiting_task_runs += sum(t.dag_id in self.wanted and str(getattr(t.state, "value", t.state))
                                             in WAITING_STATES for t in page.items)
        self.task_runs += _mapped([t for t in page.items if t.dag_id in self.wanted], task_run_record,
                                  self.report, lambda t: f"{t.dag_id}/{t.dag_run_id}/{t.task_id}")
        newest = max((epoch_ms(t.run_after or t.logical_date) or 0 for t in page.items), default=0)
        exact = page.total_entries if page.total_entries_limit is None or (
            page.total_entries or 0) < page.total_entries_limit else None
        return replace(stream, task_runs_cursor=_next(page), task_runs_read=stream.task_runs_read + len(page.items),
                       task_runs_total=stream.task_runs_total if stream.task_runs_cursor else exact,
                       covered_until=max(stream.covered_until or 0, newest) or None)

    def load(self, writer: BackgroundWriter, checkpoint: tuple[str, SyncState] | None = None) -> None:
        """Prepare the pending records here and write them in the writer, then save
        `checkpoint` (shard, state) there: carrying the last runs this cycle still owes."""
        runs = load.prepare_dag_runs(self.runs) if self.runs else None
        task_runs = load.prepare_task_runs(self.task_runs) if self.task_runs else None
        self.report.dag_runs_seen += len(self.runs)
        self.report.task_runs_seen += len(self.task_runs)
        self.runs, self.task_runs = [], []
        if task_runs is not None:
            self.latest = load.newest_of(self.latest, task_runs.latest)
        if checkpoint is not None:
            shard, state = checkpoint
            owed = min((at for at, _ in self.latest.values()), default=None)
            checkpoint = (shard, replace(state, current=replace(state.current, last_runs_from=owed)))
        if runs is None and task_runs is None and checkpoint is None:
            return
        graph, report = self.graph, self.report

        def write() -> None:  # in the writer thread: only it touches `report.written` meanwhile
            if runs is not None:
                report.written += load.write_dag_runs(graph, runs)
            if task_runs is not None:
                report.written += load.write_task_runs(graph, task_runs)
            if checkpoint is not None:
                sync_store.write_state(graph, *checkpoint)
        writer.submit(write)

    def write_last_runs(self) -> None:
        """The tasks' last runs, once for all the batches written (after the writer closed)."""
        if self.latest:
            self.report.written += load.write_last_runs(self.graph, self.latest)
        self.latest = {}


def _next(page) -> str | None:
    return page.next_cursor if page.items and page.next_cursor else None


# --- pools --------------------------------------------------------------------------------

WAITING_STATES = ("scheduled", "queued")


def _sync_pools(airflow, graph, report: SyncReport, now_ms: int) -> None:
    """Pool occupancy, read only while task instances wait (seen in this stream, or at the
    last read), so a quiet Airflow costs no request. In a full pool, the task instances
    waiting for a slot are marked: pool starvation is judged on that, not on wait time alone."""
    if not report.waiting_task_runs and not pool_store.someone_waits(graph):
        return
    try:
        pools = [pool_row(p) for p in airflow.list_pools()]
        pool_store.record_occupancy(graph, pools, now_ms)
        for pool in (p for p in pools if p["full"]):
            waiting = airflow.waiting_in_pool(pool["name"])
            pool_store.mark_waiting_in_full_pool(graph, [task_run_record(t).key for t in waiting],
                                                 f"{pool['occupied_slots']}/{pool['slots']} slots used")
    except AirflowResponseError as exc:  # the runs are synced; the pools wait for the next cycle
        report.dag_errors["pools"] = str(exc)
        return
    report.pools = len(pools)


# --- assets -------------------------------------------------------------------------------

def _sync_assets(airflow, graph, settings, state: SyncState, report: SyncReport) -> SyncState:
    """Assets link tasks across DAGs and carry their last event: read them when a task list,
    a run or a task run changed (not merely re-read in the overlap), a DAG went away, or
    the slow refresh is due."""
    now_ms = report.started_at
    due = state.assets_at is None or now_ms - state.assets_at >= settings.task_refresh_min * MINUTE_MS
    if not (due or report.tasks_written or report.written.total or report.deleted_dags):
        return state
    shard = settings.dag_shard
    assets = _mapped(airflow.list_assets(), asset_record, report, lambda asset: f"asset {asset.uri}")
    report.assets = len(assets)
    report.structure_written += load.load_assets(
        graph, assets, owns=shard.owns, scope=None if shard.is_whole else dag_store.owned_dag_ids(graph, shard))
    return replace(state, assets_at=now_ms)
