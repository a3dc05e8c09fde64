"""Airflow's own example DAGs, run for real (the lineage tests only parse them).

Once per session a chosen set of them is unpaused and triggered: dynamic task mapping and a
mapped task group, a short-circuit and skip DAG (skipped work, trigger rules), setup and
teardown in task groups, XCom, a deferrable sensor, an asset producer and the DAG its asset
triggers, and a DAG that fails by design, cleared once so its task runs a second try. After
a sync, the graph equals Airflow's REST truth for those runs and task instances (states, map
indexes, tries, dates), and the worker's later stages run over them without an error and
without calling skipped work a failure. The DAGs are paused again afterwards, as the
session found them (so no shipped pause policy acts on them in later tests).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime

import pytest

from orcai.airflow import AirflowClient
from orcai.errors import AirflowResponseError
from orcai.forecast.stage import ForecastStage
from orcai.graph import connect, lineage_store, run_store
from orcai.graph.load import ensure_schema, load_dag_runs, load_task_runs
from orcai.model import DagRunRecord, TaskRunRecord
from orcai.sync import sync_once
from tests.airflow_truth import all_pages
from tests.conftest import trigger, wait_for_quiet_airflow
from tests.integration.pages_harness import fresh_streamlit_caches, run_page  # noqa: F401 (a fixture)
from workers.worker import Worker

pytestmark = pytest.mark.integration

MAPPED = ("example_dynamic_task_mapping", "example_task_group_mapping")
FAILS = "example_failed_dag"  # one task that raises, by design
PRODUCER, CONSUMER = "asset_produces_1", "asset_consumes_1"  # the consumer runs when the asset is updated
TRIGGERED = (*MAPPED, "example_short_circuit_operator", "example_skip_dag", "example_setup_teardown_taskflow",
             "example_xcom", "example_time_delta_sensor_async", FAILS, PRODUCER)
EXAMPLES = (*TRIGGERED, CONSUMER)
# A few DAGs at a time: all nine at once (plus their scheduled runs) once made the session
# Airflow's SQLite scheduler exit on "database is locked", and every later test with it.
BATCH = 3


def _set_paused(client, dag_id: str, paused: bool, attempts: int = 5) -> None:
    """Retrying Airflow's HTTP 500 'database is locked' (SQLite under load), as `trigger` does."""
    for attempt in range(1, attempts + 1):
        try:
            client.set_paused(dag_id, paused)
            return
        except AirflowResponseError as exc:
            if "HTTP 500" not in str(exc) or attempt == attempts:
                raise
            time.sleep(attempt)


@pytest.fixture(scope="session")
def example_runs(airflow):
    """The session Airflow after the chosen example DAGs ran (the failing one twice: its run
    cleared once) and every run of them finished; they are paused again."""
    client = AirflowClient(airflow.settings(airflow_timeout_s=60))
    try:
        deadline = time.monotonic() + 180
        while not set(EXAMPLES) <= {d.dag_id for d in client.list_dags()}:
            if time.monotonic() > deadline:
                raise TimeoutError("the example DAGs were not parsed within 180 s")
            time.sleep(2)
        _set_paused(client, CONSUMER, False)  # it runs when its producer updates the asset
        runs = {}
        for batch in range(0, len(TRIGGERED), BATCH):
            for dag_id in TRIGGERED[batch:batch + BATCH]:
                _set_paused(client, dag_id, False)  # scheduled ones (@daily, @once) also get one scheduled run
                runs[dag_id] = trigger(client, dag_id).dag_run_id
            wait_for_quiet_airflow(client, timeout_s=300, dag_ids=EXAMPLES)
        client.clear_task_instances(FAILS, runs[FAILS], ["fail_task"], dry_run=False)  # its second try
        wait_for_quiet_airflow(client, timeout_s=240, dag_ids=EXAMPLES)
    finally:
        for dag_id in EXAMPLES:
            _set_paused(client, dag_id, True)
        client.close()
    return airflow


def _ms(value: str | None) -> int | None:
    return None if value is None else int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def _close(value):
    return None if value is None else round(value, 3)


def rest_truth(airflow) -> dict:
    """The example DAGs' runs and task instances as Airflow's REST API serves them."""
    runs = [r for r in all_pages(airflow, "/dags/~/dagRuns", "dag_runs") if r["dag_id"] in EXAMPLES]
    tis = [t for t in all_pages(airflow, "/dags/~/dagRuns/~/taskInstances", "task_instances")
           if t["dag_id"] in EXAMPLES]
    return {
        "runs": {f"{r['dag_id']}/{r['dag_run_id']}": (r["state"], r["run_type"], _ms(r["start_date"]),
                                                      _ms(r["end_date"]), _close(r["duration"])) for r in runs},
        "task_runs": {f"{t['dag_id']}/{t['dag_run_id']}/{t['task_id']}/{t['map_index']}":
                      (t["state"], t["map_index"], t["try_number"], _ms(t["start_date"]), _ms(t["end_date"]),
                       _close(t["duration"])) for t in tis},
    }


