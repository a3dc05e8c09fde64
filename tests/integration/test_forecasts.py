"""The forecast stage on a real FalkorDB: ETAs stored on running runs, the Status page's
Running now panel drawn from them."""

from __future__ import annotations

import json
import time

import pytest

from orcai.access import LOCAL_ADMIN, LOCAL_VIEWER
from orcai.config import load_settings
from orcai.errors import PermissionDenied
from orcai.forecast.deadline_setting import set_dag_deadline
from orcai.forecast.stage import ForecastStage
from orcai.graph import forecast_store
from orcai.graph.load import load_dag_runs, load_dags, load_task_runs, load_tasks
from orcai.graph.worker_store import write_heartbeat
from orcai.model import DAY_MS, DagRecord, DagRunRecord, TaskRecord, TaskRunRecord
from orcai.policy.runner import current_facts
from tests.integration.pages_harness import fresh_streamlit_caches, run_page  # noqa: F401 (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_streamlit_caches")]
MIN = 60_000


def load_report_dag(graph, now: int, run_id: str = "now") -> None:
    """report: extract -> transform -> publish, 60 s each, 20 finished runs; one run now
    with extract done and transform running for 30 min (its usual is 1 min)."""
    load_dags(graph, [DagRecord("report", is_paused=False, tags=("deadline:+2h",))])
    load_tasks(graph, ["report"], [TaskRecord("report", "extract", downstream_task_ids=("transform",)),
                                   TaskRecord("report", "transform", downstream_task_ids=("publish",)),
                                   TaskRecord("report", "publish")])
    runs, task_runs = [], []
    for i in range(20):
        start = now - (i + 2) * 60 * MIN
        runs.append(DagRunRecord("report", f"r{i}", "success", logical_date=start, start_date=start,
                                 end_date=start + 3 * MIN, duration_s=180.0))
        for j, task in enumerate(("extract", "transform", "publish")):
            task_runs.append(TaskRunRecord("report", f"r{i}", task, -1, "success", start_date=start + j * MIN,
                                           end_date=start + (j + 1) * MIN, duration_s=58.0 + i % 5, queued_s=1.0))
    logical = now - 31 * MIN
    runs.append(DagRunRecord("report", run_id, "running", logical_date=logical, start_date=logical))
    task_runs += [TaskRunRecord("report", run_id, "extract", -1, "success", start_date=logical,
                                end_date=logical + MIN, duration_s=60.0),
                  TaskRunRecord("report", run_id, "transform", -1, "running", start_date=now - 30 * MIN)]
    load_dag_runs(graph, runs)
    load_task_runs(graph, task_runs)


def test_a_running_run_gets_an_eta_its_deadline_and_the_task_to_watch(graph, graph_uri):
    now = int(time.time() * 1000)
    load_report_dag(graph, now)

    report = ForecastStage(load_settings(graph_uri=graph_uri)).run(graph, now)

    assert report.forecast == 1
    [run] = graph.read("MATCH (r:DagRun {key: 'report/now'}) RETURN properties(r) AS r")
    run = run["r"]
    assert now + MIN < run["eta_p50"] <= run["eta_p80"] < now + 10 * MIN  # transform is past its history
    assert run["deadline"] == now - 31 * MIN + 120 * MIN and run["breach_risk"] == 0.0
    assert run["watch_task"] == "transform" and "30 min" in run["watch_reason"]
    assert run["progress"] == pytest.approx(1 / 3, abs=0.001)
    assert run["eta_history"] == [[now, run["eta_p50"], run["eta_p80"]]]
    windows = json.loads(run["forecast_tasks"])  # the Runs page's Gantt draws these
    assert set(windows) == {"transform", "publish"} and windows["publish"][1] == pytest.approx(run["eta_p50"], abs=60_000)
    finished = graph.read("MATCH (r:DagRun {key: 'report/r0'}) RETURN r.eta_p50 AS eta")
    assert finished[0]["eta"] is None  # only active runs are forecast


