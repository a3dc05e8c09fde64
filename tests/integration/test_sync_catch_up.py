"""The stream sync on a fake Airflow (a client passed in, real FalkorDB): a catch-up spread
over cycles with its progress, the watermark moving only when a pass completes, later
updates read by the next pass, a quiet sync's constant cost, and shards filtering the stream."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from orcai.airflow.client import Page
from orcai.config import load_settings
from orcai.graph.sync_store import read_state
from orcai.model import DAY_MS, HOUR_MS
from orcai.shard import Shard
from orcai.sync import sync_once

pytestmark = pytest.mark.integration
NOW = 1_800_000_000_000
DAGS = ("alpha", "beta", "gamma")
TASKS = ("extract", "load")


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


class FakeAirflow:
    """The client's stream API over in-memory runs; counts requests like the real one."""

    def __init__(self, runs_per_dag: int, page_size: int):
        self.page_size, self.requests_made = page_size, 0
        self.listed, self.paused = list(DAGS), set()  # what the DAG list says
        self.runs, self.task_instances = [], []
        for day in range(runs_per_dag):
            for dag_id in DAGS:
                start = NOW - (runs_per_dag - day) * HOUR_MS * 6
                self.runs.append(SimpleNamespace(
                    dag_id=dag_id, dag_run_id=f"r{day:03d}", state="success", run_type="scheduled",
                    logical_date=at(start), run_after=at(start), queued_at=at(start), start_date=at(start),
                    end_date=at(start + 60_000), duration=60.0, triggered_by="timetable", updated_at=start + 60_000))
                for task_id in TASKS:
                    self.task_instances.append(SimpleNamespace(
                        dag_id=dag_id, dag_run_id=f"r{day:03d}", task_id=task_id, map_index=-1, state="success",
                        try_number=1, start_date=at(start), end_date=at(start + 30_000), duration=30.0,
                        scheduled_when=at(start), queued_when=at(start), pool="default_pool", hostname="h",
                        operator_name="BashOperator", operator="BashOperator", run_after=at(start), logical_date=at(start), updated_at=start + 60_000))

    def _page(self, items, since, cursor):
        self.requests_made += 1
        matching = [i for i in items if i.updated_at >= since.timestamp() * 1000]
        start = int(cursor or 0)
        chunk = matching[start:start + self.page_size]
        more = start + self.page_size < len(matching)
        return Page(chunk, str(start + self.page_size) if more else None, len(matching), 50_000)

    def list_dags(self):
        self.requests_made += 1
        return [SimpleNamespace(dag_id=d, is_paused=d in self.paused, timetable_summary="@daily",
                                timetable_description=None, description=None, owners=["team"], tags=[],
                                relative_fileloc=f"{d}.py", fileloc=f"{d}.py", max_active_runs=1,
                                has_import_errors=False, next_dagrun_run_after=None) for d in self.listed]

    def dag_versions_after(self, version_id):
        self.requests_made += 1
        return [] if version_id else [SimpleNamespace(id="01", dag_id=d) for d in DAGS]

    def list_tasks(self, dag_id):
        self.requests_made += 1
        return [SimpleNamespace(task_id=t, operator_name="BashOperator", pool="default_pool", retries=0, queue=None,
                                trigger_rule="all_success", is_mapped=False, owner="team", params=None,
                                downstream_task_ids=["load"] if t == "extract" else []) for t in TASKS]

    def list_assets(self):
        self.requests_made += 1
        return []

    def list_dag_runs(self, dag_id, since):  # a DAG new to a running stream reads its own history
        self.requests_made += 1
        return [r for r in self.runs if r.dag_id == dag_id]

    def list_task_instances(self, dag_id, since):
        self.requests_made += 1
        return [t for t in self.task_instances if t.dag_id == dag_id]

    def dag_runs_page(self, since, cursor=""):
        return self._page(self.runs, since, cursor)

    def task_instances_page(self, since, cursor=""):
        return self._page(self.task_instances, since, cursor)