def graph_truth(graph) -> dict:
    runs = graph.read("""
        MATCH (:Dag)-[:HAS_RUN]->(r:DagRun) WHERE r.dag_id IN $dags
        RETURN r.key AS key, r.state AS state, r.run_type AS type, r.start_date AS start, r.end_date AS end,
               r.duration_s AS duration""", {"dags": list(EXAMPLES)})
    task_runs = graph.read("""
        MATCH (:DagRun)-[:HAS_TASK_RUN]->(t:TaskRun)-[:INSTANCE_OF]->(:Task) WHERE t.dag_id IN $dags
        RETURN t.key AS key, t.state AS state, t.map_index AS map_index, t.try_number AS try,
               t.start_date AS start, t.end_date AS end, t.duration_s AS duration""", {"dags": list(EXAMPLES)})
    return {
        "runs": {r["key"]: (r["state"], r["type"], r["start"], r["end"], _close(r["duration"])) for r in runs},
        "task_runs": {t["key"]: (t["state"], t["map_index"], t["try"], t["start"], t["end"], _close(t["duration"]))
                      for t in task_runs},
    }


def test_the_examples_cover_what_they_are_chosen_for(example_runs):
    """Guards the comparison below: without these cases it would prove little."""
    truth = rest_truth(example_runs)
    runs, tis = truth["runs"], truth["task_runs"]
    for dag_id in MAPPED:
        assert len({k for k, v in tis.items() if k.startswith(f"{dag_id}/") and v[1] >= 0}) >= 3, dag_id
    assert {v[0] for v in tis.values()} >= {"success", "skipped", "failed"}
    assert any(k.startswith(f"{FAILS}/") and v[:3] == ("failed", -1, 2) for k, v in tis.items()), "a second try"
    assert any(k.startswith(f"{CONSUMER}/") and v[1] == "asset_triggered" for k, v in runs.items())
    assert all(v[0] in ("success", "failed") for v in runs.values()), runs


def test_graph_equals_airflow_for_the_example_runs(example_runs, graph):
    settings = example_runs.settings()
    report = sync_once(AirflowClient(settings), graph, settings)
    assert report.dag_errors == {}
    truth, stored = rest_truth(example_runs), graph_truth(graph)
    assert stored["runs"] == truth["runs"]
    assert stored["task_runs"] == truth["task_runs"]


def test_the_worker_stages_run_over_the_examples_without_error(example_runs, graph_uri, caplog):
    worker = Worker(example_runs.settings(graph_uri=graph_uri, sync_lookback_days=1))
    try:
        with caplog.at_level(logging.WARNING):
            outcome = worker.cycle()
        graph = worker.graph
        assert outcome is not None and outcome.failed_stages == []
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
        assert outcome.detection.judged > 0 and outcome.incidents is not None and outcome.forecasts is not None

        # Skipped work is no failure: no anomaly flags it and no incident includes it.
        flagged = graph.read("""
            MATCH (a:Anomaly)-[:FLAGS]->(tr:TaskRun) WHERE tr.dag_id IN $dags
            RETURN tr.key AS key, tr.state AS state, a.kind AS kind""", {"dags": list(EXAMPLES)})
        assert [f for f in flagged if f["state"] not in ("success", "failed")] == []
        included = graph.read("""
            MATCH (i:Incident)-[:INCLUDES]->(s) WHERE s.dag_id IN $dags
            RETURN i.root_kind AS kind, i.root_key AS root, labels(s)[0] AS label, s.state AS state,
                   s.dag_id AS dag""", {"dags": list(EXAMPLES)})
        assert {s["state"] for s in included if s["label"] in ("TaskRun", "DagRun")} <= {"failed", "success"}
        # The failure by design (its task's two tries and its failed DAG runs) is one cause:
        # its task; a failure is never blamed on another example's task (none is upstream of it).
        failed = [s for s in included if s["state"] == "failed"]
        assert {s["root"] for s in failed if s["dag"] == FAILS} == {f"{FAILS}.fail_task"}, included
        assert {s["label"] for s in failed if s["dag"] == FAILS} == {"TaskRun", "DagRun"}, included
        assert [s for s in failed if s["kind"] == "task" and s["root"].split(".")[0] != s["dag"]] == [], included
        # Paused again before the worker read them: no pause policy acts on them.
        assert [a for a in graph.read("MATCH (p:Policy)-[:FIRED]->(a:Action)-[:TARGETS]->(d:Dag) "
                                      "RETURN d.dag_id AS dag") if a["dag"] in EXAMPLES] == []
    finally:
        worker.close()


BRANCHING = ("example_skip_dag", "example_short_circuit_operator")  # their skips spread by trigger rule