def test_two_dags_running_runs_of_the_same_run_id_each_read_their_own_task_runs(graph, graph_uri):
    """Two DAGs' scheduled runs share their run_id: each run's forecast reads its own task runs."""
    now, shared = int(time.time() * 1000), "scheduled__2025-11-30T00:00:00+00:00"
    load_report_dag(graph, now, run_id=shared)
    load_dags(graph, [DagRecord("other", is_paused=False)])
    load_tasks(graph, ["other"], [TaskRecord("other", "extract", downstream_task_ids=("transform",)),
                                  TaskRecord("other", "transform", downstream_task_ids=("publish",)),
                                  TaskRecord("other", "publish")])
    load_dag_runs(graph, [DagRunRecord("other", shared, "running", logical_date=now - MIN, start_date=now - MIN)])
    load_task_runs(graph, [TaskRunRecord("other", shared, "extract", -1, "running", start_date=now - MIN)])

    assert ForecastStage(load_settings(graph_uri=graph_uri)).run(graph, now).forecast == 2

    progress = {row["dag_id"]: row["progress"] for row in forecast_store.running_now(graph)}
    assert progress == {"report": pytest.approx(1 / 3, abs=0.001), "other": 0.0}


def test_a_dags_deadline_param_and_the_lags_around_its_tasks(graph, graph_uri):
    """No tag, a `deadline` param on the tasks (Airflow gives them the DAG's); each task
    of the history starts 10 s after its upstream ended (its first: after the run began)
    and each run is marked done 3 s after its last task."""
    now = int(time.time() * 1000)
    load_report_dag(graph, now)
    load_dags(graph, [DagRecord("report", is_paused=False)])
    load_tasks(graph, ["report"], [TaskRecord("report", "extract", deadline="+45m", downstream_task_ids=("transform",)),
                                   TaskRecord("report", "transform", deadline="+45m", downstream_task_ids=("publish",)),
                                   TaskRecord("report", "publish", deadline="+45m")])
    start = now - 100 * MIN  # after the other history, before the run going now
    load_dag_runs(graph, [DagRunRecord("report", "lagged", "success", start_date=start, end_date=start + 93_000)])
    load_task_runs(graph, [TaskRunRecord("report", "lagged", task, -1, "success",
                                         start_date=start + 10_000 + j * 30_000, end_date=start + (j + 1) * 30_000,
                                         duration_s=20.0)
                           for j, task in enumerate(("extract", "transform", "publish"))])

    ForecastStage(load_settings(graph_uri=graph_uri)).run(graph, now)

    [run] = graph.read("MATCH (r:DagRun {key: 'report/now'}) RETURN r.deadline AS deadline")
    assert run["deadline"] == now - 31 * MIN + 45 * MIN
    lags = sorted((row["task_id"], row["lag_s"]) for row in forecast_store.success_durations(graph, ["report"], start))
    # the run going now: its extract started with the run
    assert lags == [("extract", 0.0), ("extract", 10.0), ("publish", 10.0), ("transform", 10.0)]
    closes = {row["close_s"] for row in forecast_store.past_runs(graph, ["report"], start)}
    assert closes == {3.0}

    # an admin's deadline on the Runs page wins over the param; only an admin may set one
    with pytest.raises(PermissionDenied):
        set_dag_deadline(graph, "report", "+3h", LOCAL_VIEWER, now)
    assert set_dag_deadline(graph, "report", "deadline:+3H", LOCAL_ADMIN, now, page="Runs") == "+3h"
    ForecastStage(load_settings(graph_uri=graph_uri)).run(graph, now)
    [run] = graph.read("MATCH (r:DagRun {key: 'report/now'}) RETURN r.deadline AS deadline")
    assert run["deadline"] == now - 31 * MIN + 180 * MIN
    set_dag_deadline(graph, "report", "", LOCAL_ADMIN, now)  # cleared: the param again
    ForecastStage(load_settings(graph_uri=graph_uri)).run(graph, now)
    assert graph.read("MATCH (r:DagRun {key: 'report/now'}) RETURN r.deadline AS d") == [{"d": now + 14 * MIN}]


def test_status_page_shows_the_running_now_panel(monkeypatch, graph, graph_uri):
    now = int(time.time() * 1000)
    load_report_dag(graph, now)
    ForecastStage(load_settings(graph_uri=graph_uri)).run(graph, now)
    write_heartbeat(graph, "worker", {"last_sync_at": now, "last_ok_at": now, "last_error": None})

    app = run_page(monkeypatch, "status", graph_uri)

    assert not app.exception
    assert "Running now" in [h.value for h in app.subheader]
    running = app.dataframe[0].value
    assert running.loc[0, "dag_id"] == "report" and running.loc[0, "watch_task"] == "transform"