def settings(**overrides):
    # 0.1 requests/s: the smallest page budget (20 pages a cycle), to spread the catch-up.
    values = dict(graph_uri="falkor://127.0.0.1:1/unused", airflow_max_rps=0.1, page_size=5, sync_lookback_days=30)
    return load_settings(**{**values, **overrides})


def counts(graph) -> tuple[int, int]:
    return (graph.read("MATCH (:Dag)-[:HAS_RUN]->(r:DagRun) RETURN count(r) AS n")[0]["n"],
            graph.read("MATCH (:DagRun)-[:HAS_TASK_RUN]->(t:TaskRun) RETURN count(t) AS n")[0]["n"])


def test_a_catch_up_is_spread_over_cycles_and_reports_its_progress(graph):
    airflow, config = FakeAirflow(runs_per_dag=40, page_size=5), settings()
    clock = iter(range(NOW // 1000, NOW // 1000 + 10_000, 7)).__next__  # seconds, moving on

    reports = [sync_once(airflow, graph, config, clock)]
    while reports[-1].catch_up is not None:
        assert read_state(graph, "0/1").watermark is None  # not before the pass is complete
        reports.append(sync_once(airflow, graph, config, clock))
        assert len(reports) < 10

    assert len(reports) == 4  # 24 run pages + 48 task-instance pages, 20 a cycle
    first = reports[0].catch_up
    assert first.runs_read == 100 and first.task_runs_read == 0 and first.days_total == 30
    middle = reports[2].catch_up
    assert middle.task_runs_read == 180 and 0 < middle.days_covered < 30 and middle.eta_s > 0
    assert counts(graph) == (120, 240)
    state = read_state(graph, "0/1")
    assert reports[0].started_at <= state.watermark < reports[1].started_at  # when the pass began
    assert state.assets_at is not None, state

    quiet = sync_once(airflow, graph, config, clock)
    assert quiet.requests == 4 and quiet.written.total == 0 and quiet.catch_up is None


def test_the_next_pass_reads_what_changed_since_the_watermark(graph):
    airflow, config = FakeAirflow(runs_per_dag=3, page_size=100), settings(page_size=100)
    clock = iter(range(NOW // 1000, NOW // 1000 + 10_000, 7)).__next__
    sync_once(airflow, graph, config, clock)
    run = airflow.runs[0]
    run.state, run.updated_at = "failed", NOW + 3_000_000  # cleared and failed, later

    report = sync_once(airflow, graph, config, clock)
    stored = graph.read("MATCH (r:DagRun {key: $key}) RETURN r.state AS state", {"key": f"{run.dag_id}/{run.dag_run_id}"})
    assert stored == [{"state": "failed"}] and report.dag_runs_seen == 1


def test_a_shard_keeps_only_its_own_dags_from_the_stream(graph):
    airflow, config = FakeAirflow(runs_per_dag=2, page_size=100), settings(page_size=100, shard="0/2")
    sync_once(airflow, graph, config, lambda: NOW / 1000)
    mine = {d for d in DAGS if Shard(0, 2).owns(d)}
    stored = {r["dag"] for r in graph.read("MATCH (r:DagRun) RETURN DISTINCT r.dag_id AS dag")}
    assert stored == mine and 0 < len(mine) < len(DAGS)


def dag_fields(graph, field: str) -> dict:
    return {r["dag"]: r["value"] for r in graph.read(f"MATCH (d:Dag) RETURN d.dag_id AS dag, d.{field} AS value")}


def test_a_paused_gone_or_returning_dag_is_written_by_the_next_sync(graph):
    airflow, config = FakeAirflow(runs_per_dag=2, page_size=100), settings(page_size=100)
    clock = iter(range(NOW // 1000, NOW // 1000 + 10_000, 7)).__next__
    sync_once(airflow, graph, config, clock)

    airflow.paused.add("beta")
    sync_once(airflow, graph, config, clock)
    assert dag_fields(graph, "is_paused") == {"alpha": False, "beta": True, "gamma": False}

    airflow.listed.remove("gamma")
    report = sync_once(airflow, graph, config, clock)
    assert report.deleted_dags == ["gamma"] and dag_fields(graph, "is_deleted")["gamma"] is True
    airflow.listed.append("gamma")  # and back: it reads its own history again
    sync_once(airflow, graph, config, clock)
    assert dag_fields(graph, "is_deleted")["gamma"] is False


def newest_runs(airflow) -> dict:
    newest = {}
    for ti in airflow.task_instances:
        key, at_ms = f"{ti.dag_id}.{ti.task_id}", int(ti.start_date.timestamp() * 1000)
        if key not in newest or at_ms >= newest[key][0]:
            newest[key] = (at_ms, ti.state)
    return newest


def last_runs(graph) -> dict:
    rows = graph.read("MATCH (t:Task) RETURN t.key AS key, t.last_run_at AS at, t.last_state AS state")
    return {row["key"]: (row["at"], row["state"]) for row in rows}


def test_a_cursor_saved_before_the_last_runs_were_written_has_them_written_by_the_next_cycle(graph, monkeypatch):
    """The tasks' last runs are written once a cycle: a cycle that stops after saving a
    cursor leaves them owed, and the next cycle, reading only what is past the cursor,
    derives them from the graph (alpha.extract's newest run is on the page before it)."""
    import orcai.sync
    from orcai.errors import AirflowUnreachable
    monkeypatch.setattr(orcai.sync, "LOAD_BATCH", 5)  # a load and a checkpoint after every page
    airflow, config = FakeAirflow(runs_per_dag=40, page_size=5), settings(airflow_max_rps=10)
    serve_page = airflow.task_instances_page

    def down_at_the_last_page(since, cursor=""):
        if cursor == "235":
            raise AirflowUnreachable("Airflow went away")
        return serve_page(since, cursor)
    airflow.task_instances_page = down_at_the_last_page
    clock = iter(range(NOW // 1000, NOW // 1000 + 10_000, 7)).__next__
    with pytest.raises(AirflowUnreachable):
        sync_once(airflow, graph, config, clock)
    stream = read_state(graph, "0/1").current
    assert stream.task_runs_cursor == "235" and stream.last_runs_from is not None
    assert last_runs(graph)["alpha.extract"] == (None, None)  # owed: not written by the cycle that stopped

    airflow.task_instances_page = serve_page
    report = sync_once(airflow, graph, config, clock)
    assert report.catch_up is None and report.task_runs_seen == 5  # only the page past the cursor
    assert last_runs(graph) == newest_runs(airflow)
    assert read_state(graph, "0/1").current is None


class GraphFailingAt:
    """The real graph, except that its `n`-th task-run upsert fails as if FalkorDB went away."""

    def __init__(self, graph, n: int):
        self.graph, self.n = graph, n

    def __getattr__(self, name):
        return getattr(self.graph, name)

    def write_returning(self, cypher, params=None):
        from orcai.errors import GraphUnavailable
        if "MERGE (n:TaskRun" in cypher:
            self.n -= 1
            if self.n == 0:
                raise GraphUnavailable("FalkorDB went away")
        return self.graph.write_returning(cypher, params)


def test_a_batch_the_graph_failed_to_write_is_never_promised_by_a_saved_cursor(graph, monkeypatch):
    """Batches are written in a thread of their own while the next pages are read: a failed
    write is raised by the sync, and no cursor past the failed batch is saved."""
    import orcai.sync
    from orcai.errors import GraphUnavailable
    monkeypatch.setattr(orcai.sync, "LOAD_BATCH", 5)  # a load and a checkpoint after every page
    airflow, config = FakeAirflow(runs_per_dag=40, page_size=5), settings(airflow_max_rps=10)
    clock = iter(range(NOW // 1000, NOW // 1000 + 10_000, 7)).__next__
    with pytest.raises(GraphUnavailable, match="went away"):
        sync_once(airflow, GraphFailingAt(graph, 10), config, clock)  # the page of task instances 45-49
    assert read_state(graph, "0/1").current.task_runs_cursor == "45"  # saved after the 9th, not later

    report = sync_once(airflow, graph, config, clock)
    assert report.catch_up is None and report.task_runs_seen == 240 - 45
    assert counts(graph) == (120, 240) and last_runs(graph) == newest_runs(airflow)