def _skipping_runs(graph) -> dict[str, dict]:
    """Per branching example, its latest successful run that skipped tasks. On a busy
    machine an example's run now and then fails (a task's heartbeat times out): each DAG
    whose run succeeded is checked, and at least one must have."""
    runs = graph.read("""
        MATCH (r:DagRun)-[:HAS_TASK_RUN]->(tr:TaskRun) WHERE r.dag_id IN $dags
        RETURN r.dag_id AS dag_id, r.run_id AS run_id, r.state AS state, r.start_date AS start,
               collect(tr.task_id + ':' + tr.state) AS tis
        ORDER BY start DESC""", {"dags": list(BRANCHING)})
    chosen: dict[str, dict] = {}
    for run in runs:
        if run["state"] == "success" and any(t.endswith(":skipped") for t in run["tis"]):
            chosen.setdefault(run["dag_id"], run)
    assert chosen, runs
    return chosen


def _task_runs_and_upstream(graph, dag_id: str, run_id: str) -> tuple[dict[str, dict], dict[str, set[str]]]:
    """A run's task runs by task id and its DAG's direct upstream tasks by task id (read back
    from the synced graph)."""
    task_runs = {row["task_id"]: row for row in run_store.task_runs_of(graph, [f"{dag_id}/{run_id}"])}
    upstream: dict[str, set[str]] = {task: set() for task in task_runs}
    for edge in lineage_store.dependency_edges_of_dags(graph, [dag_id]):
        upstream[edge["task"].split(".", 1)[1]].add(edge["upstream"].split(".", 1)[1])
    return task_runs, upstream


def _downstream_of(tasks: set[str], upstream: dict[str, set[str]]) -> set[str]:
    found, grew = set(), True
    while grew:
        more = {t for t, ups in upstream.items() if ups & (tasks | found)} - found - tasks
        found |= more
        grew = bool(more)
    return found


def test_a_branching_runs_forecast_leaves_out_the_tasks_it_will_skip(example_runs, graph):
    """Each branching example's real run, as the worker saw it when its first skips came (an
    operator skipping itself, a short-circuit): the tasks downstream of them not decided yet.
    The forecast counts those Airflow then ran, and none of those it then skipped."""
    settings = example_runs.settings(sync_lookback_days=1)
    sync_once(AirflowClient(settings), graph, settings)
    for dag_id, run in _skipping_runs(graph).items():
        task_runs, upstream = _task_runs_and_upstream(graph, dag_id, run["run_id"])
        skipped = {t for t, tr in task_runs.items() if tr["state"] == "skipped"}
        first_skips = {t for t in skipped if not upstream[t] & skipped}
        undecided = _downstream_of(first_skips, upstream)
        assert undecided & skipped and undecided - skipped, (dag_id, undecided)  # the case is there
        seen_at = max(tr["end_date"] or 0 for t, tr in task_runs.items() if t not in undecided)
        as_seen = f"{run['run_id']}~as_seen"
        load_dag_runs(graph, [DagRunRecord(dag_id, as_seen, "running", start_date=run["start"])])
        load_task_runs(graph, [TaskRunRecord(dag_id, as_seen, t, tr["map_index"], None if t in undecided else tr["state"],
                                             start_date=None if t in undecided else tr["start_date"],
                                             end_date=None if t in undecided else tr["end_date"],
                                             duration_s=None if t in undecided else tr["duration_s"], pool=tr["pool"])
                               for t, tr in task_runs.items()])

        ForecastStage(settings).run(graph, seen_at + 1)

        [forecast] = graph.read("MATCH (r:DagRun {key: $key}) RETURN r.forecast_tasks AS windows, "
                                "r.watch_task AS watch, r.eta_p50 AS p50", {"key": f"{dag_id}/{as_seen}"})
        assert set(json.loads(forecast["windows"])) == undecided - skipped, (dag_id, forecast)
        assert forecast["watch"] not in skipped and forecast["p50"] is not None


@pytest.mark.usefixtures("fresh_streamlit_caches")
def test_the_runs_page_shows_mapped_instances_with_their_own_links(example_runs, graph_uri, monkeypatch):
    settings = example_runs.settings(graph_uri=graph_uri)
    graph = connect(settings)
    ensure_schema(graph)
    sync_once(AirflowClient(settings), graph, settings)
    graph.close()
    monkeypatch.setenv("ORCAI_AIRFLOW_URL", example_runs.url)
    app = run_page(monkeypatch, "runs", graph_uri, dag="example_dynamic_task_mapping")
    assert not app.exception
    [tasks] = [df.value for df in app.dataframe if "map_index" in df.value.columns]
    mapped = tasks[tasks["task_id"] == "add_one"]
    assert sorted(mapped["map_index"]) == [0, 1, 2]
    assert sorted(url.rsplit("/", 2)[-2:][1] for url in mapped["airflow"]) == ["0", "1", "2"]
    assert all("/tasks/add_one/mapped/" in url for url in mapped["airflow"])
    [sum_it] = tasks.loc[tasks["task_id"] == "sum_it", "airflow"]
    assert sum_it.endswith("/tasks/sum_it")