def test_policy_facts_read_the_forecast_of_the_run_at_risk(graph, graph_uri):
    now = int(time.time() * 1000)
    load_report_dag(graph, now)
    load_dags(graph, [DagRecord("report", is_paused=False, tags=("deadline:+32m",))])  # due in a minute
    stage = ForecastStage(load_settings(graph_uri=graph_uri))
    stage.run(graph, now)

    run = current_facts(graph, now)["report"]["run"]

    assert run["id"] == "r0" and run["active_id"] == "now"  # the newest finished run; the active one
    assert run["breach_risk"] >= 0.7 and run["deadline"] == 1 and run["eta_p80"] > 1 and run["late_min"] >= 1
    assert run["watch"].startswith("transform: running for 30 min")
    assert run["breach_risk_held"] == 0.0  # one forecast: the risk has not held yet
    stage.run(graph, now + 3_000)
    assert current_facts(graph, now + 3_000)["report"]["run"]["breach_risk_held"] >= 0.7


def test_a_task_about_to_start_waits_as_long_as_it_did_when_its_pool_was_as_busy(graph, graph_uri):
    """nightly.load runs 10 s in pool db. In its history, when three task runs of another
    DAG held the pool as it became ready it started 60 s later, else 1 s later."""
    now = int(time.time() * 1000)
    load_dags(graph, [DagRecord("nightly", is_paused=False), DagRecord("other", is_paused=False)])
    load_tasks(graph, ["nightly", "other"], [TaskRecord("nightly", "load", pool="db")]
               + [TaskRecord("other", f"t{j}", pool="db") for j in range(3)])
    runs, task_runs = [], []
    for i in range(40):
        start, busy = now - (i + 2) * 10 * MIN, i % 2 == 0
        lag = 60_000 if busy else 1_000
        runs.append(DagRunRecord("nightly", f"r{i}", "success", start_date=start, end_date=start + lag + 10_000))
        task_runs.append(TaskRunRecord("nightly", f"r{i}", "load", -1, "success", start_date=start + lag,
                                       end_date=start + lag + 10_000, duration_s=10.0, pool="db",
                                       scheduled_when=start + 500))
        if busy:
            runs.append(DagRunRecord("other", f"r{i}", "success", start_date=start - 1_000, end_date=start + lag))
            task_runs += [TaskRunRecord("other", f"r{i}", f"t{j}", -1, "success", start_date=start - 1_000,
                                        end_date=start + lag, duration_s=lag / 1000, pool="db") for j in range(3)]
    runs += [DagRunRecord("nightly", "now", "running", start_date=now),
             DagRunRecord("other", "now", "running", start_date=now - 5_000)]
    task_runs += [TaskRunRecord("nightly", "now", "load", -1, "scheduled", pool="db", scheduled_when=now)]
    task_runs += [TaskRunRecord("other", "now", f"t{j}", -1, "running", start_date=now - 5_000, pool="db")
                  for j in range(3)]
    load_dag_runs(graph, runs)
    load_task_runs(graph, task_runs)
    stage = ForecastStage(load_settings(graph_uri=graph_uri))

    assert forecast_store.pool_load_now(graph) == {"db": 4}  # its own scheduled instance and the three
    stage.run(graph, now)
    eta = lambda: graph.read("MATCH (r:DagRun {key: 'nightly/now'}) RETURN r.eta_p50 AS eta")[0]["eta"]
    assert now + 65_000 <= eta() <= now + 75_000  # 60 s to a slot, 10 s to run (and the run's close)

    load_task_runs(graph, [TaskRunRecord("other", "now", f"t{j}", -1, "success", start_date=now - 5_000,
                                         end_date=now, duration_s=5.0, pool="db") for j in range(3)])
    stage.run(graph, now)
    assert now + 10_000 <= eta() <= now + 15_000  # the pool is free: a second's lag


def test_a_branching_run_is_forecast_from_the_branches_its_past_runs_took(graph, graph_uri):
    """pick -> fast | slow -> done (none_failed_min_one_success). Past runs took fast 7 times
    in 10 (slow: 20 min). A run now before `pick` decides: its p50 is a fast run's, its p80
    a slow one's; once `pick` has skipped slow, the slow branch counts nothing."""
    now = int(time.time() * 1000)
    load_dags(graph, [DagRecord("branchy", is_paused=False)])
    load_tasks(graph, ["branchy"], [TaskRecord("branchy", "pick", downstream_task_ids=("fast", "slow")),
                                    TaskRecord("branchy", "fast", downstream_task_ids=("done",)),
                                    TaskRecord("branchy", "slow", downstream_task_ids=("done",)),
                                    TaskRecord("branchy", "done", trigger_rule="none_failed_min_one_success")])
    runs, task_runs = [], []
    for i in range(10):
        start, took = now - (i + 2) * 60 * MIN, "slow" if i < 3 else "fast"
        length = 20 * MIN if took == "slow" else MIN
        runs.append(DagRunRecord("branchy", f"r{i}", "success", start_date=start, end_date=start + length + 2 * MIN))
        task_runs += [TaskRunRecord("branchy", f"r{i}", "pick", -1, "success", start_date=start,
                                    end_date=start + MIN, duration_s=60.0),
                      TaskRunRecord("branchy", f"r{i}", took, -1, "success", start_date=start + MIN,
                                    end_date=start + MIN + length, duration_s=length / 1000),
                      TaskRunRecord("branchy", f"r{i}", "fast" if took == "slow" else "slow", -1, "skipped",
                                    start_date=start + MIN, end_date=start + MIN),
                      TaskRunRecord("branchy", f"r{i}", "done", -1, "success", start_date=start + MIN + length,
                                    end_date=start + 2 * MIN + length, duration_s=60.0)]
    runs.append(DagRunRecord("branchy", "now", "running", start_date=now - 30_000))
    task_runs.append(TaskRunRecord("branchy", "now", "pick", -1, "running", start_date=now - 30_000))
    load_dag_runs(graph, runs)
    load_task_runs(graph, task_runs)
    patterns = {row["run_id"]: (sorted(row["ran"]), sorted(row["skipped"]))
                for row in forecast_store.past_runs(graph, ["branchy"], now - DAY_MS)}
    assert patterns["r0"] == (["done", "pick", "slow"], ["fast"]) and patterns["r5"] == (["done", "fast", "pick"], ["slow"])
    assert "now" not in patterns  # a run still going shows no finished pattern
    stage = ForecastStage(load_settings(graph_uri=graph_uri))
    forecast = lambda: graph.read("MATCH (r:DagRun {key: 'branchy/now'}) RETURN r.eta_p50 AS p50, r.eta_p80 AS p80, "
                                  "r.forecast_tasks AS windows")[0]

    stage.run(graph, now)
    before = forecast()
    assert before["p50"] < now + 5 * MIN and before["p80"] > now + 15 * MIN

    load_task_runs(graph, [TaskRunRecord("branchy", "now", "pick", -1, "success", start_date=now - 30_000,
                                         end_date=now, duration_s=30.0),
                           TaskRunRecord("branchy", "now", "slow", -1, "skipped", start_date=now, end_date=now)])
    stage.run(graph, now + 1_000)
    decided = forecast()
    assert decided["p80"] < now + 5 * MIN and set(json.loads(decided["windows"])) == {"fast", "done"}


def test_a_task_that_skipped_itself_is_skipped_however_long_it_took(graph):
    """A soft_fail sensor timing out after 10 min, or an operator skipping itself at once:
    both are skipped, and so are the tasks their skip spread to (a skip that took seconds
    on a busy machine was once read as "ran", and the forecast kept the skipped branch)."""
    now = int(time.time() * 1000)
    load_dags(graph, [DagRecord("sensing", is_paused=False)])
    load_tasks(graph, ["sensing"], [TaskRecord("sensing", "wait", downstream_task_ids=("load",)),
                                    TaskRecord("sensing", "load")])
    runs, task_runs = [], []
    for run_id, waited in (("late", 10 * MIN), ("at_once", 0)):
        start = now - 60 * MIN
        runs.append(DagRunRecord("sensing", run_id, "success", start_date=start, end_date=start + waited + 1_000))
        task_runs += [TaskRunRecord("sensing", run_id, "wait", -1, "skipped", start_date=start, end_date=start + waited),
                      TaskRunRecord("sensing", run_id, "load", -1, "skipped", start_date=start + waited,
                                    end_date=start + waited)]
    load_dag_runs(graph, runs)
    load_task_runs(graph, task_runs)
    patterns = {row["run_id"]: (sorted(row["ran"]), sorted(row["skipped"]))
                for row in forecast_store.past_runs(graph, ["sensing"], now - DAY_MS)}
    assert patterns == {"late": ([], ["load", "wait"]), "at_once": ([], ["load", "wait"])}
